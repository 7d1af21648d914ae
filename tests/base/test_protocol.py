"""The protocol module: every block and answer round-trips, the layouts are the observed ones, and what is not a
block of the protocol is refused. (That each encoding is what QHY's SDK sends is tests/sdk_oracle's job.)"""

from __future__ import annotations

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.errors import ProtocolError
from indi_qhy_py.protocol import Command


@pytest.mark.parametrize("command", list(Command))
def test_every_command_block_has_its_code_and_size(command: Command) -> None:
    block = protocol.encode_command(command)
    assert block[0] == command and len(block) == (32 if command == Command.GAIN else 16)
    with pytest.raises(ProtocolError, match="does not fit"):
        protocol.encode_command(command, bytes(len(block)))


def test_value_blocks_round_trip() -> None:
    assert protocol.decode_exposure(protocol.encode_exposure(300_000_000)) == 300_000_000
    assert protocol.encode_exposure(20_000)[1:5] == bytes.fromhex("00004e20")
    assert protocol.decode_offset(protocol.encode_offset(60)) == 60
    assert protocol.encode_offset(30)[1:3] == bytes.fromhex("01e0")
    assert protocol.encode_usb_traffic(30)[1] == 30 and protocol.encode_bits(8)[1] == 0
    assert protocol.encode_mode(True)[:2] == b"\xa0\x01" and protocol.encode_mode(False)[:2] == b"\xa0\x00"
    assert protocol.decode_rows(protocol.encode_rows(6456, 25)) == (6456, 25)


def test_gain_block_carries_analog_digital_and_conversion_gain() -> None:
    registers = protocol.GainRegisters(3911, 8, True)
    block = protocol.encode_gain(registers, "QHY268")
    assert protocol.decode_gain(block) == registers
    assert block[1:3] == (3911).to_bytes(2, "big") and block[4] == block[8] == block[12] == 8 and block[16] == 1
    assert protocol.encode_gain(registers, "QHY600")[8] == 0


@pytest.mark.parametrize("family", ["QHY600", "QHY268"])
def test_gain_tables_cover_the_sdks_range_in_every_mode(family: str) -> None:
    top = protocol.gain_max(family)
    assert top == {"QHY600": 200, "QHY268": 339}[family]
    for mode in range(4):
        assert protocol.gain_registers(family, mode, top + 50) == protocol.gain_registers(family, mode, top)
        assert (mode, 10) in protocol.gain_settings(family, protocol.gain_registers(family, mode, 10))
    # the conversion gain switches where the product pages put the noise drop (mode 0) and the HGC (mode 1)
    assert [protocol.gain_registers(family, 0, g).high_conversion for g in (25, 26)] == [False, True]
    assert [protocol.gain_registers(family, 1, g).high_conversion for g in (55, 56)] == [False, True]
    assert not any(protocol.gain_registers(family, 2, g).high_conversion for g in range(top + 1))


def test_rows_for_follows_the_observed_rules() -> None:
    assert protocol.rows_for("QHY600", 0, 6422, 6422) == (6456, 25)
    assert protocol.rows_for("QHY600", 4, 10, 6422) == (300, 29)
    assert protocol.rows_for("QHY268", 0, 4244, 4244) == (4244, 25)
    assert protocol.rows_for("QHY268", 0, 4244, 4244, binning=2) == (4278, 25)
    assert protocol.rows_for("QHY268", 500, 1000, 4244) == (1068, 491)


@pytest.mark.parametrize(("family", "y", "height"), [("QHY600", 0, 6422), ("QHY600", 500, 10), ("QHY268", 0, 4244),
                                                     ("QHY268", 600, 200), ("QHY268", 10, 20)])
def test_the_readout_streams_the_rows_asked_for(family: str, y: int, height: int) -> None:
    full = 6422 if family == "QHY600" else 4244
    readout = protocol.readout_for(family, *protocol.rows_for(family, y, height, full), full)
    assert readout.image_y <= y and readout.image_y + readout.image_rows >= y + height


def test_frame_layouts() -> None:
    readout = protocol.readout_for("QHY600", 6456, 25, 6422)
    single = protocol.frame_layout(9600, readout, 16)
    assert single.image_offset == 4 + 34 * 9600 * 2 and single.total_len % protocol.DDR_UNIT == 0
    assert single.total_len - single.image_offset - single.pixel_bytes < protocol.DDR_UNIT
    live = protocol.frame_layout(9600, readout, 8, live=True)
    assert live.image_offset == 34 * 9600 and live.total_len == 6456 * 9600 + 4
    with pytest.raises(ProtocolError, match="8 or 16"):
        protocol.frame_layout(9600, readout, 12)


def test_frame_heads() -> None:
    head = protocol.FRAME_MARKER + (41).to_bytes(4, "big") + bytes(8)
    assert protocol.head_sequence(head) == 41
    assert protocol.head_sequence(bytes(16)) is None and protocol.head_sequence(protocol.FRAME_MARKER) is None
    live = (7).to_bytes(4, "big") + bytes(20) + protocol.FRAME_MARKER
    assert protocol.live_frame_ends(live, len(live)) and protocol.live_sequence(live) == 7
    assert not protocol.live_frame_ends(live[:-1] + b"\0", len(live))


@pytest.mark.parametrize("nbytes", [0, 2048, 123_957_248, 2097151 * 2048])
def test_ddr_count_round_trips(nbytes: int) -> None:
    assert protocol.decode_ddr_count(protocol.encode_ddr_count(nbytes)) == nbytes


@pytest.mark.parametrize("celsius", [-25.3, -0.1, 0.0, 19.9])
def test_temperature_and_cooler_encodings_round_trip(celsius: float) -> None:
    raw = protocol.encode_temperature(celsius, 200)
    assert protocol.decode_temperature(raw) == pytest.approx(celsius) and protocol.decode_tec_pwm(raw) == 200
    assert protocol.decode_cooler_target(protocol.encode_cooler_target(celsius)) == pytest.approx(celsius)


def test_cooler_mode_and_manual_pwm() -> None:
    assert protocol.encode_cooler_mode(True) == b"\x01\x00"
    assert protocol.decode_manual_pwm(protocol.encode_cooler_mode(False, 128)) == 128
    assert protocol.decode_manual_pwm(protocol.encode_cooler_mode(True)) is None


def test_identity_answers() -> None:
    assert protocol.decode_colour(protocol.encode_camera_type(True))
    assert not protocol.decode_colour(protocol.encode_camera_type(False))
    assert protocol.decode_serial(b"600M000000000001") == "600M000000000001"
    assert protocol.decode_serial(b"ab\x01c\0junk") == "ab_c"
    assert protocol.decode_humidity(protocol.encode_humidity(40.96)) == pytest.approx(40.96)


@pytest.mark.parametrize(("raw", "date"), [
    (protocol.encode_firmware_version(2024, 5, 17), "2024-05-17"),
    (bytes([0x18, 5, 17]), "2024-05-17"),  # the unpacked form the SDK repacks: year - 2000, month, day
    (bytes([0x85, 0x11]), "2024-05-17"),  # the packed form it passes through
    (bytes([0xA3, 0x02]), "2010-03-02"),
    (bytes(10), None),
    (bytes([0xFF, 0xFF, 0xFF]), None),
])
def test_firmware_dates(raw: bytes, date: str | None) -> None:
    assert protocol.decode_firmware_date(raw) == date


def test_timeouts_grow_with_exposure_and_size() -> None:
    assert protocol.bulk_timeout_ms(1 << 20, 1e8, 10.0) > protocol.bulk_timeout_ms(1 << 20, 1e8) > 2000
