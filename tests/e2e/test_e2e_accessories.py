"""End to end through Debian's indiserver: the filter wheel on an emulated QHY600M's port, scripted with
indi_getprop/indi_setprop as any INDI filter wheel; its faults; the camera's versions and power light."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import (
    NEEDS_INDISERVER,
    Server,
    driver_env,
    driver_pids,
    eventually,
    getprop,
    setprop,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.emulated, NEEDS_INDISERVER]

CAMERA = "QHY600M-600M000000000001"
WHEEL = f"{CAMERA} CFW"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("indiserver")
    running = start_server(tmp, "indi_qhy_py_ccd", env=driver_env(tmp, "QHY600M+CFW"))
    assert eventually(lambda: getprop(running.port, f"{CAMERA}.CONNECTION.CONNECT"), 20)
    setprop(running.port, f"{CAMERA}.CONNECTION.CONNECT=On")
    assert eventually(lambda: getprop(running.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE"), 20)
    yield running
    stop_server(running)


def state(server: Server, device: str, prop: str) -> str:
    return getprop(server.port, f"{device}.{prop}._STATE").get(f"{device}.{prop}._STATE", "")


def test_the_wheel_appears_as_a_filter_wheel_and_is_scripted_like_one(server: Server) -> None:
    info = getprop(server.port, f"{WHEEL}.DRIVER_INFO.*")
    assert info[f"{WHEEL}.DRIVER_INFO.DRIVER_INTERFACE"] == "16" and info[f"{WHEEL}.DRIVER_INFO.DRIVER_EXEC"] == \
        "indi_qhy_py_ccd"
    names = getprop(server.port, f"{WHEEL}.FILTER_NAME.*")
    assert len(names) == 7 and names[f"{WHEEL}.FILTER_NAME.FILTER_SLOT_NAME_1"] == "Filter 1"
    setprop(server.port, f"{WHEEL}.FILTER_NAME.FILTER_SLOT_NAME_3=Ha")
    setprop(server.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE=3")
    assert eventually(lambda: state(server, WHEEL, "FILTER_SLOT") == "Ok"
                      and getprop(server.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE")
                      [f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE"] == "3", 15)
    assert getprop(server.port, f"{CAMERA}.ACTIVE_DEVICES.ACTIVE_FILTER")[f"{CAMERA}.ACTIVE_DEVICES.ACTIVE_FILTER"] \
        == WHEEL
    refused_slot = getprop(server.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE")
    setprop(server.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE=12")  # no such slot: refused, nothing moves
    assert eventually(lambda: state(server, WHEEL, "FILTER_SLOT") == "Alert", 10)
    assert getprop(server.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE") == refused_slot


def test_a_silent_wheel_is_an_alert_and_the_driver_lives_on(server: Server) -> None:
    pids = driver_pids(server)
    setprop(server.port, f"{CAMERA}.SIMULATE_FAULT_SETTINGS.DOWN_S=60")
    setprop(server.port, f"{CAMERA}.SIMULATE_FAULT.CFW_SILENT=On")
    setprop(server.port, f"{WHEEL}.FILTER_SLOT.FILTER_SLOT_VALUE=6")
    assert eventually(lambda: state(server, WHEEL, "FILTER_SLOT") == "Alert", 45)
    assert driver_pids(server) == pids
    assert getprop(server.port, f"{CAMERA}.CONNECTION._STATE")[f"{CAMERA}.CONNECTION._STATE"] == "Ok"


def test_versions_and_the_power_light_reach_scripts(server: Server) -> None:
    versions = getprop(server.port, f"{CAMERA}.CAMERA_VERSIONS.*")
    assert versions[f"{CAMERA}.CAMERA_VERSIONS.FIRMWARE"] == "2024-05-17"
    assert versions[f"{CAMERA}.CAMERA_VERSIONS.SERIAL"] == "600M000000000001"
    assert eventually(lambda: getprop(server.port, f"{CAMERA}.POWER_STATUS.SUPPLY").get(
        f"{CAMERA}.POWER_STATUS.SUPPLY") == "Ok", 15)
    setprop(server.port, f"{CAMERA}.SIMULATE_FAULT_SETTINGS.DOWN_S=8")
    setprop(server.port, f"{CAMERA}.SIMULATE_FAULT.SUPPLY_SAG=On")
    assert eventually(lambda: getprop(server.port, f"{CAMERA}.POWER_STATUS.SUPPLY").get(
        f"{CAMERA}.POWER_STATUS.SUPPLY") == "Alert", 15)  # the SDK's 5 s status period
    assert eventually(lambda: getprop(server.port, f"{CAMERA}.POWER_STATUS.SUPPLY").get(
        f"{CAMERA}.POWER_STATUS.SUPPLY") == "Ok", 20)  # the supply is back after 8 s
