"""The CCD device's cooling: set point, ramp, cooler on/off, manual power, and the reports clients watch.

Requests go to the camera layer's cooler, which ramps them; ``report`` (called by the ticker every
POLLING_PERIOD) sends temperature, cooler power, cooler state and humidity when they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..camera.cooling import CoolerMode
from ..models import SETPOINT_MAX_C, SETPOINT_MIN_C
from .properties import State, Vector

if TYPE_CHECKING:
    from .ccd import QhyCcd


class CcdCooling:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.camera = device.camera

    def _on_ccd_temperature(self, v: Vector, values: dict[str, object]) -> None:
        target = float(values["CCD_TEMPERATURE_VALUE"])  # type: ignore[arg-type]
        self.camera.tec.set_temperature(target)
        cooler = self.device.all["CCD_COOLER"]
        cooler.apply({"COOLER_ON": True})
        self.device.update(cooler, State.OK)
        self.device.update(v, State.BUSY, f"cooling to {target:.1f} C at up to "
                                          f"{self.camera.tec.ramp.slope_c_per_min:g} C/min")

    def _on_ccd_temp_ramp(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.camera.tec.ramp.slope_c_per_min = v["RAMP_SLOPE"].value
        self.device.update(v, State.OK)

    def _on_ccd_cooler(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        if v.on_switch() == "COOLER_ON":
            reading = self.camera.tec.reading()
            target = reading.target_c if reading.mode is CoolerMode.AUTO else reading.temperature_c
            target = target if target == target else 0.0  # no reading yet: a safe set point
            self.camera.tec.set_temperature(max(SETPOINT_MIN_C, min(SETPOINT_MAX_C, target)))
            self.device.update(v, State.OK, "cooler on")
        else:
            self.camera.tec.off()
            self.device.update(v, State.IDLE, "cooler off (power ramped down)")

    def _on_ccd_cooler_power(self, v: Vector, values: dict[str, object]) -> None:
        percent = float(values["CCD_COOLER_VALUE"])  # type: ignore[arg-type]
        self.camera.tec.set_power(percent)
        cooler = self.device.all["CCD_COOLER"]
        cooler.apply({"COOLER_ON" if percent > 0 else "COOLER_OFF": True})
        self.device.update(cooler, State.OK)
        self.device.update(v, State.BUSY, f"manual cooler power {percent:g} % (no regulation)")

    def report(self) -> None:
        """Temperature, power, cooler state and humidity, each sent only when it changed."""
        reading = self.camera.tec.reading()
        if reading.temperature_c != reading.temperature_c:
            return  # no status read yet
        a, update = self.device.all, self.device.update
        temp_v, power_v, cooler_v = a["CCD_TEMPERATURE"], a["CCD_COOLER_POWER"], a["CCD_COOLER"]
        threshold = a["CCD_TEMP_RAMP"]["RAMP_THRESHOLD"].value
        if reading.mode is CoolerMode.AUTO:
            state = State.OK if abs(reading.temperature_c - reading.target_c) <= threshold else State.BUSY
        else:
            state = State.IDLE
        temperature = round(reading.temperature_c, 2)
        if temperature != temp_v["CCD_TEMPERATURE_VALUE"].value or state != temp_v.state:
            temp_v["CCD_TEMPERATURE_VALUE"].value = temperature
            update(temp_v, state)
        power = round(reading.power_pct, 1)
        if power != power_v["CCD_COOLER_VALUE"].value:
            power_v["CCD_COOLER_VALUE"].value = power
            update(power_v, State.OK if reading.mode is not CoolerMode.OFF else State.IDLE)
        mode_v = a["CCD_COOLER_MODE"]
        automatic = reading.mode is CoolerMode.AUTO
        if automatic != (mode_v.on_switch() == "COOLER_AUTOMATIC"):
            mode_v.apply({"COOLER_AUTOMATIC" if automatic else "COOLER_MANUAL": True})
            update(mode_v, State.OK)
        on = reading.mode is not CoolerMode.OFF
        if on != (cooler_v.on_switch() == "COOLER_ON"):
            cooler_v.apply({"COOLER_ON" if on else "COOLER_OFF": True})
            update(cooler_v, State.OK if on else State.IDLE)
        if "CCD_HUMIDITY" in a and reading.humidity_percent is not None:
            hv = a["CCD_HUMIDITY"]
            humidity = round(reading.humidity_percent, 1)
            if humidity != hv["HUMIDITY"].value:
                hv["HUMIDITY"].value = humidity
                update(hv, State.OK)
