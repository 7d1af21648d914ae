"""What the camera reports of itself between frames: sensor temperature, TEC power, chamber humidity, and the
sensor's working status (which says when the 12 V supply sags below what the camera needs)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import protocol


@dataclass(frozen=True)
class Telemetry:
    temperature_c: float
    tec_pwm: int  # 0-255
    humidity_percent: float | None  # None: no humidity sensor
    sensor_status: int | None = None  # protocol.SensorStatus; None: not read yet

    @property
    def power_pct(self) -> float:
        return protocol.percent_from_pwm(self.tec_pwm)

    @property
    def under_voltage(self) -> bool:
        return self.sensor_status in protocol.UNDER_VOLTAGE_STATUSES
