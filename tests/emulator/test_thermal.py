"""The emulated TEC: published cool-down speed, the 35 C limit, regulation, window heater, humidity — reached
through the requests QHY's SDK uses (F3/F4 out, F2 and D5 in)."""

from __future__ import annotations

import pytest

from indi_qhy_py.emulator.thermal import ThermalModel
from indi_qhy_py.models import QHY268C, QHY268M, QHY600M
from tests.conftest import make_rig

pytestmark = pytest.mark.emulated


def test_cools_to_minus_ten_in_two_to_three_minutes() -> None:
    model = ThermalModel(ambient_c=20.0)
    model.set_auto(0.0, -10.0)
    model.update(120.0)
    assert model.sensor_c > -9.5  # not yet at 2 minutes
    model.update(180.0)
    assert model.sensor_c == pytest.approx(-10.0, abs=0.5)  # there by 3 minutes


def test_regulation_holds_the_set_point_through_the_protocol() -> None:
    rig = make_rig(QHY600M)
    link = rig.open()
    link.cooler_target(-12.0)
    readings = []
    for _ in range(60):
        rig.clock.advance(30)
        readings.append(link.temperature())
    settled = [celsius for celsius, _ in readings[20:]]
    assert max(settled) - min(settled) < 0.2
    assert all(abs(t + 12.0) <= 0.5 for t in settled)
    thermal = rig.cameras[0].thermal
    assert thermal.target_c == pytest.approx(-12.0) and thermal.auto
    assert 0 < readings[-1][1] < 255


def test_never_more_than_35_below_ambient() -> None:
    rig = make_rig(QHY268M, ambient_c=25.0)
    link = rig.open()
    link.cooler_target(-40.0)
    lowest = 100.0
    for _ in range(120):
        rig.clock.advance(60)
        celsius, pwm = link.temperature()
        lowest = min(lowest, celsius)
    assert lowest >= 25.0 - 35.0 - 0.05
    assert lowest == pytest.approx(-10.0, abs=0.1) and pwm == 255


def test_manual_power_and_switching_off() -> None:
    rig = make_rig(QHY268M)
    link = rig.open()
    link.cooler_manual(128)
    rig.clock.advance(1800)
    celsius, pwm = link.temperature()
    assert not rig.cameras[0].thermal.auto and pwm == 128
    assert celsius == pytest.approx(20.0 - 35.0 * 128 / 255, abs=0.1)
    link.cooler_manual(0)
    rig.clock.advance(1800)
    assert link.temperature()[0] == pytest.approx(20.0, abs=0.1)


def test_the_built_in_window_heater_reaches_the_published_range() -> None:
    model = ThermalModel(ambient_c=25.0)
    model.update(1800.0)
    assert 65.0 <= model.window_c <= 70.0
    model.set_powered(1800.0, False)
    model.update(7200.0)
    assert model.window_c == pytest.approx(25.0, abs=0.5)


def test_humidity_only_where_there_is_a_sensor() -> None:
    rig = make_rig(QHY268M, QHY268C, QHY600M)
    links = [rig.open(i) for i in range(3)]
    assert [link.has_humidity_sensor() for link in links] == [True, False, False]
    assert 0 < links[0].humidity() < 100


def test_power_cut_stops_the_tec() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    rig.open().cooler_target(-10.0)
    rig.clock.advance(600)
    cam.unplug(down_s=600)
    rig.clock.advance(600)
    cam.thermal.update(rig.clock.now())
    assert cam.thermal.sensor_c > 15.0 and not cam.thermal.auto
