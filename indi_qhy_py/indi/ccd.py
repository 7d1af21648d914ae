"""One QHY camera as an INDI CCD device: its life cycle, connection, options, snooping and the ticker.

The work is split by job among the device's parts, each handling its own properties: ``CcdSettings`` (camera
settings, geometry, saved configurations), ``CcdExposure`` (exposures, abort, the countdown), ``FrameDelivery``
(FITS, local save, BLOB, statistics), ``CcdCooling`` (cooling requests and reports). The message loop only
validates and starts things: connecting runs in its own thread, exposures in the camera layer's worker, and a
ticker thread reports the countdown and cooling every POLLING_PERIOD.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from ..camera import Camera
from ..camera.filter_wheel import WheelState
from ..errors import QhyError
from ..usb.discovery import StandIn
from .ccd_cooling import CcdCooling
from .ccd_delivery import FrameDelivery
from .ccd_exposure import CcdExposure
from .ccd_health import CcdHealth
from .ccd_logging import CcdLogging
from .ccd_offset import CcdOffsetAdvice
from .ccd_properties import BASE, SIMULATED_FAULTS, build
from .ccd_settings import CcdSettings
from .ccd_stream import CcdStreaming
from .cfw import QhyFilterWheel
from .device import Device, Refused
from .properties import State, Vector
from .snoop import DEFAULT_ACTIVE, SnoopState, requests
from .wire import Writer


class QhyCcd(Device):
    def __init__(self, camera: Camera, writer: Writer, *, stand_in: StandIn | None = None, name: str | None = None,
                 release: Callable[[], None] | None = None, nickname: str = "") -> None:
        """``name``: the device name when not ``<model>-<serial>`` (a camera behind KStars' placeholder, or one with
        a ``nickname``); ``release``: hands the name back to the placeholder when the user turns SIMULATION off
        while disconnected."""
        super().__init__(name or camera.id, writer)
        self.nickname = nickname
        self.names_in_use: Callable[[], set[str]] = lambda: {self.name}  # every device of the driver (it sets it)
        self.release = release
        self.camera = camera
        self.model = camera.model
        self.stand_in = stand_in  # an emulated camera's scene and fault controls; None for a real camera
        camera.on_event = lambda level, text: self.log(level, text)
        camera.configure(average_binning=True)  # binned frames stay 16-bit unless BIT_DEPTH asks for 32-bit sums
        self.snoops = SnoopState(on_warning=lambda text: self.log("WARNING", text))
        self.delivery = FrameDelivery(self)
        self.all = self.build_properties()
        self.settings = CcdSettings(self)
        self.exposures = CcdExposure(self)
        self.cooling = CcdCooling(self)
        self.logging = CcdLogging(self)
        self.health = CcdHealth(self)
        self.streaming = CcdStreaming(self)
        self.offset_advice = CcdOffsetAdvice(self)
        self.parts = [self.settings, self.exposures, self.delivery, self.cooling, self.logging, self.streaming,
                      self.streaming.recording, self.health, self.offset_advice]
        self.cfw: QhyFilterWheel | None = None  # the wheel on the camera's port, once the camera reports one
        self.on_companion: Callable[[Device], None] = lambda device: None  # the driver registers a new device
        self.on_companion_gone: Callable[[str], None] = lambda name: None
        camera.wheel.on_change = self._wheel_changed
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name=f"{self.name}-ticker", daemon=True)

    @property
    def emulated(self) -> bool:
        return self.stand_in is not None

    def build_properties(self) -> dict[str, Vector]:
        """Every property this camera has, at its default values."""
        return build(self.name, self.model, self.emulated, upload_dir=str(self.delivery.uploads.root),
                     nickname=self.nickname)

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
        self.logging.close()
        if self.camera.state != "disconnected":
            self.camera.disconnect()
        self._drop_wheel()

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
            self.settings.sync()
            self.health.sync()
            self.streaming.follow_frame()
            for name in self._connected_names():
                self.define(self.all[name])
            # saved settings first: a client that acts on "connected" must not have its own values overwritten
            self.settings.load_saved()
            self._point_filter_at_wheel()
            self.update(v, State.OK, f"{self.model.name} connected")

    def _disconnect(self) -> None:
        self.streaming.stop("the camera is being disconnected")
        self.exposures.stop()
        self.camera.disconnect()
        self._drop_wheel()
        with self.lock:
            self.delete(reversed(self._connected_names()))
            self.update(self.all["CONNECTION"], State.IDLE, "disconnected")

    # --- the filter wheel on the camera's port ------------------------------------------------------------------
    def _wheel_changed(self, state: WheelState) -> None:
        """The camera found its wheel (the wheel device appears), or the wheel moved, failed or restarts."""
        with self.lock:  # not while the connection is being set up: after it
            if self.cfw is not None:
                self.cfw.show(state)
                return
            if state.slots is None or self.camera.state == "disconnected":
                return
            self.cfw = QhyFilterWheel(self.name, self.camera.wheel, state.slots, self.writer, publish=self.snoop)
            self.on_companion(self.cfw)
            self._point_filter_at_wheel()
            self.cfw.start()
            self.log("INFO", f"the filter wheel on the camera port is device '{self.cfw.name}' ({state.slots} "
                             "slots)")

    def _point_filter_at_wheel(self) -> None:
        """Unless the user chose another filter wheel, the FITS FILTER key follows the camera's own."""
        active = self.all["ACTIVE_DEVICES"]
        if self.cfw is not None and active["ACTIVE_FILTER"].value == DEFAULT_ACTIVE["ACTIVE_FILTER"]:
            self._on_active_devices(active, {"ACTIVE_FILTER": self.cfw.name})

    def _drop_wheel(self) -> None:
        if self.cfw is not None:
            self.cfw.close()
            self.on_companion_gone(self.cfw.name)
            self.cfw = None

    # --- options ------------------------------------------------------------------------------------------------
    def accept(self, v: Vector, values: dict[str, object]) -> None:
        """Store the values and say Ok: properties whose effect is read when it is needed."""
        v.apply(values)
        self.update(v, State.OK)

    _on_polling_period = accept
    _on_ccd_frame_type = accept
    _on_ccd_capture_format = accept
    _on_ccd_transfer_format = accept
    _on_ccd_compression = accept
    _on_upload_mode = accept
    _on_scope_info = accept
    _on_ccd_fast_toggle = accept
    _on_ccd_fast_count = accept
    _on_simulate_fault_settings = accept

    def _on_simulation(self, v: Vector, values: dict[str, object]) -> None:
        wanted = v.choice(values) == "ENABLE"
        if wanted == self.emulated:
            self.update(v, State.OK)
            return
        if self.release is None:
            kind = "an emulated" if self.emulated else "a real"
            raise Refused(f"{self.name} is {kind} camera; emulated cameras are chosen when the driver starts "
                          "(INDI_QHY_EMULATE=QHY600M,...)")
        if self.camera.state != "disconnected":
            raise Refused("disconnect first: SIMULATION changes only while disconnected")
        v.apply({"ENABLE" if wanted else "DISABLE": True})
        self.update(v, State.OK)
        self.release()  # back to the placeholder, which looks for a camera or emulates one

    def _on_simulate_fault(self, v: Vector, values: dict[str, object]) -> None:
        fault = v.choice(values)
        if fault is None or self.stand_in is None:
            self.update(v, State.IDLE)
            return
        label, emulator_fault = SIMULATED_FAULTS[fault]
        settings = self.all["SIMULATE_FAULT_SETTINGS"]
        frames, down_s = round(settings["FRAMES"].value), settings["DOWN_S"].value
        self.stand_in.inject(emulator_fault, frames, down_s)
        self.update(v, State.OK, f"emulated fault armed: {label} (frames {frames}, off the bus {down_s:g} s "
                                 "where that applies)")

    def _on_active_devices(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.snoops.set_active({k: str(x) for k, x in v.values().items()})
        self._send_snoop_requests()
        self.update(v, State.OK)

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
            self.exposures.report_countdown()
            self.streaming.report()
            self.cooling.report()
            self.health.report()
