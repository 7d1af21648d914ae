"""One exposure in its own thread: start, time left, download progress, abort, bounded retries, result.

As QHY's SDK does it: A3 (when the time changed), the start requests, the exposure timed on the host (the camera
reports no time left), then the frame buffer's fill polled until the frame is in, the frame read in one go, the
frame buffer released. It talks to its camera through the camera's public methods (``io``, ``read_frame``), so
the camera keeps its transport and lock to itself. DATE-OBS is the moment the camera acknowledged the start; a
damaged frame is taken again up to the camera's retry count; a camera that vanishes fails the exposure at once.
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
from ..decode.frame import DecodeRequest, FrameMeta, Verdict
from ..errors import CameraBusyError, DeviceGoneError, ExposureAborted, ExposureFailed, QhyError, UsbError
from ..usb.link import CameraLink
from ..usb.transport import ReadCancelled
from .settings import CameraSettings, CapturedFrame

if TYPE_CHECKING:
    from .camera import Camera

__all__ = ["CameraBusyError", "Exposure", "ExposureAborted", "ExposureFailed"]


DDR_POLL_S = 0.005  # how often the frame buffer's fill is read while the frame comes in
DDR_STABLE_POLLS = 3  # a fill that stops growing for this many polls is the whole frame (as the SDK decides)


@dataclass
class _Progress:
    phase: str = "starting"  # starting, exposing, reading, done, failed, aborted
    ends_at: float = 0.0  # camera-clock time the exposure ends
    read_fraction: float = 0.0


class Exposure:
    """One exposure running in its own thread: start, time left, download progress, abort, result."""

    def __init__(self, camera: Camera, seconds: float) -> None:
        self.camera = camera
        self.seconds = seconds
        self.started_utc: datetime | None = None
        self._progress = _Progress(ends_at=camera.clock() + seconds)
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._result: CapturedFrame | None = None
        self._error: QhyError | None = None
        self._callbacks: list[Callable[[Exposure], None]] = []
        self._power_faults = camera.housekeeping.power_faults  # a count that grows means a 12 V fault meanwhile
        self._thread = threading.Thread(target=self._run, name=f"{camera.id}-exposure", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # --- what callers see ---------------------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        return self._progress.phase

    def time_left(self) -> float:
        p = self._progress
        if p.phase == "starting":
            return self.seconds
        if p.phase != "exposing":
            return 0.0
        return max(0.0, p.ends_at - self.camera.clock())

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

    def _stop_camera(self, reading: bool) -> ExposureAborted:
        """Stop taking the frame; return the exception to raise. As the SDK, nothing is sent during the exposure
        (the next start discards the frame, ASSUMED); during the download the frame buffer is released and what
        is still queued discarded."""
        cam = self.camera
        cam.next_sequence = None
        if reading:
            try:
                cam.io(CameraLink.frame_read_done)
                cam.drain()
            except QhyError:
                pass  # gone or wedged: the monitor reconnects; the abort itself has happened on our side
        return ExposureAborted("exposure aborted")

    def _capture(self) -> CapturedFrame:
        cam = self.camera
        if not cam.live.wait_ended(2.0):
            raise ExposureFailed("the live stream did not stop within 2 s; the camera is still streaming")
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
        reading = False
        attachment = cam.attachments
        try:
            request = cam.decode_request(settings, cam.next_sequence)
            layout = request.layout
            cam.set_exposure_time(max(1, round(self.seconds * 1e6)))
            cam.io(CameraLink.start_exposure)
            started = datetime.now(UTC)  # the camera has acknowledged the start: the exposure runs from here
            p.ends_at, p.phase = cam.clock() + self.seconds, "exposing"
            cam.logger.debug("attempt %d: started %g s, expecting frame %s", attempt, self.seconds,
                             request.expected_sequence)
            if attempt == 1:
                self.started_utc = started
            rate = cam.model.bytes_per_second(request.readout.streamed_rows, settings.bits, settings.usb_traffic)
            waiting = self._wait_for_frame(layout.total_len, attachment)
            p.phase, reading = "reading", True
            nbytes = min(waiting, layout.total_len)
            deadline = time.monotonic() + 3.0 * nbytes / rate + 5.0

            def progress(got: int) -> None:
                p.read_fraction = got / layout.total_len
                if time.monotonic() > deadline:
                    raise ExposureFailed(f"download timed out after {got} of {nbytes} bytes")

            raw = cam.download_buffer(layout.total_len)
            t_read = time.monotonic()
            received = cam.read_frame(raw, nbytes, protocol.bulk_timeout_ms(4 << 20, rate), cancel=self._cancel,
                                      progress=progress)
            downloaded_at = time.monotonic()
            cam.io(CameraLink.frame_read_done)
            if waiting > layout.total_len:
                cam.logger.debug("the camera announced %d bytes for a %d-byte frame", waiting, layout.total_len)
                cam.drain()
            took = downloaded_at - t_read
            cam.logger.debug("download: %d of %d bytes in %.0f ms (%.0f MB/s)", received, layout.total_len,
                             took * 1e3, received / max(took, 1e-9) / 1e6)
        except ReadCancelled:
            raise self._stop_camera(reading) from None
        except DeviceGoneError as err:
            cam.note_usb_error(err)
            raise ExposureFailed(f"camera vanished during the exposure ({err}); the frame is lost, the camera will "
                                 "be reconnected") from err
        except UsbError as err:
            cam.note_usb_error(err)
            return _error_meta(f"USB error during the download: {err}")
        return self._decoded(raw, received, request, started, settings, attempt, downloaded_at)

    def _still_there(self, attachment: int) -> None:
        """The camera has not vanished (and come back, at its defaults) since the exposure started."""
        cam = self.camera
        if cam.state != "connected" or cam.attachments != attachment:
            raise DeviceGoneError(f"{cam.id} was power-cycled or unplugged" if cam.state == "connected"
                                  else f"{cam.id} is {cam.state}")

    def _wait_for_frame(self, frame_len: int, attachment: int) -> int:
        """Wait out the exposure on the host's clock, then poll the frame buffer's fill until the whole frame is
        in (or the fill stops growing); returns the bytes waiting. A camera that vanishes meanwhile fails it."""
        cam = self.camera
        p = self._progress
        while (left := p.ends_at - cam.clock()) > 0:
            self._still_there(attachment)
            if self._cancel.wait(min(0.02, max(0.002, left))):
                raise self._stop_camera(False)
        allowed = cam.model.frame_time_s(cam.model.readout_height, 16) * 3 + 10.0
        deadline = time.monotonic() + allowed
        last, stable = -1, 0
        while True:
            if self._cancel.is_set():
                raise self._stop_camera(False)
            self._still_there(attachment)
            waiting = int(cam.io(CameraLink.ddr_bytes))
            if waiting >= frame_len:
                return waiting
            stable = stable + 1 if waiting == last and waiting > 0 else 0
            if stable >= DDR_STABLE_POLLS:
                return waiting
            if time.monotonic() > deadline:
                raise ExposureFailed(f"no frame from the camera within {allowed:.0f} s after the exposure ended "
                                     f"(its frame buffer holds {waiting} bytes)")
            last = waiting
            self._cancel.wait(DDR_POLL_S)

    def _decoded(self, raw: np.ndarray, received: int, request: DecodeRequest, started: datetime,
                 settings: CameraSettings, attempt: int, downloaded_at: float) -> CapturedFrame | FrameMeta:
        cam = self.camera
        t_decode = time.monotonic()
        frame = decoder.decode(raw, received, request)
        meta = frame.meta
        cam.logger.debug("decode: %.0f ms, verdict %s", (time.monotonic() - t_decode) * 1e3, meta.verdict.value)
        if meta.verdict is Verdict.SEQUENCE_GAP:
            missed = meta.sequence - (request.expected_sequence or 0) if meta.sequence is not None else 0
            cam.stats.frames_lost += max(0, missed)
            cam.event("WARNING", meta.damage)
        elif not meta.good:
            cam.next_sequence = None
            return meta
        cam.next_sequence = None if meta.sequence is None else (meta.sequence + 1) & 0xFFFFFFFF
        telemetry = cam.telemetry
        power_fault = cam.housekeeping.under_voltage or cam.housekeeping.power_faults != self._power_faults
        return CapturedFrame(frame.pixels, meta, started, self.seconds, settings,
                             telemetry.temperature_c if telemetry else float("nan"), attempt, downloaded_at,
                             cam.facts(power_fault))


def _error_meta(text: str) -> FrameMeta:
    return FrameMeta(verdict=Verdict.SHORT, damage=text, sequence=None, received=0, ob_mean=float("nan"),
                     ob_median=float("nan"), ob_std=float("nan"), ob_row_means=np.empty(0), overscan_mean=None,
                     overscan_std=None, saturated=0)
