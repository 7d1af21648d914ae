"""The emulated camera's USB link in live mode: as fast as the fastest stream of the model's published table, so
the camera makes frames no faster than the link carries them anywhere, and a host that pauses catches up."""

from __future__ import annotations

import itertools
import time

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera
from indi_qhy_py.models import QHY268M, QHY600M, CameraModel, Rect
from tests.camera.conftest import Bench
from tests.camera.test_live import Sink

pytestmark = pytest.mark.emulated


def wire_rate(model: CameraModel, rows: int, bits: int, usb_traffic: int = 0) -> float:
    """Bytes per second a live stream of ``rows`` table rows puts on the wire at the published frame rate."""
    streamed = protocol.live_frame_length(model.readout_width, rows + protocol.ROW_MARGIN, bits)
    return streamed / model.frame_time_s(rows, bits, usb_traffic)


@pytest.mark.parametrize(("model", "fastest_rows", "fastest_bits", "mb_s"),
                         [(QHY600M, 1080, 16, 481.2), (QHY268M, 4210, 16, 319.8)], ids=lambda v: str(v))
def test_the_live_link_carries_the_fastest_published_stream(model: CameraModel, fastest_rows: int,
                                                            fastest_bits: int, mb_s: float) -> None:
    builder = EmulatedCamera(model).frames
    link = builder.live_link_rate(0)
    assert link == pytest.approx(wire_rate(model, fastest_rows, fastest_bits))
    assert link / 1e6 == pytest.approx(mb_s, abs=0.1)
    rates = [wire_rate(model, p.rows, bits) for p in model.frame_rates for bits in (8, 16)]
    assert max(rates) == pytest.approx(link) and sorted(rates)[-2] < link  # one geometry has no headroom
    slowed = builder.live_link_rate(60)
    assert link / slowed == pytest.approx(model.frame_time_s(480, 16, 60) / model.frame_time_s(480, 16))


@pytest.mark.parametrize("model", [QHY600M, QHY268M], ids=lambda m: m.name)
def test_a_host_that_pauses_catches_up_and_loses_nothing(model: CameraModel) -> None:
    bench = Bench(model, rate_limit=True)
    bench.clock.speed = 1.0
    try:
        sink = Sink(delay_first_s=0.6)  # the consumer stalls once: the reader's buffers fill, the DDR holds the rest
        width, _ = bench.camera.image_size()
        stream = bench.camera.live.start(0.001, sink.on_frame, sink.on_end, roi=Rect(0, 200, width, 64))
        sink.wait_for(1)
        peak = bench.device.live_backlog
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            peak = max(peak, bench.device.live_backlog)
            if peak > 10 and bench.device.live_backlog <= 2:
                break
            time.sleep(0.02)
        caught_up = bench.device.live_backlog
        bench.camera.live.stop()
        numbers = [f.sequence for f in sink.frames]
        assert peak > 10, f"the stall left only {peak} frames in the DDR"
        assert caught_up <= 2, f"{caught_up} frames still waiting 8 s after a 0.6 s stall (peak {peak})"
        assert stream.stats.lost == 0 and bench.device.live_frames_lost == 0
        assert all(b == a + 1 for a, b in itertools.pairwise(numbers))
    finally:
        bench.close()
