"""One QHY268/QHY600 camera: connection, settings re-applied after every re-initialisation, housekeeping.

What it guarantees where the C++ driver does not: every setting is re-applied and read back after every
re-initialisation (read-mode or bit-depth change, reconnect); a camera that vanishes (12 V power cycle) is found
again by its serial and restored by itself; all I/O goes through one ``CameraLink`` under one lock, so the
exposure thread and the housekeeping thread never interleave their transfers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import protocol
from ..decode.frame import DecodeRequest
from ..errors import CameraBusyError, DeviceGoneError, ProtocolError, QhyError, UsbError
from ..protocol import Command
from ..usb.discovery import CameraInfo, boot_loaders, find_device
from ..usb.link import CameraLink
from . import settings as geometry
from .cooling import Cooler, CoolerMode, CoolingRamp, CoolingReading
from .exposure import Exposure
from .settings import CameraSettings, Stats

EventSink = Callable[[str, str], None]  # (level "INFO" | "WARNING" | "ERROR", text)


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
        self.logger = logging.getLogger("indi_qhy_py.cameras").getChild(info.id)  # debug records, timings
        self.stats = Stats()
        self.cooler = Cooler(self, clock, self.event)
        self._settings = CameraSettings()
        self._status: protocol.Status | None = None
        self._link: CameraLink | None = None
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

    def event(self, level: str, text: str) -> None:
        """Something the user should see: to the driver's clients, and to the log."""
        self.logger.log(logging.getLevelName(level), text)
        self.on_event(level, f"{self.id}: {text}")

    # --- connection --------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the camera, apply every setting, start housekeeping."""
        if self._state != "disconnected":
            return
        if not self._attach():
            raise DeviceGoneError(f"{self.id} is not attached")
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
        if warm_up and self._state == "connected" and self.cooler.mode is not CoolerMode.OFF:
            self.warm_up(warm_up_timeout_s)
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        self._close_link()
        self._state = "disconnected"

    def _close_link(self) -> None:
        with self._io:
            if self._link is not None:
                self._link.close()
            self._link = None

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
        link = CameraLink.open(device)
        with self._io:
            self._link = link
            try:
                self._initialise()
            except QhyError:
                self._close_link()
                raise
        return True

    def _initialise(self) -> None:
        """Send every setting in an order that survives re-initialisation, then read back what can be read."""
        s = self._settings
        started = time.monotonic()
        self.send(Command.READ_MODE, mode=s.read_mode)  # re-initialises the sensor: first
        self.send(Command.TRANSFER, bits=s.bits, ddr=int(s.ddr))
        self.send(Command.INIT, single=1, bin_x=1, bin_y=1)
        self.send(Command.GAIN, gain=s.gain)
        self.send(Command.OFFSET, offset=s.offset)
        self.send(Command.USB_TRAFFIC, traffic=s.usb_traffic)
        y, rows = geometry.readout_rows(self.model, s)
        self.send(Command.ROI, width=self.model.readout_width, x=0, height=rows, y=y)
        self.send(Command.HEATER, pwm=protocol.pwm_from_percent(s.heater_percent))
        self.send(Command.RESET_FRAME_COUNTER)
        self.cooler.step(force=True)
        status = self.read_status()
        wrong = [name for name, got, want in (("read mode", status.read_mode, s.read_mode), ("bit depth", status.bits,
                 s.bits), ("DDR", status.ddr_on, s.ddr), ("ROI height", status.image_height, rows))
                 if got != want]
        if wrong:
            raise ProtocolError(f"camera did not take the settings: {', '.join(wrong)} differ after re-applying")
        self.logger.debug("settings re-applied in %.0f ms: %s", (time.monotonic() - started) * 1e3, s)

    # --- I/O, for this camera's exposures and cooler: one link, one lock, vanishing noticed --------------------
    def _require(self) -> CameraLink:
        if self._link is None:
            raise DeviceGoneError(f"{self.id} is not connected")
        return self._link

    def _io_call(self, call: Callable[[CameraLink], Any]) -> Any:
        with self._io:
            try:
                return call(self._require())
            except UsbError as err:
                self.note_usb_error(err)
                raise

    def send(self, command: Command, **fields: int) -> None:
        self._io_call(lambda link: link.send(command, **fields))

    def read_status(self) -> protocol.Status:
        self._status = self._io_call(CameraLink.status)
        return self._status

    def drain(self) -> int:
        return int(self._io_call(CameraLink.drain))

    def read_frame(self, buffer: np.ndarray, nbytes: int, timeout_ms: int, cancel: threading.Event | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
        """Read one frame; not under the I/O lock, so status reads and abort go on while it downloads."""
        return self._require().read_frame(buffer, nbytes, timeout_ms, cancel=cancel, progress=progress)

    def note_usb_error(self, err: UsbError) -> None:
        self.stats.usb_errors += 1
        self.logger.debug("USB error %d: %s", self.stats.usb_errors, err)
        if isinstance(err, DeviceGoneError) and self._state == "connected":
            self._state = "reconnecting"
            self.event("WARNING", f"camera vanished ({err}); waiting for it to come back")

    def download_buffer(self, size: int) -> np.ndarray:
        """The reused buffer one frame's bytes are read into."""
        if self._raw.size < size:
            self._raw = np.empty(size, dtype=np.uint8)
        return self._raw[:size]

    # --- settings -----------------------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> CameraSettings:
        """Validate and apply setting changes; a bad value raises ValueError naming the allowed range."""
        if self._exposure is not None and not self._exposure.done():
            raise CameraBusyError("settings cannot change while an exposure or download runs")
        new = dataclasses.replace(self._settings, **changes)
        if "read_mode" in changes and isinstance(new.read_mode, str):
            new.read_mode = self.model.read_mode(new.read_mode).index
        geometry.validate(self.model, new)
        old, self._settings = self._settings, new
        if self._state == "connected":
            try:
                with self._io:
                    self._initialise()
            except QhyError:
                self._settings = old
                raise
        return self.settings

    def image_size(self, settings: CameraSettings | None = None) -> tuple[int, int]:
        """Unbinned width and height of the whole delivered image (effective area, or full readout)."""
        return geometry.image_size(self.model, settings or self._settings)

    def decode_request(self, s: CameraSettings, expected_sequence: int | None) -> DecodeRequest:
        return geometry.decode_request(self.model, s, expected_sequence)

    # --- cooling: the cooler's targets, stepped by housekeeping --------------------------------------------------
    @property
    def ramp(self) -> CoolingRamp:
        return self.cooler.ramp

    def _cooling_change(self, change: Callable[[], None]) -> None:
        with self._io:
            change()
            if self._state == "connected":
                self.cooler.step()

    def set_temperature(self, target_c: float) -> None:
        """Regulate to ``target_c``, approached at the ramp's slope."""
        self._cooling_change(lambda: self.cooler.set_temperature(target_c))

    def set_cooler_power(self, percent: float) -> None:
        """Manual TEC power, approached at the ramp's power slope."""
        self._cooling_change(lambda: self.cooler.set_power(percent))

    def cooler_off(self) -> None:
        """Switch the TEC off: its power is ramped down, not cut."""
        self.set_cooler_power(0.0)

    def warm_up(self, timeout_s: float = 1800.0) -> bool:
        """Raise the set point at the ramp's slope until the TEC no longer works, then switch it off."""
        with self._io:
            self.cooler.begin_warm_up()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._state == "connected":
            if self.cooler.mode is CoolerMode.OFF:
                return True
            time.sleep(min(0.05, self.poll_s))
        return False

    def cooling(self) -> CoolingReading:
        return self.cooler.reading()

    # --- housekeeping -------------------------------------------------------------------------------------------
    def _monitor_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._state == "connected":
                    with self._io:
                        self.read_status()
                        self.cooler.step()
                elif self._state == "reconnecting":
                    self._try_reconnect()
            except QhyError:
                pass  # recorded by note_usb_error; the next tick retries or reconnects
            self._stop.wait(self.poll_s if self._state == "connected" else min(self.poll_s, 0.2))

    def _try_reconnect(self) -> None:
        self._close_link()
        if not self._attach():
            self.logger.debug("reconnect: %s not on the bus yet", self.id)
            return
        self._state = "connected"
        self.stats.reconnects += 1
        self.event("INFO", "camera is back; all settings re-applied")

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
