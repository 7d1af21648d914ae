"""The emulated camera's USB link in live mode: as fast as the fastest stream of the model's published table, so
the camera makes frames no faster than the link carries them anywhere, and a host that pauses catches up; idle
link time is charged for the host's delays only, never for the emulator's own."""

from __future__ import annotations

import itertools
import time

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera
from indi_qhy_py.emulator import stream as stream_module
from indi_qhy_py.emulator.stream import LinkClock
from indi_qhy_py.models import QHY268M, QHY600M, CameraModel, Rect
from tests.camera.conftest import Bench
from tests.camera.test_live import Sink

pytestmark = pytest.mark.emulated


def wire_rate(model: CameraModel, rows: int, bits: int) -> float:
    """Bytes per second a live stream of ``rows`` table rows puts on the wire at the published frame rate."""
    streamed = EmulatedCamera(model).frames.streamed_rows_of(rows)
    return protocol.live_frame_length(model.readout_width, streamed, bits) / model.frame_time_s(rows, bits)


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
    assert builder.streamed_rows_of(480) == 480 + (34 if model is QHY600M else 68)  # what the SDK streams (OBSERVED)
    slowed = builder.live_link_rate(60)
    assert link / slowed == pytest.approx(model.frame_time_s(480, 16, 60) / model.frame_time_s(480, 16))


@pytest.mark.parametrize(("model", "rows", "fps"), [(QHY600M, 480, 47.0), (QHY600M, 100, 160.0),
                                                   (QHY268M, 480, 34.0), (QHY268M, 1080, 19.5)], ids=str)
def test_a_table_roi_streams_at_the_tables_rate(model: CameraModel, rows: int, fps: float) -> None:
    """ASSUMED: the table is what QHY's SDK gets for a ROI, the rows it streams around the ROI included."""
    device = EmulatedCamera(model)
    r = device.registers
    r.rows, r.first_row = protocol.rows_for(model.family.value, model.effective.y + 100, rows, model.readout_height,
                                            live=True)
    r.bits, r.usb_traffic, r.exposure_us, r.single = 16, 0, 1, False
    assert 1 / device.live_period() == pytest.approx(fps)


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


class ManualClock:
    """Emulated time that moves only when told (speed 1: emulated seconds are real seconds)."""

    speed = 1.0

    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def real_seconds(self, emulated: float) -> float:
        return emulated


@pytest.fixture
def manual(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    clock = ManualClock()
    monkeypatch.setattr(stream_module.time, "monotonic", clock.now)  # real time is emulated time here
    return clock


def test_a_host_that_asks_again_at_once_keeps_the_link_busy_even_when_the_emulator_was_late(
        manual: ManualClock) -> None:
    link = LinkClock(manual)  # type: ignore[arg-type]
    link.free_at = 100.0
    manual.t = 100.030  # the emulator rendered a frame meanwhile and hands the bytes over 30 ms after they were due
    link.handed_over(slept=False)
    manual.t += 0.0001
    assert link.host_from(manual.t, manual.t) == 100.0  # the emulator's delay is not the host's


def test_a_host_away_longer_than_the_queue_leaves_the_link_idle_that_long(manual: ManualClock) -> None:
    link = LinkClock(manual)  # type: ignore[arg-type]
    link.free_at = 100.0
    manual.t = 100.004  # the emulator slept until the bytes were due; the host's thread woke 4 ms late
    link.handed_over(slept=True)
    manual.t += 0.0001
    assert link.host_from(manual.t, manual.t) == pytest.approx(100.0041)
    link.free_at, manual.t = 200.0, 200.0  # on time, then the host takes 10 ms to ask again
    link.handed_over(slept=True)
    manual.t += 0.010
    assert link.host_from(manual.t, manual.t) == pytest.approx(200.010)
    link.free_at, manual.t = 300.0, 300.001  # 1 ms late and straight back: within the queue, no idle time
    link.handed_over(slept=True)
    assert link.host_from(manual.t, manual.t) == 300.0
