"""The emulated TEC: published cool-down speed, the 35 C limit, regulation, window heater, humidity."""

from __future__ import annotations

import pytest

from indi_qhy_py.emulator.thermal import ThermalModel
from indi_qhy_py.models import QHY268C, QHY268M, QHY600M
from indi_qhy_py.protocol import Command
from tests.conftest import make_rig, send, status

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
    transport = rig.open()
    send(transport, Command.TEMPERATURE, auto=1, target_decic=-120)
    readings = []
    for _ in range(60):
        rig.clock.advance(30)
        readings.append(status(transport))
    settled = [r.temperature_c for r in readings[20:]]
    assert max(settled) - min(settled) < 0.2
    assert all(abs(t + 12.0) <= 0.5 for t in settled)
    assert readings[-1].target_c == -12.0 and readings[-1].temp_auto and readings[-1].cooler_on
    assert 0 < readings[-1].tec_pwm < 255


def test_never_more_than_35_below_ambient() -> None:
    rig = make_rig(QHY268M, ambient_c=25.0)
    transport = rig.open()
    send(transport, Command.TEMPERATURE, auto=1, target_decic=-400)
    lowest = 100.0
    for _ in range(120):
        rig.clock.advance(60)
        reading = status(transport)
        lowest = min(lowest, reading.temperature_c)
    assert lowest >= 25.0 - 35.0 - 0.05
    assert lowest == pytest.approx(-10.0, abs=0.1) and reading.tec_pwm == 255


def test_manual_power_and_switching_off() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open()
    send(transport, Command.TEMPERATURE, auto=0, pwm=128)
    rig.clock.advance(1800)
    reading = status(transport)
    assert not reading.temp_auto and reading.tec_pwm == 128
    assert reading.temperature_c == pytest.approx(20.0 - 35.0 * 128 / 255, abs=0.1)
    send(transport, Command.TEMPERATURE, auto=0, pwm=0)
    rig.clock.advance(1800)
    assert status(transport).temperature_c == pytest.approx(20.0, abs=0.1)


def test_window_heater_reaches_the_published_range() -> None:
    model = ThermalModel(ambient_c=25.0)
    model.set_heater(0.0, 255)
    model.update(1800.0)
    assert 65.0 <= model.window_c <= 70.0


def test_humidity_only_where_there_is_a_sensor() -> None:
    rig = make_rig(QHY268M, QHY268C, QHY600M)
    readings = [status(rig.open(i)) for i in range(3)]
    assert readings[0].humidity_percent is not None and 0 < readings[0].humidity_percent < 100
    assert readings[1].humidity_percent is None and readings[2].humidity_percent is None


def test_power_cut_stops_the_tec() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    send(rig.open(), Command.TEMPERATURE, auto=1, target_decic=-100)
    rig.clock.advance(600)
    cam.unplug(down_s=600)
    rig.clock.advance(600)
    cam.thermal.update(rig.clock.now())
    assert cam.thermal.sensor_c > 15.0 and not cam.thermal.auto
