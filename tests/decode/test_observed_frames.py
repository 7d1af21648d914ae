"""Frames in the observed dialect (what QHY's SDK reads), through the real transport, link and decoder.

The link asks for a frame exactly as the SDK does (A2 rows, A7 bits, A3, A6, the exposure FPGA write, B8),
waits for the DDR count to cover it, reads it, and the decoder returns the emulator's pixels; damage the format
can show (a missing marker, a short frame, a sequence gap, zero rows) gets its verdict.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.decode import decoder
from indi_qhy_py.decode.frame import DecodeRequest, Verdict
from indi_qhy_py.emulator.scene import FlatField
from indi_qhy_py.models import QHY268M, QHY600M, CameraModel
from indi_qhy_py.usb.link import CameraLink

from ..conftest import make_rig

pytestmark = pytest.mark.emulated


def observed_frame(link: CameraLink, model: CameraModel, y: int, rows: int, bits: int = 16
                   ) -> tuple[np.ndarray, int, protocol.SdkReadout]:
    family = model.family.name
    a2 = protocol.encode_rows(family, y, rows, model.readout_height)
    a2_rows, a2_first = protocol.decode_rows(a2)
    readout = protocol.sdk_readout(family, a2_rows, a2_first, model.readout_height)
    link.humidity()  # the SDK's first requests after opening: its chamber-sensor reads
    link.command(protocol.encode_sdk_command(protocol.SdkCommand.MODE, b"\x01"))
    link.command(a2)
    link.command(protocol.encode_bits(bits))
    link.command(protocol.encode_exposure(1000))
    link.command(protocol.encode_sdk_command(protocol.SdkCommand.START))
    link.fpga_write(protocol.FPGA_EXPOSURE, 1)
    link.arm_exposure()
    total = protocol.sdk_frame_length(model.readout_width, readout.streamed_rows, bits)
    deadline = time.monotonic() + 10
    while link.ddr_bytes() < total - protocol.DDR_UNIT:
        assert time.monotonic() < deadline, "the DDR count never covered the frame"
        time.sleep(0.005)
    raw = np.empty(total, dtype=np.uint8)
    received = link.read_frame(raw, total, 5000)
    link.fpga_write(protocol.FPGA_READ_DONE, 0)
    return raw, received, readout


def request_for(model: CameraModel, y: int, rows: int, readout: protocol.SdkReadout, bits: int = 16,
                expected: int | None = None) -> DecodeRequest:
    base = DecodeRequest.for_model(model, bits=bits, roi_y=y, rows=rows, full=True, expected_sequence=expected)
    return DecodeRequest(base.width, y, readout.image_rows, bits, False, base.crop, base.optical_black,
                         base.overscan, expected_sequence=expected, readout=readout)


@pytest.mark.parametrize(("model", "y", "rows"), [(QHY600M, 0, 6422), (QHY600M, 500, 300), (QHY268M, 0, 4244),
                                                  (QHY268M, 600, 200)])
def test_the_decoder_returns_the_pixels_the_camera_streamed(model: CameraModel, y: int, rows: int) -> None:
    rig = make_rig(model)
    rig.cameras[0].scene = FlatField(1500.0)
    link = rig.open()
    raw, received, readout = observed_frame(link, model, y, rows)
    record = rig.cameras[0].last_frame
    frame = decoder.decode(raw, received, request_for(model, y, rows, readout, expected=record.sequence))
    rig.close()
    assert frame.meta.verdict is Verdict.GOOD, frame.meta.damage
    assert frame.meta.sequence == record.sequence
    np.testing.assert_array_equal(frame.pixels[: readout.image_rows], record.sdk_image[: frame.pixels.shape[0]])


def test_observed_damage_gets_its_verdict() -> None:
    model, y, rows = QHY268M, 600, 200
    rig = make_rig(model)
    link = rig.open()
    raw, received, readout = observed_frame(link, model, y, rows)
    sequence = rig.cameras[0].last_frame.sequence
    rig.close()
    good = request_for(model, y, rows, readout, expected=sequence)
    assert decoder.decode(raw, received // 2, good).meta.verdict is Verdict.SHORT
    late = np.concatenate([np.zeros(512, np.uint8), raw])
    assert decoder.decode(late, received, good).meta.verdict is Verdict.MISALIGNED
    gap = request_for(model, y, rows, readout, expected=sequence - 1)
    assert decoder.decode(raw, received, gap).meta.verdict is Verdict.SEQUENCE_GAP
    zeroed = raw.copy()
    layout = good.layout
    zeroed[layout.pixel_offset + 50 * layout.width * 2 : layout.pixel_offset + 60 * layout.width * 2] = 0
    meta = decoder.decode(zeroed, received, good).meta
    assert meta.verdict is Verdict.ZERO_FILLED and meta.zero_rows == (50, 10)


def test_link_reads_temperature_pwm_and_humidity_as_the_sdk_does() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    link = rig.open()
    link.cooler_target(-5.0)
    celsius, pwm = link.temperature()
    assert cam.thermal.auto and cam.thermal.target_c == pytest.approx(-5.0)
    assert celsius == pytest.approx(cam.thermal.sensor_c, abs=0.06) and pwm == pytest.approx(cam.thermal.pwm, abs=1)
    assert link.humidity() == pytest.approx(cam.thermal.humidity_percent, abs=0.01)
    link.cooler_manual(100)
    assert not cam.thermal.auto and cam.thermal.pwm == 100
    rig.close()
