"""FX3 firmware: images are validated before anything is sent, and a boot-loader camera comes up running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.errors import FirmwareError
from indi_qhy_py.models import QHY268M, QHY600M
from indi_qhy_py.usb import firmware
from indi_qhy_py.usb.firmware import Section
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import Transport
from tests.conftest import make_rig

pytestmark = pytest.mark.emulated


def image_bytes(seed: int = 1) -> tuple[bytes, list[Section]]:
    rng = __import__("random").Random(seed)
    sections = [Section(0x40000000, bytes(rng.getrandbits(8) for _ in range(10_000))),
                Section(0x40003000, os.urandom(4)),
                Section(0x40010000, bytes(rng.getrandbits(8) for _ in range(5_000)))]
    return firmware.build_image(sections, entry=0x40000100), sections


def test_parse_round_trip() -> None:
    raw, sections = image_bytes()
    image = firmware.parse_image(raw)
    assert list(image.sections) == sections and image.entry == 0x40000100


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda r: b"XY" + r[2:], "does not start with 'CY'"),
    (lambda r: r[:3] + b"\xb1" + r[4:], "image type 0xB1"),
    (lambda r: r[:-4], "checksum is missing"),
    (lambda r: r[:5000], "truncated"),
    (lambda r: r[:-1] + bytes([r[-1] ^ 1]), "corrupt: checksum"),
    (lambda r: r[:2], "does not start"),
])
def test_bad_images_are_refused(mangle, message: str) -> None:
    raw, _ = image_bytes()
    with pytest.raises(FirmwareError, match=message):
        firmware.parse_image(mangle(raw))


def test_sections_outside_ram_are_refused() -> None:
    raw = firmware.build_image([Section(0x70000000, bytes(8))], entry=0x40000000)
    with pytest.raises(FirmwareError, match="outside the FX3's RAM"):
        firmware.parse_image(raw)


def test_upload_end_to_end(tmp_path: Path) -> None:
    rig = make_rig(QHY600M, boot_loader=True, speed=4.0)
    cam = rig.cameras[0]
    raw, sections = image_bytes()
    (tmp_path / "QHY600.img").write_bytes(raw)
    sizes: list[int] = []
    original = cam.control_out

    def spy(generation: int, request: int, value: int, index: int, data: bytes) -> int:
        sizes.append(len(data))
        return original(generation, request, value, index, data)

    cam.control_out = spy  # type: ignore[method-assign]
    loaders = Transport.find([QHY600M.loader_pid], rig.backend)
    assert len(loaders) == 1 and not Transport.find([QHY600M.runtime_pid], rig.backend)
    device = firmware.load_firmware(loaders[0], tmp_path, rig.backend)
    assert device.idProduct == QHY600M.runtime_pid
    assert max(sizes[:-1]) <= protocol.FIRMWARE_CHUNK and sizes[-1] == 0  # the jump is zero-length
    assert sum(sizes) == sum(len(s.data) for s in sections)
    for section in sections:  # the boot loader's RAM holds every byte
        assert cam.ram.read(section.address, len(section.data)) == section.data
    with CameraLink.open(device) as link:
        assert link.serial() == cam.serial


def test_bad_image_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    rig = make_rig(QHY268M, boot_loader=True)
    raw, _ = image_bytes()
    (tmp_path / "QHY268.img").write_bytes(raw[: len(raw) // 2])
    loader = Transport.find([QHY268M.loader_pid], rig.backend)[0]
    with pytest.raises(FirmwareError, match="truncated"):
        firmware.load_firmware(loader, tmp_path, rig.backend)
    assert not rig.cameras[0].ram and rig.cameras[0].in_loader


def test_missing_image_names_the_file(tmp_path: Path) -> None:
    rig = make_rig(QHY268M, boot_loader=True)
    loader = Transport.find([QHY268M.loader_pid], rig.backend)[0]
    with pytest.raises(FirmwareError, match=r"needs firmware .*QHY268\.img"):
        firmware.load_firmware(loader, tmp_path, rig.backend)


def test_readback_mismatch_is_detected(tmp_path: Path) -> None:
    rig = make_rig(QHY600M, boot_loader=True)
    cam = rig.cameras[0]
    raw, _ = image_bytes()
    (tmp_path / "QHY600.img").write_bytes(raw)
    cam.ram.read = lambda address, length: bytes(length)  # type: ignore[method-assign]  # a flaky loader
    loader = Transport.find([QHY600M.loader_pid], rig.backend)[0]
    with pytest.raises(FirmwareError, match="read-back mismatch"):
        firmware.load_firmware(loader, tmp_path, rig.backend)
    assert cam.in_loader
