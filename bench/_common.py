"""Helpers shared by the benchmarks: capture one emulated frame through the real transport."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera, EmulatorBackend, StarField
from indi_qhy_py.models import CameraModel
from indi_qhy_py.usb.transport import Transport


def capture_raw(model: CameraModel, bits: int = 16) -> tuple[np.ndarray, int]:
    """One frame's raw bytes from an emulated camera (rate limit off), read by the real transport."""
    camera = EmulatedCamera(model, rate_limit=False)
    camera.scene = StarField()
    transport = Transport(Transport.find([model.runtime_pid], EmulatorBackend([camera]))[0])
    transport.open()
    transport.control_out(protocol.REQ_COMMAND, protocol.encode_command(protocol.Command.TRANSFER, bits=bits, ddr=1))
    transport.control_out(protocol.REQ_COMMAND, protocol.encode_command(protocol.Command.START))
    layout = protocol.frame_layout(model.readout_width, model.readout_height, bits, model.variant.frame_header)
    raw = np.empty(layout.total_len, dtype=np.uint8)
    received = transport.read_frame(raw, layout.total_len, 10_000)
    transport.close()
    return raw, received


def best_of(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median wall time of ``fn`` in seconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
