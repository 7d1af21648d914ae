"""The emulated CFW3 on the camera's port, through the real link: found once it has started, its slot count, moves
that take time, the position it reports, and a wheel that stops answering."""

from __future__ import annotations

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator.filter_port import EmulatedWheel
from indi_qhy_py.models import QHY600M
from tests.conftest import make_rig

pytestmark = pytest.mark.emulated


def test_no_wheel_answers_zeros() -> None:
    link = make_rig(QHY600M).open()
    assert not protocol.cfw_plugged(link.cfw_query(protocol.CFW_VERSION_QUERY))
    assert link.cfw_query(protocol.CFW_POSITION_QUERY) == b"\0"


def test_a_wheel_answers_once_started_and_turns_at_its_speed() -> None:
    wheel = EmulatedWheel(slots=7, seconds_per_slot=1.0, start_delay_s=20.0)
    rig = make_rig(QHY600M, filter_wheel=wheel)
    link = rig.open()
    assert not protocol.cfw_plugged(link.cfw_query(protocol.CFW_VERSION_QUERY))  # still starting
    rig.clock.advance(20.0)
    assert protocol.cfw_plugged(link.cfw_query(protocol.CFW_VERSION_QUERY))
    assert protocol.decode_cfw_digit(link.cfw_query(protocol.CFW_SLOTS_QUERY)) == 7
    assert protocol.decode_cfw_digit(link.cfw_query(protocol.CFW_POSITION_QUERY)) == 0
    link.cfw_order(2)  # two slots on: 2 s
    rig.clock.advance(1.5)
    assert link.cfw_query(protocol.CFW_POSITION_QUERY) == protocol.CFW_MOVING
    rig.clock.advance(0.6)
    assert protocol.decode_cfw_digit(link.cfw_query(protocol.CFW_POSITION_QUERY)) == 2
    link.cfw_order(6)  # the shorter way round: 3 slots back, not 4 on
    rig.clock.advance(3.1)
    assert protocol.decode_cfw_digit(link.cfw_query(protocol.CFW_POSITION_QUERY)) == 6


def test_a_wheel_that_stops_answering_and_a_power_cycle() -> None:
    wheel = EmulatedWheel(slots=5, start_delay_s=10.0)
    rig = make_rig(QHY600M, filter_wheel=wheel)
    link = rig.open()
    rig.clock.advance(10.0)
    wheel.answering = False
    link.cfw_order(3)
    assert link.cfw_query(protocol.CFW_POSITION_QUERY) == b"\0" and wheel.position == 0
    wheel.answering = True
    rig.cameras[0].unplug(down_s=1.0)
    rig.clock.advance(1.0)
    back = rig.open()
    assert not protocol.cfw_plugged(back.cfw_query(protocol.CFW_VERSION_QUERY))  # powered from the camera: restarting
    rig.clock.advance(10.0)
    assert protocol.cfw_plugged(back.cfw_query(protocol.CFW_VERSION_QUERY))
