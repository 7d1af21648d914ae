"""What QHY's SDK sends to set a camera up, and for each later change of a setting, in its order (OBSERVED:
tests/sdk_oracle, init.txt and the per-setting traces; checked field by field by bench/sdk_conformance.py).

Stateless: the camera layer keeps the settings and the link; these functions only say what goes out. Live mode
(A0 00) is the same set-up with the other mode byte, as InitQHYCCD after SetQHYCCDStreamMode(1).
"""

from __future__ import annotations

from .. import protocol
from ..models import CameraModel, Family
from ..usb.link import CameraLink
from . import settings as geometry
from .settings import CameraSettings


def gain_block(model: CameraModel, s: CameraSettings) -> bytes:
    family = model.family.value
    return protocol.encode_gain(protocol.gain_registers(family, s.read_mode, s.gain), family)


def initialise(link: CameraLink, model: CameraModel, s: CameraSettings, single: bool = True) -> bytes:
    """InitQHYCCD's set, then the bit depth and the rows: after the A0 the camera is at its defaults, so every
    setting goes again. Returns what 0xD5/0x07 answered (the pressure sensor block; its meaning is unknown)."""
    pressure = link.pressure_block()  # the chamber sensors are read first, as InitQHYCCD does
    link.command(protocol.encode_mode(single))
    if model.family is Family.QHY600:
        link.fpga_write(protocol.FPGA_INIT_A, protocol.FPGA_INIT_A_VALUE)
    link.command(protocol.encode_exposure(protocol.INIT_EXPOSURE_US))  # each exposure then sends its own
    link.command(gain_block(model, s))
    link.command(protocol.encode_offset(s.offset))
    link.command(protocol.encode_usb_traffic(s.usb_traffic))
    link.command(protocol.encode_ddr())
    link.fpga_write(protocol.FPGA_INIT_B, protocol.FPGA_INIT_B_VALUE)
    link.command(protocol.encode_bits(s.bits))
    link.command(protocol.encode_rows(*geometry.rows_request(model, s, live=not single)))
    return pressure


def send_changes(link: CameraLink, model: CameraModel, old: CameraSettings, new: CameraSettings) -> None:
    """Each changed setting as its own block (a read-mode change is the caller's: a re-initialisation, as
    SetQHYCCDReadMode then InitQHYCCD)."""
    if new.gain != old.gain:
        link.command(gain_block(model, new))
    if new.offset != old.offset:
        link.command(protocol.encode_offset(new.offset))
    if new.usb_traffic != old.usb_traffic:
        link.command(protocol.encode_usb_traffic(new.usb_traffic))
    if new.bits != old.bits:
        link.command(protocol.encode_bits(new.bits))
    if geometry.rows_request(model, new) != geometry.rows_request(model, old):
        link.command(protocol.encode_rows(*geometry.rows_request(model, new)))
