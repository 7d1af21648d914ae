"""Statistics measured from emulated frames, the way an observer measures a real camera, match the table.

Method as in the bench test the table is fitted to: two biases (read noise from their difference), a long dark
at a regulated -10 C (dark current), two flats (conversion gain from the photon transfer relation). Tolerances:
the statistical error over millions of pixels is ~0.1 %; what remains is ADC rounding (1/12 ADU^2 per frame),
hot pixels left in the means, and the Gaussian stand-in for Poisson noise, so 2 % on noise and gain and 5 % on
dark current (the dark signal of a QHY268 is below 1 ADU) are tight enough to catch a wrong curve.
"""

from __future__ import annotations

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator import FlatField
from indi_qhy_py.emulator.response import SensorResponse, sensor_response
from indi_qhy_py.emulator.sensor import pedestal_adu
from indi_qhy_py.models import MAIN_MODELS, QHY268M, QHY600M, CameraModel
from tests.conftest import capture, configure, make_rig

pytestmark = pytest.mark.emulated

ROWS = 1200  # a band of full-width rows from the top, overscan included, keeps every test fast


def green(pixels: np.ndarray, model: CameraModel) -> np.ndarray:
    """Mono: every pixel. Colour: the G pixels of RGGB (so one response for all pixels used)."""
    if not model.colour:
        return pixels.astype(np.float64)
    return np.concatenate([pixels[0::2, 1::2].ravel(), pixels[1::2, 0::2].ravel()]).astype(np.float64)


@pytest.fixture(params=MAIN_MODELS, ids=lambda m: m.name)
def camera(request):
    model = request.param
    rig = make_rig(model, speed=1.0)
    transport = rig.open()
    transport.cooler_target(-10.0)
    rig.clock.advance(1200)  # the TEC settles at -10 C
    yield model, rig, transport
    rig.close()


def response(model: CameraModel, mode: int, gain: int) -> SensorResponse:
    """The physics the emulated camera gives the gain registers the SDK sends for ``gain`` in ``mode``."""
    return sensor_response(model, protocol.gain_registers(model.family.value, mode, gain))


def frame(transport, model: CameraModel, exposure_s: float, gain: int = 0, offset: int = 20, mode: int = 1,
          full: bool = False):
    configure(transport, model, read_mode=mode, gain=gain, offset=offset)
    got = capture(transport, model, exposure_s, y=0, height=ROWS, full=full)
    assert got.meta.good, got.meta.damage
    return got


@pytest.mark.parametrize(("mode", "gain"), [(1, 0), (1, 56), (3, 0), (0, 26)])
def test_bias_level_and_read_noise(camera, mode: int, gain: int) -> None:
    model, _rig, transport = camera
    a = frame(transport, model, model.exposure_min_s, gain, 20, mode)
    b = frame(transport, model, model.exposure_min_s, gain, 20, mode)
    physics = response(model, mode, gain)
    k = physics.e_per_adu
    assert a.pixels.mean() == pytest.approx(pedestal_adu(20), abs=0.5)
    diff = a.pixels.astype(np.float64) - b.pixels
    read_noise_e = diff.std() / np.sqrt(2) * k
    expected = np.hypot(physics.read_noise_e, k / np.sqrt(12))  # + ADC rounding
    assert read_noise_e == pytest.approx(expected, rel=0.02)


def test_dark_current_optical_black_and_overscan(camera) -> None:
    model, rig, transport = camera
    assert transport.temperature()[0] == pytest.approx(-10.0, abs=0.2)
    k = response(model, 1, 0).e_per_adu
    bias = frame(transport, model, model.exposure_min_s, full=True)
    rig.clock.speed = 20000.0  # a 1800 s dark in 90 ms
    dark = frame(transport, model, 1800.0, full=True)
    rig.clock.speed = 1.0
    diff = dark.pixels.astype(np.float64) - bias.pixels
    hot_cut = 10 * 4 * model.read_mode(1).read_noise_e(0) / k  # leave out hot pixels
    top = model.effective.y  # the overscan rows sit above the exposed ones

    def dark_rate(region: np.ndarray) -> float:
        return float(region[region < hot_cut].mean() * k / 1800.0)

    expected = model.dark_current(-10.0)
    assert dark_rate(diff[top:, model.effective.x :]) == pytest.approx(expected, rel=0.05)
    # optical black collects the same dark current (fewer pixels: looser); the overscan collects none
    assert dark_rate(diff[top:, : model.optical_black.width]) == pytest.approx(expected, rel=0.15)
    overscan = diff[:top]
    assert abs(overscan.mean()) < 5 * overscan.std() / np.sqrt(overscan.size)
    assert dark.meta.overscan_mean is not None and bias.meta.overscan_mean is not None
    assert dark.meta.ob_mean > bias.meta.ob_mean


@pytest.mark.parametrize(("mode", "gain"), [(1, 0), (1, 60), (3, 40)])
def test_conversion_gain_from_two_flats(camera, mode: int, gain: int) -> None:
    model, rig, transport = camera
    k = response(model, mode, gain).e_per_adu
    b1 = frame(transport, model, model.exposure_min_s, gain, 20, mode)
    b2 = frame(transport, model, model.exposure_min_s, gain, 20, mode)
    rig.cameras[0].scene = FlatField(e_per_s=0.4 * model.read_mode(mode).full_well_e(gain))
    f1 = frame(transport, model, 1.0, gain, 20, mode)
    f2 = frame(transport, model, 1.0, gain, 20, mode)
    signal = green(f1.pixels, model).mean() - green(b1.pixels, model).mean()
    shot_var = (np.var(green(f1.pixels, model) - green(f2.pixels, model))
                - np.var(green(b1.pixels, model) - green(b2.pixels, model))) / 2
    assert signal / shot_var == pytest.approx(k, rel=0.02)
    if model.colour:  # the mosaic: red and blue see less of a white flat than green
        r = f1.pixels[0::2, 0::2].mean()
        assert r < green(f1.pixels, model).mean()


def flat_qhy268m(e_per_s: float):
    """A QHY268M looking at a flat panel, opened through the transport."""
    rig = make_rig(QHY268M)
    rig.cameras[0].scene = FlatField(e_per_s=e_per_s)
    return QHY268M, rig.open()


def test_saturation_and_adc_clipping() -> None:
    model, transport = flat_qhy268m(200_000)
    configure(transport, model, read_mode=1)
    got = capture(transport, model, 1.0, y=model.effective.y, height=64)
    assert got.pixels.max() == 65535 and got.meta.saturated == got.pixels.size
    configure(transport, model, read_mode=1, gain=60)
    got = capture(transport, model, 1.0, y=model.effective.y, height=64)  # at high gain the ADC clips first
    assert (got.pixels == 65535).all()


def test_eight_bit_mode_is_the_top_byte() -> None:
    model, transport = flat_qhy268m(20_000)
    configure(transport, model, offset=20)
    wide = capture(transport, model, 1.0, y=model.effective.y, height=64)
    narrow = capture(transport, model, 1.0, bits=8, y=model.effective.y, height=64)
    assert narrow.pixels.dtype == np.uint8
    assert narrow.pixels.mean() == pytest.approx(wide.pixels.mean() / 256, abs=1.0)


def test_the_registers_carry_the_published_read_mode_behaviour() -> None:
    """The camera is told registers, not a read mode; the published features still follow from them."""
    photographic, high_gain = (lambda g: response(QHY600M, 0, g)), (lambda g: response(QHY600M, 1, g))
    assert photographic(25).read_noise_e > 3.0 > photographic(26).read_noise_e  # the step between 25 and 26
    assert photographic(26).read_noise_e == pytest.approx(2.7)
    assert high_gain(55).read_noise_e > 3.0 > high_gain(56).read_noise_e  # the HGC switch at 56
    efw = response(QHY600M, 2, 0)
    assert efw.read_mode.full_well_e(efw.gain) > 80_000 > 51_000 >= high_gain(0).read_mode.full_well_e(0)
    # above the analog maximum the SDK raises the digital gain: the signal per electron grows, the noise in e- not
    assert high_gain(150).e_per_adu < high_gain(100).e_per_adu and high_gain(150).read_noise_e == pytest.approx(
        high_gain(100).read_noise_e)
    # ASSUMED limitation: Extended Full Well 2CMS sends Extended Full Well's registers, so it behaves the same
    assert response(QHY600M, 3, 20) == response(QHY600M, 2, 20)
    # where two modes send the same registers, the camera does the same thing
    assert photographic(10) == response(QHY600M, 2, 25) and photographic(45) == high_gain(91)
