"""The camera layer: one QHY268/QHY600 through transport -> protocol -> decoder, with no INDI knowledge.

What it guarantees where the C++ driver does not: every setting is re-applied and read back after every
re-initialisation (read-mode or bit-depth change, reconnect); abort takes effect within 100 ms in the exposure
and in the download; downloads have a timeout derived from frame size and USB rate; DATE-OBS is taken when the
camera is told to start; a camera that vanishes (12 V power cycle) is found again and restored by itself; damaged
frames are retried a bounded number of times and reported.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import decoder, protocol
from .cooling import CoolerMode, CoolingRamp, CoolingReading
from .discovery import CameraInfo, boot_loaders, find_device, read_status
from .errors import DeviceGoneError, ProtocolError, QhyError, UsbError
from .frame import DecodeRequest, FrameMeta, Verdict
from .models import Rect
from .protocol import CameraState, Command
from .transport import ReadCancelled, Transport

EventSink = Callable[[str, str], None]  # (level "INFO" | "WARNING" | "ERROR", text)
WARM_UP_TARGET_C = 30.0  # above any ambient: ramping towards it lets the TEC power fall to zero gradually


class CameraBusyError(QhyError):
    """The request needs the camera idle (an exposure or download is running)."""


class ExposureFailed(QhyError):
    """The exposure produced no usable frame; the message says why."""


class ExposureAborted(QhyError):
    """The exposure was aborted on request."""


@dataclass
class CameraSettings:
    """Everything the user sets; the camera layer re-applies all of it after any re-initialisation.

    ``roi`` is in unbinned pixels of the delivered image: the effective area, or the full readout when
    ``include_overscan`` is set. None means the whole image.
    """

    gain: int = 0
    offset: int = 30
    read_mode: int = 0
    usb_traffic: int = 30
    ddr: bool = True
    bits: int = 16
    binning: int = 1
    average_binning: bool = False
    include_overscan: bool = False
    roi: Rect | None = None
    heater_percent: int = 0


@dataclass
class Stats:
    frames_captured: int = 0
    frames_retried: int = 0
    frames_failed: int = 0
    frames_lost: int = 0  # sequence gaps: frames the camera made that never arrived
    usb_errors: int = 0
    reconnects: int = 0


@dataclass
class CapturedFrame:
    pixels: np.ndarray
    meta: FrameMeta
    started_utc: datetime
    exposure_s: float
    settings: CameraSettings
    temperature_c: float
    attempts: int
    downloaded_at: float = 0.0  # time.monotonic() when the last byte arrived (for delivery timing)


@dataclass
class _Cooling:
    mode: CoolerMode = CoolerMode.OFF
    target_c: float = 0.0
    power_pct: float = 0.0  # manual target
    setpoint_c: float | None = None  # ramped set point last sent
    commanded_pct: float = 0.0  # ramped power last sent
    last_tick: float | None = None
    warming: bool = False


class Camera:
    """One camera. Thread-safe; exposures run in their own worker thread, housekeeping in a monitor thread."""

    def __init__(self, info: CameraInfo, *, firmware_dir: Path | None = None,
                 clock: Callable[[], float] = time.monotonic, poll_s: float = 1.0, retries: int = 2,
                 on_event: EventSink | None = None) -> None:
        self.info = info
        self.model = info.model
        self.firmware_dir = firmware_dir
        self.clock = clock
        self.poll_s = poll_s
        self.retries = retries
        self.on_event = on_event or (lambda level, text: None)
        self.ramp = CoolingRamp()
        self.stats = Stats()
        self._settings = CameraSettings()
        self._cooling = _Cooling()
        self._status: protocol.Status | None = None
        self._transport: Transport | None = None
        self._io = threading.RLock()
        self._state = "disconnected"
        self._exposure: Exposure | None = None
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._raw = np.empty(0, dtype=np.uint8)

    # --- identity and state ----------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.info.id

    @property
    def state(self) -> str:
        """"disconnected", "connected" or "reconnecting" (the camera vanished and is being looked for)."""
        return self._state

    @property
    def settings(self) -> CameraSettings:
        return dataclasses.replace(self._settings)

    @property
    def last_status(self) -> protocol.Status | None:
        return self._status

    def _event(self, level: str, text: str) -> None:
        self.on_event(level, f"{self.id}: {text}")

    # --- connection --------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the camera, apply every setting, start housekeeping."""
        if self._state != "disconnected":
            return
        self._open()
        self._state = "connected"
        self._stop.clear()
        self._monitor = threading.Thread(target=self._monitor_loop, name=f"{self.id}-monitor", daemon=True)
        self._monitor.start()

    def disconnect(self, warm_up: bool = False, warm_up_timeout_s: float = 1800.0) -> None:
        """Close the camera; with ``warm_up`` first let the sensor warm gradually and switch the TEC off."""
        if self._state == "disconnected":
            return
        if self._exposure is not None and not self._exposure.done():
            self._exposure.abort()
        if warm_up and self._state == "connected" and self._cooling.mode is not CoolerMode.OFF:
            self.warm_up(warm_up_timeout_s)
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._io:
            if self._transport is not None:
                self._transport.close()
            self._transport = None
        self._state = "disconnected"

    def _open(self) -> None:
        if not self._attach():
            raise DeviceGoneError(f"{self.id} is not attached")

    def _attach(self) -> bool:
        """Find the camera by serial (booting it when it is in its boot loader), open it, apply every setting.

        False when it is not on the bus. Shared by connect and reconnect, so both restore the same state.
        """
        device = find_device(self.info)
        if device is None and self.firmware_dir is not None:
            boot_loaders(self.info.backend, self.firmware_dir)
            device = find_device(self.info)
        if device is None:
            return False
        transport = Transport(device)
        transport.open()
        with self._io:
            self._transport = transport
            try:
                self._initialise()
            except QhyError:
                transport.close()
                self._transport = None
                raise
        return True

    def _initialise(self) -> None:
        """Send every setting in an order that survives re-initialisation, then read back what can be read."""
        s = self._settings
        self._command(Command.READ_MODE, mode=s.read_mode)  # re-initialises the sensor: first
        self._command(Command.TRANSFER, bits=s.bits, ddr=int(s.ddr))
        self._command(Command.INIT, single=1, bin_x=1, bin_y=1)
        self._command(Command.GAIN, gain=s.gain)
        self._command(Command.OFFSET, offset=s.offset)
        self._command(Command.USB_TRAFFIC, traffic=s.usb_traffic)
        y, rows = self._readout_rows(s)
        self._command(Command.ROI, width=self.model.readout_width, x=0, height=rows, y=y)
        self._command(Command.HEATER, pwm=round(s.heater_percent * 255 / 100))
        self._command(Command.RESET_FRAME_COUNTER)
        self._apply_cooling(force=True)
        status = self._read_status()
        wrong = [name for name, got, want in (("read mode", status.read_mode, s.read_mode), ("bit depth", status.bits,
                 s.bits), ("DDR", status.ddr_on, s.ddr), ("ROI height", status.image_height, rows))
                 if got != want]
        if wrong:
            raise ProtocolError(f"camera did not take the settings: {', '.join(wrong)} differ after re-applying")

    # --- low-level I/O with gone-detection --------------------------------------------------------------------
    def _require(self) -> Transport:
        if self._transport is None:
            raise DeviceGoneError(f"{self.id} is not connected")
        return self._transport

    def _command(self, command: Command, **fields: int) -> None:
        with self._io:
            transport = self._require()
            try:
                transport.control_out(protocol.REQ_COMMAND, protocol.encode_command(command, **fields))
            except UsbError as err:
                self._usb_error(err)
                raise

    def _read_status(self) -> protocol.Status:
        with self._io:
            transport = self._require()
            try:
                self._status = read_status(transport)
            except UsbError as err:
                self._usb_error(err)
                raise
            return self._status

    def _usb_error(self, err: UsbError) -> None:
        self.stats.usb_errors += 1
        if isinstance(err, DeviceGoneError) and self._state == "connected":
            self._state = "reconnecting"
            self._event("WARNING", f"camera vanished ({err}); waiting for it to come back")

    # --- settings -----------------------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> CameraSettings:
        """Validate and apply setting changes; a bad value raises ValueError naming the allowed range."""
        if self._exposure is not None and not self._exposure.done():
            raise CameraBusyError("settings cannot change while an exposure or download runs")
        new = dataclasses.replace(self._settings, **changes)
        if "read_mode" in changes and isinstance(new.read_mode, str):
            new.read_mode = self.model.read_mode(new.read_mode).index
        self._validate(new)
        old, self._settings = self._settings, new
        if self._state == "connected":
            try:
                with self._io:
                    self._initialise()
            except QhyError:
                self._settings = old
                raise
        return self.settings

    def _validate(self, s: CameraSettings) -> None:
        model = self.model
        try:
            mode = model.read_mode(s.read_mode)
        except KeyError as err:
            raise ValueError(str(err.args[0])) from err

        def check(name: str, value: int, low: int, high: int) -> None:
            if not low <= value <= high:
                raise ValueError(f"{name} {value} is out of range {low}..{high}"
                                 + (f" in read mode {mode.name}" if name == "gain" else ""))

        check("gain", s.gain, 0, mode.gain_max)
        check("offset", s.offset, 0, model.offset_max)
        check("USB traffic", s.usb_traffic, 0, model.usb_traffic_max)
        check("binning", s.binning, 1, max(model.binnings))
        check("heater", s.heater_percent, 0, 100)
        if s.bits not in model.bit_depths:
            raise ValueError(f"bit depth {s.bits} is not one of {model.bit_depths}")
        if s.roi is not None:
            width, height = self.image_size(s)
            r = s.roi
            if r.x < 0 or r.y < 0 or r.width < s.binning or r.height < s.binning \
                    or r.x_end > width or r.y_end > height:
                raise ValueError(f"ROI {r.x},{r.y} {r.width}x{r.height} must lie within 0,0 {width}x{height} "
                                 f"and be at least {s.binning} pixels a side")

    def image_size(self, settings: CameraSettings | None = None) -> tuple[int, int]:
        """Unbinned width and height of the whole delivered image (effective area, or full readout)."""
        s = settings or self._settings
        if s.include_overscan:
            return self.model.readout_width, self.model.readout_height
        return self.model.effective.width, self.model.effective.height

    def _origin(self, s: CameraSettings) -> tuple[int, int]:
        return (0, 0) if s.include_overscan else (self.model.effective.x, self.model.effective.y)

    def _readout_rows(self, s: CameraSettings) -> tuple[int, int]:
        _, oy = self._origin(s)
        width, height = self.image_size(s)
        roi = s.roi or Rect(0, 0, width, height)
        return oy + roi.y, roi.height

    def decode_request(self, s: CameraSettings, expected_sequence: int | None) -> DecodeRequest:
        ox, _ = self._origin(s)
        width, height = self.image_size(s)
        roi = s.roi or Rect(0, 0, width, height)
        y, rows = self._readout_rows(s)
        return DecodeRequest.for_model(self.model, bits=s.bits, roi_y=y, rows=rows, x=ox + roi.x, width=roi.width,
                                       full=s.include_overscan, binning=s.binning, average=s.average_binning,
                                       expected_sequence=expected_sequence)

    # --- cooling --------------------------------------------------------------------------------------------------
    def set_temperature(self, target_c: float) -> None:
        """Regulate to ``target_c``, approached at the ramp's slope."""
        floor = -50.0
        if not floor <= target_c <= 40.0:
            raise ValueError(f"temperature {target_c} C is out of range {floor}..40 C")
        with self._io:
            c = self._cooling
            if c.mode is not CoolerMode.AUTO:
                c.setpoint_c = self._status.temperature_c if self._status else None
            c.mode, c.target_c, c.warming = CoolerMode.AUTO, target_c, False
            if self._state == "connected":
                self._apply_cooling()

    def set_cooler_power(self, percent: float) -> None:
        """Manual TEC power, approached at the ramp's power slope."""
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"cooler power {percent} % is out of range 0..100 %")
        with self._io:
            c = self._cooling
            if c.mode is not CoolerMode.MANUAL:
                c.commanded_pct = self._status.tec_pwm * 100 / 255 if self._status else 0.0
            c.mode, c.power_pct, c.warming = CoolerMode.MANUAL, percent, False
            if self._state == "connected":
                self._apply_cooling()

    def cooler_off(self) -> None:
        """Switch the TEC off: its power is ramped down, not cut."""
        self.set_cooler_power(0.0)
        self._cooling.mode = CoolerMode.MANUAL

    def warm_up(self, timeout_s: float = 1800.0) -> bool:
        """Raise the set point at the ramp's slope until the TEC no longer works, then switch it off."""
        with self._io:
            c = self._cooling
            if c.mode is not CoolerMode.AUTO:
                c.setpoint_c = self._status.temperature_c if self._status else None
            c.mode, c.target_c, c.warming = CoolerMode.AUTO, WARM_UP_TARGET_C, True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._state == "connected":
            if self._cooling.mode is CoolerMode.OFF:
                return True
            time.sleep(min(0.05, self.poll_s))
        return False

    def cooling(self) -> CoolingReading:
        st = self._status
        c = self._cooling
        return CoolingReading(
            temperature_c=st.temperature_c if st else float("nan"),
            setpoint_c=c.setpoint_c if c.setpoint_c is not None else (st.target_c if st else float("nan")),
            target_c=c.target_c, power_pct=(st.tec_pwm * 100 / 255) if st else 0.0, mode=c.mode,
            humidity_percent=st.humidity_percent if st else None)

    def _apply_cooling(self, force: bool = False) -> None:
        """One ramp step: move the set point (or power) towards its target and send it."""
        c = self._cooling
        now = self.clock()
        dt = 0.0 if c.last_tick is None else max(0.0, now - c.last_tick)
        c.last_tick = now
        if c.mode is CoolerMode.AUTO:
            if c.setpoint_c is None:  # first step: start the ramp from where the sensor is
                c.setpoint_c = self._status.temperature_c if self._status else c.target_c
            # after a re-initialisation (force) re-send the current set point; otherwise take one ramp step
            step = c.setpoint_c if force else self.ramp.next_setpoint(c.setpoint_c, c.target_c, dt)
            c.setpoint_c = step
            self._command(Command.TEMPERATURE, auto=1, target_decic=round(step * 10))
            st = self._status
            if c.warming and st is not None and st.tec_pwm == 0 and step >= st.temperature_c:  # TEC idle: done
                self._command(Command.TEMPERATURE, auto=0, pwm=0)
                c.mode, c.warming, c.commanded_pct = CoolerMode.OFF, False, 0.0
                self._event("INFO", "warm-up done, cooler off")
        elif c.mode is CoolerMode.MANUAL:
            c.commanded_pct = self.ramp.next_power(c.commanded_pct, c.power_pct, dt)
            self._command(Command.TEMPERATURE, auto=0, pwm=round(c.commanded_pct * 255 / 100))
        else:
            self._command(Command.TEMPERATURE, auto=0, pwm=0)

    # --- housekeeping -------------------------------------------------------------------------------------------
    def _monitor_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._state == "connected":
                    with self._io:
                        self._read_status()
                        self._apply_cooling()
                elif self._state == "reconnecting":
                    self._try_reconnect()
            except QhyError:
                pass  # recorded by _usb_error; the next tick retries or reconnects
            self._stop.wait(self.poll_s if self._state == "connected" else min(self.poll_s, 0.2))

    def _try_reconnect(self) -> None:
        with self._io:
            if self._transport is not None:
                self._transport.close()
                self._transport = None
        if not self._attach():
            return
        self._state = "connected"
        self.stats.reconnects += 1
        self._event("INFO", "camera is back; all settings re-applied")

    # --- exposures --------------------------------------------------------------------------------------------------
    def start_exposure(self, seconds: float) -> Exposure:
        """Start an exposure in a worker thread; returns at once."""
        if not self.model.exposure_min_s <= seconds <= self.model.exposure_max_s:
            raise ValueError(f"exposure {seconds} s is out of range {self.model.exposure_min_s}.."
                             f"{self.model.exposure_max_s:.0f} s")
        if self._state != "connected":
            raise DeviceGoneError(f"{self.id} is {self._state}")
        if self._exposure is not None and not self._exposure.done():
            raise CameraBusyError("an exposure is already running")
        self._exposure = Exposure(self, seconds)
        self._exposure.start()
        return self._exposure

    def _download_buffer(self, size: int) -> np.ndarray:
        if self._raw.size < size:
            self._raw = np.empty(size, dtype=np.uint8)
        return self._raw


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
            cam._command(Command.ABORT)
            with cam._io:
                cam._require().drain(timeout_ms=20)
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
            cam._event("WARNING", f"frame damaged ({last.verdict.value}: {last.damage})"
                       + (f"; retrying ({attempt}/{cam.retries})" if retrying else ""))
            try:
                with cam._io:
                    cam._require().drain(timeout_ms=20)
            except QhyError:
                pass
        assert last is not None
        raise ExposureFailed(f"no intact frame after {cam.retries + 1} attempts; last: {last.verdict.value}: "
                             f"{last.damage}")

    def _attempt(self, attempt: int) -> CapturedFrame | FrameMeta:
        cam = self.camera
        settings = cam.settings
        p = self._progress
        try:
            # the camera's frame counter before START is the sequence number this frame must carry
            request = cam.decode_request(settings, cam._read_status().frame_counter)
            layout = request.layout
            cam._command(Command.EXPOSURE, microseconds=max(1, round(self.seconds * 1e6)))
            cam._command(Command.START)
            started = datetime.now(UTC)  # the camera has acknowledged START: the exposure runs from here
            if attempt == 1:
                self.started_utc = started
            p.phase, p.remaining_s, p.polled_at = "exposing", self.seconds, time.monotonic()
            while True:
                if self._cancel.is_set():
                    raise self._stop_camera()
                status = cam._read_status()
                p.remaining_s, p.polled_at = status.exposure_remaining_s, time.monotonic()
                if status.state == CameraState.FRAME_READY:
                    break
                if status.state == CameraState.IDLE:
                    raise ExposureFailed("the camera dropped the exposure (idle before a frame was ready)")
                self._cancel.wait(min(0.05, max(0.002, status.exposure_remaining_s / 4)))
            p.phase = "reading"
            rate = cam.model.bytes_per_second(layout.height, settings.bits, settings.usb_traffic)
            deadline = time.monotonic() + 3.0 * layout.total_len / rate + 5.0

            def progress(got: int) -> None:
                p.read_fraction = got / layout.total_len
                if time.monotonic() > deadline:
                    raise ExposureFailed(f"download timed out after {got} of {layout.total_len} bytes")

            raw = cam._download_buffer(layout.total_len)
            transport = cam._require()
            received = transport.read_frame(raw, layout.total_len, protocol.bulk_timeout_ms(4 << 20, rate),
                                            cancel=self._cancel, progress=progress)
            downloaded_at = time.monotonic()
        except ReadCancelled:
            raise self._stop_camera() from None
        except DeviceGoneError as err:
            cam._usb_error(err)
            raise ExposureFailed(f"camera vanished during the exposure ({err}); the frame is lost, the camera will "
                                 "be reconnected") from err
        except UsbError as err:
            cam._usb_error(err)
            return _error_meta(f"USB error during the download: {err}")
        frame = decoder.decode(raw, received, request)
        meta = frame.meta
        if meta.verdict is Verdict.SEQUENCE_GAP:
            missed = meta.sequence - (request.expected_sequence or 0) if meta.sequence is not None else 0
            cam.stats.frames_lost += max(0, missed)
            cam._event("WARNING", meta.damage)
        elif not meta.good:
            return meta
        status = cam._status
        return CapturedFrame(frame.pixels, meta, started, self.seconds, settings,
                             status.temperature_c if status else float("nan"), attempt, downloaded_at)


def _error_meta(text: str) -> FrameMeta:
    return FrameMeta(verdict=Verdict.SHORT, damage=text, sequence=None, checksum_expected=None, checksum_actual=0,
                     received=0, ob_mean=float("nan"), ob_median=float("nan"), ob_std=float("nan"),
                     ob_row_means=np.empty(0), overscan_mean=None, overscan_std=None, saturated=0)
