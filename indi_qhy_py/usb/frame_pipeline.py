"""Frames of one known size read back to back, with transfers queued ahead across frame boundaries.

Each frame is read in chunks, as ``Transport.read_frame`` does, but up to ``depth`` chunks are queued at once,
the next frame's first ones into the next free buffer while this frame's last one is still on the wire, so the
endpoint always has a transfer waiting. The camera ends each live frame with a short packet (``protocol``,
OBSERVED), so a frame's last transfer asks for one packet more than the frame's rest and ends short exactly at
the frame's end. A transfer that ends short before that means the frame was short, and the transfers queued
behind it were aimed at the wrong frame: they are cancelled, but on a streaming camera they may have taken bytes
of the next frame first, so the pipeline reads one transfer at a time (nothing queued behind it) until a short
transfer shows a frame's end, then queues ahead again. The frames in between come out short or out of step and
the decoder calls them damaged. A last transfer that comes back full means the camera's frame was longer than
asked (stale bytes before it): it is handed on as it is, and the next frame's end shows where the camera is.
"""

from __future__ import annotations

import contextlib
import errno
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import usb.core

from .. import protocol
from ..errors import UsbTimeoutError
from .bulk_queue import BulkQueue
from .error_mapping import ReadCancelled, wrap_usb_error

#: Bytes in flight: inside the 16 MB Linux usbfs allows all of a process's transfers by default (a lower limit
#: shows as a refused submission, and the pipeline goes on with fewer), in transfers of ``QUEUED_CHUNK``. QHY's
#: SDK keeps 8 MiB queued, in 16 KiB reads (``protocol.SDK_LIVE_QUEUED_READS``, OBSERVED); fewer, larger transfers
#: cost a Python reader fewer calls a second.
QUEUED_BYTES = 12 << 20
#: 4 MiB transfers, three in flight: at a frame's end at least 8 MiB are still queued, 17 ms at 481 MB/s (the
#: reader's late wake-ups measured here were 2-6 ms). 2 MiB x 6 measured worse here (live_ratio 0.997-0.998 against
#: 0.999-1.000 at 9600x1080): twice the transfers a second cost the reader's thread more than the cover gained.
QUEUED_CHUNK = 4 << 20
FRAME_END_SLACK = protocol.MAX_PACKET_SUPERSPEED  # a frame's last transfer asks this much more: it ends short


@dataclass
class _Frame:
    buffer: np.ndarray
    submitted: int = 0  # bytes of the frame asked for by transfers queued so far
    received: int = 0  # bytes that arrived


class FramePipeline:
    """Reads frames of ``frame_len`` bytes into the buffers it is given; not thread-safe (one reader thread)."""

    def __init__(self, queue: BulkQueue, frame_len: int, where: str, chunk: int = QUEUED_CHUNK,
                 depth: int = QUEUED_BYTES // QUEUED_CHUNK) -> None:
        self.queue = queue
        self.frame_len = frame_len
        self.chunk = chunk
        self.where = where
        self.depth = depth
        self._in_step = True  # False after a short frame: one transfer at a time until a frame's end is found
        self._free: deque[np.ndarray] = deque()
        self._frames: deque[_Frame] = deque()  # being read, oldest first
        self._transfers: deque[tuple[_Frame, int, bool]] = deque()  # queued, oldest first: (its frame, bytes
        # asked, whether it is the frame's last)

    @property
    def buffer_len(self) -> int:
        """Bytes a buffer must hold: a frame and the last transfer's slack."""
        return self.frame_len + FRAME_END_SLACK

    def give(self, buffer: np.ndarray) -> None:
        """A buffer (C-contiguous uint8, at least a frame) for a frame to come; it is handed back filled."""
        if buffer.dtype != np.uint8 or not buffer.flags.c_contiguous or buffer.size < self.buffer_len:
            raise ValueError(f"read buffer must be C-contiguous uint8 of at least {self.buffer_len} bytes")
        self._free.append(buffer)

    @property
    def busy(self) -> bool:
        """Whether ``next_frame`` has anything to read into (a transfer queued or a buffer given)."""
        return bool(self._transfers or self._free)

    def next_frame(self, timeout_ms: int, cancel: threading.Event | None = None) -> tuple[np.ndarray, int]:
        """The oldest frame once it has arrived: (its buffer, bytes received). UsbTimeoutError when no transfer
        completed within ``timeout_ms`` (they stay queued); ReadCancelled once ``cancel`` is set."""
        while True:
            if cancel is not None and cancel.is_set():
                raise ReadCancelled("frame read cancelled")
            self._fill()
            if not self._transfers:
                raise RuntimeError("no buffer to read a frame into: give one back first")
            try:
                n = self.queue.reap(timeout_ms)
            except usb.core.USBError as err:
                frame = self._frames[0]
                self.close()
                raise wrap_usb_error(err, f"bulk read from {self.where} failed after {frame.received} of "
                                          f"{self.frame_len} bytes") from err
            if n is None:
                raise UsbTimeoutError(f"no data from {self.where} within {timeout_ms} ms", errno.ETIMEDOUT)
            frame, asked, last = self._transfers.popleft()
            frame.received += n
            if n < asked or last:
                self._frames.popleft()
                if n < asked and not self._transfers:
                    self._in_step = True  # a frame's end with nothing queued behind: the next transfer begins one
                elif not last:  # the camera ended the frame early: what is queued behind it is misaimed
                    self.reset()
                    self._in_step = False
                return frame.buffer, frame.received

    def _fill(self) -> None:
        """Queue chunks, this frame's rest first, then the next frames' into free buffers, up to ``depth``."""
        while len(self._transfers) < (self.depth if self._in_step else 1):
            frame = self._frames[-1] if self._frames and self._frames[-1].submitted < self.frame_len else None
            if frame is None:
                if not self._free:
                    return
                frame = _Frame(self._free.popleft())
                self._frames.append(frame)
            part = min(self.chunk, self.frame_len - frame.submitted)
            last = frame.submitted + part == self.frame_len
            asked = part + FRAME_END_SLACK if last else part
            if not self.queue.submit(frame.buffer.ctypes.data + frame.submitted, asked):
                if frame.submitted == 0:
                    self._frames.pop()
                    self._free.appendleft(frame.buffer)
                return  # the system allows no more in flight: go on with what is queued
            self._transfers.append((frame, asked, last))
            frame.submitted += part

    def reset(self) -> None:
        """Cancel what is queued; the frames being read are dropped and their buffers are free again."""
        try:
            self.queue.cancel_all()
        finally:
            self._transfers.clear()
            while self._frames:
                self._free.appendleft(self._frames.pop().buffer)

    def close(self) -> None:
        """Cancel everything queued (a stop, an error); never raises."""
        with contextlib.suppress(usb.core.USBError):
            self.reset()
