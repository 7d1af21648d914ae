"""The protocol module: commands and status blocks round-trip, malformed blocks are refused."""

from __future__ import annotations

import dataclasses

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.errors import ProtocolError
from indi_qhy_py.protocol import Command


def sample_status(**changes: object) -> protocol.Status:
    status = protocol.Status(
        state=protocol.CameraState.EXPOSING, exposure_remaining_s=1.25, exposure_total_s=300.0,
        firmware_date="2024-05-17", temperature_c=-9.8, target_c=-10.0, temp_auto=True, tec_pwm=180,
        ddr_frames=0, image_width=9600, image_height=6422, bits=16, usb_speed=3, variant="Pro", colour=True,
        read_mode=3, humidity_percent=21.5, frame_counter=41, heater_pwm=100, readout_percent=0,
        serial="600C0123456789AB", cooler_on=True, ddr_on=True, last_frame_failed=False)
    return dataclasses.replace(status, **changes)


@pytest.mark.parametrize("command", list(Command))
def test_every_command_round_trips(command: Command) -> None:
    layout = protocol.COMMAND_LAYOUTS[command]
    fields = {name: i + 1 for i, name in enumerate(layout.fields)}
    block = protocol.encode_command(command, **fields)
    assert len(block) == protocol.COMMAND_LEN and block[0] == command
    assert protocol.decode_command(block) == (command, fields)


def test_published_layouts() -> None:
    # the published "Low Level (1)" example: -10 C as a signed 0.1 C value is 65436
    block = protocol.encode_command(Command.TEMPERATURE, auto=1, target_decic=-100)
    assert block[:6] == bytes([0xAF, 1, 0, 0]) + (65436).to_bytes(2, "big")
    roi = protocol.encode_command(Command.ROI, width=9600, x=0, height=6422, y=0)
    assert roi[2:10] == (9600).to_bytes(2, "big") + bytes(2) + (6422).to_bytes(2, "big") + bytes(2)


def test_command_errors() -> None:
    with pytest.raises(ProtocolError, match="out of range"):
        protocol.encode_command(Command.GAIN, gain=70000)
    with pytest.raises(ProtocolError, match="no field"):
        protocol.encode_command(Command.GAIN, offset=3)
    with pytest.raises(ProtocolError, match="unknown command"):
        protocol.decode_command(bytes([0x55]) + bytes(15))
    with pytest.raises(ProtocolError, match="16"):
        protocol.decode_command(bytes(5))


def test_status_round_trip() -> None:
    status = sample_status()
    assert protocol.decode_status(protocol.encode_status(status)) == status
    no_sensor = sample_status(humidity_percent=None, variant="PH", colour=False)
    assert protocol.decode_status(protocol.encode_status(no_sensor)) == no_sensor


def _resum(raw: bytearray) -> bytes:
    raw[-1] = sum(raw[:-1]) & 0xFF
    return bytes(raw)


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda b: bytes(b[:63]), "63 bytes"),
    (lambda b: bytes(b) + b"\0", "65 bytes"),
    (lambda b: bytes(b[:-1]) + bytes([(b[-1] + 1) & 0xFF]), "checksum"),
    (lambda b: _resum(bytearray(b"\x00") + bytearray(b[1:])), "not a status block"),
    (lambda b: _resum(bytearray(b[:2]) + bytearray([9]) + bytearray(b[3:])), "unknown camera state"),
    (lambda b: bytes(64), "not a status block"),
])
def test_malformed_status_blocks_are_refused(mangle, message: str) -> None:
    good = protocol.encode_status(sample_status())
    with pytest.raises(ProtocolError, match=message):
        protocol.decode_status(mangle(good))


def test_status_with_bad_bit_depth_is_refused() -> None:
    raw = bytearray(protocol.encode_status(sample_status()))
    assert raw[protocol.STATUS_OFFSETS["bits"]] == 16
    raw[protocol.STATUS_OFFSETS["bits"]] = 12
    with pytest.raises(ProtocolError, match="12 bits"):
        protocol.decode_status(_resum(raw))
    assert protocol.STATUS_OFFSETS["checksum"] == 63


def test_trailer_round_trip_and_layout() -> None:
    trailer = protocol.Trailer(sequence=7, checksum=(5 << 32) | 9, width=9600, height=100, bits=16)
    raw = protocol.encode_trailer(trailer)
    assert raw.startswith(protocol.TRAILER_MAGIC) and len(raw) == protocol.TRAILER_LEN
    assert protocol.decode_trailer(raw) == trailer
    assert protocol.decode_trailer(b"\0" + raw[1:]) is None
    assert protocol.decode_trailer(raw[:-1] + b"\x01") is None  # reserved bytes must be zero
    layout = protocol.frame_layout(9600, 6422, 16, pro_header=True)
    assert layout.pixel_offset == 44 and layout.total_len % protocol.FRAME_ALIGN == 0
    assert layout.total_len >= layout.payload_len == 44 + 9600 * 6422 * 2 + protocol.TRAILER_LEN
    with pytest.raises(ProtocolError):
        protocol.frame_layout(100, 10, 12, False)


def test_checksum_detects_flips_that_cancel_in_a_plain_sum() -> None:
    import numpy as np

    samples = np.arange(1000, dtype=np.uint16)
    damaged = samples.copy()
    damaged[10] += 256
    damaged[500] -= 256
    assert int(samples.sum()) == int(damaged.sum())
    assert protocol.checksum_block(samples, 0) != protocol.checksum_block(damaged, 0)
    # blocks combine: two halves with their first index give the whole
    p1, w1 = protocol.checksum_block(samples[:300], 0)
    p2, w2 = protocol.checksum_block(samples[300:], 300)
    assert ((p1 + p2) & 0xFFFFFFFF, (w1 + w2) & 0xFFFFFFFF) == protocol.checksum_block(samples, 0)


def test_pro_header_is_44_bytes_with_sequence() -> None:
    header = protocol.encode_pro_header(1234, 9600, 6422)
    assert len(header) == 44 and protocol.decode_pro_header_sequence(header) == 1234
    assert int.from_bytes(header[-3:], "big") == 10_000_500  # "no PPS"


def test_timeouts_grow_with_exposure_and_size() -> None:
    rate = 300e6
    assert protocol.bulk_timeout_ms(123_000_000, rate, 0) < protocol.bulk_timeout_ms(123_000_000, rate, 60)
    assert protocol.bulk_timeout_ms(1_000_000, rate) < protocol.bulk_timeout_ms(123_000_000, rate)
