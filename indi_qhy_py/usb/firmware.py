"""FX3 firmware: parse QHY's image file and RAM-boot a camera that is still in its boot-loader stage.

The image format and the boot protocol are Cypress's (PUBLISHED, the same as ``fxload -t fx3``): the file starts
with ``CY``, a control byte and the type byte 0xB0; then sections of (length in 32-bit words, load address, data),
all little-endian; a section of length 0 carries the entry address; a 32-bit checksum (sum of all data words)
follows. Upload uses vendor request 0xA0 with the address split over wValue/wIndex, in chunks of at most
4096 bytes, each read back and compared; a zero-length 0xA0 to the entry address starts the firmware, after which
the device re-enumerates under its runtime product ID.

The images are QHY's and are not shipped: callers pass a path or a directory holding e.g. ``QHY600.img``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.core

from .. import protocol
from ..errors import FirmwareError, UsbError
from ..models import ALL_MODELS, CameraModel
from .link import CameraLink
from .transport import Transport

IMAGE_TYPE_FX3 = 0xB0
MAX_IMAGE_BYTES = 512 * 1024  # the FX3 has 512 KiB of RAM; anything larger is not a RAM image
FX3_RAM_RANGES = ((0x40000000, 0x40080000), (0x00000000, 0x00008000), (0x10000000, 0x10008000))


@dataclass(frozen=True)
class Section:
    address: int
    data: bytes


@dataclass(frozen=True)
class FirmwareImage:
    sections: tuple[Section, ...]
    entry: int
    checksum: int

    @property
    def size(self) -> int:
        return sum(len(s.data) for s in self.sections)


def _in_ram(address: int, length: int) -> bool:
    return any(lo <= address and address + length <= hi for lo, hi in FX3_RAM_RANGES)


def parse_image(raw: bytes, name: str = "firmware image") -> FirmwareImage:
    """Validate and parse an FX3 RAM image; a truncated or corrupt image raises FirmwareError, naming why."""
    if len(raw) < 4 or raw[:2] != b"CY":
        raise FirmwareError(f"{name} is not an FX3 image: it does not start with 'CY'")
    if raw[3] != IMAGE_TYPE_FX3:
        raise FirmwareError(f"{name} has image type 0x{raw[3]:02X}; only 0xB0 (RAM boot) images can be loaded")
    if len(raw) > MAX_IMAGE_BYTES + 64:
        raise FirmwareError(f"{name} is {len(raw)} bytes, larger than the FX3's RAM")
    pos = 4
    sections: list[Section] = []
    computed = 0
    while True:
        if pos + 8 > len(raw):
            raise FirmwareError(f"{name} is truncated: section header expected at byte {pos} of {len(raw)}")
        words, address = struct.unpack_from("<II", raw, pos)
        pos += 8
        if words == 0:
            entry = address
            break
        size = words * 4
        if pos + size > len(raw):
            raise FirmwareError(f"{name} is truncated: section at 0x{address:08X} needs {size} bytes, "
                                f"{len(raw) - pos} remain")
        if not _in_ram(address, size):
            raise FirmwareError(f"{name}: section 0x{address:08X}+{size} lies outside the FX3's RAM")
        data = raw[pos : pos + size]
        computed = (computed + sum(struct.unpack(f"<{words}I", data))) & 0xFFFFFFFF
        sections.append(Section(address, bytes(data)))
        pos += size
    if pos + 4 > len(raw):
        raise FirmwareError(f"{name} is truncated: the checksum is missing")
    (stored,) = struct.unpack_from("<I", raw, pos)
    if stored != computed:
        raise FirmwareError(f"{name} is corrupt: checksum 0x{stored:08X} stored, 0x{computed:08X} computed")
    if not sections:
        raise FirmwareError(f"{name} has no sections")
    if not _in_ram(entry, 4):
        raise FirmwareError(f"{name}: entry point 0x{entry:08X} lies outside the FX3's RAM")
    return FirmwareImage(tuple(sections), entry, stored)


def build_image(sections: list[Section], entry: int) -> bytes:
    """Assemble an FX3 image (used by tests and by the emulator's docs; the inverse of ``parse_image``)."""
    out = bytearray(b"CY\x1c" + bytes([IMAGE_TYPE_FX3]))
    checksum = 0
    for section in sections:
        if len(section.data) % 4:
            raise FirmwareError("FX3 sections are whole 32-bit words")
        words = len(section.data) // 4
        out += struct.pack("<II", words, section.address) + section.data
        checksum = (checksum + sum(struct.unpack(f"<{words}I", section.data))) & 0xFFFFFFFF
    out += struct.pack("<II", 0, entry) + struct.pack("<I", checksum)
    return bytes(out)


def firmware_path(model: CameraModel, directory: Path) -> Path:
    """Where a model's image is expected inside a firmware directory."""
    return directory / model.firmware_file


def model_for_loader(pid: int) -> CameraModel:
    for model in ALL_MODELS:
        if model.loader_pid == pid:
            return model
    raise FirmwareError(f"product ID 0x{pid:04X} is not a QHY268/QHY600 boot loader")


def upload(link: CameraLink, image: FirmwareImage,
           progress: Callable[[int, int], None] | None = None) -> None:
    """Write every section in <= 4096-byte chunks, verify each by reading it back, then jump to the entry."""
    done = 0
    for section in image.sections:
        for start in range(0, len(section.data), protocol.FIRMWARE_CHUNK):
            chunk = section.data[start : start + protocol.FIRMWARE_CHUNK]
            address = section.address + start
            try:
                written = link.write_ram(address, chunk)
                echoed = link.read_ram(address, len(chunk))
            except UsbError as err:
                raise FirmwareError(f"upload failed at 0x{address:08X}: {err}") from err
            if written != len(chunk) or echoed != chunk:
                raise FirmwareError(f"read-back mismatch at 0x{address:08X}: the boot loader did not store the chunk")
            done += len(chunk)
            if progress is not None:
                progress(done, image.size)
    try:
        link.jump(image.entry)
    except UsbError as err:
        raise FirmwareError(f"jump to entry 0x{image.entry:08X} failed: {err}") from err


def load_firmware(device: usb.core.Device, directory: Path, backend: Any = None,
                  wait_s: float = 10.0, sleep: Callable[[float], None] = time.sleep) -> usb.core.Device:
    """Boot one loader-stage camera with the image from ``directory``; return the re-enumerated runtime device.

    The image is read and validated before anything is sent. The returned device is the runtime-PID device
    that appeared after the jump (the one whose serial is new, when several cameras are attached).
    """
    model = model_for_loader(device.idProduct)
    path = firmware_path(model, directory)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise FirmwareError(f"{model.family.value} needs firmware {path}: {err.strerror}") from err
    image = parse_image(raw, str(path))
    before = {(d.bus, d.address) for d in Transport.find([model.runtime_pid], backend)}
    with CameraLink.open(device) as link:
        upload(link, image)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for candidate in Transport.find([model.runtime_pid], backend):
            if (candidate.bus, candidate.address) not in before:
                return candidate
        sleep(0.05)
    raise FirmwareError(f"after the firmware upload no {model.family.value} appeared with product ID "
                        f"0x{model.runtime_pid:04X} within {wait_s:.0f} s")
