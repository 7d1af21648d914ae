"""Cooling ramps: how fast the set point and the TEC power may move.

QHY warns that thermal shock shortens a TEC's life: raise and lower the power gradually, and let the sensor warm
up before the 12 V is cut. The camera's firmware regulates to whatever set point it is given, so the driver
limits the rate of change of that set point (C/min) and, in manual mode or when switching off, of the power (%/min).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class CoolerMode(Enum):
    OFF = "off"
    AUTO = "auto"  # regulate to a set point
    MANUAL = "manual"  # fixed TEC power


@dataclass
class CoolingRamp:
    """Rate limits; 0 means no limit."""

    slope_c_per_min: float = 3.0
    power_slope_pct_per_min: float = 20.0

    @staticmethod
    def _step(current: float, target: float, rate_per_min: float, dt_s: float) -> float:
        if rate_per_min <= 0:
            return target
        limit = rate_per_min * dt_s / 60.0
        return current + max(-limit, min(limit, target - current))

    def next_setpoint(self, current_c: float, target_c: float, dt_s: float) -> float:
        return self._step(current_c, target_c, self.slope_c_per_min, dt_s)

    def next_power(self, current_pct: float, target_pct: float, dt_s: float) -> float:
        return self._step(current_pct, target_pct, self.power_slope_pct_per_min, dt_s)


@dataclass(frozen=True)
class CoolingReading:
    temperature_c: float
    setpoint_c: float  # what the camera is regulating to now (ramped)
    target_c: float  # where the ramp is heading
    power_pct: float
    mode: CoolerMode
    humidity_percent: float | None
