"""Thermal model of the emulated camera: TEC-cooled sensor, firmware regulation, window heater, humidity.

Published: the two-stage TEC holds the sensor at most 35 C below ambient; the product pages show -10 C reached in
2-3 minutes. FITTED: a first-order response with a 75 s time constant (86 % of the way to the full-power
equilibrium, ambient - 35 C, in 2.5 min). ASSUMED: the firmware's regulation is a PI loop on the PWM; the
built-in window heater (QHY's SDK offers no control of it for these models) runs whenever the camera has power
and holds the window at ambient + 45 C (published: 65-70 C at 25 C ambient); chamber humidity rises as the
sensor cools.
"""

from __future__ import annotations

import math
import threading

from ..protocol import PWM_FULL

TAU_SENSOR_S = 75.0
TAU_WINDOW_S = 120.0
HEATER_RISE_C = 45.0
STEP_S = 1.0
KP = 40.0  # PWM counts per C of error
KI = 1.0  # PWM counts per C-second


class ThermalModel:
    """State advanced lazily to the clock time of each query, in steps of at most one second."""

    def __init__(self, ambient_c: float = 20.0, max_delta_c: float = 35.0, humidity_base: float = 25.0) -> None:
        self._lock = threading.Lock()
        self.ambient_c = ambient_c
        self.max_delta_c = max_delta_c
        self.humidity_base = humidity_base
        self.sensor_c = ambient_c
        self.window_c = ambient_c
        self.pwm = 0.0  # 0..PWM_FULL
        self.auto = False
        self.target_c = 0.0
        self.powered = True
        self._integral = 0.0
        self._time = 0.0

    def reset(self, now: float) -> None:
        with self._lock:
            self._time = now
            self._integral = 0.0

    def set_auto(self, now: float, target_c: float) -> None:
        with self._lock:
            self._advance(now)
            self.auto, self.target_c = True, target_c

    def set_manual(self, now: float, pwm: int) -> None:
        with self._lock:
            self._advance(now)
            self.auto, self.pwm, self._integral = False, float(max(0, min(PWM_FULL, pwm))), 0.0

    def set_powered(self, now: float, powered: bool) -> None:
        """12 V off: the TEC and the heater stop, regulation is forgotten."""
        with self._lock:
            self._advance(now)
            self.powered = powered
            if not powered:
                self.auto, self.pwm, self._integral = False, 0.0, 0.0

    def update(self, now: float) -> None:
        with self._lock:
            self._advance(now)

    @property
    def humidity_percent(self) -> float:
        return min(100.0, self.humidity_base * 2.0 ** ((self.ambient_c - self.sensor_c) / 25.0))

    def _advance(self, now: float) -> None:
        while self._time < now:
            dt = min(STEP_S, now - self._time)
            if self.auto and self.powered:
                error = self.sensor_c - self.target_c
                candidate = self._integral + KI * error * dt
                raw = KP * error + candidate
                if 0.0 <= raw <= PWM_FULL:  # anti-windup: integrate only while not saturated
                    self._integral = candidate
                self.pwm = max(0.0, min(float(PWM_FULL), KP * error + self._integral))
            equilibrium = self.ambient_c - self.max_delta_c * self.pwm / PWM_FULL
            self.sensor_c += (equilibrium - self.sensor_c) * (1.0 - math.exp(-dt / TAU_SENSOR_S))
            window_eq = self.ambient_c + (HEATER_RISE_C if self.powered else 0.0)
            self.window_c += (window_eq - self.window_c) * (1.0 - math.exp(-dt / TAU_WINDOW_S))
            self._time += dt
