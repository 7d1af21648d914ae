"""What the emulated sensor does with the gain registers it is sent: the read mode's physics and the gain within it.

A camera driven the way QHY's SDK drives it is never told the read mode: it gets the A4 block's analog gain,
digital gain and conversion-gain flag, nothing else (``protocol.GainRegisters``). So the emulator takes its
physics from those registers alone, reading the SDK's own curves (``data/sdk_gain.json``) backwards:

* low conversion gain, analog below 2400: High Gain mode's low-gain part, at gain analog / 40;
* low conversion gain, analog 2400 and up: Extended Full Well, at gain (analog - 2400) / 16 — where Photographic
  below gain 26 sends its registers too (2400 + 40 g);
* high conversion gain: the High Gain or Photographic gain that sends these registers (High Gain first where
  both do: Photographic 45 and 65 send High Gain's 91 and 100), or the nearest such analog value;
* the digital gain multiplies the signal in ADU (8 = x1): the SDK raises it once the analog is at its maximum.

ASSUMED, and where it departs from the product pages' modes: Extended Full Well 2CMS sends exactly what Extended
Full Well sends, so the emulator cannot give it its 1.3x lower read noise. What a real camera does with these
registers is for a real camera to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .. import protocol
from ..models import CameraModel, ReadMode

PHOTOGRAPHIC, HIGH_GAIN, EXTENDED_FULL_WELL = 0, 1, 2
_EFW_BASE, _EFW_STEP = 2400, 16
_LCG_STEP = 40


@dataclass(frozen=True)
class SensorResponse:
    """The physics one set of gain registers selects: a read mode's curves at a (fractional) gain, and the
    digital multiplier applied after the ADC."""

    read_mode: ReadMode
    gain: float
    digital: float

    @property
    def e_per_adu(self) -> float:
        return self.read_mode.e_per_adu(self.gain) / self.digital

    @property
    def read_noise_e(self) -> float:
        return self.read_mode.read_noise_e(self.gain)

    @property
    def well_e(self) -> float:
        return self.read_mode.well_e


@lru_cache(maxsize=4)
def _high_conversion_gains(family: str) -> tuple[tuple[int, int, int], ...]:
    """(analog, read mode, gain) of every high-conversion-gain setting at unity digital gain, High Gain first."""
    found = []
    for mode in (HIGH_GAIN, PHOTOGRAPHIC):
        for gain in range(protocol.gain_max(family) + 1):
            registers = protocol.gain_registers(family, mode, gain)
            if registers.high_conversion and registers.digital == protocol.DIGITAL_UNITY:
                found.append((registers.analog, mode, gain))
    return tuple(found)


def sensor_response(model: CameraModel, registers: protocol.GainRegisters) -> SensorResponse:
    """The response of ``model``'s sensor to ``registers`` (see the module's docstring for the rules)."""
    analog = max(0, min(registers.analog, protocol.ANALOG_GAIN_MAX))
    digital = max(1, registers.digital) / protocol.DIGITAL_UNITY
    if registers.high_conversion:
        candidates = _high_conversion_gains(model.family.value)
        _, mode, gain = min(candidates, key=lambda c: abs(c[0] - analog))  # the first of equals: High Gain
        return SensorResponse(model.read_mode(mode), float(gain), digital)
    if analog >= _EFW_BASE:
        return SensorResponse(model.read_mode(EXTENDED_FULL_WELL), (analog - _EFW_BASE) / _EFW_STEP, digital)
    return SensorResponse(model.read_mode(HIGH_GAIN), analog / _LCG_STEP, digital)
