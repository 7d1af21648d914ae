"""The photon transfer method: a sensor's system gain, read noise, full well and dark current from pairs of frames.

Standard method (J. R. Janesick, *Photon Transfer*, SPIE 2007, ch. 3-5; the form R. Berry and J. Burnell's AIP4Win
uses, *The Handbook of Astronomical Image Processing*, 2nd ed. 2005, ch. 8), on two frames of each kind so that
the fixed pattern (pixel response non-uniformity, hot pixels) cancels in their difference:

* read noise (ADU) = std(bias1 - bias2) / sqrt(2);
* per flat pair, signal S = mean(flat1 + flat2) / 2 - bias level, and temporal variance
  V = var(flat1 - flat2) / 2 - read noise²;
* shot noise is Poisson in electrons, so V = S / g for a system gain g in e⁻/ADU: g is the slope of S against V,
  fitted through the origin over the pairs in the linear part of the curve (least squares: g = ΣS² / ΣSV);
* read noise (e⁻) = g x read noise (ADU); full well = g x the signal where the curve bends (a saturated pair's
  variance collapses, its pixels at the ADC's top or the pixel's well); dynamic range = full well / read noise;
* dark current (e⁻/px/s) = g x (mean(dark) - bias level) / t, at the sensor's temperature;
* linearity: the signal against exposure time, fitted by a line through the origin over 5-95 % of full scale;
  the largest deviation from it, in per cent of the signal.

Every statistic is on one region of interest of the frames (float64 differences of it: no full-frame copies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ADC_MAX = 65535
SATURATED_FRACTION = 0.001  # a pair with more clipped pixels than this is at or past the curve's bend
LINEAR_TOP = 0.70  # of the ADC range: pairs above it are left out of the gain fit (the curve may start to bend)


class AnalysisError(ValueError):
    """Frames that cannot give the number asked of them; the text says what is wrong with them."""


@dataclass(frozen=True)
class PairStats:
    """Two frames of one kind and exposure, on the region analysed."""

    exposure_s: float
    mean: float  # ADU, both frames
    variance: float  # ADU², of the difference, halved: one frame's temporal variance
    clipped: float  # fraction of pixels at the ADC's top in either frame

    @classmethod
    def of(cls, first: np.ndarray, second: np.ndarray, exposure_s: float, adc_max: int = ADC_MAX) -> PairStats:
        if first.shape != second.shape:
            raise AnalysisError(f"the two frames differ in size: {first.shape} and {second.shape}")
        a, b = first.astype(np.float64), second.astype(np.float64)
        mean = float((a.mean() + b.mean()) / 2)
        variance = float(np.var(a - b) / 2)
        clipped = float(np.count_nonzero((first >= adc_max) | (second >= adc_max)) / first.size)
        return cls(exposure_s, mean, variance, clipped)


@dataclass(frozen=True)
class BiasStats:
    level: float  # ADU
    read_noise_adu: float
    clipped_low: float  # fraction of pixels at 0 in either frame: the offset is too low

    @classmethod
    def of(cls, first: np.ndarray, second: np.ndarray) -> BiasStats:
        pair = PairStats.of(first, second, 0.0)
        zeros = np.count_nonzero((first == 0) | (second == 0)) / first.size
        return cls(pair.mean, math.sqrt(pair.variance), float(zeros))


@dataclass(frozen=True)
class Transfer:
    """One photon transfer curve's results, at one read mode and gain."""

    e_per_adu: float
    read_noise_e: float
    full_well_e: float
    saturation_adu: float  # signal above bias where the curve bends (or the largest reached)
    dynamic_range: float
    linearity_pct: float | None  # largest deviation from a line through the origin, None with too few points
    points: tuple[tuple[float, float], ...]  # (signal ADU, temporal variance ADU²) of every flat pair

    @property
    def dynamic_range_db(self) -> float:
        return 20 * math.log10(self.dynamic_range)


def transfer(bias: BiasStats, flats: list[PairStats], adc_max: int = ADC_MAX) -> Transfer:
    """System gain, read noise, full well and linearity from a bias pair and flat pairs at several levels."""
    if len(flats) < 2:
        raise AnalysisError("at least two flat pairs at different levels are needed for the photon transfer curve")
    flats = sorted(flats, key=lambda p: p.exposure_s)
    span = adc_max - bias.level
    if max(p.mean for p in flats) - bias.level < 0.02 * span:
        raise AnalysisError("the flats are no brighter than the bias: is the light source on, the cap off?")
    rising = []  # the curve up to its bend: pairs unclipped, each noisier than the one before
    for pair in flats:
        if pair.clipped > SATURATED_FRACTION or (rising and pair.variance < rising[-1].variance):
            break
        rising.append(pair)
    linear = [p for p in rising if 0.02 * span < p.mean - bias.level < LINEAR_TOP * span]
    if len(linear) < 2:
        raise AnalysisError(f"only {len(linear)} flat pair(s) lie between 2 % and {LINEAR_TOP:.0%} of full scale "
                            "unclipped: the flats are saturated or too faint")
    e_per_adu = _fit(bias, linear)
    top = _saturation(bias, flats, e_per_adu)  # the pixel's well may fill below the ADC's top: fit below it
    below = [p for p in linear if p.mean - bias.level < LINEAR_TOP * top]
    if len(below) >= 2 and len(below) < len(linear):
        e_per_adu = _fit(bias, below)
    saturation = _saturation(bias, flats, e_per_adu)
    full_well = e_per_adu * saturation
    read_noise_e = e_per_adu * bias.read_noise_adu
    return Transfer(e_per_adu, read_noise_e, full_well, saturation, full_well / max(read_noise_e, 1e-9),
                    _linearity(bias, flats, saturation),
                    tuple((p.mean - bias.level, p.variance) for p in flats))


def _fit(bias: BiasStats, pairs: list[PairStats]) -> float:
    """e⁻/ADU: the slope of signal against shot variance, through the origin (least squares)."""
    signal = np.array([p.mean - bias.level for p in pairs])
    shot = np.array([p.variance - bias.read_noise_adu ** 2 for p in pairs])
    if np.any(shot <= 0):
        raise AnalysisError("a flat pair varies no more than the bias: no light reached the sensor")
    e_per_adu = float(np.sum(signal ** 2) / np.sum(signal * shot))
    residual = shot * e_per_adu / signal
    if np.ptp(residual) > 0.5:  # shot noise grows with signal, or something else moved between the two frames
        raise AnalysisError("the flat pairs' noise does not follow their signal (ratio spread "
                            f"{np.ptp(residual):.2f}): is the scene moving or the light flickering?")
    return e_per_adu


def dark_current(bias: BiasStats, dark: PairStats, e_per_adu: float) -> float:
    """e⁻/px/s from a dark pair and the bias level (negative values, noise around zero, are reported as 0)."""
    if dark.exposure_s <= 0:
        raise AnalysisError("a dark needs an exposure time")
    return max(0.0, e_per_adu * (dark.mean - bias.level) / dark.exposure_s)


def _saturation(bias: BiasStats, flats: list[PairStats], e_per_adu: float) -> float:
    """The signal where the transfer curve bends. A saturated pair's pixels all sit at the top (of the ADC, or of
    the pixel's well, below it): its variance collapses to far below the shot noise its signal would have, and its
    mean is the saturation level. Without one, the largest signal reached (a lower bound)."""
    saturated = [p for p in flats if p.clipped > 0.5
                 or p.variance < 0.25 * (p.mean - bias.level) / e_per_adu + bias.read_noise_adu ** 2]
    if saturated:
        return max(p.mean for p in saturated) - bias.level
    return max(p.mean for p in flats) - bias.level


def _linearity(bias: BiasStats, flats: list[PairStats], saturation: float) -> float | None:
    points = [(p.exposure_s, p.mean - bias.level) for p in flats
              if 0.05 * saturation <= p.mean - bias.level <= 0.95 * saturation and p.exposure_s > 0]
    if len(points) < 3:
        return None
    t, s = np.array(points).T
    slope = float(np.sum(t * s) / np.sum(t * t))
    return float(np.max(np.abs(s - slope * t) / s) * 100)
