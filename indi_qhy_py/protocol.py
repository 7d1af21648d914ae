"""Every request code, byte layout and the frame stream format of the QHY268/QHY600 — in this module only.

QHY has not published the USB protocol of these FX3 cameras. What is here comes from two sources, and each entry
says which:

* ``PUBLISHED`` — stated by QHY or readable from public material (USB IDs, endpoint, the FX3 RAM boot);
* ``OBSERVED`` — what QHY's own SDK (libqhyccd 26.6.4.16, PyPI qhyccd 0.1.3) sends, accepts and returns when it
  drives a device through the black-box oracle of ``tests/sdk_oracle``: the requests it makes, the answers it
  takes, the images it returns, the messages it logs. Evidence: the traces under ``tests/sdk_oracle/traces``
  and the probes in ``tests/sdk_oracle/test_sdk_facts.py``, named per entry;
* ``ASSUMED`` — where the SDK could not tell (what a real camera does with a request, and what it answers);
  a real camera has to confirm these.

The emulator, the camera link and the decoder take every code and layout from here and nowhere else, so a
correction from a USB capture of a real camera changes all of them at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from importlib import resources

from .errors import ProtocolError

# --- Transport (PUBLISHED) -----------------------------------------------------------------------------------------
VENDOR_ID = 0x1618
REQUEST_TYPE_OUT = 0x40  # vendor, host-to-device
REQUEST_TYPE_IN = 0xC0  # vendor, device-to-host
BULK_IN_ENDPOINT = 0x81
INTERFACE = 0
MAX_PACKET_SUPERSPEED = 1024
MAX_PACKET_HIGHSPEED = 512

# --- FX3 RAM boot (PUBLISHED: Cypress FX3 boot loader, as used by fxload -t fx3) -----------------------------------
REQ_FIRMWARE = 0xA0
FIRMWARE_CHUNK = 4096

PWM_FULL = 255  # OBSERVED: the TEC PWM the SDK reports runs 0-255 (CURPWM = byte 3 of 0xF2)
_MASK32 = 0xFFFFFFFF


def pwm_from_percent(percent: float) -> int:
    """TEC power in % as the PWM byte."""
    return round(max(0.0, min(100.0, percent)) * PWM_FULL / 100)


def percent_from_pwm(pwm: int) -> float:
    return pwm * 100 / PWM_FULL


# --- 0xD1: the command blocks (OBSERVED: traces init, exposure_*, gain_*, offset_*, bits_*, ddr_on, usb_traffic_*) -
REQ_COMMAND = 0xD1  # OUT; byte 0 the command, the rest its fields (the SDK leaves unused bytes uninitialised)
COMMAND_LEN = 16
GAIN_BLOCK_LEN = 32  # gain_*.txt: the A4 block is the only 32-byte one


class Command(IntEnum):
    """Byte 0 of a 0xD1 block."""

    MODE = 0xA0  # byte 1: 1 = single frame (init.txt), 0 = live (InitQHYCCD after SetQHYCCDStreamMode(1))
    ROWS = 0xA2  # rows to read and first row, see encode_rows (resolution_roi.txt)
    EXPOSURE = 0xA3  # bytes 1-4: microseconds, big-endian (exposure_20ms.txt: 00 00 4e 20; 300 s: 11 e1 a3 00)
    GAIN = 0xA4  # the 32-byte gain block, see encode_gain (gain_*.txt)
    USB_TRAFFIC = 0xA5  # byte 1: traffic 0-60 (usb_traffic_30.txt: 1e)
    START = 0xA6  # start one single-frame exposure (single_frame.txt)
    BITS = 0xA7  # byte 1: 1 = 16-bit, 0 = 8-bit transfer (bits_16.txt, bits_8.txt)
    OFFSET = 0xA8  # bytes 1-2: offset x 16, big-endian (offset_25.txt: 01 90; offset_60.txt: 03 c0)
    DDR = 0xA9  # byte 1: 0xFF = frame buffer on (ddr_on.txt). The SDK refuses DDR off for these models (it
    #             returns an error and sends nothing: test_sdk_facts ddr): the frame buffer is always on


def encode_command(command: Command, body: bytes = b"") -> bytes:
    """A 0xD1 block (32 bytes for GAIN, 16 otherwise) with its unused bytes zero."""
    size = GAIN_BLOCK_LEN if command == Command.GAIN else COMMAND_LEN
    if len(body) > size - 1:
        raise ProtocolError(f"{command.name} body of {len(body)} bytes does not fit a {size}-byte block")
    return bytes([command]) + body + bytes(size - 1 - len(body))


INIT_EXPOSURE_US = 5_000_000  # InitQHYCCD sends A3 with 5 s whatever exposure was set before (test_sdk_facts init)


def encode_mode(single: bool) -> bytes:
    return encode_command(Command.MODE, bytes([1 if single else 0]))


def encode_exposure(microseconds: int) -> bytes:
    return encode_command(Command.EXPOSURE, max(1, min(microseconds, _MASK32)).to_bytes(4, "big"))


def decode_exposure(block: bytes) -> int:
    return max(1, int.from_bytes(block[1:5], "big"))


def encode_offset(offset: int) -> bytes:
    return encode_command(Command.OFFSET, (offset * 16).to_bytes(2, "big"))


def decode_offset(block: bytes) -> int:
    return int.from_bytes(block[1:3], "big") // 16


def encode_usb_traffic(traffic: int) -> bytes:
    return encode_command(Command.USB_TRAFFIC, bytes([traffic & 0xFF]))


def encode_bits(bits: int) -> bytes:
    return encode_command(Command.BITS, bytes([1 if bits == 16 else 0]))


def encode_ddr() -> bytes:
    return encode_command(Command.DDR, b"\xff")


def encode_start() -> bytes:
    return encode_command(Command.START)


# --- the gain block -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GainRegisters:
    """The fields of the A4 block (OBSERVED by sweeping every gain of every read mode, test_sdk_facts gain):
    the analog gain register (bytes 1-2, big-endian), the digital gain (byte 4; 8 = x1: it rises only once the
    analog register is at its 4000 maximum) and the conversion gain (byte 16: 0 low, 1 high — it switches
    between gain 25 and 26 in Photographic mode and between 55 and 56 in High Gain mode, exactly where the
    product pages put the noise drop and the HGC switch, and never in the Extended Full Well modes). The
    block's other bytes differ from one build of the call to the next: they carry nothing."""

    analog: int
    digital: int
    high_conversion: bool = False


ANALOG_GAIN_MAX = 4000
DIGITAL_UNITY = 8
_CONVERSION_GAIN_AT = 16
#: Bytes of the A4 block carrying the digital gain: the QHY268 repeats it at 8 and 12 (gain_*.txt)
_DIGITAL_AT = {"QHY600": (4,), "QHY268": (4, 8, 12)}


@lru_cache(maxsize=1)
def _gain_tables() -> dict[str, dict[str, object]]:
    """``data/sdk_gain.json``: the A4 registers QHY's SDK sends for every gain of every read mode, per family
    (OBSERVED by sweeping; regenerated by ``python3 -m tests.sdk_oracle.gain_tables``). The SDK names no read mode
    to the camera — no request of InitQHYCCD changes with it but the gain block — so a read mode is one of three
    gain curves (QHY600 modes 0, 4-8 / 1, 9, 10 / 2, 3; QHY268 modes 0, 4 / 1, 5, 6 / 2, 3). Gain runs 0-200 on
    the QHY600 and 0-339 on the QHY268 in every mode."""
    return json.loads((resources.files(__package__) / "data" / "sdk_gain.json").read_text())


def _gain_curve(family: str, read_mode: int) -> list[list[int]]:
    table = _gain_tables()[family]
    curve_of: dict[str, int] = table["read_mode_curve"]  # type: ignore[assignment]
    curves: list[list[list[int]]] = table["curves"]  # type: ignore[assignment]
    return curves[curve_of.get(str(read_mode), 0)]


def gain_max(family: str) -> int:
    """The highest gain setting the SDK offers (the same in every read mode)."""
    return len(_gain_curve(family, 0)) - 1


def gain_curve_of(family: str, read_mode: int) -> int:
    """Which of the family's distinct gain curves ``read_mode`` uses."""
    curve_of: dict[str, int] = _gain_tables()[family]["read_mode_curve"]  # type: ignore[assignment]
    return curve_of.get(str(read_mode), 0)


def gain_registers(family: str, read_mode: int, gain: int) -> GainRegisters:
    """The A4 registers the SDK sends for ``gain`` in ``read_mode`` (clamped to the curve's range)."""
    curve = _gain_curve(family, read_mode)
    analog, digital, high = curve[max(0, min(gain, len(curve) - 1))]
    return GainRegisters(analog, digital, bool(high))


def gain_settings(family: str, registers: GainRegisters) -> list[tuple[int, int]]:
    """Every (read mode, gain) whose A4 block carries ``registers``, read mode by read mode (the camera's side:
    the registers are all it is told)."""
    table = _gain_tables()[family]
    found = []
    for mode, curve_index in sorted(((int(m), c) for m, c in table["read_mode_curve"].items())):  # type: ignore[union-attr]
        curve = table["curves"][curve_index]  # type: ignore[index]
        for gain, (analog, digital, high) in enumerate(curve):
            if GainRegisters(analog, digital, bool(high)) == registers:
                found.append((mode, gain))
    return found


def encode_gain(registers: GainRegisters, family: str = "QHY600") -> bytes:
    body = bytearray(registers.analog.to_bytes(2, "big") + bytes(GAIN_BLOCK_LEN - 3))
    for at in _DIGITAL_AT[family]:
        body[at - 1] = registers.digital
    body[_CONVERSION_GAIN_AT - 1] = 1 if registers.high_conversion else 0
    return encode_command(Command.GAIN, bytes(body))


def decode_gain(block: bytes) -> GainRegisters:
    return GainRegisters(int.from_bytes(block[1:3], "big"), block[4], block[_CONVERSION_GAIN_AT] == 1)


# --- A2: the rows to read (OBSERVED: resolution_roi.txt, test_sdk_facts rows) ---------------------------------------
#: A2: bytes 6-7 rows to read, bytes 8-9 first row (bytes 1, 10, 11 vary run to run: unused).
#: QHY600 (full 6422 -> 6456 from 25; 1000 rows at y 500 -> 1034 from 525; 10 rows at y 4 -> 300 from 29):
#: rows = height + 34 (at least 300), first = y + 25; the 34 extra rows come first on the wire. In live mode there
#: is no minimum (test_sdk_facts live rows: 100 rows at y 0 -> 134 from 25; 480 at y 2000 -> 514 from 2025).
#: QHY268 (full frame at bin 1 -> 4244 from 25; bin 2 or 4 full -> 4278 from 25; 1000 rows at y 500 -> 1068 from
#: 491; 100 rows at y 0 -> 134 from 25): lead = min(y, 34) rows above, the height, 34 below; the same in live mode,
#: where the SDK's ROI is in effective-area coordinates (100 rows -> 168 from 25: y is 34 in the image).
ROW_MARGIN, FIRST_ROW, MIN_ROWS_QHY600 = 34, 25, 300


def rows_for(family: str, y: int, height: int, full_height: int, binning: int = 1,
             live: bool = False) -> tuple[int, int]:
    """(rows to read, first row) the SDK asks for a ROI of ``height`` image rows from image row ``y``."""
    if family == "QHY600":
        return max(0 if live else MIN_ROWS_QHY600, height + ROW_MARGIN), y + FIRST_ROW
    if binning == 1 and y == 0 and height == full_height:
        return full_height, FIRST_ROW
    lead = min(y, ROW_MARGIN)
    return height + ROW_MARGIN + lead, FIRST_ROW + y - lead


def encode_rows(rows: int, first_row: int) -> bytes:
    return encode_command(Command.ROWS, bytes(5) + rows.to_bytes(2, "big") + first_row.to_bytes(2, "big"))


def decode_rows(block: bytes) -> tuple[int, int]:
    """(rows to read, first row) from an A2 block."""
    return int.from_bytes(block[6:8], "big"), int.from_bytes(block[8:10], "big")


# --- FPGA registers and the exposure (OBSERVED: init.txt, single_frame.txt) -----------------------------------------
REQ_FPGA_WRITE = 0xB9  # OUT, wIndex = FPGA register, wValue = value; its 1 data byte varies run to run (unused)
FPGA_INIT_A, FPGA_INIT_A_VALUE = 0x62, 0  # written once in init, after A0 (QHY600 only: QHY268M init omits it)
FPGA_INIT_B, FPGA_INIT_B_VALUE = 0x27, 5  # written once at the end of init (both models)
FPGA_EXPOSURE = 0x31  # 1 at every exposure start, after A6
FPGA_READ_DONE = 0x23  # 0 after every frame has been read out (ASSUMED: releases the frame buffer)
FPGA_WATCHDOG = 0x67  # 1 then 0, from the SDK's watchdog thread, while the camera is open
WATCHDOG_PERIOD_S = 10.0  # single_frame log timestamps: the writes come 10.0 s apart
REQ_EXPOSURE_ARM = 0xB8  # OUT wValue 0x81 wIndex 0x19E, once per exposure, after the FPGA_EXPOSURE write
EXPOSURE_ARM_VALUE, EXPOSURE_ARM_INDEX = 0x81, 0x19E
# GetQHYCCDExposureRemaining and CancelQHYCCDExposingAndReadout send nothing: the SDK times the exposure itself and
# a cancel only stops its reading (cancel_exposure.txt); the next A6 starts a new frame.

# --- 0xBC: the frame buffer's fill and the FPGA version (OBSERVED: single_frame.txt, fpga_version.txt) --------------
REQ_DDR_COUNT = 0xBC  # IN wIndex 4, 4 bytes, see decode_ddr_count
DDR_COUNT_INDEX = 4
DDR_UNIT = 2048  # bytes per unit of the DDR count ("DDR UNIT 2048")
FPGA_VERSION_INDEXES = (0xC8, 0xC9, 0xCA, 0xCB)  # IN 0xBC, 1 byte each; GetQHYCCDFPGAVersion(0) returns the 4 as is


def decode_ddr_count(raw: bytes) -> int:
    """Bytes waiting in the frame buffer from a 0xBC/4 answer: bits 6..26 of the little-endian word, in 2048-byte
    units (answers 00 00 01 00 -> 1024 units, 00 00 00 01 -> 262144, c0 ff ff ff -> 2097151; bits 0-5 and 27-31
    are ignored)."""
    return ((int.from_bytes(raw[:4], "little") >> 6) & 0x1FFFFF) * DDR_UNIT


def encode_ddr_count(nbytes: int) -> bytes:
    """The 0xBC/4 answer for ``nbytes`` waiting (rounded down to whole units)."""
    return ((min(nbytes // DDR_UNIT, 0x1FFFFF)) << 6).to_bytes(4, "little")


# --- identity and versions (OBSERVED: test_sdk_facts colour, serial, versions) --------------------------------------
REQ_CAMERA_ID = 0xCA  # IN 16 bytes at enumeration: wIndex 0x08 selects the camera series (zeros: QHY600M/QHY268M
#                       on 1618:C601/C269; other answers make the SDK treat the device as another series),
#                       wValue/wIndex 0x10 carries the serial the SDK's camera id is made from (01 23 45 ... ->
#                       "QHY600M-12468ace012345677"; different bytes, different id)
CAMERA_TYPE_INDEX, CAMERA_SERIAL_INDEX = 0x08, 0x10
TYPE_COLOUR_BYTE = 1  # in the wIndex 0x08 answer: 1 = colour (the SDK then names a C601 "QHY600C-..."; 0x10 there
#                       makes it a "QHYDevelopDev"); byte 0 is a "mode" and byte 3 bit 4 a "timesub" the SDK logs,
#                       meanings unknown


def encode_camera_type(colour: bool) -> bytes:
    return bytes([0, 1 if colour else 0]) + bytes(14)


def decode_colour(raw: bytes) -> bool:
    return len(raw) > TYPE_COLOUR_BYTE and raw[TYPE_COLOUR_BYTE] == 1


def decode_serial(raw: bytes) -> str:
    """The serial as text: the 16 bytes up to the first NUL, ASCII. ASSUMED: a real camera answers printable ASCII
    there (the SDK turns any bytes into its id, so it cannot tell)."""
    text = bytes(raw).split(b"\0", 1)[0].decode("ascii", "replace")
    return "".join(c if c.isalnum() else "_" for c in text)


REQ_FIRMWARE_VERSION = 0xC2  # IN 10 bytes (firmware_version.txt)
#: GetQHYCCDFWVersion returns these bytes, repacked when byte 0 is below 0x1A: then bytes 0-2 are year - 2000,
#: month, day and the SDK returns (year << 4 | month), day — the packed form, which it passes through unchanged
#: for byte 0 >= 0x1A (18 05 11 -> 85 11; 19 05 11 -> 95 11; 1a 05 11 -> 1a 05 11). In the packed form the high
#: nibble is the year (as INDI's C++ driver reads it: 0-9 mean 2016-2025, 10-15 mean 2010-2015), the low nibble
#: the month. ASSUMED: a real camera answers the packed form.
_FIRMWARE_UNPACKED_BELOW = 0x1A


def encode_firmware_version(year: int, month: int, day: int) -> bytes:
    nibble = (year - 2016) % 10 if 2016 <= year <= 2025 else year - 2000
    return bytes([(nibble & 0x0F) << 4 | (month & 0x0F), day]) + bytes(8)


def decode_firmware_date(raw: bytes) -> str | None:
    """The FX3 firmware date as YYYY-MM-DD from a 0xC2 answer, or None when it does not hold a date."""
    if len(raw) < 2 or (raw[0] < _FIRMWARE_UNPACKED_BELOW and len(raw) < 3):
        return None
    if raw[0] < _FIRMWARE_UNPACKED_BELOW:
        year, month, day = 2000 + raw[0], raw[1], raw[2]
    else:
        nibble, month, day = raw[0] >> 4, raw[0] & 0x0F, raw[1]
        year = 2016 + nibble if nibble <= 9 else 2000 + nibble
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


# --- 0xD5: sensors (OBSERVED: init.txt, humidity.txt, test_sdk_facts humidity and sensor status) --------------------
REQ_SENSORS = 0xD5  # IN 64 bytes, wIndex selects
SENSOR_PRESSURE = 0x07  # read in InitQHYCCD; no answer found makes the SDK report a pressure (ASSUMED: no sensor)
SENSOR_HUMIDITY = 0x02  # read in InitQHYCCD: byte 0 = 1 when the chamber has a humidity sensor
SENSOR_HUMIDITY_READ = 0x01  # read at every GetQHYCCDHumidity once D5/02 said a sensor is there
SENSOR_STATUS = 0x24  # byte 0: the sensor's working status, polled by an SDK thread every 5.0 s and returned as is
#                       by GetQHYCCDParam(CAM_Sensor_ULVO_Status); also read at BeginQHYCCDLive
SENSOR_STATUS_PERIOD_S = 5.0
SENSOR_STATUS_AT_INIT = 0x03  # read once at the end of the first InitQHYCCD; what of it the SDK uses: unknown


class SensorStatus(IntEnum):
    """Values of the sensor working status, as QHY's public SDK header lists them (the SDK returns the byte as
    is: 3 -> 3, 129 -> 129); NINA, a public client, treats 2 and 9 as the under-voltage lock-out."""

    INIT = 0
    GOOD = 1
    CHECK_ERROR = 2
    MONITOR_ERROR = 3
    GOOD_ALT = 8
    POWER_CHIP_ERROR = 9


UNDER_VOLTAGE_STATUSES = frozenset({SensorStatus.CHECK_ERROR, SensorStatus.POWER_CHIP_ERROR})


def humidity_present(raw: bytes) -> bool:
    """D5/02: byte 0 = 1 when the chamber has a humidity sensor (0: the SDK answers "no sensor" and never reads
    D5/01)."""
    return raw[0] == 1


def decode_humidity(raw: bytes) -> float:
    """D5/01: relative humidity in 0.01 %, big-endian in bytes 0-1 (10 00 -> 40.96 %, 00 10 -> 0.16 %)."""
    return int.from_bytes(raw[:2], "big") / 100.0


def encode_humidity(percent: float) -> bytes:
    return max(0, min(0xFFFF, round(percent * 100))).to_bytes(2, "big") + bytes(62)


# --- temperature and the TEC (OBSERVED: read_temperature.txt, cooler_*.txt, manual_pwm_*.txt) ------------------------
REQ_TEMPERATURE = 0xF2  # IN 4 bytes: temperature and TEC PWM, see decode_temperature
REQ_COOLER_TARGET = 0xF3  # OUT 3 bytes, see encode_cooler_target
REQ_COOLER_MODE = 0xF4  # OUT 2 bytes, see encode_cooler_mode


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


def decode_manual_pwm(raw: bytes) -> int | None:
    """The manual PWM an F4 block asks for, or None when it asks to regulate."""
    return None if raw[0] else min(PWM_FULL, raw[1] * 2)


# --- the filter-wheel port (OBSERVED: cfw.txt, test_sdk_facts filter wheel) -----------------------------------------
REQ_CFW_WRITE, REQ_CFW_READ = 0xC1, 0xC3  # ASCII out, answers in
CFW_VERSION_QUERY = b"VRS"  # C1; then C3 8 bytes. IsQHYCCDCFWPlugged asks it: plugged when byte 0 is "2"
CFW_SLOTS_QUERY = b"MXP"  # C1; then C3 1 byte: GetQHYCCDParam(CFWSLOTSNUM) returns it minus "0" ("7" -> 7)
CFW_POSITION_QUERY = b"NOW"  # C1; then C3 1 byte, which GetQHYCCDCFWStatus returns as the wheel's status
CFW_QUERIES = (CFW_VERSION_QUERY, CFW_SLOTS_QUERY, CFW_POSITION_QUERY)
CFW_ANSWER_LEN = {CFW_VERSION_QUERY: 8, CFW_SLOTS_QUERY: 1, CFW_POSITION_QUERY: 1}
#: An order goes out on C1 as one byte: SendOrder2QHYCCDCFW sends its text as is ("5" -> 35), SetQHYCCDParam(CFWPORT)
#: its value as a byte (52.0 -> 34). ASSUMED, as INDI's C++ driver orders them: "0" is slot 1, "1" slot 2, ...; the
#: position answer counts the same way, and a wheel still turning answers something else (the emulator: "N").
CFW_MOVING = b"N"


def cfw_plugged(version: bytes) -> bool:
    return version[:1] == b"2"


def encode_cfw_digit(value: int) -> bytes:
    return bytes([0x30 + value])


def decode_cfw_digit(raw: bytes) -> int | None:
    """A slot (0-based) or slot count from a one-byte order or answer; None when it is not a digit 0-9."""
    return raw[0] - 0x30 if raw and 0x30 <= raw[0] <= 0x39 else None

# --- the frame stream on EP 0x81 (OBSERVED: test_sdk_facts frame marker, offsets, byte order, DDR units; live) --------
FRAME_MARKER = b"\xee\x11\xdd\x22"
HEAD_SEQUENCE_LEN = 4  # single frame: the 4 bytes after the marker are the frame number, big-endian
SDK_BULK_READ = 16384  # the SDK's bulk read size; the last reads of a single frame are DDR_UNIT bytes
# In live mode the SDK keeps this many asynchronous reads of SDK_BULK_READ queued (8 MiB in flight), resubmitting
# each as it completes (OBSERVED: test_sdk_conformance live reads queued, stand-in libusb's submits and completions).
SDK_LIVE_QUEUED_READS = 512
# A single frame is the marker, the frame number and the rest of the rows the A2 block asked for (the hidden ones
# first, see readout_for), 16-bit big-endian or 8-bit, padded with zeros to whole DDR units; the SDK finds the
# marker anywhere in what it read and accepts the frame once the DDR count's bytes are in.
# A live frame (A0 00; BeginQHYCCDLive's asynchronous 16 KiB reads) is the rows with nothing in front, then the
# marker, and ends a transfer with a short packet: the SDK takes a short transfer ending in the marker as a frame's
# end ("found the head"), and the frame as good when exactly rows x width x bytes + 4 bytes came since the previous
# one (a frame 4 bytes longer or shorter is "frame data error"; a short transfer not ending in the marker "lose
# head"). It skips the first frame after the stream starts. In live mode SetQHYCCDResolution is in the image's
# coordinates on the QHY600 but in the effective area's on the QHY268, whose live image the SDK takes 4 bytes further
# into the rows than the single frame's (test_sdk_conformance live). ASSUMED: the camera sends the frame number in
# the first 4 bytes of a live frame's rows, as it does after the marker of a single frame (the SDK skips those
# bytes: it cannot tell).
# The image the SDK returns at 1x1 and its effective area are the models' geometry (models.py; test_sdk_facts
# geometry).


def _bpp(bits: int) -> int:
    if bits not in (8, 16):
        raise ProtocolError(f"the camera sends 8 or 16 bits per pixel, not {bits}")
    return 2 if bits == 16 else 1


def single_frame_length(width: int, rows: int, bits: int) -> int:
    """Bytes of one single frame: the marker, then the rows, padded to whole DDR units."""
    payload = len(FRAME_MARKER) + width * rows * _bpp(bits)
    return -(-payload // DDR_UNIT) * DDR_UNIT


def live_frame_length(width: int, rows: int, bits: int) -> int:
    """Bytes of one live frame: the rows, then the marker."""
    return width * rows * _bpp(bits) + len(FRAME_MARKER)


@dataclass(frozen=True)
class Readout:
    """One frame's rows: ``blank_rows`` the camera sends before the rows it reads, ``rendered_rows`` read from
    sensor row ``first_row``; the image is ``image_rows`` rows from streamed row ``hidden``. The A2 block asks for
    it (``rows_for``)."""

    first_row: int
    rendered_rows: int
    blank_rows: int
    hidden: int
    image_rows: int

    @property
    def streamed_rows(self) -> int:
        return self.blank_rows + self.rendered_rows

    @property
    def image_y(self) -> int:
        """The image row the frame's first image row is."""
        return self.first_row + self.hidden - self.blank_rows


def readout_for(family: str, a2_rows: int, a2_first: int, full_height: int) -> Readout:
    """What a camera streams for an A2 (rows, first row) request (OBSERVED: test_sdk_conformance ROI and bin)."""
    if family == "QHY600":  # 34 rows the SDK skips, then the image rows
        y, rows = (0, full_height) if a2_rows == 0 else (a2_first - FIRST_ROW, a2_rows - ROW_MARGIN)
        return Readout(y, rows, blank_rows=ROW_MARGIN, hidden=ROW_MARGIN, image_rows=rows)
    if a2_rows in (0, full_height):  # the 1x1 full frame is exactly the image
        return Readout(0, full_height, 0, 0, full_height)
    # QHY268: every A2 row from sensor row (first - 25): lead rows above the image (34 for a ROI from y >= 34),
    # the image, 34 rows below. ASSUMED: a first row of 25 means y = 0 (the fields cannot tell 0 <= y <= 34 apart)
    start = a2_first - FIRST_ROW
    lead = ROW_MARGIN if start > 0 else 0
    return Readout(start, a2_rows, 0, lead, a2_rows - ROW_MARGIN - lead)


@dataclass(frozen=True)
class FrameLayout:
    """Where the image sits in one frame's bytes as read from EP 0x81."""

    width: int
    height: int  # image rows
    bits: int
    image_offset: int
    stream_len: int  # the bytes the camera streams for the frame
    live: bool = False

    @property
    def bytes_per_pixel(self) -> int:
        return _bpp(self.bits)

    @property
    def row_bytes(self) -> int:
        return self.width * self.bytes_per_pixel

    @property
    def pixel_bytes(self) -> int:
        return self.height * self.row_bytes

    @property
    def pixel_offset(self) -> int:
        return self.image_offset

    @property
    def total_len(self) -> int:
        return self.stream_len


def frame_layout(width: int, readout: Readout, bits: int, live: bool = False) -> FrameLayout:
    if width <= 0 or readout.image_rows <= 0:
        raise ProtocolError(f"frame size {width}x{readout.image_rows} is empty")
    row_bytes = width * _bpp(bits)
    if live:
        return FrameLayout(width, readout.image_rows, bits, readout.hidden * row_bytes,
                           live_frame_length(width, readout.streamed_rows, bits), live=True)
    return FrameLayout(width, readout.image_rows, bits, len(FRAME_MARKER) + readout.hidden * row_bytes,
                       single_frame_length(width, readout.streamed_rows, bits))


def head_sequence(raw: bytes | memoryview) -> int | None:
    """The frame number after the marker at the start of a single frame, or None when the marker is not there."""
    if len(raw) < len(FRAME_MARKER) + HEAD_SEQUENCE_LEN or bytes(raw[: len(FRAME_MARKER)]) != FRAME_MARKER:
        return None
    return int.from_bytes(bytes(raw[len(FRAME_MARKER) : len(FRAME_MARKER) + HEAD_SEQUENCE_LEN]), "big")


def live_sequence(raw: bytes | memoryview) -> int:
    """The frame number of a live frame (ASSUMED: its first 4 bytes, see above)."""
    return int.from_bytes(bytes(raw[:HEAD_SEQUENCE_LEN]), "big")


def live_frame_ends(raw: bytes | memoryview, length: int) -> bool:
    """True when a live frame of ``length`` bytes ends with the marker (the SDK's test of a frame's end)."""
    return len(raw) >= length and bytes(raw[length - len(FRAME_MARKER) : length]) == FRAME_MARKER


def bulk_timeout_ms(nbytes: int, bytes_per_second: float, exposure_s: float = 0.0) -> int:
    """A bulk-read timeout that grows with the exposure and the transfer size, with room for a slow host."""
    return int(1000 * (exposure_s + 3.0 * nbytes / bytes_per_second) + 2000)
