"""The camera table holds the published figures, and the fitted curves reproduce the bench test."""

from __future__ import annotations

import pytest

from indi_qhy_py import models, protocol
from indi_qhy_py.models import MAIN_MODELS, QHY268C, QHY268M, QHY600C, QHY600M

BENCH_MODE1 = [(0, 0.77, 50462, 3.56), (52, 0.39, 25559, 3.58), (56, 0.33, 21626, 1.66), (58, 0.32, 20971, 1.59),
               (60, 0.31, 20316, 1.67), (64, 0.28, 18350, 1.69)]
BENCH_MODE3 = [(0, 1.28, 83886, 5.82), (40, 0.82, 53739, 5.54)]


def test_usb_ids_follow_loader_plus_one() -> None:
    assert (QHY600M.loader_pid, QHY600M.runtime_pid) == (0xC600, 0xC601)
    assert (QHY268C.loader_pid, QHY268C.runtime_pid) == (0xC268, 0xC269)
    assert all(m.runtime_pid == m.loader_pid + 1 for m in models.ALL_MODELS)
    assert models.VENDOR_ID == 0x1618


@pytest.mark.parametrize("model", MAIN_MODELS, ids=lambda m: m.name)
def test_regions_tile_the_readout(model: models.CameraModel) -> None:
    eff, ob, ovs = model.effective, model.optical_black, model.overscan
    assert ob.x == 0 and ob.x_end == eff.x and (ob.y, ob.height) == (eff.y, eff.height)
    assert eff.x_end <= model.readout_width  # the QHY268 has 8 more columns on the right (SDK effective area)
    assert (ovs.y, ovs.y_end) == (0, eff.y) and ovs.width == model.readout_width  # overscan on top, as the SDK says
    assert eff.y_end <= model.readout_height


def test_geometry_is_what_qhys_sdk_reports() -> None:
    """As GetQHYCCDChipInfo / GetQHYCCDEffectiveArea report it (re-observed in tests/sdk_oracle/test_sdk_facts)."""
    for model, size, effective in ((QHY600M, (9600, 6422), (24, 34, 9576, 6388)),
                                   (QHY268M, (6280, 4244), (24, 34, 6248, 4176))):
        assert (model.readout_width, model.readout_height) == size
        e = model.effective
        assert (e.x, e.y, e.width, e.height) == effective
    assert QHY600M.optical_black.width == 24 and QHY600M.overscan.height == 34
    assert 25.5e6 < QHY268M.effective.width * QHY268M.effective.height < 26.5e6


@pytest.mark.parametrize(("gain", "k", "well", "rn"), BENCH_MODE1)
def test_mode1_fits_the_bench_test(gain: int, k: float, well: int, rn: float) -> None:
    mode = QHY268M.read_mode(1)
    assert mode.e_per_adu(gain) == pytest.approx(k, rel=0.01)
    assert mode.full_well_e(gain) == pytest.approx(well, rel=0.01)
    assert mode.read_noise_e(gain) == pytest.approx(rn, abs=0.02)


@pytest.mark.parametrize(("gain", "k", "well", "rn"), BENCH_MODE3)
def test_mode3_fits_the_bench_test(gain: int, k: float, well: int, rn: float) -> None:
    mode = QHY268M.read_mode("Extended Full Well 2CMS")
    assert mode.e_per_adu(gain) == pytest.approx(k, rel=0.01)
    assert mode.full_well_e(gain) == pytest.approx(well, rel=0.01)
    assert mode.read_noise_e(gain) == pytest.approx(rn, abs=0.02)


def test_published_read_mode_notes() -> None:
    m0, m1, m2, m3 = (QHY600M.read_mode(i) for i in range(4))
    assert m0.read_noise_e(26) == pytest.approx(2.7) and m0.full_well_e(26) == pytest.approx(27000, rel=0.01)
    assert m1.read_noise_e(55) > 3.0 > m1.read_noise_e(56)  # HGC switch at 56
    for gain in (0, 20, 40):
        assert m2.read_noise_e(gain) == pytest.approx(1.3 * m3.read_noise_e(gain), rel=0.01)
        assert m2.e_per_adu(gain) == m3.e_per_adu(gain)
    assert [m.name for m in (m0, m1, m2, m3)] == ["Photographic", "High Gain", "Extended Full Well",
                                                  "Extended Full Well 2CMS"]


def test_dark_current_matches_published_points() -> None:
    assert QHY268M.dark_current(-20) == pytest.approx(0.0005, rel=0.01)
    assert QHY268M.dark_current(-10) == pytest.approx(0.001, rel=0.01)
    assert QHY600M.dark_current(-20) == pytest.approx(0.0022, rel=0.01)
    assert QHY600M.dark_current(-10) == pytest.approx(0.0046, rel=0.01)


@pytest.mark.parametrize(("model", "rows", "bits", "fps"),
                         [(QHY600M, 6422, 16, 2.5), (QHY600M, 100, 16, 160), (QHY600M, 1080, 16, 22.5),
                          (QHY268M, 4210, 8, 6.8), (QHY268M, 480, 16, 34)])
def test_rated_frame_rates(model: models.CameraModel, rows: int, bits: int, fps: float) -> None:
    assert 1 / model.frame_time_s(rows, bits) == pytest.approx(fps, rel=1e-6)
    assert model.frame_time_s(rows, bits, usb_traffic=60) > model.frame_time_s(rows, bits, usb_traffic=0)


def test_model_facts() -> None:
    assert QHY268M.humidity_sensor and not QHY268C.humidity_sensor and not QHY600M.humidity_sensor
    assert QHY600C.bayer_pattern == "RGGB" and QHY600M.bayer_pattern is None
    assert (QHY268M.exposure_min_s, QHY600M.exposure_min_s) == (30e-6, 40e-6)
    assert QHY600M.ddr_mb == 2048 and models.QHY600M_L.ddr_mb == 1024 and QHY268M.ddr_mb == 1024
    assert models.QHY600M_PRO.variant.gps and not QHY600M.variant.gps
    assert QHY600M.frame_counter


def test_lookup_by_name_and_errors() -> None:
    assert models.model_by_name("qhy600m") is QHY600M
    with pytest.raises(KeyError, match="known models"):
        models.model_by_name("QHY9000")
    with pytest.raises(KeyError, match="modes are"):
        QHY600M.read_mode(7)
    assert models.main_model(models.Family.QHY600, True) is QHY600C
    assert models.main_model(models.Family.QHY268, False) is QHY268M


def test_gain_range_is_the_sdks_in_every_mode() -> None:
    for model in models.MAIN_MODELS:
        assert {m.gain_max for m in model.read_modes} == {protocol.gain_max(model.family.value)}
