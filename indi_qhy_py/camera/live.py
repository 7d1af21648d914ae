"""Live mode: the camera free-runs and streams frames, one after the other, until it is told to stop.

As QHY's SDK does it (``protocol``, OBSERVED): the set-up with A0 00 (InitQHYCCD after SetQHYCCDStreamMode(1)), the
rows, bit depth and exposure, then nothing but reads; each frame is the rows and the marker, ending a transfer.
Stopping sends the set-up again with A0 01, which brings the camera back to single frames (the SDK's
StopQHYCCDLive sends nothing: InitQHYCCD does it). A reader thread takes every frame, checks it, counts the
frames lost before it by its number, and hands it on at once; it never waits for whoever consumes it.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from .. import protocol
from ..decode import decoder
from ..decode.frame import DecodeRequest, Verdict
from ..errors import CameraBusyError, DeviceGoneError, QhyError, UsbError, UsbTimeoutError
from ..usb.frame_pipeline import FramePipeline
from ..usb.transport import ReadCancelled
from . import sdk_sequence
from . import settings as geometry
from .settings import CameraSettings

if TYPE_CHECKING:
    from .camera import Camera

READ_TIMEOUT_MS = 100  # a stop is noticed within this much of a read that waits for the next frame
#: Read buffers beyond the first, in bytes (at least one, at most ``MAX_SPARE_BUFFERS``). The reader queues the next
#: frame's transfers only into a free buffer, and a buffer is free again once the decoder's thread has decoded it:
#: with three, a decoder late by two frame periods (measured here at 9600x1080, 22.5 FPS, with a core taken: decode
#: 3.4 ms median, 56 ms at the 99th percentile, 110 ms at most) leaves the link with nothing queued, which at the
#: top of the link's speed is time lost for good. 128 MiB is 6 frame periods at 9600x1080 (270 ms) and keeps the
#: three and two buffers full frames had.
SPARE_BUFFER_BYTES = 128 << 20
MAX_SPARE_BUFFERS = 6
#: What may change while the camera streams: sent at once. Anything else is kept for the next single frame.
LIVE_SETTINGS = ("gain", "offset", "usb_traffic")


def spare_buffers(buffer_len: int) -> int:
    """Read buffers a stream gets beyond the first (``SPARE_BUFFER_BYTES``)."""
    return max(1, min(MAX_SPARE_BUFFERS, SPARE_BUFFER_BYTES // buffer_len))


@dataclass(frozen=True)
class LiveFrame:
    pixels: np.ndarray
    sequence: int | None  # the camera's frame number
    utc: datetime  # when its last byte arrived
    arrived: float  # the same moment on the monotonic clock
    index: int  # frames handed on so far in this stream, this one included


@dataclass
class LiveStats:
    frames: int = 0  # handed on
    lost: int = 0  # the camera made them, they never arrived (gaps in the frame numbers: a full DDR)
    damaged: int = 0  # arrived broken (no marker at the end, short) and were left out
    started: float = 0.0

    def fps(self, now: float | None = None) -> float:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class LiveEnd:
    reason: str  # why the stream ended, for the user
    vanished: bool = False  # the camera left the bus: the stream may start again once it is back


class LiveStream:
    """One live stream of one camera; ``on_frame`` runs in the reader thread and must not block."""

    def __init__(self, camera: Camera, settings: CameraSettings, exposure_s: float,
                 on_frame: Callable[[LiveFrame], None], on_end: Callable[[LiveEnd], None]) -> None:
        self.camera = camera
        self.settings = settings
        self.exposure_s = exposure_s
        self.on_frame = on_frame
        self.on_end = on_end
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._end = LiveEnd("stream stopped")
        self._thread = threading.Thread(target=self._run, name=f"{camera.id}-live", daemon=True)

    def start(self) -> None:
        """Put the camera in live mode (raises the link's errors) and start reading."""
        cam = self.camera
        with cam.channel.lock:
            link = cam.channel.link()
            sdk_sequence.initialise(link, cam.model, self.settings, single=False)
            link.command(protocol.encode_exposure(max(1, round(self.exposure_s * 1e6))))
        self.stats.started = time.monotonic()
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._finished.is_set()

    def stop(self, reason: str = "stream stopped", wait_s: float = 0.5) -> None:
        """Stop reading and bring the camera back to single frames; waits up to ``wait_s`` for that."""
        if not self._stop.is_set():
            self._end = LiveEnd(reason)
            self._stop.set()
        self.join(wait_s)

    def join(self, wait_s: float) -> bool:
        """Wait until the camera is back in single-frame mode; True when it is."""
        if not self._finished.is_set() and threading.current_thread() is not self._thread and wait_s > 0:
            self._finished.wait(wait_s)
        return self._finished.is_set() or not self._thread.is_alive()

    def _run(self) -> None:
        """The reader: nothing but USB reads, with transfers queued ahead into its buffers in turn
        (``spare_buffers``), so the camera's link never waits while a frame is decoded or this thread wakes up late
        (QHY's SDK keeps asynchronous reads queued for the same reason)."""
        cam = self.camera
        request = geometry.decode_request(cam.model, self.settings, None, live=True)
        total = request.layout.total_len
        free: queue.Queue[np.ndarray] = queue.Queue()
        filled: queue.Queue[tuple[np.ndarray, int, float, datetime] | None] = queue.Queue()
        decoding = threading.Thread(target=self._decode_loop, args=(request, filled, free),
                                    name=f"{cam.id}-live-decode", daemon=True)
        decoding.start()
        try:
            pipeline = cam.channel.frame_pipeline(total)
        except DeviceGoneError as err:
            self._end = LiveEnd(f"the camera vanished during the stream ({err})", vanished=True)
        else:
            free.put(cam.download_buffer(pipeline.buffer_len))
            for _ in range(spare_buffers(pipeline.buffer_len)):
                free.put(np.empty(pipeline.buffer_len, dtype=np.uint8))
            try:
                self._read_frames(pipeline, free, filled)
            finally:
                pipeline.close()
        filled.put(None)
        decoding.join()
        if not self._end.vanished:
            self._leave_live_mode()
        self._finished.set()  # the camera is out of live mode: ``running`` is False from here, for ``on_end`` too
        self.on_end(self._end)

    def _read_frames(self, pipeline: FramePipeline, free: queue.Queue[np.ndarray],
                     filled: queue.Queue[tuple[np.ndarray, int, float, datetime] | None]) -> None:
        cam = self.camera
        attached = cam.attachments
        while not self._stop.is_set():
            if cam.attachments != attached or cam.state != "connected":  # the monitor saw it go (and come back)
                self._end = LiveEnd(f"the camera vanished during the stream ({cam.state})", vanished=True)
                return
            try:  # buffers the decoder is done with go back to the pipeline; wait for one only when it has none
                pipeline.give(free.get(timeout=READ_TIMEOUT_MS / 1000) if not pipeline.busy else free.get_nowait())
                continue
            except queue.Empty:
                if not pipeline.busy:
                    continue  # every buffer is being decoded: the camera's DDR holds the next frames meanwhile
            try:
                raw, received = pipeline.next_frame(READ_TIMEOUT_MS, cancel=self._stop)
            except UsbTimeoutError:
                continue  # no frame yet (a long exposure): look at the stop flag, read again
            except ReadCancelled:
                return
            except DeviceGoneError as err:
                cam.note_usb_error(err)
                self._end = LiveEnd(f"the camera vanished during the stream ({err})", vanished=True)
                return
            except UsbError as err:
                cam.note_usb_error(err)
                self.stats.damaged += 1
                continue
            filled.put((raw, received, time.monotonic(), datetime.now(UTC)))

    def _decode_loop(self, request: DecodeRequest, filled: queue.Queue[tuple[np.ndarray, int, float, datetime] | None],
                     free: queue.Queue[np.ndarray]) -> None:
        """Decode each frame read, count the frames lost before it by its number, hand it on."""
        expected: int | None = None
        while (item := filled.get()) is not None:
            raw, received, arrived, utc = item
            try:
                frame = decoder.decode(raw, received, request)
            finally:
                free.put(raw)
            meta = frame.meta
            if meta.verdict in (Verdict.MISALIGNED, Verdict.SHORT):
                self.stats.damaged += 1
                expected = None  # the frame numbers are out of step too: start counting again
                continue
            if expected is not None and meta.sequence is not None:
                missed = (meta.sequence - expected) & 0xFFFFFFFF
                if 0 < missed < 1 << 31:
                    self.stats.lost += missed
                    self.camera.stats.frames_lost += missed
            expected = None if meta.sequence is None else (meta.sequence + 1) & 0xFFFFFFFF
            self.stats.frames += 1
            try:
                self.on_frame(LiveFrame(frame.pixels, meta.sequence, utc, arrived, self.stats.frames))
            except Exception as err:  # a consumer's bug must not end the stream
                self.camera.logger.error("live frame consumer failed: %r", err)

    def _leave_live_mode(self) -> None:
        """A0 01 and the whole set-up again, then whatever the camera still had queued is dropped."""
        cam = self.camera
        try:
            cam.reinitialise()
            cam.drain()
        except QhyError as err:
            cam.logger.debug("leaving live mode: %s", err)


class LiveControl:
    """A camera's live mode: at most one stream, which a single exposure or a disconnect ends first."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self._stream: LiveStream | None = None
        self._last: LiveStream | None = None
        self._lock = threading.Lock()

    @property
    def stream(self) -> LiveStream | None:
        stream = self._stream
        return stream if stream is not None and stream.running else None

    def start(self, exposure_s: float, on_frame: Callable[[LiveFrame], None], on_end: Callable[[LiveEnd], None],
              **geometry_changes: object) -> LiveStream:
        """Start streaming with the camera's settings, changed by ``geometry_changes`` (roi, binning, bits) for
        the stream only. ValueError for a value out of range, CameraBusyError while an exposure runs."""
        cam = self.camera
        if cam.exposing:
            raise CameraBusyError("the camera is taking an exposure: start the stream once it is done")
        if not cam.model.exposure_min_s <= exposure_s <= cam.model.exposure_max_s:
            raise ValueError(f"streaming exposure {exposure_s} s is out of range {cam.model.exposure_min_s}.."
                             f"{cam.model.exposure_max_s:.0f} s")
        if cam.state != "connected":
            raise DeviceGoneError(f"{cam.id} is {cam.state}")
        settings = dataclasses.replace(cam.settings, **geometry_changes)  # type: ignore[arg-type]
        geometry.validate(cam.model, settings)
        with self._lock:
            self.stop("a new stream replaces it")
            if not self.wait_ended(2.0):
                raise CameraBusyError("the previous stream has not stopped yet")
            stream = LiveStream(cam, settings, exposure_s, on_frame, on_end)
            stream.start()
            self._stream = self._last = stream
        return stream

    def stop(self, reason: str = "stream stopped", wait_s: float = 0.5) -> bool:
        """End the stream, if one runs (``wait_s`` 0: do not wait for the camera); True when one did."""
        stream, self._stream = self._stream, None
        if stream is None:
            return False
        stream.stop(reason, wait_s)
        return True

    @property
    def last(self) -> LiveStream | None:
        """The stream that runs, or the one that ran last."""
        return self._last

    def wait_ended(self, wait_s: float = 2.0) -> bool:
        """Wait until the last stream has put the camera back in single-frame mode."""
        last = self._last
        return last is None or last.join(wait_s)
