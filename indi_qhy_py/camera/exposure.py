"""One exposure in its own thread: start, time left, download progress, abort, bounded retries, result.

It talks to its camera through the camera's public methods (send, read_status, read_frame, drain), so the
camera keeps its transport and lock to itself. DATE-OBS is the moment the camera acknowledged START; a damaged
frame is read again up to the camera's retry count; a camera that vanishes fails the exposure at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from .. import protocol
from ..decode import decoder
from ..decode.frame import FrameMeta, Verdict
from ..errors import CameraBusyError, DeviceGoneError, ExposureAborted, ExposureFailed, QhyError, UsbError
from ..protocol import CameraState, Command
from ..usb.transport import ReadCancelled
from .settings import CapturedFrame

if TYPE_CHECKING:
    from .camera import Camera

__all__ = ["CameraBusyError", "Exposure", "ExposureAborted", "ExposureFailed"]


@dataclass
class _Progress:
    phase: str = "starting"  # starting, exposing, reading, done, failed, aborted
    remaining_s: float = 0.0
    polled_at: float = 0.0
    read_fraction: float = 0.0


class Exposure:
    """One exposure running in its own thread: start, time left, download progress, abort, result."""

    def __init__(self, camera: Camera, seconds: float) -> None:
        self.camera = camera
        self.seconds = seconds
        self.started_utc: datetime | None = None
        self._progress = _Progress(remaining_s=seconds, polled_at=time.monotonic())
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._result: CapturedFrame | None = None
        self._error: QhyError | None = None
        self._callbacks: list[Callable[[Exposure], None]] = []
        self._thread = threading.Thread(target=self._run, name=f"{camera.id}-exposure", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # --- what callers see ---------------------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        return self._progress.phase

    def time_left(self) -> float:
        p = self._progress
        if p.phase not in ("starting", "exposing"):
            return 0.0
        return max(0.0, p.remaining_s - (time.monotonic() - p.polled_at))

    @property
    def download_fraction(self) -> float:
        return self._progress.read_fraction

    def done(self) -> bool:
        return self._done.is_set()

    @property
    def aborting(self) -> bool:
        """Abort requested, worker still winding down (the transfer in flight has not returned yet)."""
        return self._cancel.is_set() and not self.done()

    def abort(self, wait_s: float = 0.1) -> bool:
        """Stop the exposure or download; True when the worker has finished within ``wait_s``."""
        self._cancel.set()
        return self._done.wait(wait_s)

    def result(self, timeout: float | None = None) -> CapturedFrame:
        if not self._done.wait(timeout):
            raise TimeoutError(f"exposure not finished within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def add_done_callback(self, fn: Callable[[Exposure], None]) -> None:
        self._callbacks.append(fn)
        if self.done():
            fn(self)

    # --- the worker -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        cam = self.camera
        try:
            self._result = self._capture()
            self._progress.phase = "done"
            cam.stats.frames_captured += 1
        except ExposureAborted as err:
            self._error, self._progress.phase = err, "aborted"
        except QhyError as err:
            self._error, self._progress.phase = err, "failed"
            cam.stats.frames_failed += 1
        except Exception as err:  # never let a worker die silently
            self._error, self._progress.phase = ExposureFailed(f"internal error: {err!r}"), "failed"
            cam.stats.frames_failed += 1
        finally:
            self._done.set()
            for fn in self._callbacks:
                fn(self)

    def _stop_camera(self) -> ExposureAborted:
        """Tell the camera to stop and discard what it queued; return the exception to raise."""
        cam = self.camera
        try:
            cam.send(Command.ABORT)
            cam.drain()
        except QhyError:
            pass  # gone or wedged: the monitor reconnects; the abort itself has happened on our side
        return ExposureAborted("exposure aborted")

    def _capture(self) -> CapturedFrame:
        cam = self.camera
        last: FrameMeta | None = None
        for attempt in range(1, cam.retries + 2):
            meta_or_frame = self._attempt(attempt)
            if isinstance(meta_or_frame, CapturedFrame):
                return meta_or_frame
            last = meta_or_frame
            retrying = attempt <= cam.retries
            cam.stats.frames_retried += int(retrying)
            cam.event("WARNING", f"frame damaged ({last.verdict.value}: {last.damage})"
                       + (f"; retrying ({attempt}/{cam.retries})" if retrying else ""))
            with contextlib.suppress(QhyError):  # gone or wedged: the next attempt finds out
                cam.drain()
        assert last is not None
        raise ExposureFailed(f"no intact frame after {cam.retries + 1} attempts; last: {last.verdict.value}: "
                             f"{last.damage}")

    def _attempt(self, attempt: int) -> CapturedFrame | FrameMeta:
        cam = self.camera
        settings = cam.settings
        p = self._progress
        try:
            # the camera's frame counter before START is the sequence number this frame must carry
            request = cam.decode_request(settings, cam.read_status().frame_counter)
            layout = request.layout
            cam.send(Command.EXPOSURE, microseconds=max(1, round(self.seconds * 1e6)))
            cam.send(Command.START)
            started = datetime.now(UTC)  # the camera has acknowledged START: the exposure runs from here
            t_start = time.monotonic()
            cam.logger.debug("attempt %d: START acknowledged for %g s, expecting frame %s", attempt, self.seconds,
                             request.expected_sequence)
            if attempt == 1:
                self.started_utc = started
            p.phase, p.remaining_s, p.polled_at = "exposing", self.seconds, time.monotonic()
            while True:
                if self._cancel.is_set():
                    raise self._stop_camera()
                status = cam.read_status()
                p.remaining_s, p.polled_at = status.exposure_remaining_s, time.monotonic()
                if status.state == CameraState.FRAME_READY:
                    break
                if status.state == CameraState.IDLE:
                    raise ExposureFailed("the camera dropped the exposure (idle before a frame was ready)")
                self._cancel.wait(min(0.05, max(0.002, status.exposure_remaining_s / 4)))
            p.phase = "reading"
            cam.logger.debug("frame ready %.3f s after START", time.monotonic() - t_start)
            rate = cam.model.bytes_per_second(layout.height, settings.bits, settings.usb_traffic)
            deadline = time.monotonic() + 3.0 * layout.total_len / rate + 5.0

            def progress(got: int) -> None:
                p.read_fraction = got / layout.total_len
                if time.monotonic() > deadline:
                    raise ExposureFailed(f"download timed out after {got} of {layout.total_len} bytes")

            raw = cam.download_buffer(layout.total_len)
            t_read = time.monotonic()
            received = cam.read_frame(raw, layout.total_len, protocol.bulk_timeout_ms(4 << 20, rate),
                                      cancel=self._cancel, progress=progress)
            downloaded_at = time.monotonic()
            took = downloaded_at - t_read
            cam.logger.debug("download: %d of %d bytes in %.0f ms (%.0f MB/s)", received, layout.total_len,
                             took * 1e3, received / max(took, 1e-9) / 1e6)
        except ReadCancelled:
            raise self._stop_camera() from None
        except DeviceGoneError as err:
            cam.note_usb_error(err)
            raise ExposureFailed(f"camera vanished during the exposure ({err}); the frame is lost, the camera will "
                                 "be reconnected") from err
        except UsbError as err:
            cam.note_usb_error(err)
            return _error_meta(f"USB error during the download: {err}")
        t_decode = time.monotonic()
        frame = decoder.decode(raw, received, request)
        meta = frame.meta
        cam.logger.debug("decode: %.0f ms, verdict %s", (time.monotonic() - t_decode) * 1e3, meta.verdict.value)
        if meta.verdict is Verdict.SEQUENCE_GAP:
            missed = meta.sequence - (request.expected_sequence or 0) if meta.sequence is not None else 0
            cam.stats.frames_lost += max(0, missed)
            cam.event("WARNING", meta.damage)
        elif not meta.good:
            return meta
        status = cam.last_status
        return CapturedFrame(frame.pixels, meta, started, self.seconds, settings,
                             status.temperature_c if status else float("nan"), attempt, downloaded_at)


def _error_meta(text: str) -> FrameMeta:
    return FrameMeta(verdict=Verdict.SHORT, damage=text, sequence=None, checksum_expected=None, checksum_actual=0,
                     received=0, ob_mean=float("nan"), ob_median=float("nan"), ob_std=float("nan"),
                     ob_row_means=np.empty(0), overscan_mean=None, overscan_std=None, saturated=0)
