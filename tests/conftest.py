"""Shared test set-up and the Rig harness.

Contract of the Rig (``make_rig(*models)``): emulated cameras of those models on one emulator backend and one
emulated clock, reached through the real ``CameraLink`` (pyusb transport + protocol) exactly as hardware would
be. ``rig.open(i)`` opens camera ``i``; ``send``/``status`` speak the protocol; ``expose`` takes one raw frame,
``capture`` decodes it. Nothing inside the package is bypassed: only USB itself is emulated.

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
from indi_qhy_py.protocol import Command
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


def _link(link: CameraLink | Transport) -> CameraLink:
    """Transport tests hold the bare transport; the protocol still goes through the one camera link."""
    return link if isinstance(link, CameraLink) else CameraLink(link)


def send(link: CameraLink | Transport, command: Command, **fields: int) -> None:
    _link(link).send(command, **fields)


def status(link: CameraLink | Transport) -> protocol.Status:
    return _link(link).status()


def expose(transport: CameraLink, model: CameraModel, exposure_s: float = 0.001, bits: int = 16, roi_y: int = 0,
           rows: int | None = None, timeout_ms: int = 5000) -> tuple[np.ndarray, int]:
    """Take one frame; return the raw buffer and how many bytes arrived."""
    rows = model.readout_height - roi_y if rows is None else rows
    send(transport, Command.TRANSFER, bits=bits, ddr=1)
    send(transport, Command.ROI, width=model.readout_width, x=0, height=rows, y=roi_y)
    send(transport, Command.EXPOSURE, microseconds=round(exposure_s * 1e6))
    send(transport, Command.START)
    deadline = time.monotonic() + 30
    while status(transport).state != protocol.CameraState.FRAME_READY:
        assert time.monotonic() < deadline, "frame never became ready"
        time.sleep(0.002)
    layout = protocol.frame_layout(model.readout_width, rows, bits, model.variant.frame_header)
    raw = np.zeros(layout.total_len, dtype=np.uint8)
    received = transport.read_frame(raw, layout.total_len, timeout_ms)
    return raw, received


def capture(transport: CameraLink, model: CameraModel, exposure_s: float = 0.001, bits: int = 16, roi_y: int = 0,
            rows: int | None = None, full: bool = False, **decode_args: object) -> DecodedFrame:
    raw, received = expose(transport, model, exposure_s, bits, roi_y, rows)
    request = DecodeRequest.for_model(model, bits=bits, roi_y=roi_y, rows=rows, full=full,
                                      **decode_args)  # type: ignore[arg-type]
    return decoder.decode(raw, received, request)
