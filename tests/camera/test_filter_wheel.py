"""The filter wheel on the camera's port, through the camera layer: found at connect and after a slow start,
every slot reached, no move during an exposure (nor an exposure during a move), and a wheel that stops answering
fails the move instead of hanging it."""

from __future__ import annotations

import threading
import time

import pytest

from indi_qhy_py.camera.filter_wheel import DETECT_WINDOW_S, WheelState
from indi_qhy_py.emulator.filter_port import EmulatedWheel
from indi_qhy_py.errors import CameraBusyError
from indi_qhy_py.models import QHY268M, QHY600M
from tests.camera.conftest import Bench

pytestmark = pytest.mark.emulated


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def moved(bench: Bench, slot: int) -> WheelState:
    done: list[WheelState] = []
    event = threading.Event()
    bench.camera.wheel.move(slot, on_done=lambda state: (done.append(state), event.set()))
    assert event.wait(10)
    return done[0]


def test_the_wheel_is_found_at_connect_with_its_slots_and_every_slot_is_reached() -> None:
    bench = Bench(QHY600M, filter_wheel=EmulatedWheel(slots=7, seconds_per_slot=1.0))
    try:
        wait_for(lambda: bench.camera.wheel.state.slots == 7)
        assert bench.camera.wheel.state.position == 1
        for slot in (2, 7, 4, 1, 3, 5, 6):
            state = moved(bench, slot)
            assert state.position == slot and not state.error and bench.device.filter_port.wheel.position == slot - 1
        with pytest.raises(ValueError, match=r"out of range 1\.\.7"):
            bench.camera.wheel.move(8)
    finally:
        bench.close()


def test_a_wheel_that_starts_slowly_is_found_within_the_minute_and_one_later_is_not() -> None:
    slow = Bench(QHY268M, filter_wheel=EmulatedWheel(slots=5, start_delay_s=40.0))
    late = Bench(QHY268M, filter_wheel=EmulatedWheel(slots=5, start_delay_s=DETECT_WINDOW_S + 30.0))
    try:
        assert slow.camera.wheel.state.slots is None  # not yet: it is still starting
        wait_for(lambda: slow.camera.wheel.state.slots == 5)
        assert any("filter wheel found" in text for _, text in slow.events)
        time.sleep((DETECT_WINDOW_S + 40.0) / late.clock.speed)
        assert late.camera.wheel.state.slots is None  # the search window closed before it answered
    finally:
        slow.close()
        late.close()


def test_no_move_during_an_exposure_and_no_exposure_during_a_move() -> None:
    bench = Bench(QHY600M, filter_wheel=EmulatedWheel(slots=7, seconds_per_slot=2.0))
    try:
        wait_for(lambda: bench.camera.wheel.state.slots == 7)
        exposure = bench.camera.start_exposure(600.0)
        with pytest.raises(CameraBusyError, match="during an exposure"):
            bench.camera.wheel.move(3)
        exposure.abort()
        bench.camera.wheel.move(4)
        with pytest.raises(CameraBusyError, match="turning to slot 4"):
            bench.camera.start_exposure(1.0)
        with pytest.raises(CameraBusyError, match="already turning"):
            bench.camera.wheel.move(2)
        wait_for(lambda: bench.camera.wheel.state.position == 4)
    finally:
        bench.close()


def test_a_wheel_that_stops_answering_fails_the_move_in_bounded_time() -> None:
    bench = Bench(QHY600M, filter_wheel=EmulatedWheel(slots=7))
    try:
        wait_for(lambda: bench.camera.wheel.state.slots == 7)
        bench.device.filter_port.wheel.answering = False
        start = time.monotonic()
        state = moved(bench, 5)
        assert "did not reach slot 5" in state.error and state.position is None
        assert time.monotonic() - start < 5.0  # 26 s of the camera's clock, sped up 50x
        assert any(level == "ERROR" and "check its cable" in text for level, text in bench.events)
    finally:
        bench.close()
