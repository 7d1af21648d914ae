"""The photon transfer statistics and the offset advice, on frames made here with known gain, noise and well."""

from __future__ import annotations

import numpy as np
import pytest

from indi_qhy_py.analysis.offset_advice import ADU_PER_OFFSET_STEP, advise
from indi_qhy_py.analysis.photon_transfer import AnalysisError, BiasStats, PairStats, dark_current, transfer
from indi_qhy_py.analysis.published import BENCH_QHY268M, point, points

SIDE = 256


class Sensor:
    """Poisson electrons, Gaussian read noise, a well and a 16-bit ADC: frames with known answers."""

    def __init__(self, e_per_adu: float, read_noise_e: float, well_e: float, bias_adu: float = 326.0,
                 seed: int = 1) -> None:
        self.g, self.rn, self.well, self.bias = e_per_adu, read_noise_e, well_e, bias_adu
        self.rng = np.random.default_rng(seed)

    def frame(self, electrons: float, flicker: float = 0.0) -> np.ndarray:
        light = electrons * (1 + flicker * self.rng.standard_normal((SIDE, SIDE)))
        signal = np.minimum(self.rng.poisson(np.maximum(light, 0)), self.well) if electrons else 0
        adu = self.bias + (signal + self.rng.normal(0, self.rn, (SIDE, SIDE))) / self.g
        return np.clip(np.round(adu), 0, 65535).astype(np.uint16)

    def bias_stats(self) -> BiasStats:
        return BiasStats.of(self.frame(0), self.frame(0))

    def flats(self, levels: list[float], rate: float = 10_000.0, flicker: float = 0.0) -> list[PairStats]:
        return [PairStats.of(self.frame(e, flicker), self.frame(e, flicker), e / rate) for e in levels]


@pytest.mark.parametrize(("g", "rn", "well"), [(0.77, 3.56, 51_000), (0.33, 1.66, 51_000), (1.28, 5.82, 86_000),
                                               (4.0, 3.0, 30_000)])
def test_gain_read_noise_and_full_well_come_back(g: float, rn: float, well: float) -> None:
    sensor = Sensor(g, rn, well)
    top = min(well, 65535 * g)  # the ADC or the pixel, whichever fills first
    result = transfer(sensor.bias_stats(), sensor.flats([top * f for f in (0.05, 0.15, 0.3, 0.45, 0.6, 1.4)]))
    assert result.e_per_adu == pytest.approx(g, rel=0.02)
    assert result.read_noise_e == pytest.approx(np.hypot(rn, g / np.sqrt(12)), rel=0.03)  # with the ADC's steps
    assert result.full_well_e == pytest.approx(min(well, (65535 - 326) * g), rel=0.02)
    assert result.dynamic_range == pytest.approx(result.full_well_e / result.read_noise_e)
    assert result.linearity_pct is not None and result.linearity_pct < 0.5


def test_the_pixel_well_filling_before_the_adc_is_found_from_the_collapsed_variance() -> None:
    sensor = Sensor(4.0, 3.0, 30_000)  # 30 ke- is 7500 ADU: far below the ADC's top, nothing reads 65535
    result = transfer(sensor.bias_stats(), sensor.flats([1500, 4500, 9000, 15000, 45000]))
    assert result.full_well_e == pytest.approx(30_000, rel=0.02)


def test_frames_that_cannot_give_the_numbers_are_refused_with_the_reason() -> None:
    sensor = Sensor(0.77, 3.56, 51_000)
    bias = sensor.bias_stats()
    with pytest.raises(AnalysisError, match="no brighter than the bias"):
        transfer(bias, sensor.flats([0, 10]))
    with pytest.raises(AnalysisError, match="saturated or too faint"):
        transfer(bias, sensor.flats([60_000, 90_000, 120_000]))
    with pytest.raises(AnalysisError, match="moving or the light flickering"):
        transfer(bias, sensor.flats([2_500, 7_500, 15_000, 22_500], flicker=0.05))
    with pytest.raises(AnalysisError, match="two flat pairs"):
        transfer(bias, sensor.flats([20_000]))
    with pytest.raises(AnalysisError, match="differ in size"):
        PairStats.of(np.zeros((4, 4), np.uint16), np.zeros((4, 5), np.uint16), 1.0)


def test_dark_current_is_electrons_above_the_bias_per_second() -> None:
    sensor = Sensor(0.77, 3.56, 51_000)
    bias = sensor.bias_stats()
    dark = PairStats.of(sensor.frame(600), sensor.frame(600), 300.0)  # 2 e-/px/s for 300 s
    assert dark_current(bias, dark, 0.77) == pytest.approx(2.0, rel=0.05)
    with pytest.raises(AnalysisError, match="exposure time"):
        dark_current(bias, PairStats(0.0, 400, 20, 0), 0.77)


def test_offset_advice_sees_a_clipped_bias_and_the_offset_that_clears_it() -> None:
    rng = np.random.default_rng(3)
    clipped = np.clip(np.round(rng.normal(25, 12, (1200, 1000))), 0, 65535).astype(np.uint16)
    advice = advise(clipped, offset=0, gain=64)
    assert advice.clipped == int(np.count_nonzero(clipped == 0)) > 0 and not advice.clear
    assert advice.sigma_adu == pytest.approx(12, rel=0.1)
    needed = 6 * advice.sigma_adu + 20 - advice.level_adu
    assert advice.safe_offset == int(np.ceil(needed / ADU_PER_OFFSET_STEP))
    assert "CLIPS" in advice.text() and "ASSUMED" in advice.text()
    clear = np.clip(np.round(rng.normal(426, 5, (500, 500))), 0, 65535).astype(np.uint16)
    advice = advise(clear, offset=30, gain=0, adu_per_step=9.5)
    assert advice.clear and advice.safe_offset == 0 and "clear of 0" in advice.text() and "measured" in advice.text()
    close = np.clip(np.round(rng.normal(60, 8, (500, 500))), 0, 65535).astype(np.uint16)
    assert not advise(close, offset=3, gain=56).clear  # nothing at 0 yet, but within 6 sigma plus the margin
    with pytest.raises(ValueError, match="16-bit"):
        advise(clear.astype(np.uint8), 0, 0)


def test_the_published_points_are_the_bench_tests() -> None:
    assert len(BENCH_QHY268M) == 8 and point("QHY268C", 1, 56) is point("QHY268M", 1, 56)
    assert all(p.full_well_e == pytest.approx(p.e_per_adu * 65535, rel=0.001) for p in BENCH_QHY268M)
    assert {p.model for p in points("QHY600M")} == {"QHY600M"}
