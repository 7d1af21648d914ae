"""The camera layer's live mode against the emulated camera: frames in order with their numbers, losses counted
from the numbers, ROI/binning/bit depth, a stop within 200 ms that leaves the next single frame clean, settings
while streaming, and a camera that vanishes mid-stream."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

import numpy as np
import pytest

from indi_qhy_py.camera import CameraBusyError
from indi_qhy_py.camera.live import LiveEnd, LiveFrame
from indi_qhy_py.emulator import FlatField
from indi_qhy_py.models import QHY268M, QHY600M, Rect
from tests.camera.conftest import Bench

pytestmark = pytest.mark.emulated


class Sink:
    """What a stream's consumer sees: the frames, and how the stream ended."""

    def __init__(self, delay_first_s: float = 0.0, keep_pixels: bool = True) -> None:
        self.frames: list[LiveFrame] = []
        self.ended: list[LiveEnd] = []
        self.delay_first_s = delay_first_s
        self.keep_pixels = keep_pixels  # False: the numbers and times only, so a long fast stream holds no memory
        self.got = threading.Condition()

    def on_frame(self, frame: LiveFrame) -> None:
        if not self.frames and self.delay_first_s:
            time.sleep(self.delay_first_s)  # a consumer that stalls once: the camera's DDR must overflow
        if not self.keep_pixels:
            frame = dataclasses.replace(frame, pixels=frame.pixels[:1, :1].copy())
        with self.got:
            self.frames.append(frame)
            self.got.notify_all()

    def on_end(self, end: LiveEnd) -> None:
        self.ended.append(end)

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        with self.got:
            assert self.got.wait_for(lambda: len(self.frames) >= count, timeout), f"{len(self.frames)} frames"


@pytest.fixture(params=[QHY600M, QHY268M], ids=lambda m: m.name)
def cam(request: pytest.FixtureRequest):
    b = Bench(request.param, rate_limit=True)  # the camera's rated throughput, in real time
    b.clock.speed = 1.0
    yield b
    b.close()


def band(cam: Bench, rows: int = 64) -> Rect:
    width, _ = cam.camera.image_size()
    return Rect(0, 200, width, rows)


def test_frames_come_in_order_with_their_numbers_and_none_lost(cam: Bench) -> None:
    sink = Sink()
    stream = cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=band(cam))
    sink.wait_for(30)
    cam.camera.live.stop()
    numbers = [f.sequence for f in sink.frames]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert stream.stats.lost == 0 and stream.stats.damaged == 0 and cam.device.live_frames_lost == 0
    assert all(f.pixels.shape == (64, cam.camera.image_size()[0]) for f in sink.frames)
    stamps = [f.utc for f in sink.frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert sink.ended == [LiveEnd("stream stopped")]


def test_stop_within_200_ms_and_the_next_single_frame_is_clean(cam: Bench) -> None:
    sink = Sink()  # the stream looks at darkness
    cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=band(cam), bits=8)
    sink.wait_for(5)
    began = time.monotonic()
    cam.camera.live.stop(wait_s=1.0)
    stopped_ms = (time.monotonic() - began) * 1e3
    assert stopped_ms < 200, stopped_ms
    assert cam.device.registers.single  # back in single-frame mode
    dark = float(np.median(sink.frames[-1].pixels)) * 256
    cam.device.scene = FlatField(2e6)  # the single frame looks at a bright flat
    frame = cam.camera.start_exposure(0.01).result(10)
    assert frame.meta.good and frame.pixels.dtype == np.uint16  # the camera's own 16-bit setting, not the stream's
    assert frame.pixels.shape == (cam.camera.image_size()[1], cam.camera.image_size()[0])
    record = cam.device.last_frame
    assert record is not None and record.registers.single and frame.meta.sequence == record.sequence
    assert float(np.median(frame.pixels)) > dark + 2000  # this exposure's light, not a stale stream frame


def test_a_single_exposure_ends_the_stream_first(cam: Bench) -> None:
    sink = Sink()
    cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=band(cam))
    sink.wait_for(3)
    frame = cam.camera.start_exposure(0.01).result(10)
    assert frame.meta.good and cam.camera.live.stream is None
    assert sink.ended and sink.ended[0].reason == "stream stopped for a single exposure"


def test_roi_binning_and_bit_depth_apply_to_the_stream_only(cam: Bench) -> None:
    sink = Sink()
    roi = Rect(100, 300, 400, 200)
    cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=roi, binning=2, bits=8, average_binning=True)
    sink.wait_for(3)
    cam.camera.live.stop()
    assert {f.pixels.shape for f in sink.frames} == {(100, 200)} and sink.frames[0].pixels.dtype == np.uint8
    assert cam.camera.settings.roi is None and cam.camera.settings.binning == 1


def test_gain_changes_at_once_while_geometry_waits_for_the_stream_to_end(cam: Bench) -> None:
    sink = Sink()
    cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=band(cam))
    sink.wait_for(3)
    rows = (cam.device.registers.rows, cam.device.registers.first_row)
    cam.camera.configure(gain=57, roi=Rect(0, 0, 512, 512))
    assert cam.device.registers.gain.analog != 0 or cam.device.registers.gain.high_conversion
    assert (cam.device.registers.rows, cam.device.registers.first_row) == rows  # the stream goes on as it was
    count = len(sink.frames)
    sink.wait_for(count + 3)
    cam.camera.live.stop()
    frame = cam.camera.start_exposure(0.01).result(10)
    assert frame.pixels.shape == (512, 512) and cam.camera.settings.gain == 57


def test_a_stalled_consumer_makes_the_ddr_overflow_and_the_loss_is_counted(cam: Bench) -> None:
    cam.device.rate_limit = False
    sink = Sink(delay_first_s=1.5)
    stream = cam.camera.live.start(0.001, sink.on_frame, sink.on_end, roi=band(cam, 32))
    sink.wait_for(20, timeout=30)
    cam.camera.live.stop()
    lost_in_camera = cam.device._live.lost if cam.device._live else None
    numbers = [f.sequence for f in sink.frames]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(numbers))
    assert stream.stats.lost == gaps > 0
    assert lost_in_camera is None or lost_in_camera >= 0
    assert cam.camera.stats.frames_lost >= gaps


class StallingSink(Sink):
    """A consumer whose thread stops once for ``stall_s`` at frame ``at``: what a decoder's thread late on a busy
    machine does to the buffers the reader may queue into."""

    def __init__(self, at: int, stall_s: float) -> None:
        super().__init__(keep_pixels=False)
        self.at, self.stall_s = at, stall_s

    def on_frame(self, frame: LiveFrame) -> None:
        if len(self.frames) == self.at:
            time.sleep(self.stall_s)
        super().on_frame(frame)


def test_a_decoder_late_by_several_frames_costs_no_link_time_where_the_link_has_no_headroom() -> None:
    """At 9600x1080 16-bit the QHY600's link carries the frames as fast as the camera makes them (ASSUMED, as
    the table's fastest stream; at the default USB traffic both are slower, and still equal): a read buffer not
    free in time leaves the link idle, and every later frame arrives that much later. A decoder's thread stalled
    for 250 ms (four frame periods) must not do that (two spare buffers, as before, lost 67 ms of it)."""
    bench = Bench(QHY600M, rate_limit=True)
    bench.clock.speed = 1.0
    try:
        sink = StallingSink(at=10, stall_s=0.25)
        bench.camera.live.start(0.001, sink.on_frame, sink.on_end, roi=Rect(0, 200, 9576, 1080))
        sink.wait_for(45, timeout=30)
        period = bench.device.live_period()  # while it streams: 64 ms at the default USB traffic (30)
        bench.camera.live.stop()
    finally:
        bench.close()
    arrived = np.array([f.arrived for f in sink.frames[:45]])
    late = arrived - arrived[0] - period * np.arange(len(arrived))
    before, after = late[2:10].min(), late[30:45].min()  # the least late frames keep the link's own time
    assert after - before < 0.04, f"the link lost {1e3 * (after - before):.0f} ms to the stalled decoder"


@pytest.mark.parametrize("fault", ["short", "misalign"])
def test_a_damaged_frame_mid_stream_is_counted_and_the_stream_comes_back_in_step(cam: Bench, fault: str) -> None:
    sink = Sink()
    stream = cam.camera.live.start(0.001, sink.on_frame, sink.on_end, roi=band(cam, 32))
    sink.wait_for(3)
    cam.device.faults.inject(fault)
    deadline = time.monotonic() + 10
    while stream.stats.damaged == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    count = len(sink.frames)
    sink.wait_for(count + 5)
    cam.camera.live.stop()
    assert stream.stats.damaged >= 1 and cam.device.faults.applied[fault] == 1
    after = [f.sequence for f in sink.frames[count:]]
    assert all(b == a + 1 for a, b in itertools.pairwise(after))  # in step again: whole frames, in order


def test_an_unplug_mid_stream_ends_it_as_vanished_and_the_camera_streams_again_when_back(cam: Bench) -> None:
    sink = Sink()
    cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=band(cam))
    sink.wait_for(3)
    cam.device.unplug(down_s=2.0)
    deadline = time.monotonic() + 10
    while not sink.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.ended and sink.ended[0].vanished and "vanished" in sink.ended[0].reason
    while cam.camera.state != "connected" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cam.camera.state == "connected"
    again = Sink()
    cam.camera.live.start(0.01, again.on_frame, again.on_end, roi=band(cam))
    again.wait_for(3)
    cam.camera.live.stop()


def test_no_stream_while_an_exposure_runs(cam: Bench) -> None:
    exposure = cam.camera.start_exposure(5.0)
    with pytest.raises(CameraBusyError, match="exposure"):
        cam.camera.live.start(0.01, Sink().on_frame, Sink().on_end)
    exposure.abort(1.0)
    with pytest.raises(ValueError, match="out of range"):
        cam.camera.live.start(10_000, Sink().on_frame, Sink().on_end)


def test_a_disconnect_mid_stream_ends_it_at_once_and_the_camera_comes_back_clean(cam: Bench) -> None:
    sink = Sink()
    cam.camera.live.start(0.01, sink.on_frame, sink.on_end, roi=band(cam))
    sink.wait_for(3)
    began = time.monotonic()
    cam.camera.disconnect()
    assert (time.monotonic() - began) * 1e3 < 500 and cam.camera.live.stream is None
    assert sink.ended and sink.ended[0].reason == "the camera is being disconnected"
    cam.camera.connect()
    frame = cam.camera.start_exposure(0.01).result(10)
    assert frame.meta.good and cam.device.registers.single
