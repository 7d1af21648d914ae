"""Shared test set-up and the Rig harness.

Contract of the Rig (``make_rig(*models)``): emulated cameras of those models on one emulator backend and one
emulated clock, reached through the real ``CameraLink`` (pyusb transport + protocol) exactly as hardware would
be. ``rig.open(i)`` opens camera ``i``; ``configure`` sends settings as QHY's SDK does; ``expose`` takes one raw
frame the SDK's way (rows, bits, A3, the start requests, the DDR count polled, the frame read, the buffer
released); ``capture`` decodes it. Nothing inside the package is bypassed: only USB itself is emulated.

Options: ``--hardware`` adds the first attached real camera to the camera contract suite. Tests that need the
emulator (to look inside the camera or inject faults) carry the ``emulated`` marker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.decode import decoder
from indi_qhy_py.decode.frame import DecodedFrame, DecodeRequest
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatorBackend
from indi_qhy_py.models import CameraModel
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import Transport


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hardware", action="store_true", default=False,
                     help="also run the camera contract suite against the first attached real camera")


@dataclass
class Rig:
    clock: EmulatedClock
    cameras: list[EmulatedCamera]
    backend: EmulatorBackend
    links: list[CameraLink] = field(default_factory=list)

    def open(self, index: int = 0) -> CameraLink:
        cam = self.cameras[index]
        devices = [d for d in Transport.find([cam.product_id], self.backend) if d.address == cam.address]
        link = CameraLink.open(devices[0])
        self.links.append(link)
        return link

    def close(self) -> None:
        for link in self.links:
            link.close()


def make_rig(*models: CameraModel, speed: float = 1.0, rate_limit: bool = False, **kwargs: object) -> Rig:
    clock = EmulatedClock(speed)
    cameras = [EmulatedCamera(m, clock=clock, seed=i + 1, rate_limit=rate_limit, **kwargs)  # type: ignore[arg-type]
               for i, m in enumerate(models)]
    return Rig(clock, cameras, EmulatorBackend(cameras))


def configure(link: CameraLink, model: CameraModel, *, read_mode: int = 0, gain: int = 0, offset: int = 30,
              usb_traffic: int = 30, single: bool = True) -> None:
    """What InitQHYCCD sends (A0, A4, A8, A5, A9), for these settings."""
    family = model.family.value
    link.command(protocol.encode_mode(single))
    link.command(protocol.encode_gain(protocol.gain_registers(family, read_mode, gain), family))
    link.command(protocol.encode_offset(offset))
    link.command(protocol.encode_usb_traffic(usb_traffic))
    link.command(protocol.encode_ddr())


@dataclass
class Exposed:
    raw: np.ndarray
    received: int
    readout: protocol.Readout
    y: int
    height: int


def expose(link: CameraLink, model: CameraModel, exposure_s: float = 0.001, bits: int = 16, y: int = 0,
           height: int | None = None, timeout_ms: int = 5000) -> Exposed:
    """Take one frame of image rows ``y .. y + height`` as the SDK does; return what arrived."""
    family, full = model.family.value, model.readout_height
    height = full - y if height is None else height
    rows, first = protocol.rows_for(family, y, height, full)
    readout = protocol.readout_for(family, rows, first, full)
    link.command(protocol.encode_bits(bits))
    link.command(protocol.encode_rows(rows, first))
    link.command(protocol.encode_exposure(max(1, round(exposure_s * 1e6))))
    link.start_exposure()
    total = protocol.single_frame_length(model.readout_width, readout.streamed_rows, bits)
    deadline, last, stable = time.monotonic() + 30, -1, 0
    while (waiting := link.ddr_bytes()) < total:
        stable = stable + 1 if waiting == last and waiting > 0 else 0
        if stable >= 5:
            break
        assert time.monotonic() < deadline, "the frame never arrived"
        last = waiting
        time.sleep(0.002)
    raw = np.zeros(total, dtype=np.uint8)
    received = link.read_frame(raw, min(waiting, total), timeout_ms)
    link.frame_read_done()
    return Exposed(raw, received, readout, y, height)


def request_for(model: CameraModel, exposed: Exposed, bits: int = 16, **decode_args: object) -> DecodeRequest:
    return DecodeRequest.for_model(model, exposed.readout, y=exposed.y, height=exposed.height, bits=bits,
                                   **decode_args)  # type: ignore[arg-type]


def capture(link: CameraLink, model: CameraModel, exposure_s: float = 0.001, bits: int = 16, y: int = 0,
            height: int | None = None, **decode_args: object) -> DecodedFrame:
    exposed = expose(link, model, exposure_s, bits, y, height)
    return decoder.decode(exposed.raw, exposed.received, request_for(model, exposed, bits, **decode_args))
