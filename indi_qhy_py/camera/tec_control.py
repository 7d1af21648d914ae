"""The TEC as the camera's users drive it: set point, manual power, off, warm-up, and what it reads now.

Every request changes the cooler's target under the camera's I/O lock (so it never lands between housekeeping's
telemetry read and the cooler step that uses it) and, while the camera is connected, takes the ramp's first step
at once instead of waiting for the next housekeeping round; housekeeping takes the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .cooling import Cooler, CoolerMode, CoolingRamp, CoolingReading

if TYPE_CHECKING:
    from .camera import Camera
    from .telemetry import Telemetry


class TecControl:
    """The camera's cooler behind its I/O lock; also the cooler's way to the TEC (``CoolerLink``)."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.cooler = Cooler(self, camera.clock, camera.event)

    # --- CoolerLink: what the cooler sends, and the reading it ramps from ------------------------------------------
    def cooler_target(self, celsius: float) -> None:
        self.camera.io(lambda link: link.cooler_target(celsius))

    def cooler_manual(self, pwm: int) -> None:
        self.camera.io(lambda link: link.cooler_manual(pwm))

    @property
    def telemetry(self) -> Telemetry | None:
        return self.camera.telemetry

    # --- requests -----------------------------------------------------------------------------------------------
    @property
    def ramp(self) -> CoolingRamp:
        return self.cooler.ramp

    @property
    def mode(self) -> CoolerMode:
        return self.cooler.mode

    def set_temperature(self, target_c: float) -> None:
        """Regulate to ``target_c``, approached at the ramp's slope."""
        self._change(lambda: self.cooler.set_temperature(target_c))

    def set_power(self, percent: float) -> None:
        """Manual TEC power, approached at the ramp's power slope."""
        self._change(lambda: self.cooler.set_power(percent))

    def off(self) -> None:
        """Switch the TEC off: its power is ramped down, not cut."""
        self.set_power(0.0)

    def warm_up(self, timeout_s: float = 1800.0) -> bool:
        """Raise the set point at the ramp's slope until the TEC no longer works, then switch it off; False when
        ``timeout_s`` passed first or the camera went away."""
        camera = self.camera
        with camera.channel.lock:
            self.cooler.begin_warm_up()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and camera.state == "connected":
            if self.cooler.mode is CoolerMode.OFF:
                return True
            time.sleep(min(0.05, camera.poll_s))
        return False

    def reading(self) -> CoolingReading:
        return self.cooler.reading()

    def _change(self, change: Callable[[], None]) -> None:
        with self.camera.channel.lock:
            change()
            if self.camera.state == "connected":
                self.cooler.step()
