"""Queued transfers on the emulated camera, timed as an endpoint times them: bytes move once a transfer is queued
and the link is free, however late the host comes for them; the emulator's own serving time is not the host's; a
cancel takes what the link had for the queued transfers. And through the camera layer at the geometry without
link headroom: a reader that wakes 6 ms late every frame costs the link nothing."""

from __future__ import annotations

import time

import pytest
import usb.core

from indi_qhy_py.emulator import stream as stream_module
from indi_qhy_py.emulator.queued_transfers import EmulatedBulkQueue
from indi_qhy_py.emulator.stream import LinkClock
from indi_qhy_py.models import QHY600M, Rect
from indi_qhy_py.usb import frame_pipeline
from tests.camera.conftest import Bench
from tests.camera.test_live import Sink
from tests.emulator.test_live_link import ManualClock

pytestmark = pytest.mark.emulated


def test_a_queued_transfer_moves_bytes_once_the_link_is_free() -> None:
    link = LinkClock(ManualClock())  # type: ignore[arg-type]
    assert link.queued_from(50.0) == 50.0  # nothing carried yet
    link.free_at = 100.0
    assert link.queued_from(99.9) == 100.0  # queued before the link finished: straight on, however late the reap
    assert link.queued_from(100.02) == pytest.approx(100.02)  # queued after the link went idle: idle that long


class ScriptedServe:
    """Stands in for the camera's bulk read: records what it was asked, reports its own time as the link does."""

    def __init__(self, link: LinkClock, own_s: float, waited: bool, available: int = 10) -> None:
        self.link, self.own_s, self.waited, self.available = link, own_s, waited, available
        self.calls: list[tuple[int, int, int, float]] = []

    def __call__(self, address: int, length: int, timeout_ms: int, queued_at: float) -> int:
        if self.available == 0:
            raise usb.core.USBTimeoutError("Operation timed out", -7, 110)
        self.available -= 1
        self.calls.append((address, length, timeout_ms, queued_at))
        self.link.own_s, self.link.host_waited = self.own_s, self.waited
        return length


def test_the_emulators_own_time_is_taken_off_the_hosts_next_submissions(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock()
    monkeypatch.setattr(time, "monotonic", clock.now)
    link = LinkClock(clock)  # type: ignore[arg-type]
    serve = ScriptedServe(link, own_s=0.030, waited=False)
    queue = EmulatedBulkQueue(serve, link)
    queue.submit(0x1000, 64)
    assert queue.reap(100) == 64
    clock.t += 0.031  # the emulator rendered a frame for 30 ms inside that reap; the host queues 1 ms later
    queue.submit(0x2000, 64)
    queue.reap(100)
    assert serve.calls[-1][3] == pytest.approx(clock.t - 0.030)  # as if it had come 1 ms after its bytes
    clock.t += 0.001
    queue.submit(0x3000, 64)
    queue.reap(100)
    assert serve.calls[-1][3] == pytest.approx(clock.t - 0.060)  # the emulator's time since the host last waited
    serve.waited = True  # the host waited for those bytes: it is on the link's time again
    queue.submit(0x4000, 64)
    queue.reap(100)
    queue.submit(0x5000, 64)
    assert queue._queued[-1][2] == clock.t


def test_a_cancel_takes_what_the_link_had_for_the_queued_transfers() -> None:
    link = LinkClock(ManualClock())  # type: ignore[arg-type]
    serve = ScriptedServe(link, own_s=0.0, waited=True, available=2)
    queue = EmulatedBulkQueue(serve, link)
    for address in (0x1000, 0x2000, 0x3000, 0x4000):
        queue.submit(address, 64)
    queue.cancel_all()
    assert [c[0] for c in serve.calls] == [0x1000, 0x2000] and queue.pending == 0  # the third found nothing


def test_a_reader_late_every_frame_costs_no_link_time_where_the_link_has_no_headroom(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """QHY600 9600x1080 16-bit, the table's fastest stream, is the emulated link's top rate: every ms the link
    idles there is a frame's worth of DDR filling for good. A reader 6 ms late before every frame (3x the old
    synchronous reader's grace) keeps the DDR's backlog where it was, because its transfers stay queued."""
    bench = Bench(QHY600M, rate_limit=True)
    bench.clock.speed = 1.0
    next_frame = frame_pipeline.FramePipeline.next_frame

    def late(self: frame_pipeline.FramePipeline, timeout_ms: int, cancel: object = None) -> object:
        time.sleep(0.006)
        return next_frame(self, timeout_ms, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(frame_pipeline.FramePipeline, "next_frame", late)
    charged: list[float] = []
    queued_from = stream_module.LinkClock.queued_from

    def watch(self: LinkClock, submitted: float) -> float:
        if self.free_at is not None and submitted > self.free_at:
            charged.append(submitted - self.free_at)
        return queued_from(self, submitted)

    monkeypatch.setattr(stream_module.LinkClock, "queued_from", watch)
    try:
        bench.camera.configure(usb_traffic=0, bits=16)
        sink = Sink(keep_pixels=False)
        width, _ = bench.camera.image_size()
        stream = bench.camera.live.start(0.001, sink.on_frame, sink.on_end, roi=Rect(0, 0, width, 1080))
        sink.wait_for(5)
        charged.clear()  # the stream's start: the link was idle before it
        began = len(sink.frames)
        time.sleep(3.0)
        frames = len(sink.frames) - began
        backlog = bench.device.live_backlog
        bench.camera.live.stop()
        assert stream.stats.lost == 0 and bench.device.live_frames_lost == 0
        assert sum(charged) < 0.010, f"the link idled {sum(charged) * 1e3:.1f} ms for the host over {frames} frames"
        assert backlog <= 4, f"{backlog} frames waiting in the DDR"
    finally:
        bench.close()
