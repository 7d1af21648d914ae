"""Frames in the observed format through the real transport, link and decoder: the decoder returns the pixels the
emulated camera streamed, for both models, full frames and ROIs (the hidden rows skipped), and the damage the
format can show (a missing marker, a short frame, a sequence gap, zero rows) gets its verdict."""

from __future__ import annotations

import numpy as np
import pytest

from indi_qhy_py.decode import decoder
from indi_qhy_py.decode.frame import Verdict
from indi_qhy_py.emulator.scene import FlatField
from indi_qhy_py.models import QHY268M, QHY600M, CameraModel

from ..conftest import configure, expose, make_rig, request_for

pytestmark = pytest.mark.emulated


@pytest.mark.parametrize(("model", "y", "rows"), [(QHY600M, 0, 6422), (QHY600M, 500, 300), (QHY268M, 0, 4244),
                                                  (QHY268M, 600, 200), (QHY268M, 10, 20)])
def test_the_decoder_returns_the_pixels_the_camera_streamed(model: CameraModel, y: int, rows: int) -> None:
    rig = make_rig(model)
    rig.cameras[0].scene = FlatField(1500.0)
    link = rig.open()
    configure(link, model, gain=30)
    exposed = expose(link, model, y=y, height=rows)
    record = rig.cameras[0].last_frame
    frame = decoder.decode(exposed.raw, exposed.received, request_for(model, exposed, full=True,
                                                                      expected_sequence=record.sequence))
    rig.close()
    assert frame.meta.verdict is Verdict.GOOD, frame.meta.damage
    assert frame.meta.sequence == record.sequence and frame.pixels.shape == (rows, model.readout_width)
    offset = y - exposed.readout.image_y
    np.testing.assert_array_equal(frame.pixels, record.image[offset : offset + rows])


def test_observed_damage_gets_its_verdict() -> None:
    model, y, rows = QHY268M, 600, 200
    rig = make_rig(model)
    link = rig.open()
    exposed = expose(link, model, y=y, height=rows)
    sequence = rig.cameras[0].last_frame.sequence
    rig.close()
    raw, received = exposed.raw, exposed.received
    good = request_for(model, exposed, expected_sequence=sequence)
    assert decoder.decode(raw, received, good).meta.verdict is Verdict.GOOD
    assert decoder.decode(raw, received // 2, good).meta.verdict is Verdict.SHORT
    late = np.concatenate([np.zeros(512, np.uint8), raw])
    meta = decoder.decode(late, received, good).meta
    assert meta.verdict is Verdict.MISALIGNED and "512 bytes late" in meta.damage
    gap = request_for(model, exposed, expected_sequence=sequence - 1)
    assert decoder.decode(raw, received, gap).meta.verdict is Verdict.SEQUENCE_GAP
    zeroed = raw.copy()
    layout = good.layout
    zeroed[layout.pixel_offset + 50 * layout.row_bytes : layout.pixel_offset + 60 * layout.row_bytes] = 0
    meta = decoder.decode(zeroed, received, good).meta
    assert meta.verdict is Verdict.ZERO_FILLED and meta.zero_rows == (50, 10)


def test_link_reads_temperature_pwm_humidity_and_status_as_the_sdk_does() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    link = rig.open()
    link.cooler_target(-5.0)
    celsius, pwm = link.temperature()
    assert cam.thermal.auto and cam.thermal.target_c == pytest.approx(-5.0)
    assert celsius == pytest.approx(cam.thermal.sensor_c, abs=0.06) and pwm == pytest.approx(cam.thermal.pwm, abs=1)
    assert link.has_humidity_sensor()
    assert link.humidity() == pytest.approx(cam.thermal.humidity_percent, abs=0.01)
    link.cooler_manual(100)
    assert not cam.thermal.auto and cam.thermal.pwm == 100
    assert link.sensor_status() == 1
    cam.power.set_volts(11.0)
    assert link.sensor_status() == 9
    assert link.firmware_date() == "2024-05-17" and len(link.fpga_version()) == 4
    assert link.serial() == cam.serial and not link.is_colour()
    rig.close()
