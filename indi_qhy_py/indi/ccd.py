"""One QHY camera as an INDI CCD device: what each property change does, the exposure pipeline, the ticker.

The message loop only validates and starts things. Connecting runs in its own thread; an exposure runs in the
camera layer's worker; when it ends, that worker builds the FITS, saves it and/or queues the BLOB (the writer
thread drains it), so getProperties and abort are answered while all of that happens. A ticker thread reports the
exposure countdown, temperature, cooler power and humidity every POLLING_PERIOD.
"""

from __future__ import annotations

import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial

from astropy.io import fits

from ..camera import Camera, CameraBusyError, CapturedFrame, Exposure, ExposureAborted
from ..cooling import CoolerMode
from ..errors import QhyError
from ..fits_header import HeaderContext, bayer_offsets, camera_only, frame_cards, typed_value
from ..fits_image import FitsEncoder
from ..models import Rect
from ..upload import UploadError, UploadRoot, check_prefix, default_root
from . import config
from .blob import attached_blob_message, blob_message
from .ccd_properties import BASE, BIT_DEPTHS, CONFIG_ORDER, SIMULATED_FAULTS, build, mode_element
from .device import Device, Refused
from .properties import State, Vector
from .snoop import SnoopState, requests
from .wire import Writer

_RESERVED_KEYS = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BZERO", "BSCALE", "END"}
FrameTypeHook = Callable[[str], None]
FaultHook = Callable[[str, int, float], None]  # (SIMULATE_FAULT element, frames, seconds off the bus)


class QhyCcd(Device):
    def __init__(self, camera: Camera, writer: Writer, *, emulated: bool = False,
                 on_frame_type: FrameTypeHook | None = None, inject_fault: FaultHook | None = None) -> None:
        super().__init__(camera.id, writer)
        self.camera = camera
        self.model = camera.model
        self.emulated = emulated
        self.on_frame_type = on_frame_type
        self.inject_fault = inject_fault
        camera.on_event = lambda level, text: self.log(level, text)
        camera.configure(average_binning=True)  # binned frames stay 16-bit unless BIT_DEPTH asks for 32-bit sums
        self.uploads = UploadRoot(default_root())
        self.all = self._build()
        self.snoops = SnoopState(on_warning=lambda text: self.log("WARNING", text))
        self._reported: set[str] = set()  # header problems already told to clients (once each, not per frame)
        self.encoder = FitsEncoder()
        self.user_cards: dict[str, tuple[str, str]] = {}
        self._exposure: Exposure | None = None
        self.last_delivery_s = float("nan")  # end of readout -> file saved and/or last BLOB byte written
        self._pipeline = threading.Lock()  # one frame at a time through FITS + BLOB (the encoder buffer is shared)
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name=f"{self.name}-ticker", daemon=True)

    # --- life cycle -----------------------------------------------------------------------------------------------
    def start(self, announce: bool = True) -> None:
        """Create the always-present properties (sent now only when clients have already asked for them)."""
        for name in BASE:
            if name in self.all:
                self.define(self.all[name], announce=announce)
        self._send_snoop_requests()
        self._ticker.start()

    def close(self) -> None:
        self._closed.set()
        if self.camera.state != "disconnected":
            self.camera.disconnect()

    def _build(self) -> dict[str, Vector]:
        return build(self.name, self.model, self.emulated and self.inject_fault is not None,
                     upload_dir=str(self.uploads.root))

    def _connected_names(self) -> list[str]:
        return [n for n in self.all if n not in BASE]

    def _send_snoop_requests(self) -> None:
        for request in requests({k: str(v) for k, v in self.all["ACTIVE_DEVICES"].values().items()}):
            self.writer.send(request)

    # --- connection ---------------------------------------------------------------------------------------------
    def _on_connection(self, v: Vector, values: dict[str, object]) -> None:
        connect = v.choice(values) == "CONNECT"
        if connect == (self.camera.state != "disconnected"):
            self.update(v, State.OK if connect else State.IDLE)
            return
        v.apply({"CONNECT": connect, "DISCONNECT": not connect})
        self.update(v, State.BUSY)
        worker = self._connect if connect else self._disconnect
        threading.Thread(target=worker, name=f"{self.name}-connection", daemon=True).start()

    def _connect(self) -> None:
        v = self.all["CONNECTION"]
        try:
            self.camera.connect()
        except QhyError as err:
            with self.lock:
                v.apply({"DISCONNECT": True})
                self.update(v, State.ALERT, f"cannot connect: {err}")
            return
        with self.lock:
            self._sync_settings()
            for name in self._connected_names():
                self.define(self.all[name])
            # saved settings first: a client that acts on "connected" must not have its own values overwritten
            try:
                loaded = self._replay(config.load(self.name))
                if loaded:
                    self.log("INFO", f"applied {loaded} saved settings from {config.config_path(self.name)}")
            except config.ConfigError as err:
                self.log("WARNING", str(err))
            self.update(v, State.OK, f"{self.model.name} connected")

    def _disconnect(self) -> None:
        self._stop_exposure()
        self.camera.disconnect()
        with self.lock:
            self.delete(reversed(self._connected_names()))
            self.update(self.all["CONNECTION"], State.IDLE, "disconnected")

    # --- options ------------------------------------------------------------------------------------------------
    def _on_debug(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.debug = v.on_switch() == "ENABLE"
        self.update(v, State.OK)

    def _on_simulation(self, v: Vector, values: dict[str, object]) -> None:
        wanted = v.choice(values) == "ENABLE"
        if wanted != self.emulated:
            kind = "an emulated" if self.emulated else "a real"
            raise Refused(f"{self.name} is {kind} camera; emulated cameras are chosen when the driver starts "
                          "(INDI_QHY_EMULATE=QHY600M,...)")
        self.update(v, State.OK)

    def _on_simulate_fault(self, v: Vector, values: dict[str, object]) -> None:
        fault = v.choice(values)
        if fault is None or self.inject_fault is None:
            self.update(v, State.IDLE)
            return
        settings = self.all["SIMULATE_FAULT_SETTINGS"]
        frames, down_s = round(settings["FRAMES"].value), settings["DOWN_S"].value
        self.inject_fault(fault, frames, down_s)
        self.update(v, State.OK, f"emulated fault armed: {SIMULATED_FAULTS[fault]} (frames {frames}, "
                                 f"off the bus {down_s:g} s where that applies)")

    def _on_simulate_fault_settings(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.update(v, State.OK)

    def _on_polling_period(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.update(v, State.OK)

    def _on_active_devices(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.snoops.set_active({k: str(x) for k, x in v.values().items()})
        self._send_snoop_requests()
        self.update(v, State.OK)

    def _on_config_process(self, v: Vector, values: dict[str, object]) -> None:
        action = next((name for name, on in values.items() if on), None)
        if action is None:
            self.update(v, State.IDLE)
            return
        if action == "CONFIG_SAVE":
            path = config.save(self.name, [self.props[n] for n in CONFIG_ORDER if n in self.props])
            text = f"saved to {path}"
        elif action == "CONFIG_LOAD":
            messages = config.load(self.name)
            if not messages:
                raise Refused(f"no saved configuration at {config.config_path(self.name)}")
            text = f"applied {self._replay(messages)} of {len(messages)} saved settings"
        elif action == "CONFIG_DEFAULT":
            defaults = self._build()
            messages = [defaults[n].new_xml() for n in CONFIG_ORDER if n in self.props]
            text = f"restored {self._replay(messages)} settings to the driver's defaults"
        else:
            text = "saved configuration removed" if config.purge(self.name) else "nothing was saved"
        for element in v.elements:
            element.on = False
        self.update(v, State.OK, text)

    def _replay(self, messages: list[ET.Element]) -> int:
        """Apply saved messages as if a client sent them, ranges before the values they limit."""
        order = {name: i for i, name in enumerate(CONFIG_ORDER)}
        ordered = sorted(messages, key=lambda m: order.get(m.get("name", ""), len(order)))
        return sum(self.handle_new(m) for m in ordered if m.get("name") in order)

    # --- exposure -----------------------------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self._exposure is not None and not self._exposure.done()

    def _on_ccd_exposure(self, v: Vector, values: dict[str, object]) -> None:
        seconds = float(values["CCD_EXPOSURE_VALUE"])  # type: ignore[arg-type]
        previous = self._exposure
        if previous is not None and previous.aborting:
            # abort then expose at once (as Ekos does): start as soon as the aborted transfer has returned
            v["CCD_EXPOSURE_VALUE"].value = seconds
            self.update(v, State.BUSY, "starting when the aborted exposure has stopped")
            previous.add_done_callback(lambda _: self._start_queued(seconds))
            return
        if self._busy():
            raise Refused("an exposure is already running; abort it first", State.BUSY)
        self._start_exposure(seconds)

    def _start_queued(self, seconds: float) -> None:
        with self.lock:
            try:
                self._start_exposure(seconds)
            except (QhyError, ValueError) as err:
                self.update(self.all["CCD_EXPOSURE"], State.ALERT, f"exposure not started: {err}")

    def _start_exposure(self, seconds: float) -> None:
        frame_type = self.all["CCD_FRAME_TYPE"].on_switch() or "FRAME_LIGHT"
        if frame_type == "FRAME_BIAS":
            seconds = self.model.exposure_min_s
        if self.on_frame_type is not None:
            self.on_frame_type(frame_type)
        ctx = self._header_context(frame_type)
        exposure = self.camera.start_exposure(seconds)
        self._exposure = exposure
        v = self.all["CCD_EXPOSURE"]
        v["CCD_EXPOSURE_VALUE"].value = seconds
        self.update(v, State.BUSY)
        exposure.add_done_callback(partial(self._exposure_done, ctx))

    def _header_context(self, frame_type: str) -> HeaderContext:
        scope = self.all["SCOPE_INFO"]
        settings = self.camera.settings
        return HeaderContext(frame_type=frame_type.removeprefix("FRAME_").title(),
                             read_mode_name=self.model.read_mode(settings.read_mode).name,
                             snooped=self.snoops.snapshot(), scope_focal_length_mm=scope["FOCAL_LENGTH"].value,
                             scope_aperture_mm=scope["APERTURE"].value,
                             user_cards=[(k, val, c) for k, (val, c) in self.user_cards.items()])

    def _exposure_done(self, ctx: HeaderContext, exposure: Exposure) -> None:
        """Runs in the exposure's worker thread: deliver the frame, or report why there is none."""
        v = self.all["CCD_EXPOSURE"]
        try:
            frame = exposure.result(0)
        except ExposureAborted:
            return  # the abort handler has reported it
        except QhyError as err:
            with self.lock:
                self._update_stats(None, str(err))
                v["CCD_EXPOSURE_VALUE"].value = 0
                self.update(v, State.ALERT, f"exposure failed: {err}")
            self.log("ERROR", f"exposure failed: {err}")
            return
        self._continue_fast_sequence(exposure.seconds)
        try:
            self._deliver(frame, ctx)
        except UploadError as err:
            with self.lock:
                self.update(v, State.ALERT, f"frame not saved: {err}")
            self.log("ERROR", f"frame not saved: {err}")
            return
        except (QhyError, OSError, ValueError, TypeError) as err:
            with self.lock:
                self.update(v, State.ALERT, f"frame captured but not delivered: {err}")
            self.log("ERROR", f"frame captured but not delivered: {err}")
            return
        with self.lock:
            if not self._busy():
                v["CCD_EXPOSURE_VALUE"].value = 0
                self.update(v, State.OK)

    def _continue_fast_sequence(self, seconds: float) -> None:
        with self.lock:
            count = self.all["CCD_FAST_COUNT"]["FRAMES"]
            if self.all["CCD_FAST_TOGGLE"].on_switch() != "INDI_ENABLED" or count.value <= 1:
                return
            count.value -= 1
            self.update(self.all["CCD_FAST_COUNT"], State.BUSY)
            try:
                self._start_exposure(seconds)
            except (QhyError, ValueError) as err:
                self.update(self.all["CCD_EXPOSURE"], State.ALERT, f"fast exposure stopped: {err}")

    def _deliver(self, frame: CapturedFrame, ctx: HeaderContext) -> None:
        """FITS to disk and/or client. A failed local save still sends the BLOB, then reports why it failed."""
        with self._pipeline:
            with self.lock:
                compress = self.all["CCD_COMPRESSION"].on_switch() == "INDI_ENABLED"
                mode = self.all["UPLOAD_MODE"].on_switch()
                upload = self.all["UPLOAD_SETTINGS"].values()
            data = self._encode(frame, ctx, compress)
            extension = ".fits.fz" if compress else ".fits"
            with self.lock:
                self._update_stats(frame, "")
            save_error: UploadError | OSError | None = None
            if mode in ("UPLOAD_LOCAL", "UPLOAD_BOTH"):
                try:
                    self._save_local(str(upload["UPLOAD_DIR"]), str(upload["UPLOAD_PREFIX"]), extension, data)
                except (UploadError, OSError) as err:
                    save_error = err
            if mode in ("UPLOAD_CLIENT", "UPLOAD_BOTH"):
                build_blob = attached_blob_message if self.writer.passes_fds else blob_message
                self.writer.send_stream(build_blob(self.name, "CCD1", "CCD1", data, extension)).wait()
            self.last_delivery_s = time.monotonic() - frame.downloaded_at
            if save_error is not None:
                sent = "; the BLOB went to clients" if mode == "UPLOAD_BOTH" else ""
                raise UploadError(f"{save_error}{sent}") from save_error

    def _encode(self, frame: CapturedFrame, ctx: HeaderContext, compress: bool) -> memoryview:
        """The FITS file; if the full header cannot be written, the camera's own cards alone (and say so)."""
        encode = self.encoder.compressed if compress else self.encoder.plain
        try:
            return encode(frame.pixels, frame_cards(self.model, self.name, frame, ctx, self._report_once))
        except (ValueError, TypeError, KeyError, Warning) as err:
            self._report_once(f"FITS header with snooped and user keywords failed ({err}); frame sent with the "
                              "camera's own keywords only")
            return encode(frame.pixels, frame_cards(self.model, self.name, frame, camera_only(ctx)))

    def _save_local(self, directory: str, prefix: str, extension: str, data: memoryview) -> None:
        path, note = self.uploads.save(directory, prefix, extension, [data])
        if note:
            self.log("WARNING", note)
        with self.lock:
            fp = self.all["CCD_FILE_PATH"]
            fp["FILE_PATH"].value = str(path)
            self.update(fp, State.OK)

    def _report_once(self, text: str) -> None:
        if text not in self._reported and len(self._reported) < 1000:
            self._reported.add(text)
            self.log("WARNING", text)

    def _update_stats(self, frame: CapturedFrame | None, damage: str) -> None:
        stats_v, integrity = self.all["FRAME_STATS"], self.all["FRAME_INTEGRITY"]
        st = self.camera.stats
        values: dict[str, float | None] = {
            "FRAMES_CAPTURED": st.frames_captured, "FRAMES_RETRIED": st.frames_retried,
            "FRAMES_FAILED": st.frames_failed, "FRAMES_LOST": st.frames_lost, "USB_ERRORS": st.usb_errors,
            "RECONNECTS": st.reconnects}
        if frame is not None:
            m = frame.meta
            values.update(FRAME_SEQUENCE=m.sequence, OB_MEAN=m.ob_mean, OB_MEDIAN=m.ob_median, OB_STD=m.ob_std,
                          OVERSCAN_MEAN=m.overscan_mean, OVERSCAN_STD=m.overscan_std, SATURATED=m.saturated,
                          ATTEMPTS=frame.attempts)
            integrity["VERDICT"].value, integrity["DAMAGE"].value = m.verdict.value, m.damage
        else:
            integrity["VERDICT"].value, integrity["DAMAGE"].value = "failed", damage
        for name, value in values.items():
            if value is not None and value == value:  # skip None and NaN
                stats_v[name].value = float(value)
        self.update(stats_v, State.OK)
        self.update(integrity, State.OK if frame is not None and frame.meta.good else State.ALERT)

    def _stop_exposure(self) -> None:
        self.all["CCD_FAST_COUNT"]["FRAMES"].value = min(self.all["CCD_FAST_COUNT"]["FRAMES"].value, 1)
        exposure = self._exposure
        if exposure is not None and not exposure.done():
            exposure.abort(0.1)

    def _on_ccd_abort_exposure(self, v: Vector, values: dict[str, object]) -> None:
        self._stop_exposure()
        v["ABORT"].on = False
        self.update(v, State.OK)
        exposure = self.all["CCD_EXPOSURE"]
        exposure["CCD_EXPOSURE_VALUE"].value = 0
        self.update(exposure, State.IDLE, "exposure aborted")

    # --- frame geometry -------------------------------------------------------------------------------------------
    def _configure(self, **changes: object) -> None:
        try:
            self.camera.configure(**changes)
        except CameraBusyError as err:
            raise Refused(f"{err}; try again when the exposure has finished") from err
        self._sync_settings()

    def _sync_settings(self) -> None:
        """Make every settings property show what the camera layer holds (after a change, or on connect)."""
        s, model = self.camera.settings, self.model
        width, height = self.camera.image_size()
        roi = s.roi or Rect(0, 0, width, height)
        a = self.all
        for name, value in (("X", roi.x), ("Y", roi.y), ("WIDTH", roi.width), ("HEIGHT", roi.height)):
            a["CCD_FRAME"][name].value = value
        a["CCD_FRAME"]["X"].max, a["CCD_FRAME"]["Y"].max = width - 1, height - 1
        a["CCD_FRAME"]["WIDTH"].max, a["CCD_FRAME"]["HEIGHT"].max = width, height
        a["CCD_BINNING"]["HOR_BIN"].value = a["CCD_BINNING"]["VER_BIN"].value = s.binning
        info = a["CCD_INFO"]
        info["CCD_MAX_X"].value, info["CCD_MAX_Y"].value = width, height
        info["CCD_BITSPERPIXEL"].value = 8 if s.bits == 8 else 32 if s.binning > 1 and not s.average_binning else 16
        a["CCD_GAIN"]["GAIN"].value, a["CCD_OFFSET"]["OFFSET"].value = s.gain, s.offset
        a["CCD_GAIN"]["GAIN"].max = model.read_mode(s.read_mode).gain_max
        a["READ_MODE"].apply({mode_element(model.read_mode(s.read_mode).name): True})
        a["USB_TRAFFIC"]["TRAFFIC"].value = s.usb_traffic
        a["USB_BUFFER"].apply({"INDI_ENABLED" if s.ddr else "INDI_DISABLED": True})
        a["OVERSCAN_MODE"].apply({"INDI_ENABLED" if s.include_overscan else "INDI_DISABLED": True})
        a["BIT_DEPTH"].apply({"BITS_8" if s.bits == 8 else "BITS_16" if s.average_binning else "BITS_32": True})
        a["WINDOW_HEATER"]["HEATER"].value = s.heater_percent
        if "CCD_CFA" in a:
            offsets = bayer_offsets(model, s)
            cfa = a["CCD_CFA"]
            cfa["CFA_OFFSET_X"].value = str(offsets[0]) if offsets else "0"
            cfa["CFA_OFFSET_Y"].value = str(offsets[1]) if offsets else "0"
            cfa["CFA_TYPE"].value = model.bayer_pattern if offsets else ""

    def _report_geometry(self) -> None:
        for name in ("CCD_FRAME", "CCD_BINNING", "CCD_INFO", "CCD_CFA"):
            if name in self.all:
                self.update(self.all[name], State.OK, limits=name == "CCD_FRAME")

    def _on_ccd_frame(self, v: Vector, values: dict[str, object]) -> None:
        merged = {**{k: int(x) for k, x in v.values().items()},  # type: ignore[call-overload]
                  **{k: round(float(x)) for k, x in values.items()}}  # type: ignore[arg-type]
        width, height = self.camera.image_size()
        roi = Rect(merged["X"], merged["Y"], merged["WIDTH"], merged["HEIGHT"])
        self._configure(roi=None if roi == Rect(0, 0, width, height) else roi)
        self._report_geometry()

    def _on_ccd_frame_reset(self, v: Vector, values: dict[str, object]) -> None:
        self._configure(roi=None, binning=1)
        self._report_geometry()
        v["RESET"].on = False
        self.update(v, State.OK)

    def _on_ccd_binning(self, v: Vector, values: dict[str, object]) -> None:
        given = {round(float(x)) for x in values.values()}  # type: ignore[arg-type]
        if len(given) != 1:
            raise Refused(f"binning must be the same both ways: 1..{max(self.model.binnings)} (got "
                          f"{' x '.join(str(round(float(x))) for x in values.values())})")  # type: ignore[arg-type]
        self._configure(binning=given.pop())
        self._report_geometry()

    def _on_overscan_mode(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self._configure(include_overscan=v.on_switch() == "INDI_ENABLED", roi=None)
        self._report_geometry()
        self.update(v, State.OK)

    def _on_bit_depth(self, v: Vector, values: dict[str, object]) -> None:
        choice = v.choice(values)
        self._configure(bits=8 if choice == "BITS_8" else 16, average_binning=choice != "BITS_32")
        self._report_geometry()
        self.update(v, State.OK, f"{BIT_DEPTHS[str(choice)]}")

    # --- camera settings ------------------------------------------------------------------------------------------
    def _simple(self, v: Vector, **changes: object) -> None:
        self._configure(**changes)
        self.update(v, State.OK)

    def _on_ccd_gain(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, gain=round(float(values["GAIN"])))  # type: ignore[arg-type]

    def _on_ccd_offset(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, offset=round(float(values["OFFSET"])))  # type: ignore[arg-type]

    def _on_usb_traffic(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, usb_traffic=round(float(values["TRAFFIC"])))  # type: ignore[arg-type]

    def _on_usb_buffer(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, ddr=v.choice(values) == "INDI_ENABLED")

    def _on_window_heater(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, heater_percent=round(float(values["HEATER"])))  # type: ignore[arg-type]

    def _on_read_mode(self, v: Vector, values: dict[str, object]) -> None:
        choice = v.choice(values)
        mode = next((m for m in self.model.read_modes if mode_element(m.name) == choice), None)
        if mode is None:
            raise Refused("choose one read mode: " + ", ".join(mode_element(m.name) for m in self.model.read_modes))
        gain = self.camera.settings.gain
        self._configure(read_mode=mode.index, gain=min(gain, mode.gain_max))
        message = f"read mode {mode.name}"
        if gain > mode.gain_max:
            message += f"; gain {gain} lowered to {mode.gain_max}, this mode's maximum"
        self.update(self.all["CCD_GAIN"], State.OK, limits=True)
        self.update(v, State.OK, message)

    # --- cooling --------------------------------------------------------------------------------------------------
    def _on_ccd_temperature(self, v: Vector, values: dict[str, object]) -> None:
        target = float(values["CCD_TEMPERATURE_VALUE"])  # type: ignore[arg-type]
        self.camera.set_temperature(target)
        self.all["CCD_COOLER"].apply({"COOLER_ON": True})
        self.update(self.all["CCD_COOLER"], State.OK)
        self.update(v, State.BUSY, f"cooling to {target:.1f} C at up to "
                                   f"{self.camera.ramp.slope_c_per_min:g} C/min")

    def _on_ccd_temp_ramp(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.camera.ramp.slope_c_per_min = v["RAMP_SLOPE"].value
        self.update(v, State.OK)

    def _on_ccd_cooler(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        if v.on_switch() == "COOLER_ON":
            reading = self.camera.cooling()
            target = reading.target_c if reading.mode is CoolerMode.AUTO else reading.temperature_c
            self.camera.set_temperature(max(-50.0, min(40.0, target if target == target else 0.0)))
            self.update(v, State.OK, "cooler on")
        else:
            self.camera.cooler_off()
            self.update(v, State.IDLE, "cooler off (power ramped down)")

    def _on_ccd_cooler_power(self, v: Vector, values: dict[str, object]) -> None:
        percent = float(values["CCD_COOLER_VALUE"])  # type: ignore[arg-type]
        self.camera.set_cooler_power(percent)
        self.all["CCD_COOLER"].apply({"COOLER_ON" if percent > 0 else "COOLER_OFF": True})
        self.update(self.all["CCD_COOLER"], State.OK)
        self.update(v, State.BUSY, f"manual cooler power {percent:g} % (no regulation)")

    # --- images -----------------------------------------------------------------------------------------------------
    def _accept(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.update(v, State.OK)

    _on_ccd_frame_type = _accept
    _on_ccd_capture_format = _accept
    _on_ccd_transfer_format = _accept
    _on_ccd_compression = _accept
    _on_upload_mode = _accept
    _on_scope_info = _accept
    _on_ccd_fast_toggle = _accept
    _on_ccd_fast_count = _accept

    def _on_upload_settings(self, v: Vector, values: dict[str, object]) -> None:
        if "UPLOAD_DIR" in values:  # shown as the absolute directory it resolves to, under the upload root
            values = {**values, "UPLOAD_DIR": str(self.uploads.check(str(values["UPLOAD_DIR"])))}
        if "UPLOAD_PREFIX" in values:
            check_prefix(str(values["UPLOAD_PREFIX"]))
        self._accept(v, values)

    def _on_fits_header(self, v: Vector, values: dict[str, object]) -> None:
        key = str(values.get("KEYWORD_NAME", "")).strip().upper()
        value = str(values.get("KEYWORD_VALUE", "")).strip()
        comment = str(values.get("KEYWORD_COMMENT", "")).strip()
        if not key or len(key) > 8 or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-" for c in key):
            raise Refused(f"FITS keyword {key!r} must be 1-8 characters of A-Z, 0-9, '_' or '-'")
        if key in _RESERVED_KEYS:
            raise Refused(f"FITS keyword {key} describes the data layout and cannot be set")
        if not value:
            self.user_cards.pop(key, None)
            self._accept(v, values)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                fits.Card(key, typed_value(value), comment).image  # noqa: B018 - formatting is the check
            except (Warning, ValueError) as err:
                raise Refused(f"FITS card {key} = {value!r} / {comment!r} does not fit in 80 characters of "
                              f"printable ASCII: {err}") from err
        self.user_cards[key] = (value, comment)
        self._accept(v, values)

    # --- snooping -------------------------------------------------------------------------------------------------
    def snoop(self, message: ET.Element) -> None:
        self.snoops.update(message)

    # --- periodic reports -------------------------------------------------------------------------------------------
    def _tick_loop(self) -> None:
        last = 0.0
        while not self._closed.wait(0.01):  # short naps: a new POLLING_PERIOD applies at once
            if time.monotonic() - last < self.all["POLLING_PERIOD"]["PERIOD_MS"].value / 1000.0:
                continue
            last = time.monotonic()
            try:
                self._tick()
            except Exception as err:  # a reporting bug must not stop the reports
                self.log("ERROR", f"status update failed: {err!r}")

    def _tick(self) -> None:
        if self.camera.state == "disconnected" or "CCD_EXPOSURE" not in self.props:
            return
        with self.lock:
            exposure = self._exposure
            if exposure is not None and not exposure.done() and not exposure.aborting:
                v = self.all["CCD_EXPOSURE"]
                v["CCD_EXPOSURE_VALUE"].value = round(exposure.time_left(), 3)
                message = (f"downloading {exposure.download_fraction:.0%}" if exposure.phase == "reading" else None)
                self.update(v, State.BUSY, message)
            self._report_cooling()

    def _report_cooling(self) -> None:
        reading = self.camera.cooling()
        if reading.temperature_c != reading.temperature_c:
            return  # no status read yet
        temp_v, power_v, cooler_v = self.all["CCD_TEMPERATURE"], self.all["CCD_COOLER_POWER"], self.all["CCD_COOLER"]
        threshold = self.all["CCD_TEMP_RAMP"]["RAMP_THRESHOLD"].value
        if reading.mode is CoolerMode.AUTO:
            state = State.OK if abs(reading.temperature_c - reading.target_c) <= threshold else State.BUSY
        else:
            state = State.IDLE
        temperature = round(reading.temperature_c, 2)
        if temperature != temp_v["CCD_TEMPERATURE_VALUE"].value or state != temp_v.state:
            temp_v["CCD_TEMPERATURE_VALUE"].value = temperature
            self.update(temp_v, state)
        power = round(reading.power_pct, 1)
        if power != power_v["CCD_COOLER_VALUE"].value:
            power_v["CCD_COOLER_VALUE"].value = power
            self.update(power_v, State.OK if reading.mode is not CoolerMode.OFF else State.IDLE)
        on = reading.mode is not CoolerMode.OFF
        if on != (cooler_v.on_switch() == "COOLER_ON"):
            cooler_v.apply({"COOLER_ON" if on else "COOLER_OFF": True})
            self.update(cooler_v, State.OK if on else State.IDLE)
        if "CCD_HUMIDITY" in self.all and reading.humidity_percent is not None:
            hv = self.all["CCD_HUMIDITY"]
            humidity = round(reading.humidity_percent, 1)
            if humidity != hv["HUMIDITY"].value:
                hv["HUMIDITY"].value = humidity
                self.update(hv, State.OK)

