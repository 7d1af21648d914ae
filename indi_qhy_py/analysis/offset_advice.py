"""Offset advice from one bias frame: does the bias clip at 0 at this gain and offset, and which offset is safe.

A bias frame's pixels scatter around the pedestal by the read noise; a higher gain widens that scatter in ADU, so an
offset that keeps the bias clear of 0 at low gain can clip it at high gain, losing the faintest signal for good.
The rule: the pedestal must stand ``SIGMAS`` standard deviations plus ``MARGIN_ADU`` above 0 (six sigma leaves one
pixel in a billion at 0 for Gaussian noise; the margin covers drift with temperature). The scatter is measured
robustly (half the 15.9-84.1 percentile range: hot pixels do not inflate it) on a sample of the frame; the pixels at
0 are counted over the whole frame, a band of rows at a time (no full-frame temporary).

The offset's step in ADU is ASSUMED (``ADU_PER_OFFSET_STEP``, the emulator's pedestal model, fitted to the one
bench point: offset 20 gives a mean of ~326 ADU on a QHY268M); ``indi_qhy_py_analyse --offsets`` measures it on a
real camera, and the advice takes the measured value when given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIGMAS = 6.0
MARGIN_ADU = 20.0
ADU_PER_OFFSET_STEP = 10.0  # ASSUMED: see the module's docstring
SAMPLE_PIXELS = 1 << 20
BAND_ROWS = 256


@dataclass(frozen=True)
class OffsetAdvice:
    offset: int
    gain: float
    level_adu: float
    sigma_adu: float
    clipped: int  # pixels at 0
    pixels: int
    safe_offset: int  # the lowest offset that keeps the bias SIGMAS sigma plus the margin above 0
    adu_per_step: float
    step_measured: bool = False  # ADU per offset step measured (two offsets), not ASSUMED

    @property
    def clipped_pct(self) -> float:
        return 100.0 * self.clipped / max(1, self.pixels)

    @property
    def clear(self) -> bool:
        return self.clipped == 0 and self.level_adu - SIGMAS * self.sigma_adu >= MARGIN_ADU

    def text(self) -> str:
        where = f"at gain {self.gain:g}, offset {self.offset}"
        if self.clipped:
            verdict = (f"the bias CLIPS at 0 {where}: {self.clipped} pixels ({self.clipped_pct:.3g} %) at 0: raise "
                       f"the offset to at least {self.safe_offset}")
        elif not self.clear:
            verdict = (f"the bias is too close to 0 {where} (level {self.level_adu:.0f} ADU, sigma "
                       f"{self.sigma_adu:.1f}"
                       f"): raise the offset to at least {self.safe_offset}")
        else:
            verdict = (f"the bias is clear of 0 {where} (level {self.level_adu:.0f} ADU, sigma {self.sigma_adu:.1f}); "
                       f"the lowest safe offset at this gain is {self.safe_offset}")
        how = "measured" if self.step_measured else "ASSUMED; indi_qhy_py_analyse --offsets measures it"
        return f"{verdict} ({self.adu_per_step:.3g} ADU per offset step, {how})"


def advise(pixels: np.ndarray, offset: int, gain: float, adu_per_step: float | None = None) -> OffsetAdvice:
    """The advice a 16-bit bias frame gives; ``adu_per_step`` when measured, else the ASSUMED step."""
    measured = adu_per_step is not None
    adu_per_step = adu_per_step if adu_per_step is not None else ADU_PER_OFFSET_STEP
    if pixels.dtype != np.uint16:
        raise ValueError(f"offset advice needs a 16-bit bias frame, not {pixels.dtype}")
    step = max(1, int(math.sqrt(pixels.size / SAMPLE_PIXELS)))
    sample = pixels[::step, ::step].astype(np.float32)
    low, median, high = np.percentile(sample, (15.87, 50.0, 84.13))
    sigma = float(high - low) / 2
    clipped = sum(int(np.count_nonzero(pixels[top : top + BAND_ROWS] == 0))
                  for top in range(0, pixels.shape[0], BAND_ROWS))
    needed = SIGMAS * sigma + MARGIN_ADU - float(median)  # ADU the pedestal must rise (negative: room to lower it)
    safe = max(0, offset + math.ceil(needed / adu_per_step))
    return OffsetAdvice(offset, gain, float(median), sigma, clipped, int(pixels.size), safe, adu_per_step, measured)
