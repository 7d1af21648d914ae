"""The camera's own accessories and health through INDI: the filter wheel on its port as the device
``<camera> CFW`` with INDI's standard filter-wheel properties, the FITS FILTER key following it, names saved;
versions and identity; the 12 V power light and its FITS key; humidity in the header."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from indi_qhy_py.camera import filter_wheel
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatedWheel, EmulatorBackend
from indi_qhy_py.emulator.control import FIRMWARE_DATE, FPGA_VERSION
from indi_qhy_py.models import QHY268M, QHY600M

from .conftest import DriverProcess, blob_fits, image_hdu, served_in_process

pytestmark = pytest.mark.emulated

CAMERA = "QHY600M-600M000000000001"
WHEEL = f"{CAMERA} CFW"
MONO268 = "QHY268M-268M000000000002"
#: INDI's standard filter-wheel properties and elements, as Ekos looks for them
STANDARD = {"CONNECTION": {"CONNECT", "DISCONNECT"},
            "DRIVER_INFO": {"DRIVER_NAME", "DRIVER_EXEC", "DRIVER_VERSION", "DRIVER_INTERFACE"},
            "FILTER_SLOT": {"FILTER_SLOT_VALUE"},
            "FILTER_NAME": {f"FILTER_SLOT_NAME_{i}" for i in range(1, 8)},
            "CONFIG_PROCESS": {"CONFIG_LOAD", "CONFIG_SAVE", "CONFIG_DEFAULT", "CONFIG_PURGE"}}


def backend(wheel: EmulatedWheel | None = None) -> EmulatorBackend:
    clock = EmulatedClock()
    return EmulatorBackend([EmulatedCamera(QHY600M, clock=clock, seed=1, rate_limit=False,
                                           filter_wheel=wheel or EmulatedWheel(slots=7, seconds_per_slot=0.05)),
                            EmulatedCamera(QHY268M, clock=clock, seed=2, rate_limit=False)])


def wheel_appears(client: DriverProcess) -> None:
    client.wait(lambda m: m.tag == "defTextVector" and m.get("device") == WHEEL and m.get("name") == "FILTER_NAME",
                10)


def turn(client: DriverProcess, slot: int) -> str:
    """Ask for ``slot``; the state FILTER_SLOT ends in (Ok at the slot, or Alert)."""
    mark = client.mark()
    client.send(client.new_vector(WHEEL, "FILTER_SLOT", "Number", FILTER_SLOT_VALUE=slot))
    end = client.wait(lambda m: m.get("device") == WHEEL and m.get("name") == "FILTER_SLOT"
                      and m.get("state") in ("Ok", "Alert"), 15, mark)
    return str(end.get("state"))


def test_the_wheel_is_its_own_device_with_the_standard_names(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    with served_in_process(backend(), tmp_path) as (_, client):
        client.connect(CAMERA)
        wheel_appears(client)
        defined = client.definitions()
        for name, elements in STANDARD.items():
            assert {c.get("name") for c in defined[(WHEEL, name)]} == elements, name
        assert client.values[(WHEEL, "DRIVER_INFO")]["DRIVER_INTERFACE"] == "16"  # INDI's filter interface
        slot = next(c for c in defined[(WHEEL, "FILTER_SLOT")])
        assert (slot.get("min"), slot.get("max")) == ("1", "7")
        assert client.values[(CAMERA, "ACTIVE_DEVICES")]["ACTIVE_FILTER"] == WHEEL
        client.connect(MONO268)  # a camera without a wheel has no wheel device
        client.fence()
        assert not any(d.endswith("CFW") and d != WHEEL for d, _ in client.definitions())
        client.set(CAMERA, "CONNECTION", "Switch", DISCONNECT="On")
        client.wait(lambda m: m.tag == "delProperty" and m.get("device") == WHEEL, 10)


def test_every_slot_is_reached_named_and_in_the_fits_header(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    names = {f"FILTER_SLOT_NAME_{i}": name for i, name in enumerate(("L", "R", "G", "B", "Ha", "OIII", "SII"), 1)}
    with served_in_process(backend(), tmp_path) as (_, client):
        client.connect(CAMERA)
        wheel_appears(client)
        assert client.set(WHEEL, "FILTER_NAME", "Text", **names).get("state") == "Ok"
        client.set(CAMERA, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=64)
        for slot in (3, 7, 1, 5, 2, 6, 4):
            assert turn(client, slot) == "Ok"
            assert client.values[(WHEEL, "FILTER_SLOT")]["FILTER_SLOT_VALUE"] == str(slot)
            with blob_fits(client.expose(CAMERA, 0.01)) as hdus:
                assert image_hdu(hdus).header["FILTER"] == names[f"FILTER_SLOT_NAME_{slot}"]
        assert (tmp_path / f"{WHEEL}_config.xml").exists()
    with served_in_process(backend(), tmp_path) as (_, client):  # the driver again: the names come back
        client.connect(CAMERA)
        wheel_appears(client)
        client.fence()
        assert client.values[(WHEEL, "FILTER_NAME")]["FILTER_SLOT_NAME_5"] == "Ha"


def test_no_move_during_an_exposure(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    with served_in_process(backend(), tmp_path) as (_, client):
        client.connect(CAMERA)
        wheel_appears(client)
        client.send(client.new_vector(CAMERA, "CCD_EXPOSURE", "Number", CCD_EXPOSURE_VALUE=30))
        client.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Busy", 10)
        refused = client.set(WHEEL, "FILTER_SLOT", "Number", FILTER_SLOT_VALUE=4)
        assert refused.get("state") == "Alert" and "during an exposure" in refused.get("message", "")
        client.set(CAMERA, "CCD_ABORT_EXPOSURE", "Switch", ABORT="On")
        assert client.values[(WHEEL, "FILTER_SLOT")]["FILTER_SLOT_VALUE"] == "1"


def test_a_wheel_that_stops_answering_gives_an_alert_not_a_hang(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(filter_wheel, "MOVE_TIMEOUT_BASE_S", 0.5)
    monkeypatch.setattr(filter_wheel, "MOVE_TIMEOUT_PER_SLOT_S", 0.1)
    wheel = EmulatedWheel(slots=7, seconds_per_slot=0.05)
    with served_in_process(backend(wheel), tmp_path) as (_, client):
        client.connect(CAMERA)
        wheel_appears(client)
        wheel.answering = False
        start = time.monotonic()
        assert turn(client, 6) == "Alert"
        assert time.monotonic() - start < 5
        alert = [m for m in client.messages if m.get("device") == WHEEL and m.get("state") == "Alert"][-1]
        assert "did not reach slot 6" in alert.get("message", "")
        wheel.answering = True
        assert turn(client, 6) == "Ok"  # it answers again: the next move works
        assert client.set(CAMERA, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=64).get("state") == "Ok"


def test_versions_and_identity_through_indi_and_in_fits(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    with served_in_process(backend(), tmp_path) as (_, client):
        client.connect(MONO268)
        versions = client.values[(MONO268, "CAMERA_VERSIONS")]
        year, month, day = FIRMWARE_DATE
        assert versions["FIRMWARE"] == f"{year:04d}-{month:02d}-{day:02d}"
        assert versions["FPGA"] == ".".join(f"{b:02x}" for b in FPGA_VERSION)
        assert versions["SERIAL"] == "268M000000000002" and versions["VARIANT"] == "not reported by the camera"
        client.set(MONO268, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=64)
        with blob_fits(client.expose(MONO268, 0.01)) as hdus:
            header = image_hdu(hdus).header
        assert header["FIRMWARE"] == versions["FIRMWARE"] and header["FPGAVER"] == FPGA_VERSION.hex()
        assert header["SERIALNO"] == "268M000000000002"
        assert header["HUMIDITY"] == pytest.approx(float(client.values[(MONO268, "CCD_HUMIDITY")]["HUMIDITY"]),
                                                   abs=1.0)
        assert "POWERERR" not in header


def test_the_under_voltage_alert_appears_marks_frames_and_clears(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    served = backend()
    with served_in_process(served, tmp_path) as (driver, client):
        client.connect(MONO268)
        driver.devices[MONO268].camera.housekeeping.status_period_s = 0.1  # the SDK's 5 s, sped up
        client.wait(lambda m: m.get("device") == MONO268 and m.get("name") == "POWER_STATUS"
                    and m.get("state") == "Ok", 10)
        mark = client.mark()
        served.cameras[1].power.set_volts(11.0)
        alert = client.wait(lambda m: m.get("device") == MONO268 and m.get("name") == "POWER_STATUS"
                            and m.get("state") == "Alert", 10, mark)
        assert "check the 12 V supply" in alert.get("message", "")
        client.set(MONO268, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=64)
        with blob_fits(client.expose(MONO268, 0.01)) as hdus:
            assert image_hdu(hdus).header["POWERERR"] is True
        mark = client.mark()
        served.cameras[1].power.set_volts(12.0)
        good = client.wait(lambda m: m.get("device") == MONO268 and m.get("name") == "POWER_STATUS"
                           and m.get("state") == "Ok", 10, mark)
        assert "power is good" in good.get("message", "")
        with blob_fits(client.expose(MONO268, 0.01)) as hdus:
            assert "POWERERR" not in image_hdu(hdus).header
