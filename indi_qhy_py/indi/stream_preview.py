"""The live preview clients see in CCD1: at most LIMITS_PREVIEW_FPS frames a second, never more than one in flight.

Raw frames are 8 bits a pixel, stretched, unless STREAM_FULL_DEPTH asks for 16 (INDI 2.x): then a 16-bit frame goes
as it is, two bytes a pixel, little-endian, as INDI's stream manager sends it. The stream's reader offers every
frame; the divisor and the rate limit decide which may be shown (the others are
*skipped*, by design). A frame to show goes into a one-frame mailbox that the sender thread empties: it converts
the frame (``stream_image``), hands the BLOB to the writer and waits until it is written before taking the next.
A frame still in the mailbox when a newer one comes is *dropped*: the client, or indiserver, or the conversion
is slower than the stream. Neither ever holds up the camera or the recording; both are counted apart from the
frames the camera lost.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..camera.live import LiveFrame
from ..output import stream_image
from .blob import attached_blob_message, blob_message
from .wire import Writer

RAW_FORMAT, JPEG_FORMAT = ".stream", ".stream_jpg"
WRITE_TIMEOUT_S = 60.0
PREVIEW_NICE = 10  # this thread only (Linux threads have their own nice value)


@dataclass
class PreviewStats:
    sent: int = 0
    dropped: int = 0  # replaced before they could be sent: the client side was slower than the stream
    skipped: int = 0  # left out by the divisor or the preview rate limit


@dataclass(frozen=True)
class PreviewLimits:
    max_fps: float
    divisor: int
    jpeg: bool
    full_depth: bool = False  # STREAM_FULL_DEPTH: raw 16-bit frames go as they are, not stretched to 8 bits


class PreviewSender:
    def __init__(self, device: str, writer: Writer, limits: Callable[[], PreviewLimits]) -> None:
        self.device = device
        self.writer = writer
        self.limits = limits
        self.stats = PreviewStats()
        self._mailbox: LiveFrame | None = None
        self._wake = threading.Condition()
        self._last_shown = float("-inf")
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stats = PreviewStats()
        self._last_shown = float("-inf")
        self._running = True
        self._thread = threading.Thread(target=self._send_loop, name=f"{self.device}-preview", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._running = False
            self._mailbox = None
            self._wake.notify()

    def offer(self, frame: LiveFrame) -> None:
        """Called for every frame of the stream; returns at once."""
        limits = self.limits()
        if frame.index % max(1, limits.divisor) or frame.arrived - self._last_shown < 1.0 / limits.max_fps:
            self.stats.skipped += 1
            return
        self._last_shown = frame.arrived
        with self._wake:
            if self._mailbox is not None:
                self.stats.dropped += 1
            self._mailbox = frame
            self._wake.notify()

    def _take(self) -> LiveFrame | None:
        with self._wake:
            while self._mailbox is None and self._running:
                self._wake.wait(0.5)
            frame, self._mailbox = self._mailbox, None
            return frame if self._running else None

    def _send_loop(self) -> None:
        with contextlib.suppress(OSError):  # the preview yields the CPU to the camera's reader and the recording
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PREVIEW_NICE)
        while (frame := self._take()) is not None:
            limits = self.limits()
            jpeg = limits.jpeg
            if not jpeg and limits.full_depth and frame.pixels.dtype != np.uint8:
                data = memoryview(stream_image.to_16bit(frame.pixels)).cast("B")
            else:
                pixels = stream_image.to_8bit(frame.pixels)
                data = stream_image.jpeg(pixels) if jpeg else memoryview(pixels).cast("B")
            build = attached_blob_message if self.writer.passes_fds else blob_message
            fmt = JPEG_FORMAT if jpeg else RAW_FORMAT
            if not self.writer.send_stream(build(self.device, "CCD1", "CCD1", data, fmt)).wait(WRITE_TIMEOUT_S):
                return  # output is stuck (indiserver gone): the driver's shutdown handles it
            self.stats.sent += 1
