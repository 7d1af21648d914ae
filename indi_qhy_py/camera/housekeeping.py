"""Housekeeping: the camera's monitor thread, doing between frames what QHY's SDK does on its own threads.

Every poll it reads the temperature and TEC power (and humidity) and steps the cooler's ramp; every 5 s it reads
the sensor's working status, which says when the 12 V supply sagged (the SDK's period); every 10 s it feeds the
FPGA watchdog (the SDK's period: a camera that is not fed is expected to reset); while the camera is gone it
looks for it and, when it is back, restores it; for a minute after each connect it looks for a filter wheel on the
camera's port.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .. import protocol
from ..errors import QhyError
from ..usb.link import CameraLink
from .telemetry import Telemetry

if TYPE_CHECKING:
    from .camera import Camera


class Housekeeping:
    """The monitor thread of one ``Camera``."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.watchdog_period_s = protocol.WATCHDOG_PERIOD_S
        self.status_period_s = protocol.SENSOR_STATUS_PERIOD_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fed_at = -float("inf")
        self._status_at = -float("inf")
        self._under_voltage = False
        self.power_faults = 0  # times the camera went into a power fault since connecting
        self.humidity_sensor = False  # learnt at every initialisation, as InitQHYCCD does
        self.telemetry: Telemetry | None = None

    def start(self) -> None:
        self._stop.clear()
        self._fed_at = self._status_at = -float("inf")
        self._thread = threading.Thread(target=self._loop, name=f"{self.camera.id}-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _loop(self) -> None:
        cam = self.camera
        while not self._stop.is_set():
            try:
                if cam.state == "connected":
                    self.tick()
                elif cam.state == "reconnecting":
                    cam.try_reconnect()
                    self._fed_at = self._status_at = -float("inf")
            except QhyError:
                pass  # recorded by note_usb_error; the next tick retries or reconnects
            self._stop.wait(cam.poll_s if cam.state == "connected" else min(cam.poll_s, 0.2))

    def tick(self) -> None:
        """One round: the watchdog when due, the telemetry (with the sensor status when due), a cooler step."""
        cam = self.camera
        now = time.monotonic()
        if now - self._fed_at >= self.watchdog_period_s:
            cam.io(lambda link: link.feed_watchdog())
            self._fed_at = now
        with_status = now - self._status_at >= self.status_period_s
        with cam.channel.lock:  # the reading and the cooler step on it go together
            telemetry = self.read_telemetry(sensor_status=with_status)
            cam.tec.cooler.step()
        cam.wheel.search()
        if with_status:
            self._status_at = now
            self._report_power(telemetry.under_voltage, telemetry.sensor_status)

    def read_telemetry(self, sensor_status: bool = False) -> Telemetry:
        """Temperature and TEC power (and humidity, where there is a sensor; the sensor status on request)."""
        def read(link: CameraLink) -> Telemetry:
            celsius, pwm = link.temperature()
            humidity = link.humidity() if self.humidity_sensor else None
            old = self.telemetry
            status = link.sensor_status() if sensor_status else (old.sensor_status if old else None)
            return Telemetry(celsius, pwm, humidity, status)

        self.telemetry = self.camera.io(read)
        return self.telemetry

    def _report_power(self, under_voltage: bool, status: int | None) -> None:
        if under_voltage and not self._under_voltage:
            self.power_faults += 1
            self.camera.event("ERROR", f"the camera reports a power fault (sensor status {status}): check the 12 V "
                                       "supply — it sags below 11.5 V, and the camera may reboot")
        elif self._under_voltage and not under_voltage:
            self.camera.event("INFO", "the camera's power is good again")
        self._under_voltage = under_voltage

    @property
    def under_voltage(self) -> bool:
        return self._under_voltage
