"""QHY's SDK drives the emulated cameras end to end, and what it returns equals the emulator's ground truth.

Each assertion is on what the SDK returned (image, temperature, geometry), compared with what the emulated
camera rendered or holds: if the emulator's dialect drifted from what the SDK expects, these fail.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from indi_qhy_py.emulator.scene import FlatField

from .conftest import binned_sum
from .sdk import Control

pytestmark = pytest.mark.emulated
MODELS = ["QHY600M", "QHY268M"]


def image_of(raw: bytes, w: int, h: int, bits: int) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint16 if bits == 16 else np.uint8).reshape(h, w)


def truth_of(emu) -> np.ndarray:  # type: ignore[no-untyped-def]
    frame = emu.camera.last_frame
    assert frame is not None and frame.sdk_image is not None
    return frame.sdk_image.astype(np.uint16 if frame.sdk_image.dtype.itemsize == 2 else np.uint8)


@pytest.mark.parametrize("model", ["QHY600M", "QHY600C", "QHY268M", "QHY268C"])
def test_sdk_full_frame_16_bit_equals_the_emulators_pixels(emulated, model: str) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(2000.0)
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and bits == 16
    assert (w, h) == (emu.camera.model.readout_width, emu.camera.model.readout_height)
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))


def test_sdk_8_bit_frame_equals_the_emulators_pixels(emulated) -> None:
    emu = emulated("QHY268M")
    emu.camera.scene = FlatField(3000.0)
    assert emu.cam.SetQHYCCDParam(Control.TRANSFERBIT, 8.0) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and bits == 8
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))


@pytest.mark.parametrize(("model", "n"), [("QHY600M", 2), ("QHY600M", 4), ("QHY268M", 2)])
def test_sdk_bins_on_the_host_by_summing_the_full_frame_the_camera_sends(emulated, model: str, n: int) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(500.0)
    assert emu.cam.SetQHYCCDBinMode(n, n) == 0
    width, height = emu.camera.model.readout_width, emu.camera.model.readout_height
    assert emu.cam.SetQHYCCDResolution(0, 0, width // n, height // n) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (width // n, height // n)
    np.testing.assert_array_equal(image_of(raw, w, h, bits), binned_sum(truth_of(emu), n)[:h, :w])


@pytest.mark.parametrize("model", MODELS)
def test_sdk_roi_reads_the_rows_it_asks_for_and_crops_columns(emulated, model: str) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(800.0)
    x, y, w_roi, h_roi = 1000, 500, 2000, 1000
    assert emu.cam.SetQHYCCDResolution(x, y, w_roi, h_roi) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (w_roi, h_roi)
    truth = truth_of(emu)
    assert truth.shape[0] >= h_roi
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth[:h_roi, x : x + w_roi])


def test_sdk_reads_the_emulators_sensor_temperature(emulated, monkeypatch) -> None:
    emu = emulated("QHY600M")
    monkeypatch.setattr(emu.camera.thermal, "update", lambda now: None)  # hold the value while the SDK reads it
    for celsius in (21.3, -9.8):
        emu.camera.thermal.sensor_c = celsius
        assert emu.cam.GetQHYCCDParam(Control.CURTEMP) == pytest.approx(celsius, abs=0.05)


def test_sdk_cooler_commands_reach_the_emulated_tec(emulated) -> None:
    emu = emulated("QHY600M")
    assert emu.cam.ControlQHYCCDTemp(-10.0) == 0
    assert emu.camera.thermal.auto and emu.camera.thermal.target_c == pytest.approx(-10.0)
    assert emu.cam.SetQHYCCDParam(Control.MANULPWM, 128.0) == 0
    assert not emu.camera.thermal.auto and emu.camera.thermal.pwm == pytest.approx(128, abs=1)


def test_sdk_settings_reach_the_emulated_camera(emulated) -> None:
    emu = emulated("QHY600M")
    for control, value in ((Control.OFFSET, 60.0), (Control.USBTRAFFIC, 30.0), (Control.GAIN, 56.0)):
        assert emu.cam.SetQHYCCDParam(control, value) == 0
    assert emu.camera.registers.offset == 60
    assert emu.camera.registers.usb_traffic == 30
    assert emu.camera.sdk._gain_setting() == 56


def test_sdk_exposes_again_cleanly_after_a_cancel(emulated) -> None:
    emu = emulated("QHY600M")
    emu.camera.scene = FlatField(1500.0)
    emu.cam.SetQHYCCDParam(Control.EXPOSURE, 5_000_000.0)
    assert emu.cam.ExpQHYCCDSingleFrame() == 0
    assert emu.cam.CancelQHYCCDExposingAndReadout() == 0
    emu.cam.SetQHYCCDParam(Control.EXPOSURE, 2000.0)
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (9600, 6422)
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))
    assert emu.camera.last_frame.registers.exposure_us == 2000


def test_sdk_reads_the_emulators_chamber_humidity(emulated, monkeypatch) -> None:
    emu = emulated("QHY268M")
    assert emu.camera.model.humidity_sensor
    emu.cam.InitQHYCCD()
    emu.cam.SetQHYCCDStreamMode(0)
    monkeypatch.setattr(emu.camera.thermal, "update", lambda now: None)
    value = ctypes.c_double()
    assert emu.cam.GetQHYCCDHumidity(ctypes.byref(value)) == 0
    assert value.value == pytest.approx(emu.camera.thermal.humidity_percent, abs=0.01)


def test_sdk_reads_the_emulated_tec_power_while_regulating(emulated, monkeypatch) -> None:
    emu = emulated("QHY600M")
    assert emu.cam.ControlQHYCCDTemp(-10.0) == 0
    monkeypatch.setattr(emu.camera.thermal, "update", lambda now: None)
    emu.camera.thermal.pwm = 200.0
    emu.cam.GetQHYCCDParam(Control.CURTEMP)  # the SDK reads temperature and PWM in one request
    assert emu.cam.GetQHYCCDParam(Control.CURPWM) == 200
