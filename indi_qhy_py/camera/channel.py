"""The channel to one camera: its one ``CameraLink``, one lock for every control transfer, and the buffer frames
are read into. The exposure thread and the housekeeping thread share it and never interleave their transfers; a
frame is read outside the lock, so housekeeping and abort go on while it downloads. Every USB error is reported
to the camera (which notices a camera that vanished) before it goes on up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DeviceGoneError, UsbError
from ..usb.frame_pipeline import FramePipeline
from ..usb.link import CameraLink


class CameraChannel:
    def __init__(self, name: str, on_usb_error: Callable[[UsbError], None]) -> None:
        self.name = name
        self.on_usb_error = on_usb_error
        self.lock = threading.RLock()
        self._link: CameraLink | None = None
        self._raw = np.empty(0, dtype=np.uint8)

    def attach(self, link: CameraLink) -> None:
        with self.lock:
            self._link = link

    def close(self) -> None:
        with self.lock:
            if self._link is not None:
                self._link.close()
            self._link = None

    def link(self) -> CameraLink:
        """The link (call under ``lock``); DeviceGoneError when the camera is not connected."""
        if self._link is None:
            raise DeviceGoneError(f"{self.name} is not connected")
        return self._link

    def io(self, call: Callable[[CameraLink], Any]) -> Any:
        """``call(link)`` under the lock; a USB error is reported first."""
        with self.lock:
            try:
                return call(self.link())
            except UsbError as err:
                self.on_usb_error(err)
                raise

    def read_frame(self, buffer: np.ndarray, nbytes: int, timeout_ms: int, cancel: threading.Event | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
        """Read one frame; not under the lock."""
        return self.link().read_frame(buffer, nbytes, timeout_ms, cancel=cancel, progress=progress)

    def frame_pipeline(self, frame_len: int) -> FramePipeline:
        """Frames back to back with transfers queued ahead (a live stream); they are read outside the lock."""
        with self.lock:
            return self.link().frame_pipeline(frame_len)

    def drain(self) -> int:
        return int(self.io(CameraLink.drain))

    def download_buffer(self, size: int) -> np.ndarray:
        """The reused buffer one frame's bytes are read into."""
        if self._raw.size < size:
            self._raw = np.empty(size, dtype=np.uint8)
        return self._raw[:size]
