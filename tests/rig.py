"""Test helpers: emulated cameras on an emulator backend, driven through the real transport and protocol."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from indi_qhy_py import decoder, protocol
from indi_qhy_py.discovery import read_status
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatorBackend
from indi_qhy_py.frame import DecodedFrame, DecodeRequest
from indi_qhy_py.models import CameraModel
from indi_qhy_py.protocol import Command
from indi_qhy_py.transport import Transport


@dataclass
class Rig:
    clock: EmulatedClock
    cameras: list[EmulatedCamera]
    backend: EmulatorBackend
    transports: list[Transport] = field(default_factory=list)

    def open(self, index: int = 0) -> Transport:
        cam = self.cameras[index]
        devices = [d for d in Transport.find([cam.product_id], self.backend)
                   if d.address == cam.address]
        transport = Transport(devices[0])
        transport.open()
        self.transports.append(transport)
        return transport

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


def make_rig(*models: CameraModel, speed: float = 1.0, rate_limit: bool = False, **kwargs: object) -> Rig:
    clock = EmulatedClock(speed)
    cameras = [EmulatedCamera(m, clock=clock, seed=i + 1, rate_limit=rate_limit, **kwargs)  # type: ignore[arg-type]
               for i, m in enumerate(models)]
    return Rig(clock, cameras, EmulatorBackend(cameras))


def send(transport: Transport, command: Command, **fields: int) -> None:
    transport.control_out(protocol.REQ_COMMAND, protocol.encode_command(command, **fields))


status = read_status  # the package's own status read, under the name the tests use


def expose(transport: Transport, model: CameraModel, exposure_s: float = 0.001, bits: int = 16, roi_y: int = 0,
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


def capture(transport: Transport, model: CameraModel, exposure_s: float = 0.001, bits: int = 16, roi_y: int = 0,
            rows: int | None = None, full: bool = False, **decode_args: object) -> DecodedFrame:
    raw, received = expose(transport, model, exposure_s, bits, roi_y, rows)
    request = DecodeRequest.for_model(model, bits=bits, roi_y=roi_y, rows=rows, full=full,
                                      **decode_args)  # type: ignore[arg-type]
    return decoder.decode(raw, received, request)
