"""Every request code, byte layout and the frame stream format of the QHY268/QHY600 — in this module only.

QHY's SDK for these FX3 cameras is closed and their USB protocol is not public. This module follows what *is*
public (``shared/reference/qhy-usb.md``) and designs the rest. Each definition is tagged:

* ``PUBLISHED`` — stated by QHY or readable from public material (USB IDs, endpoint, FX3 RAM boot, the
  "Low Level (1)" 0xD1/0xD2 protocol documented for other QHY models, the Pro's 44-byte frame header);
* ``ASSUMED`` — designed here, verified only against this project's emulator;
* ``OBSERVED`` (the second half of this module) — what QHY's own SDK sends, accepts and returns, seen through
  the black-box oracle of ``tests/sdk_oracle``. Where the two halves disagree, the observed one is right: the
  first half's 0xD2 status block, trailer and checksum, and its A7/A8/A9 meanings are contradicted by it. The
  driver's camera layer still speaks the first half and moves to the second next; the emulator speaks both.

The emulator and the decoder both take the command set and the frame format from this module and nowhere else,
so a correction here changes both sides at once.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from importlib import resources

import numpy as np

from .errors import ProtocolError

# --- Transport constants (PUBLISHED) -----------------------------------------------------------------------------
VENDOR_ID = 0x1618
REQUEST_TYPE_OUT = 0x40  # vendor, host-to-device
REQUEST_TYPE_IN = 0xC0  # vendor, device-to-host
BULK_IN_ENDPOINT = 0x81
INTERFACE = 0
MAX_PACKET_SUPERSPEED = 1024
MAX_PACKET_HIGHSPEED = 512

# --- FX3 RAM boot (PUBLISHED: Cypress FX3 boot loader, as used by fxload -t fx3) ---------------------------------
REQ_FIRMWARE = 0xA0
FIRMWARE_CHUNK = 4096

# --- QHY "Low Level (1)" control requests (PUBLISHED for other QHY models; ASSUMED to hold for 268/600) ----------
REQ_COMMAND = 0xD1  # OUT, 16-byte command block
REQ_STATUS = 0xD2  # IN, 64-byte status block
COMMAND_LEN = 16
STATUS_LEN = 64


class Command(IntEnum):
    """Byte 0 of a 0xD1 command block."""

    INIT = 0xA0  # PUBLISHED: p1 0 stream / 1 single; p2-3 bin X; p4-5 bin Y (MSB first)
    READOUT_SPEED = 0xA1  # PUBLISHED code; ASSUMED layout: p1 speed
    ROI = 0xA2  # PUBLISHED: p2-3 X size, p4-5 X start, p6-7 Y size, p8-9 Y start
    EXPOSURE = 0xA3  # PUBLISHED code; ASSUMED layout: p1-4 exposure in microseconds, u32 MSB first
    GAIN = 0xA4  # PUBLISHED code; ASSUMED layout: p1-2 gain, u16 MSB first
    USB_TRAFFIC = 0xA5  # PUBLISHED code; ASSUMED layout: p1 traffic 0-255
    START = 0xA6  # PUBLISHED: single-frame mode starts on A6 with p1 = 0
    OFFSET = 0xA7  # ASSUMED: p1-2 offset
    READ_MODE = 0xA8  # ASSUMED: p1 read mode index
    TRANSFER = 0xA9  # ASSUMED: p1 bits per pixel on the wire (8 or 16), p2 DDR buffer 0 off / 1 on
    ABORT = 0xAC  # ASSUMED: stop exposure and readout, discard the frame and the bulk FIFO
    HEATER = 0xAD  # ASSUMED: p1 window-heater PWM 0-255
    RESET_FRAME_COUNTER = 0xAE  # ASSUMED: hardware frame sequence number back to 0
    TEMPERATURE = 0xAF  # PUBLISHED: p1 1 auto / 0 manual; p2 PWM; p3 unit 0 C / 1 ADU; p4-5 0.1 C; p6-7 ADU


@dataclass(frozen=True)
class CommandLayout:
    fmt: str  # struct format of bytes 1..15, big-endian
    fields: tuple[str, ...]
    published: bool


COMMAND_LAYOUTS: dict[Command, CommandLayout] = {
    Command.INIT: CommandLayout(">BHH", ("single", "bin_x", "bin_y"), True),
    Command.READOUT_SPEED: CommandLayout(">B", ("speed",), False),
    Command.ROI: CommandLayout(">xHHHH", ("width", "x", "height", "y"), True),
    Command.EXPOSURE: CommandLayout(">I", ("microseconds",), False),
    Command.GAIN: CommandLayout(">H", ("gain",), False),
    Command.USB_TRAFFIC: CommandLayout(">B", ("traffic",), False),
    Command.START: CommandLayout(">B", ("mode",), True),
    Command.OFFSET: CommandLayout(">H", ("offset",), False),
    Command.READ_MODE: CommandLayout(">B", ("mode",), False),
    Command.TRANSFER: CommandLayout(">BB", ("bits", "ddr"), False),
    Command.ABORT: CommandLayout(">", (), False),
    Command.HEATER: CommandLayout(">B", ("pwm",), False),
    Command.RESET_FRAME_COUNTER: CommandLayout(">", (), False),
    Command.TEMPERATURE: CommandLayout(">BBBhH", ("auto", "pwm", "unit", "target_decic", "target_adu"), True),
}


def encode_command(command: Command, **fields: int) -> bytes:
    """The 16-byte 0xD1 block for ``command`` with its named fields (unnamed fields are 0)."""
    layout = COMMAND_LAYOUTS[command]
    unknown = set(fields) - set(layout.fields)
    if unknown:
        raise ProtocolError(f"{command.name} has no field(s) {sorted(unknown)}; it has {list(layout.fields)}")
    values = [int(fields.get(name, 0)) for name in layout.fields]
    try:
        body = struct.pack(layout.fmt, *values)
    except struct.error as err:
        named = dict(zip(layout.fields, values, strict=True))
        raise ProtocolError(f"{command.name} field out of range: {named}") from err
    return bytes([command]) + body + bytes(COMMAND_LEN - 1 - len(body))


def decode_command(block: bytes) -> tuple[Command, dict[str, int]]:
    """The command and its fields from a 16-byte block (the emulator's side of ``encode_command``)."""
    if len(block) != COMMAND_LEN:
        raise ProtocolError(f"command block is {len(block)} bytes, expected {COMMAND_LEN}")
    try:
        command = Command(block[0])
    except ValueError as err:
        raise ProtocolError(f"unknown command code 0x{block[0]:02X}") from err
    layout = COMMAND_LAYOUTS[command]
    size = struct.calcsize(layout.fmt)
    values = struct.unpack(layout.fmt, bytes(block[1 : 1 + size]))
    return command, dict(zip(layout.fields, values, strict=True))


PWM_FULL = 255  # ASSUMED: TEC and heater PWM are one byte, 255 = full power


def pwm_from_percent(percent: float) -> int:
    """TEC or heater power in % as the PWM byte the camera takes."""
    return round(max(0.0, min(100.0, percent)) * PWM_FULL / 100)


def percent_from_pwm(pwm: int) -> float:
    """A PWM byte from the status block as power in %."""
    return pwm * 100 / PWM_FULL


def temperature_to_adu(celsius: float) -> int:
    """ASSUMED sensor ADU scale for the AF command's ADU fields: 10 ADU per 0.1 C offset by 50 C."""
    return max(0, min(0xFFFF, round((celsius + 50.0) * 100.0)))


def setpoint_decic(celsius: float) -> int:
    """A set point as the AF command's ``target_decic`` field: tenths of a degree."""
    return round(celsius * 10)


def setpoint_celsius(fields: dict[str, int]) -> float:
    """The set point an AF command asks for, in either unit it may use (``unit`` 0: 0.1 C, 1: ADU)."""
    return fields["target_decic"] / 10.0 if fields["unit"] == 0 else fields["target_adu"] / 100.0 - 50.0


# --- The 0xD2 status block (fields PUBLISHED as a list in the SDK header; offsets and encodings ASSUMED) ------------
class CameraState(IntEnum):
    IDLE = 0
    EXPOSING = 1
    READING_OUT = 2  # sensor -> DDR
    FRAME_READY = 3  # a complete frame waits in the DDR / bulk FIFO


STATUS_MAGIC = 0x51  # ASSUMED: 'Q', lets the driver refuse a block that is not a status block
STATUS_LAYOUT_VERSION = 1
HUMIDITY_ABSENT = 0xFFFF

FLAG_COOLER_ON = 0x01
FLAG_DDR_ON = 0x02
FLAG_LAST_FRAME_FAILED = 0x04

_STATUS_FIELDS: tuple[tuple[str, str], ...] = (
    ("magic", "B"),
    ("layout", "B"),
    ("state", "B"),
    ("speed", "B"),
    ("exposure_remaining_us", "I"),
    ("exposure_total_us", "I"),
    ("firmware_year", "H"),
    ("firmware_month", "B"),
    ("firmware_day", "B"),
    ("temp_sensor_type", "B"),
    ("temp_auto", "B"),
    ("temp_adu", "H"),
    ("temp_decic", "h"),  # sensor temperature, 0.1 C
    ("target_adu", "H"),
    ("target_decic", "h"),
    ("pwm", "B"),  # TEC PWM 0-255
    ("ddr_frames", "B"),
    ("image_width", "H"),
    ("image_height", "H"),
    ("bits", "B"),
    ("usb_speed", "B"),  # 2 high speed, 3 SuperSpeed
    ("cfw_buffer", "B"),
    ("sub_model", "B"),  # variant code, see SUB_MODELS
    ("colour", "B"),  # 0 mono, 1 Bayer RGGB
    ("read_mode", "B"),
    ("humidity_permille", "H"),  # relative humidity x10, HUMIDITY_ABSENT without a sensor
    ("frame_counter", "I"),  # frames completed since power-on or reset: the next frame's sequence number
    ("heater_pwm", "B"),
    ("readout_percent", "B"),
    ("serial", "16s"),
    ("flags", "B"),
    ("checksum", "B"),  # sum of bytes 0..62 mod 256
)
_STATUS_STRUCT = struct.Struct(">" + "".join(code for _, code in _STATUS_FIELDS))
assert _STATUS_STRUCT.size == STATUS_LEN, _STATUS_STRUCT.size
#: Byte offset of every status field, for comparing against a USB capture.
STATUS_OFFSETS: dict[str, int] = {
    name: struct.calcsize(">" + "".join(code for _, code in _STATUS_FIELDS[:i]))
    for i, (name, _) in enumerate(_STATUS_FIELDS)
}

#: ASSUMED encoding of the variant in ``sub_model``.
SUB_MODELS = {0: "PH", 1: "L", 2: "Pro", 3: "standard"}


@dataclass(frozen=True)
class Status:
    """A decoded 0xD2 status block in physical units."""

    state: CameraState
    exposure_remaining_s: float
    exposure_total_s: float
    firmware_date: str
    temperature_c: float
    target_c: float
    temp_auto: bool
    tec_pwm: int
    ddr_frames: int
    image_width: int
    image_height: int
    bits: int
    usb_speed: int
    variant: str
    colour: bool
    read_mode: int
    humidity_percent: float | None
    frame_counter: int
    heater_pwm: int
    readout_percent: int
    serial: str
    cooler_on: bool
    ddr_on: bool
    last_frame_failed: bool


def encode_status(status: Status) -> bytes:
    """Pack a status block (the emulator's side)."""
    year, month, day = (int(x) for x in status.firmware_date.split("-"))
    variant_code = next(code for code, name in SUB_MODELS.items() if name == status.variant)
    flags = (
        (FLAG_COOLER_ON if status.cooler_on else 0)
        | (FLAG_DDR_ON if status.ddr_on else 0)
        | (FLAG_LAST_FRAME_FAILED if status.last_frame_failed else 0)
    )
    humidity = HUMIDITY_ABSENT if status.humidity_percent is None else round(status.humidity_percent * 10)
    values = (
        STATUS_MAGIC, STATUS_LAYOUT_VERSION, int(status.state), 0,
        min(round(status.exposure_remaining_s * 1e6), _MASK32), min(round(status.exposure_total_s * 1e6), _MASK32),
        year, month, day, 1, int(status.temp_auto),
        temperature_to_adu(status.temperature_c), round(status.temperature_c * 10),
        temperature_to_adu(status.target_c), round(status.target_c * 10),
        status.tec_pwm, min(status.ddr_frames, 255), status.image_width, status.image_height, status.bits,
        status.usb_speed, 0, variant_code, int(status.colour), status.read_mode, humidity,
        status.frame_counter & 0xFFFFFFFF, status.heater_pwm, status.readout_percent,
        status.serial.encode("ascii")[:16].ljust(16, b"\0"), flags, 0,
    )
    raw = bytearray(_STATUS_STRUCT.pack(*values))
    raw[-1] = sum(raw[:-1]) & 0xFF
    return bytes(raw)


def decode_status(raw: bytes) -> Status:
    """Validate and decode a 64-byte status block; anything malformed raises ProtocolError."""
    if len(raw) != STATUS_LEN:
        raise ProtocolError(f"status block is {len(raw)} bytes, expected {STATUS_LEN}")
    if sum(raw[:-1]) & 0xFF != raw[-1]:
        raise ProtocolError(f"status block checksum 0x{raw[-1]:02X} != 0x{sum(raw[:-1]) & 0xFF:02X} (corrupt transfer)")
    f = dict(zip((name for name, _ in _STATUS_FIELDS), _STATUS_STRUCT.unpack(bytes(raw)), strict=True))
    if f["magic"] != STATUS_MAGIC or f["layout"] != STATUS_LAYOUT_VERSION:
        raise ProtocolError(f"not a status block (magic 0x{f['magic']:02X}, layout {f['layout']})")
    try:
        state = CameraState(f["state"])
    except ValueError as err:
        raise ProtocolError(f"status block has unknown camera state {f['state']}") from err
    if f["bits"] not in (8, 16):
        raise ProtocolError(f"status block reports {f['bits']} bits per pixel")
    if f["sub_model"] not in SUB_MODELS:
        raise ProtocolError(f"status block has unknown sub-model {f['sub_model']}")
    if not 1 <= f["firmware_month"] <= 12 or not 1 <= f["firmware_day"] <= 31:
        raise ProtocolError("status block firmware date is invalid")
    humidity = f["humidity_permille"]
    return Status(
        state=state,
        exposure_remaining_s=f["exposure_remaining_us"] / 1e6,
        exposure_total_s=f["exposure_total_us"] / 1e6,
        firmware_date=f"{f['firmware_year']:04d}-{f['firmware_month']:02d}-{f['firmware_day']:02d}",
        temperature_c=f["temp_decic"] / 10.0,
        target_c=f["target_decic"] / 10.0,
        temp_auto=bool(f["temp_auto"]),
        tec_pwm=f["pwm"],
        ddr_frames=f["ddr_frames"],
        image_width=f["image_width"],
        image_height=f["image_height"],
        bits=f["bits"],
        usb_speed=f["usb_speed"],
        variant=SUB_MODELS[f["sub_model"]],
        colour=bool(f["colour"]),
        read_mode=f["read_mode"],
        humidity_percent=None if humidity == HUMIDITY_ABSENT else humidity / 10.0,
        frame_counter=f["frame_counter"],
        heater_pwm=f["heater_pwm"],
        readout_percent=f["readout_percent"],
        serial=f["serial"].rstrip(b"\0").decode("ascii", "replace"),
        cooler_on=bool(f["flags"] & FLAG_COOLER_ON),
        ddr_on=bool(f["flags"] & FLAG_DDR_ON),
        last_frame_failed=bool(f["flags"] & FLAG_LAST_FRAME_FAILED),
    )


# --- The frame stream on EP 0x81 -----------------------------------------------------------------------------------
# ASSUMED: one frame is [Pro header][pixels][trailer][zero padding], where
#  * pixels are full-width rows of the ROI, top row first, 16-bit samples MSB first (as the older, open QHY
#    cameras sent them) or 8-bit samples (the ADC's top 8 bits);
#  * the trailer starts with the QHY5-II style marker AA 11 CC EE (PUBLISHED for older cameras), then the
#    hardware frame sequence number, the checksum and the geometry;
#  * the checksum is Fletcher-like, two sums modulo 2**32 over every sample before the trailer in wire order
#    (the Pro header's bytes taken as samples of the frame's bit depth, then the pixels): the plain sum of v_i
#    (low 32 bits) and the position-weighted sum of (i + 1) * v_i (high 32 bits). The weighted sum catches
#    damage a plain sum misses (two flips that cancel, swapped samples); both fuse into decoding;
#  * the total is padded with zeros to a multiple of the SuperSpeed packet size, so a frame ends on a packet
#    boundary and a lost or extra packet shows as a misplaced trailer.
# PUBLISHED (Pro models with the GPS box): the 44-byte big-endian header in front of the pixels.
TRAILER_MAGIC = b"\xaa\x11\xcc\xee"
_TRAILER_STRUCT = struct.Struct(">4sIQHHBBH")  # magic, sequence, checksum, width, height, bits, flags, reserved
TRAILER_LEN = _TRAILER_STRUCT.size
FRAME_ALIGN = MAX_PACKET_SUPERSPEED
PRO_HEADER_LEN = 44
_PRO_HEADER_STRUCT = struct.Struct(">IBHHII")  # sequence, reserved, width, height, latitude, longitude (+ times)
PIXELS_BIG_ENDIAN = True
_MASK32 = 0xFFFFFFFF


def checksum_block(samples: np.ndarray, first_index: int) -> tuple[int, int]:
    """(plain, weighted) sums modulo 2**32 of native samples whose first has wire index ``first_index``."""
    flat = samples.reshape(-1).astype(np.uint32)
    plain = int(flat.sum(dtype=np.uint32))
    weights = np.arange(1, flat.size + 1, dtype=np.uint32)
    np.multiply(flat, weights, out=flat)
    weighted = (int(flat.sum(dtype=np.uint32)) + first_index * plain) & _MASK32
    return plain, weighted


def combine_checksum(plain: int, weighted: int) -> int:
    """The trailer's 64-bit checksum field from its two halves."""
    return ((weighted & _MASK32) << 32) | (plain & _MASK32)


def frame_checksum(header: bytes | memoryview, bits: int, pixel_plain: int, pixel_weighted: int) -> int:
    """The trailer checksum from the header bytes and the pixels' own (plain, weighted) sums.

    The pixels follow the header's samples, so their weights shift by the header's sample count.
    """
    if bits == 16:
        samples = np.frombuffer(bytes(header), dtype=">u2").astype(np.uint16)
    else:
        samples = np.frombuffer(bytes(header), dtype=np.uint8)
    head_plain, head_weighted = checksum_block(samples, 0) if len(samples) else (0, 0)
    plain = head_plain + pixel_plain
    weighted = head_weighted + pixel_weighted + len(samples) * pixel_plain
    return combine_checksum(plain, weighted)


@dataclass(frozen=True)
class FrameLayout:
    """Where everything sits in one frame's bytes on the wire.

    The first dialect: header, pixels, trailer, padding to the packet size. The observed one (``stream_len`` set,
    see ``sdk_frame_layout``): marker and frame number, hidden rows, the pixels, more rows, padding to DDR units.
    """

    width: int
    height: int
    bits: int
    header_len: int
    image_offset: int | None = None  # observed dialect: where the image rows start
    stream_len: int | None = None  # observed dialect: the bytes the camera streams for the frame

    @property
    def observed(self) -> bool:
        return self.stream_len is not None

    @property
    def bytes_per_pixel(self) -> int:
        return 2 if self.bits == 16 else 1

    @property
    def pixel_offset(self) -> int:
        return self.header_len if self.image_offset is None else self.image_offset

    @property
    def pixel_bytes(self) -> int:
        return self.width * self.height * self.bytes_per_pixel

    @property
    def trailer_offset(self) -> int:
        return self.header_len + self.pixel_bytes

    @property
    def payload_len(self) -> int:
        return self.stream_len if self.stream_len is not None else self.trailer_offset + TRAILER_LEN

    @property
    def total_len(self) -> int:
        """Bytes the host reads for one frame: the payload padded to the packet size (or DDR unit)."""
        if self.stream_len is not None:
            return self.stream_len
        return -(-self.payload_len // FRAME_ALIGN) * FRAME_ALIGN


def frame_layout(width: int, height: int, bits: int, pro_header: bool) -> FrameLayout:
    if bits not in (8, 16):
        raise ProtocolError(f"the camera sends 8 or 16 bits per pixel, not {bits}")
    if width <= 0 or height <= 0:
        raise ProtocolError(f"frame size {width}x{height} is empty")
    return FrameLayout(width, height, bits, PRO_HEADER_LEN if pro_header else 0)


@dataclass(frozen=True)
class Trailer:
    sequence: int
    checksum: int
    width: int
    height: int
    bits: int


def encode_trailer(trailer: Trailer) -> bytes:
    return _TRAILER_STRUCT.pack(TRAILER_MAGIC, trailer.sequence & _MASK32, trailer.checksum & 0xFFFFFFFFFFFFFFFF,
                                trailer.width, trailer.height, trailer.bits, 0, 0)


def decode_trailer(raw: bytes | memoryview) -> Trailer | None:
    """The trailer at the start of ``raw``, or None if the marker is not there or its reserved bytes are not 0."""
    if len(raw) < TRAILER_LEN or bytes(raw[:4]) != TRAILER_MAGIC:
        return None
    _, seq, checksum, width, height, bits, flags, reserved = _TRAILER_STRUCT.unpack(bytes(raw[:TRAILER_LEN]))
    if flags or reserved:
        return None
    return Trailer(seq, checksum, width, height, bits)


def encode_pro_header(sequence: int, width: int, height: int) -> bytes:
    """The Pro's 44-byte header with no GPS fix (PPS counter 10,000,500 means "no PPS", as published)."""
    head = _PRO_HEADER_STRUCT.pack(sequence & 0xFFFFFFFF, 0, width, height, 0, 0)
    times = bytes(3 * 8)  # exposure start, end, now: flag, u32 seconds, 3-byte microseconds x 10
    pps = (10_000_500).to_bytes(3, "big")
    out = head + times + pps
    assert len(out) == PRO_HEADER_LEN
    return out


def decode_pro_header_sequence(raw: bytes | memoryview) -> int:
    return int.from_bytes(bytes(raw[:4]), "big")


def find_trailer(data: bytes | memoryview, expected_offset: int) -> int | None:
    """Offset of the trailer marker nearest to where it was expected, or None when it is not in ``data``.

    Only damaged frames get here; ``re`` scans the buffer in place, without copying a 123 MB frame.
    """
    if bytes(data[expected_offset : expected_offset + 4]) == TRAILER_MAGIC:
        return expected_offset
    offsets = [m.start() for m in _TRAILER_PATTERN.finditer(data)]
    return min(offsets, key=lambda pos: abs(pos - expected_offset)) if offsets else None


_TRAILER_PATTERN = re.compile(re.escape(TRAILER_MAGIC))


def bulk_timeout_ms(nbytes: int, bytes_per_second: float, exposure_s: float = 0.0) -> int:
    """A bulk-read timeout that grows with the exposure and the transfer size, with room for a slow host."""
    return int(1000 * (exposure_s + 3.0 * nbytes / bytes_per_second) + 2000)


# =================================================================================================================
# OBSERVED: the protocol QHY's own SDK (libqhyccd 26.6.4.16, PyPI qhyccd 0.1.3) speaks to a QHY600M / QHY268M.
#
# Every entry below was seen by driving the SDK over the libusb stand-in of ``tests/sdk_oracle`` (black box: the
# requests it sends, the answers it accepts, the images it returns). Evidence: the trace files under
# ``tests/sdk_oracle/traces/<model>/`` and the probe tests in ``tests/sdk_oracle/test_sdk_facts.py``, named per
# entry. Where the SDK could not tell, the entry says ASSUMED. The emulator serves this dialect to the SDK; the
# camera layer still speaks the first (ASSUMED) dialect above and moves to this one next (see README).
# =================================================================================================================
class SdkCommand(IntEnum):
    """Byte 0 of the 0xD1 blocks the SDK sends (traces: init, exposure_*, gain_*, offset_*, bits_*, ddr_on)."""

    MODE = 0xA0  # byte 1: 1 = single frame (init.txt), 0 = live (InitQHYCCD after SetQHYCCDStreamMode(1))
    ROWS = 0xA2  # rows to read and first row, see encode_rows (resolution_roi.txt)
    EXPOSURE = 0xA3  # bytes 1-4: microseconds, big-endian (exposure_20ms.txt: 00 00 4e 20; 300 s: 11 e1 a3 00)
    GAIN = 0xA4  # a 32-byte block, see encode_gain (gain_*.txt)
    USB_TRAFFIC = 0xA5  # byte 1: traffic 0-60 (usb_traffic_30.txt: 1e)
    START = 0xA6  # start one single-frame exposure (single_frame.txt)
    BITS = 0xA7  # byte 1: 1 = 16-bit, 0 = 8-bit transfer (bits_16.txt, bits_8.txt)
    OFFSET = 0xA8  # bytes 1-2: offset x 16, big-endian (offset_25.txt: 01 90; offset_60.txt: 03 c0)
    DDR = 0xA9  # byte 1: 0xFF = frame buffer on (ddr_on.txt); turning it off sends nothing (ddr_off.txt)


SDK_GAIN_BLOCK_LEN = 32  # gain_*.txt: the only 32-byte 0xD1 block
REQ_FPGA_WRITE = 0xB9  # OUT, wIndex = FPGA register, wValue = value; its 1 data byte varies run to run (unused)
REQ_EXPOSURE_ARM = 0xB8  # OUT wValue 0x81 wIndex 0x19E, once per exposure, after A6 (single_frame.txt)
EXPOSURE_ARM_VALUE, EXPOSURE_ARM_INDEX = 0x81, 0x19E
REQ_DDR_COUNT = 0xBC  # IN wIndex 4, 4 bytes: the frame buffer's fill, see decode_ddr_count (single_frame.txt)
DDR_COUNT_INDEX = 4
FPGA_VERSION_INDEXES = (0xC8, 0xC9, 0xCA, 0xCB)  # IN 0xBC, 1 byte each (fpga_version.txt)
REQ_FIRMWARE_VERSION = 0xC2  # IN 10 bytes (firmware_version.txt)
REQ_CAMERA_ID = 0xCA  # IN 16 bytes at enumeration: wIndex 0x08 selects the camera series (zeros: QHY600M/QHY268M
#                       on 1618:C601/C269; other answers make the SDK treat the device as another series),
#                       wValue/wIndex 0x10 carries the serial the SDK's camera id is made from (01 23 45 ... ->
#                       "QHY600M-12468ace012345677"; different bytes, different id)
CAMERA_TYPE_INDEX, CAMERA_SERIAL_INDEX = 0x08, 0x10
TYPE_COLOUR_BYTE = 1  # in the wIndex 0x08 answer: 1 = colour (the SDK then names a C601 "QHY600C-..."; 0x10 there
#                       makes it a "QHYDevelopDev"); byte 0 is a "mode" and byte 3 bit 4 a "timesub" the SDK logs,
#                       meanings unknown (test_sdk_facts: colour)


def encode_camera_type(colour: bool) -> bytes:
    return bytes([0, 1 if colour else 0]) + bytes(14)
REQ_SENSORS = 0xD5  # IN 64 bytes, wIndex selects (init.txt, cfw.txt)
SENSOR_PRESSURE, SENSOR_HUMIDITY, SENSOR_STATUS, SENSOR_WHILE_EXPOSING = 0x07, 0x02, 0x03, 0x24
SENSOR_HUMIDITY_READ = 0x01  # read at every GetQHYCCDHumidity once D5/02 said a sensor is there


def humidity_present(raw: bytes) -> bool:
    """D5/02, read in InitQHYCCD: byte 0 = 1 when the chamber has a humidity sensor (0: the SDK answers "no
    sensor" and never reads D5/01; test_sdk_facts: humidity)."""
    return raw[0] == 1


def decode_humidity(raw: bytes) -> float:
    """D5/01: relative humidity in 0.01 %, big-endian in bytes 0-1 (10 00 -> 40.96 %, 00 10 -> 0.16 %)."""
    return int.from_bytes(raw[:2], "big") / 100.0


def encode_humidity(percent: float) -> bytes:
    return max(0, min(0xFFFF, round(percent * 100))).to_bytes(2, "big") + bytes(62)
REQ_TEMPERATURE = 0xF2  # IN 4 bytes: temperature and TEC PWM, see decode_temperature (read_temperature.txt)
# GetQHYCCDExposureRemaining and CancelQHYCCDExposingAndReadout send nothing: the SDK times the exposure itself and
# a cancel only stops its reading (cancel_exposure.txt); the next A6 starts a new frame.
REQ_COOLER_TARGET = 0xF3  # OUT 3 bytes, see encode_cooler_target (cooler_target_-10.txt)
REQ_COOLER_MODE = 0xF4  # OUT 2 bytes: byte 0 1 = regulate to the F3 target, 0 = manual; byte 1 manual PWM / 2
REQ_CFW_WRITE, REQ_CFW_READ = 0xC1, 0xC3  # the filter-wheel port: ASCII out, answers in (cfw.txt)
CFW_VERSION_QUERY = b"VRS"  # C1; then C3 8 bytes. IsQHYCCDCFWPlugged asks it (what counts as plugged: unknown)
CFW_POSITION_QUERY = b"NOW"  # C1; then C3 1 byte, which GetQHYCCDCFWStatus returns as the wheel's status
#: SendOrder2QHYCCDCFW's order goes out on C1 as is: one ASCII digit per slot ("3" -> 33)

FPGA_INIT_A, FPGA_INIT_A_VALUE = 0x62, 0  # written once in init, after A0 (QHY600 only: QHY268M init omits it)
FPGA_INIT_B = 0x27  # written once at the end of init: 5 (both models)
FPGA_EXPOSURE = 0x31  # 1 at every exposure start, after A6
FPGA_READ_DONE = 0x23  # 0 after every frame has been read out (ASSUMED: releases the frame buffer)
FPGA_WATCHDOG = 0x67  # 1 then 0, from a watchdog thread, every ~10 s while the camera is open
WATCHDOG_PERIOD_S = 10.0  # single_frame log timestamps: writes 10.0 s apart

# --- the frame stream (test_sdk_facts: frame_marker, frame_offsets, byte order, ddr units) ----------------------
FRAME_MARKER = b"\xee\x11\xdd\x22"  # the SDK finds a frame's start by this marker, anywhere in what it read
HEAD_SEQUENCE_LEN = 4  # the 4 bytes after the marker: the frame number, big-endian (the SDK logs it as such)
DDR_UNIT = 2048  # bytes per unit of the DDR count
SDK_BULK_READ = 16384  # the SDK's bulk read size; the last reads of a frame are DDR_UNIT bytes
# The image the SDK returns at 1x1 and its effective area are the models' geometry (models.py; test_sdk_facts:
# geometry). Rows on the wire before the image's first row: see sdk_readout.


def decode_ddr_count(raw: bytes) -> int:
    """Bytes waiting in the frame buffer from a 0xBC/4 answer: bits 6..26 of the little-endian word, in 2048-byte
    units (answers 00 00 01 00 -> 1024 units, 00 00 00 01 -> 262144, c0 ff ff ff -> 2097151; bits 0-5 and 27-31
    are ignored)."""
    return ((int.from_bytes(raw[:4], "little") >> 6) & 0x1FFFFF) * DDR_UNIT


def encode_ddr_count(nbytes: int) -> bytes:
    """The 0xBC/4 answer for ``nbytes`` waiting (rounded down to whole units)."""
    return ((min(nbytes // DDR_UNIT, 0x1FFFFF)) << 6).to_bytes(4, "little")


def encode_sdk_command(command: SdkCommand, body: bytes = b"") -> bytes:
    """A 16-byte 0xD1 block (32 for GAIN) with unused bytes zero (the SDK leaves them uninitialised)."""
    size = SDK_GAIN_BLOCK_LEN if command == SdkCommand.GAIN else COMMAND_LEN
    if len(body) > size - 1:
        raise ProtocolError(f"{command.name} body of {len(body)} bytes does not fit a {size}-byte block")
    return bytes([command]) + body + bytes(size - 1 - len(body))


def encode_exposure(microseconds: int) -> bytes:
    return encode_sdk_command(SdkCommand.EXPOSURE, max(1, min(microseconds, _MASK32)).to_bytes(4, "big"))


def encode_offset(offset: int) -> bytes:
    return encode_sdk_command(SdkCommand.OFFSET, (offset * 16).to_bytes(2, "big"))


def encode_usb_traffic(traffic: int) -> bytes:
    return encode_sdk_command(SdkCommand.USB_TRAFFIC, bytes([traffic & 0xFF]))


def encode_bits(bits: int) -> bytes:
    return encode_sdk_command(SdkCommand.BITS, bytes([1 if bits == 16 else 0]))


@dataclass(frozen=True)
class GainRegisters:
    """The fields of the A4 block: analog gain register (bytes 1-2 BE) and digital gain (byte 4). Byte 5 looked
    like a conversion-gain flag in one sweep but varies between runs for the same gain: not a field."""

    analog: int
    digital: int


@lru_cache(maxsize=1)
def _gain_tables() -> dict[str, dict[str, object]]:
    """``data/sdk_gain.json``: the A4 registers QHY's SDK sends for every gain of every read mode, per family
    (OBSERVED by sweeping; regenerated by ``python3 -m tests.sdk_oracle.gain_tables``). The SDK never names the read
    mode to the camera: a read mode is one of three gain curves (QHY600 modes 0, 4-8 / 1, 9, 10 / 2, 3; QHY268
    modes 0, 4 / 1, 5, 6 / 2, 3); gain runs 0-200 on the QHY600 and 0-339 on the QHY268 in every mode."""
    return json.loads((resources.files(__package__) / "data" / "sdk_gain.json").read_text())


def _gain_curve(family: str, read_mode: int) -> list[list[int]]:
    table = _gain_tables()[family]
    curve_of: dict[str, int] = table["read_mode_curve"]  # type: ignore[assignment]
    curves: list[list[list[int]]] = table["curves"]  # type: ignore[assignment]
    return curves[curve_of.get(str(read_mode), 0)]


def gain_registers(family: str, read_mode: int, gain: int) -> GainRegisters:
    """The A4 registers the SDK sends for ``gain`` in ``read_mode`` (clamped to the curve's range)."""
    curve = _gain_curve(family, read_mode)
    analog, digital = curve[max(0, min(gain, len(curve) - 1))]
    return GainRegisters(analog, digital)


def gain_setting(family: str, read_mode: int, registers: GainRegisters) -> int | None:
    """The lowest gain whose registers these are in ``read_mode`` (the camera's side), or None."""
    for gain, (analog, digital) in enumerate(_gain_curve(family, read_mode)):
        if (analog, digital) == (registers.analog, registers.digital):
            return gain
    return None


#: Bytes of the A4 block carrying the digital gain: the QHY268 repeats it at 8 and 12 (gain_*.txt)
_DIGITAL_AT = {"QHY600": (4,), "QHY268": (4, 8, 12)}


def encode_gain(registers: GainRegisters, family: str = "QHY600") -> bytes:
    body = bytearray(registers.analog.to_bytes(2, "big") + bytes(12))
    for at in _DIGITAL_AT[family]:
        body[at - 1] = registers.digital
    return encode_sdk_command(SdkCommand.GAIN, bytes(body))


def decode_gain(block: bytes) -> GainRegisters:
    return GainRegisters(int.from_bytes(block[1:3], "big"), block[4])


#: A2 rows: bytes 6-7 rows to read, bytes 8-9 first row (bytes 1, 10, 11 vary run to run: unused).
#: OBSERVED for the QHY600 (full 6422 -> 6456 from 25; 1000 rows at y 500 -> 1034 from 525; 10 rows at y 4 ->
#: 300 from 29): rows = height + 34 (at least 300), first = y + 25; the 34 extra rows come first on the wire.
#: OBSERVED for the QHY268 (full frame at bin 1 -> 4244 from 25; bin 2 or 4 full -> 4278 from 25; 1000 rows at
#: y 500 -> 1068 from 491; 100 rows at y 0 -> 134 from 25): lead = min(y, 34) rows above, the height, 34 below.
ROW_MARGIN, FIRST_ROW, MIN_ROWS_QHY600 = 34, 25, 300


def rows_for(family: str, y: int, height: int, full_height: int, binning: int = 1) -> tuple[int, int]:
    """(rows to read, first row) the SDK asks for a ROI of ``height`` sensor rows from ``y``."""
    if family == "QHY600":
        return max(MIN_ROWS_QHY600, height + ROW_MARGIN), y + FIRST_ROW
    if binning == 1 and y == 0 and height == full_height:
        return full_height, FIRST_ROW
    lead = min(y, ROW_MARGIN)
    return height + ROW_MARGIN + lead, FIRST_ROW + y - lead


def encode_rows(family: str, y: int, height: int, full_height: int, binning: int = 1) -> bytes:
    """The A2 block the SDK sends for a ROI (SetQHYCCDResolution, in sensor rows)."""
    rows, start = rows_for(family, y, height, full_height, binning)
    return encode_sdk_command(SdkCommand.ROWS, bytes(5) + rows.to_bytes(2, "big") + start.to_bytes(2, "big"))


def decode_rows(block: bytes) -> tuple[int, int]:
    """(rows to read, first row) from an A2 block."""
    return int.from_bytes(block[6:8], "big"), int.from_bytes(block[8:10], "big")


def decode_temperature(raw: bytes) -> float:
    """Sensor temperature from 0xF2: byte 0 non-zero = negative, bytes 1-2 the magnitude in 0.1 C, big-endian
    (00 01 00 00 -> 25.6; 00 00 0f a0 -> 1.5; 12 34 56 78 -> -1339.8)."""
    magnitude = int.from_bytes(raw[1:3], "big") / 10.0
    return -magnitude if raw[0] else magnitude


def decode_tec_pwm(raw: bytes) -> int:
    """The TEC's PWM 0-255 from the same 0xF2 answer: byte 3 (00 00 64 80 -> CURPWM 128 while regulating)."""
    return raw[3]


def encode_temperature(celsius: float, tec_pwm: int = 0) -> bytes:
    decic = round(celsius * 10)
    return bytes([1 if decic < 0 else 0]) + min(abs(decic), 0xFFFF).to_bytes(2, "big") + bytes([tec_pwm & 0xFF])


def encode_cooler_target(celsius: float) -> bytes:
    """F3 for a set point: sign byte, then 10 x target - 7 as a 16-bit magnitude (-10 C -> 01 00 6b, 0 -> 01 00
    07, 10 -> 00 00 5d, 15 -> 00 00 8f; the same whatever the sensor reads: the camera regulates, not the SDK)."""
    value = round(celsius * 10) - 7
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(2, "big")


def decode_cooler_target(raw: bytes) -> float:
    value = int.from_bytes(raw[1:3], "big") * (-1 if raw[0] else 1)
    return (value + 7) / 10.0


def encode_cooler_mode(regulate: bool, pwm: int = 0) -> bytes:
    """F4: regulate to the F3 target (01 00), or manual PWM 0-255 sent halved (128 -> 00 40, 255 -> 00 7f)."""
    return bytes([1, 0]) if regulate else bytes([0, max(0, min(PWM_FULL, pwm)) >> 1])


def sdk_frame_length(width: int, rows: int, bits: int) -> int:
    """Bytes of one frame as the camera streams it: marker, then the rows (the hidden ones first), padded to
    whole DDR units."""
    payload = len(FRAME_MARKER) + width * rows * (2 if bits == 16 else 1)
    return -(-payload // DDR_UNIT) * DDR_UNIT


@dataclass(frozen=True)
class SdkReadout:
    """One frame's rows in the observed dialect: ``blank_rows`` the camera sends before the rows it reads,
    ``rendered_rows`` read from sensor row ``first_row``; the image is ``image_rows`` rows from stream row
    ``hidden``. The A2 block asks for it (``rows_for``)."""

    first_row: int
    rendered_rows: int
    blank_rows: int
    hidden: int
    image_rows: int

    @property
    def streamed_rows(self) -> int:
        return self.blank_rows + self.rendered_rows


def sdk_readout(family: str, a2_rows: int, a2_first: int, full_height: int) -> SdkReadout:
    """What a camera streams for an A2 (rows, first row) request (OBSERVED: test_sdk_conformance ROI and bin)."""
    if family == "QHY600":  # 34 rows the SDK skips, then the image rows
        y, rows = (0, full_height) if a2_rows == 0 else (a2_first - FIRST_ROW, a2_rows - ROW_MARGIN)
        return SdkReadout(y, rows, blank_rows=ROW_MARGIN, hidden=ROW_MARGIN, image_rows=rows)
    if a2_rows in (0, full_height):  # the 1x1 full frame is exactly the image
        return SdkReadout(0, full_height, 0, 0, full_height)
    # QHY268: every A2 row from sensor row (first - 25): lead rows above the image (34 for a ROI from y >= 34),
    # the image, 34 rows below. ASSUMED: a first row of 25 means y = 0 (the fields cannot tell 0 <= y <= 34 apart)
    start = a2_first - FIRST_ROW
    lead = ROW_MARGIN if start > 0 else 0
    return SdkReadout(start, a2_rows, 0, lead, a2_rows - ROW_MARGIN - lead)


def sdk_frame_layout(width: int, readout: SdkReadout, bits: int) -> FrameLayout:
    bpp = 2 if bits == 16 else 1
    return FrameLayout(width, readout.image_rows, bits, len(FRAME_MARKER),
                       image_offset=len(FRAME_MARKER) + readout.hidden * width * bpp,
                       stream_len=sdk_frame_length(width, readout.streamed_rows, bits))


def head_sequence(raw: bytes | memoryview) -> int | None:
    """The frame number after the marker at the start of ``raw``, or None when the marker is not there."""
    if bytes(raw[: len(FRAME_MARKER)]) != FRAME_MARKER or len(raw) < len(FRAME_MARKER) + HEAD_SEQUENCE_LEN:
        return None
    return int.from_bytes(bytes(raw[len(FRAME_MARKER) : len(FRAME_MARKER) + HEAD_SEQUENCE_LEN]), "big")
