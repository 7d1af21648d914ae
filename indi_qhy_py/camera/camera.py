"""One QHY268/QHY600 camera: connection, settings re-applied after every re-initialisation, housekeeping.

It speaks to the camera as QHY's own SDK does (``protocol``, OBSERVED): the same initialisation, the same blocks
for every setting, the same exposure and readout sequence, the FPGA watchdog fed at the SDK's period. What it
guarantees where the C++ driver does not: every setting is sent again after every re-initialisation (the A0 that
starts it returns the camera to its defaults) and after a reconnect; a camera that vanishes (12 V power cycle) is
found again by its serial and restored by itself; all control transfers go through one ``CameraLink`` under one
lock, so the exposure thread and the housekeeping thread never interleave them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import protocol
from ..decode.frame import DecodeRequest
from ..errors import CameraBusyError, DeviceGoneError, QhyError, UsbError
from ..usb.discovery import CameraInfo, boot_loaders, find_device
from ..usb.link import CameraLink
from . import sdk_sequence
from . import settings as geometry
from .channel import CameraChannel
from .cooling import CoolerMode
from .exposure import Exposure
from .filter_wheel import CameraWheel
from .housekeeping import Housekeeping
from .live import LIVE_SETTINGS, LiveControl
from .settings import CameraFacts, CameraSettings, Stats
from .tec_control import TecControl
from .telemetry import Telemetry

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
        self.housekeeping = Housekeeping(self)
        self.wheel = CameraWheel(self)  # the filter wheel on the camera's port, when there is one
        self.live = LiveControl(self)
        self.tec = TecControl(self)  # the cooler, stepped by housekeeping
        self.firmware_date: str | None = None
        self.fpga_version = b""
        self._settings = CameraSettings()
        self._exposure_us = protocol.INIT_EXPOSURE_US  # the A3 value the camera holds
        self.next_sequence: int | None = None  # the frame number the next frame must carry, when known
        self.attachments = 0  # times the camera was opened: a change means it vanished and came back
        self.channel = CameraChannel(info.id, self.note_usb_error)
        self.io, self.read_frame, self.drain = self.channel.io, self.channel.read_frame, self.channel.drain
        self.download_buffer = self.channel.download_buffer
        self._io = self.channel.lock
        self._state = "disconnected"
        self._exposure: Exposure | None = None

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
    def telemetry(self) -> Telemetry | None:
        return self.housekeeping.telemetry

    def facts(self, power_fault: bool = False) -> CameraFacts:
        telemetry = self.telemetry
        return CameraFacts(self.info.serial, self.firmware_date, self.fpga_version.hex(),
                           telemetry.humidity_percent if telemetry else None, power_fault)

    @property
    def exposing(self) -> bool:
        """An exposure (or its download) is under way."""
        return self._exposure is not None and not self._exposure.done()

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
        self.housekeeping.start()

    def disconnect(self, warm_up: bool = False, warm_up_timeout_s: float = 1800.0) -> None:
        """Close the camera; with ``warm_up`` first let the sensor warm gradually and switch the TEC off."""
        if self._state == "disconnected":
            return
        self.live.stop("the camera is being disconnected")
        if self.exposing and self._exposure is not None:
            self._exposure.abort()
        if warm_up and self._state == "connected" and self.tec.mode is not CoolerMode.OFF:
            self.tec.warm_up(warm_up_timeout_s)
        self.housekeeping.stop()
        self._close_link()
        self._state = "disconnected"

    def _close_link(self) -> None:
        self.channel.close()

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
            self.channel.attach(link)
            try:
                self.firmware_date, self.fpga_version = link.firmware_date(), link.fpga_version()
                self._initialise()
            except QhyError:
                self._close_link()
                raise
        self.attachments += 1
        self.wheel.reset()
        return True

    def reinitialise(self) -> None:
        """The whole set-up again (single-frame mode), as after a connect."""
        with self._io:
            self._initialise()

    def _initialise(self) -> None:
        """Everything InitQHYCCD sends (``sdk_sequence``), then the cooler and a first reading."""
        started = time.monotonic()
        link = self.channel.link()
        self.next_sequence = None
        pressure = sdk_sequence.initialise(link, self.model, self._settings)
        self.housekeeping.humidity_sensor = link.has_humidity_sensor()
        self._exposure_us = protocol.INIT_EXPOSURE_US
        self.logger.debug("0xD5/0x07 (pressure sensor, meaning unknown): %s", pressure[:8].hex(" "))
        self.tec.cooler.step(force=True)
        self.housekeeping.read_telemetry()
        self.logger.debug("settings re-applied in %.0f ms: %s", (time.monotonic() - started) * 1e3, self._settings)

    # --- I/O through the channel (``io``, ``read_frame``, ``drain``, ``download_buffer``) ------------------------
    def set_exposure_time(self, microseconds: int) -> None:
        """A3, when it changes (as the SDK sends it on SetQHYCCDParam)."""
        if microseconds != self._exposure_us:
            self.io(lambda link: link.command(protocol.encode_exposure(microseconds)))
            self._exposure_us = microseconds

    def read_telemetry(self) -> Telemetry:
        return self.housekeeping.read_telemetry()

    def note_usb_error(self, err: UsbError) -> None:
        self.stats.usb_errors += 1
        self.logger.debug("USB error %d: %s", self.stats.usb_errors, err)
        if isinstance(err, DeviceGoneError) and self._state == "connected":
            self._state = "reconnecting"
            self.event("WARNING", f"camera vanished ({err}); waiting for it to come back")

    # --- settings -----------------------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> CameraSettings:
        """Validate and apply setting changes; a bad value raises ValueError naming the allowed range."""
        if self.exposing:
            raise CameraBusyError("settings cannot change while an exposure or download runs")
        new = dataclasses.replace(self._settings, **changes)
        if "read_mode" in changes and isinstance(new.read_mode, str):
            new.read_mode = self.model.read_mode(new.read_mode).index
        geometry.validate(self.model, new)
        old, self._settings = self._settings, new
        if self._state == "connected":
            if self.live.stream is not None:  # the stream keeps its geometry; the rest goes out when it ends
                new = dataclasses.replace(old, **{k: getattr(new, k) for k in LIVE_SETTINGS})
            try:
                with self._io:
                    self._send_changes(old, new)
            except QhyError:
                self._settings = old
                raise
        return self.settings

    def _send_changes(self, old: CameraSettings, new: CameraSettings) -> None:
        """What QHY's SDK sends for the same change: a read-mode change re-initialises, any other setting is
        its own block."""
        if new.read_mode != old.read_mode:
            self._initialise()
            return
        sdk_sequence.send_changes(self.channel.link(), self.model, old, new)
        self.next_sequence = None

    def image_size(self, settings: CameraSettings | None = None) -> tuple[int, int]:
        """Unbinned width and height of the whole delivered image (effective area, or full readout)."""
        return geometry.image_size(self.model, settings or self._settings)

    def decode_request(self, s: CameraSettings, expected_sequence: int | None) -> DecodeRequest:
        return geometry.decode_request(self.model, s, expected_sequence)

    # --- reconnection (called by housekeeping) ------------------------------------------------------------------
    def try_reconnect(self) -> None:
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
        if self.exposing:
            raise CameraBusyError("an exposure is already running")
        if self.wheel.state.moving:
            raise CameraBusyError(f"the filter wheel is turning to slot {self.wheel.state.target}")
        # a single exposure ends the stream; its worker waits until the camera is back in single-frame mode
        self.live.stop("stream stopped for a single exposure", wait_s=0)
        self._exposure = Exposure(self, seconds)
        self._exposure.start()
        return self._exposure
