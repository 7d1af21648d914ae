"""Cooling: how fast the set point and the TEC power may move, and the cooler that moves them.

QHY warns that thermal shock shortens a TEC's life: raise and lower the power gradually, and let the sensor warm
up before the 12 V is cut. The camera's firmware regulates to whatever set point it is given, so the driver
limits the rate of change of that set point (C/min) and, in manual mode or when switching off, of the power (%/min).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .. import protocol
from ..models import SETPOINT_MAX_C, SETPOINT_MIN_C
from .telemetry import Telemetry


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


WARM_UP_TARGET_C = 30.0  # above any ambient: ramping towards it lets the TEC power fall to zero gradually


class CoolerLink(Protocol):
    """What the cooler needs of its camera: the TEC requests, and the last telemetry read."""

    def cooler_target(self, celsius: float) -> None: ...

    def cooler_manual(self, pwm: int) -> None: ...

    @property
    def telemetry(self) -> Telemetry | None: ...


class Cooler:
    """The TEC as the driver runs it: a set point or a manual power, each approached at the ramp's rate.

    Requests only change the target; ``step`` (called by the camera's housekeeping, and with ``force`` after a
    re-initialisation) moves one ramp step and sends it when it changed (as QHY's SDK does), or always with
    ``force``. Warming up raises the set point until the TEC is idle, then switches it off.
    """

    def __init__(self, link: CoolerLink, clock: Callable[[], float], on_event: Callable[[str, str], None]) -> None:
        self.link = link
        self.clock = clock
        self.on_event = on_event
        self.ramp = CoolingRamp()
        self.mode = CoolerMode.OFF
        self.target_c = 0.0
        self.power_pct = 0.0  # manual target
        self.setpoint_c: float | None = None  # ramped set point last sent
        self.commanded_pct = 0.0  # ramped power last sent
        self.warming = False
        self._last_step: float | None = None
        self._sent: tuple[str, float] | None = None  # what the TEC was last told

    def _telemetry(self) -> Telemetry | None:
        return self.link.telemetry

    def set_temperature(self, target_c: float) -> None:
        if not SETPOINT_MIN_C <= target_c <= SETPOINT_MAX_C:
            raise ValueError(f"temperature {target_c} C is out of range {SETPOINT_MIN_C:g}..{SETPOINT_MAX_C:g} C")
        self._regulate(target_c, warming=False)

    def set_power(self, percent: float) -> None:
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"cooler power {percent} % is out of range 0..100 %")
        if self.mode is not CoolerMode.MANUAL:
            st = self._telemetry()
            self.commanded_pct = st.power_pct if st else 0.0
        self.mode, self.power_pct, self.warming = CoolerMode.MANUAL, percent, False

    def begin_warm_up(self) -> None:
        self._regulate(WARM_UP_TARGET_C, warming=True)

    def _regulate(self, target_c: float, warming: bool) -> None:
        if self.mode is not CoolerMode.AUTO:
            st = self._telemetry()
            self.setpoint_c = st.temperature_c if st else None
        self.mode, self.target_c, self.warming = CoolerMode.AUTO, target_c, warming

    def reading(self) -> CoolingReading:
        st = self._telemetry()
        return CoolingReading(
            temperature_c=st.temperature_c if st else float("nan"),
            setpoint_c=self.setpoint_c if self.setpoint_c is not None else float("nan"),
            target_c=self.target_c, power_pct=st.power_pct if st else 0.0, mode=self.mode,
            humidity_percent=st.humidity_percent if st else None)

    def _send(self, kind: str, value: float, force: bool) -> None:
        """Tell the TEC ``kind`` ("auto": a set point, "manual": a PWM) unless it was told exactly that last."""
        if not force and self._sent == (kind, value):
            return
        if kind == "auto":
            self.link.cooler_target(value)
        else:
            self.link.cooler_manual(int(value))
        self._sent = (kind, value)

    def step(self, force: bool = False) -> None:
        """One ramp step: move the set point (or power) towards its target and send it."""
        now = self.clock()
        dt = 0.0 if self._last_step is None else max(0.0, now - self._last_step)
        self._last_step = now
        if self.mode is CoolerMode.AUTO:
            st = self._telemetry()
            if self.setpoint_c is None:  # first step: start the ramp from where the sensor is
                self.setpoint_c = st.temperature_c if st else self.target_c
            # after a re-initialisation (force) re-send the current set point; otherwise take one ramp step
            step = self.setpoint_c if force else self.ramp.next_setpoint(self.setpoint_c, self.target_c, dt)
            self.setpoint_c = step
            self._send("auto", round(step, 1), force)  # the F3 target has 0.1 C steps
            if self.warming and st is not None and st.tec_pwm == 0 and step >= st.temperature_c:  # TEC idle: done
                self._send("manual", 0, force)
                self.mode, self.warming, self.commanded_pct = CoolerMode.OFF, False, 0.0
                self.on_event("INFO", "warm-up done, cooler off")
        elif self.mode is CoolerMode.MANUAL:
            self.commanded_pct = self.ramp.next_power(self.commanded_pct, self.power_pct, dt)
            self._send("manual", protocol.pwm_from_percent(self.commanded_pct), force)
        else:
            self._send("manual", 0, force)
