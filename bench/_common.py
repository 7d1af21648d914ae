"""Helpers shared by the benchmarks: capture one emulated frame through the real link, as QHY's SDK reads it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera, EmulatorBackend, StarField
from indi_qhy_py.models import CameraModel
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import Transport


def full_frame_readout(model: CameraModel) -> protocol.Readout:
    family, height = model.family.value, model.readout_height
    return protocol.readout_for(family, *protocol.rows_for(family, 0, height, height), height)


def capture_raw(model: CameraModel, bits: int = 16) -> tuple[np.ndarray, int]:
    """One full frame's raw bytes from an emulated camera (rate limit off), read by the real link."""
    camera = EmulatedCamera(model, rate_limit=False)
    camera.scene = StarField()
    link = CameraLink.open(Transport.find([model.runtime_pid], EmulatorBackend([camera]))[0])
    readout = full_frame_readout(model)
    link.command(protocol.encode_bits(bits))
    link.command(protocol.encode_rows(*protocol.rows_for(model.family.value, 0, model.readout_height,
                                                         model.readout_height)))
    link.start_exposure()
    total = protocol.single_frame_length(model.readout_width, readout.streamed_rows, bits)
    while link.ddr_bytes() < total:
        time.sleep(0.001)
    raw = np.empty(total, dtype=np.uint8)
    received = link.read_frame(raw, total, 10_000)
    link.frame_read_done()
    link.close()
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
