"""The emulated camera's 12 V supply and the sensor working status it reports (0xD5/0x24).

The product pages warn that the camera may reboot below 11.5 V when the TEC draws hard; QHY's SDK reads the
sensor's working status every 5 s, and QHY's public SDK header lists its values (1 good, 2 check error, 9 power
chip error). ASSUMED: the camera reports 9 while its supply is below 11.5 V, and 1 otherwise.
"""

from __future__ import annotations

import threading

from ..protocol import SensorStatus

UNDER_VOLTAGE_V = 11.5
NOMINAL_V = 12.0


class PowerSupply:
    """The voltage at the camera's 12 V input, which a test (or a fault) may lower."""

    def __init__(self, volts: float = NOMINAL_V) -> None:
        self._lock = threading.Lock()
        self.volts = volts

    def set_volts(self, volts: float) -> None:
        with self._lock:
            self.volts = volts

    def sensor_status(self) -> int:
        with self._lock:
            return int(SensorStatus.POWER_CHIP_ERROR if self.volts < UNDER_VOLTAGE_V else SensorStatus.GOOD)
