"""The CCD device's exposures: start, abort, abort-then-expose, fast sequences, and the countdown clients see.

The message loop only starts an exposure; the camera layer's worker runs it, and its completion hands the frame
to the delivery (FITS, file, BLOB) in that worker thread, so getProperties and abort are answered meanwhile.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ..camera import Exposure
from ..errors import ExposureAborted, QhyError
from ..output.fits_header import HeaderContext
from ..output.upload import UploadError
from .device import Refused
from .properties import State, Vector

if TYPE_CHECKING:
    from .ccd import QhyCcd


class CcdExposure:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.camera = device.camera
        self.exposure: Exposure | None = None

    def busy(self) -> bool:
        return self.exposure is not None and not self.exposure.done()

    # --- client requests ----------------------------------------------------------------------------------------
    def _on_ccd_exposure(self, v: Vector, values: dict[str, object]) -> None:
        seconds = float(values["CCD_EXPOSURE_VALUE"])  # type: ignore[arg-type]
        previous = self.exposure
        if previous is not None and previous.aborting:
            # abort then expose at once (as Ekos does): start as soon as the aborted transfer has returned
            v["CCD_EXPOSURE_VALUE"].value = seconds
            self.device.update(v, State.BUSY, "starting when the aborted exposure has stopped")
            previous.add_done_callback(lambda _: self._start_queued(seconds))
            return
        if self.busy():
            raise Refused("an exposure is already running; abort it first", State.BUSY)
        self._start(seconds)

    def _on_ccd_abort_exposure(self, v: Vector, values: dict[str, object]) -> None:
        self.stop()
        v["ABORT"].on = False
        self.device.update(v, State.OK)
        exposure = self.device.all["CCD_EXPOSURE"]
        exposure["CCD_EXPOSURE_VALUE"].value = 0
        self.device.update(exposure, State.IDLE, "exposure aborted")

    def stop(self) -> None:
        """Abort whatever runs and end a fast sequence (disconnect, abort)."""
        count = self.device.all["CCD_FAST_COUNT"]["FRAMES"]
        count.value = min(count.value, 1)
        exposure = self.exposure
        if exposure is not None and not exposure.done():
            exposure.abort(0.1)

    # --- running ------------------------------------------------------------------------------------------------
    def _start_queued(self, seconds: float) -> None:
        with self.device.lock:
            try:
                self._start(seconds)
            except (QhyError, ValueError) as err:
                self.device.update(self.device.all["CCD_EXPOSURE"], State.ALERT, f"exposure not started: {err}")

    def start(self, frame_type: str) -> None:
        """An exposure of this frame type whatever CCD_FRAME_TYPE says (a bias the offset check asks for)."""
        self._start(self.device.model.exposure_min_s, frame_type)

    def _start(self, seconds: float, frame_type: str | None = None) -> None:
        device = self.device
        frame_type = frame_type or device.all["CCD_FRAME_TYPE"].on_switch() or "FRAME_LIGHT"
        if frame_type == "FRAME_BIAS":
            seconds = device.model.exposure_min_s
        if device.stand_in is not None:  # an emulated camera: what it looks at follows the frame type
            device.stand_in.set_frame_type(frame_type.removeprefix("FRAME_").lower())
        ctx = device.delivery.header_context(frame_type)
        exposure = self.camera.start_exposure(seconds)
        self.exposure = exposure
        v = device.all["CCD_EXPOSURE"]
        v["CCD_EXPOSURE_VALUE"].value = seconds
        device.update(v, State.BUSY)
        exposure.add_done_callback(partial(self._done, ctx))

    def _done(self, ctx: HeaderContext, exposure: Exposure) -> None:
        """Runs in the exposure's worker thread: deliver the frame, or report why there is none."""
        device = self.device
        v = device.all["CCD_EXPOSURE"]
        try:
            frame = exposure.result(0)
        except ExposureAborted:
            return  # the abort handler has reported it
        except QhyError as err:
            with device.lock:
                device.delivery.update_stats(None, str(err))
                v["CCD_EXPOSURE_VALUE"].value = 0
                device.update(v, State.ALERT, f"exposure failed: {err}")
            device.log("ERROR", f"exposure failed: {err}")
            return
        self._continue_fast_sequence(exposure.seconds)
        try:
            device.delivery.deliver(frame, ctx)
        except UploadError as err:
            self._alert(f"frame not saved: {err}")
            return
        except (QhyError, OSError, ValueError, TypeError) as err:
            self._alert(f"frame captured but not delivered: {err}")
            return
        if ctx.frame_type == "Bias":
            device.offset_advice.examine(frame)
        with device.lock:
            if not self.busy():
                v["CCD_EXPOSURE_VALUE"].value = 0
                device.update(v, State.OK)

    def _alert(self, text: str) -> None:
        with self.device.lock:
            self.device.update(self.device.all["CCD_EXPOSURE"], State.ALERT, text)
        self.device.log("ERROR", text)

    def _continue_fast_sequence(self, seconds: float) -> None:
        device = self.device
        with device.lock:
            count = device.all["CCD_FAST_COUNT"]["FRAMES"]
            if device.all["CCD_FAST_TOGGLE"].on_switch() != "INDI_ENABLED" or count.value <= 1:
                return
            count.value -= 1
            device.update(device.all["CCD_FAST_COUNT"], State.BUSY)
            try:
                self._start(seconds)
            except (QhyError, ValueError) as err:
                device.update(device.all["CCD_EXPOSURE"], State.ALERT, f"fast exposure stopped: {err}")

    def report_countdown(self) -> None:
        """The ticker's share: time left while exposing, the download percentage while reading."""
        exposure = self.exposure
        if exposure is not None and not exposure.done() and not exposure.aborting:
            v = self.device.all["CCD_EXPOSURE"]
            v["CCD_EXPOSURE_VALUE"].value = round(exposure.time_left(), 3)
            message = f"downloading {exposure.download_fraction:.0%}" if exposure.phase == "reading" else None
            self.device.update(v, State.BUSY, message)
