"""Devices coming and going as INDI 2.x drivers do it, and the names they carry: hot-plug, nicknames, the label.

A camera plugged in while another exposes is served without disturbing it; one unplugged while no client has it
connected leaves with its device (a whole-device ``delProperty``) and returns when plugged in again; a connected
one keeps its device through the gap. A nickname names the camera's device from the driver's next start, in INDI's
shared ``Nicknames.xml``, other drivers' entries kept.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from indi_qhy_py.emulator import EmulatedCamera, emulated_backend
from indi_qhy_py.models import QHY600M as QHY600M_MODEL
from tests.indi.conftest import DriverProcess, blob_fits, image_hdu, served_in_process

pytestmark = pytest.mark.emulated
MONO = "QHY268M-268M000000000001"
BIG = "QHY600M-600M000000000002"


def whole_device_deleted(device: str):  # type: ignore[no-untyped-def]
    return lambda m: m.tag == "delProperty" and m.get("device") == device and m.get("name") is None


def connect_and_expose(client: DriverProcess, device: str) -> None:
    """Connect ``device`` and take a small frame: it works."""
    client.connect(device)
    client.set(device, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
    assert client.expose(device, timeout=60).tag == "setBLOBVector"


def test_a_camera_plugged_in_mid_exposure_leaves_the_exposure_alone(tmp_path: Path) -> None:
    backend = emulated_backend("QHY268M", rate_limit=False)
    with served_in_process(backend, tmp_path, rescan_s=0.2) as (_, client):
        client.wait(lambda m: m.get("device") == MONO and m.get("name") == "CONNECTION")
        client.connect(MONO)
        client.set(MONO, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
        mark = client.mark()
        client.send(client.new_vector(MONO, "CCD_EXPOSURE", "Number", CCD_EXPOSURE_VALUE=1.5))
        late = backend.add(EmulatedCamera(QHY600M_MODEL, seed=5, rate_limit=False))
        late_id = f"{late.model.name}-{late.serial}"
        defined = client.wait(lambda m: m.tag == "defSwitchVector" and m.get("device") == late_id, 10, mark)
        blob = client.wait(lambda m: m.tag == "setBLOBVector" and m.get("device") == MONO, 20, mark)
        assert client.messages.index(defined) < client.messages.index(blob)  # it came while the first exposed
        with blob_fits(blob) as hdus:
            assert image_hdu(hdus).header["INTEGRTY"] == "good" and image_hdu(hdus).header["EXPTIME"] == 1.5
        connect_and_expose(client, late_id)


def test_an_unplugged_camera_nobody_uses_leaves_with_its_device_and_returns(tmp_path: Path) -> None:
    backend = emulated_backend("QHY268M,QHY600M", rate_limit=False)
    with served_in_process(backend, tmp_path, rescan_s=0.2) as (_, client):
        client.wait(lambda m: m.get("device") == BIG and m.get("name") == "CONNECTION")
        client.connect(MONO)
        mark = client.mark()
        backend.cameras[1].unplug(None)  # the QHY600M's cable pulled
        client.wait(whole_device_deleted(BIG), 10, mark)
        said = client.wait(lambda m: m.tag == "message" and "unplugged" in m.get("message", ""), 10, mark)
        assert BIG in said.get("message", "")
        assert not any(whole_device_deleted(MONO)(m) for m in client.messages[mark:])
        mark = client.mark()
        backend.cameras[1].replug()
        client.wait(lambda m: m.tag == "defSwitchVector" and m.get("device") == BIG
                    and m.get("name") == "CONNECTION", 10, mark)
        connect_and_expose(client, BIG)


def test_a_connected_camera_keeps_its_device_through_an_unplug(tmp_path: Path) -> None:
    backend = emulated_backend("QHY268M", rate_limit=False)
    with served_in_process(backend, tmp_path, rescan_s=0.2) as (_, client):
        client.wait(lambda m: m.get("device") == MONO and m.get("name") == "CONNECTION")
        connect_and_expose(client, MONO)
        mark = client.mark()
        backend.cameras[0].unplug(1.0)
        time.sleep(2.5)
        assert not any(whole_device_deleted(MONO)(m) for m in client.messages[mark:])
        assert client.expose(MONO, timeout=60).tag == "setBLOBVector"


# --- nicknames --------------------------------------------------------------------------------------------------
OTHER_DRIVERS = """<?xml version="1.0"?>
<INDINicknames>
  <device name="ZWO CCD">
    <nickname identifier="081a0f011a020900">ASI6200MM-Pro WB</nickname>
  </device>
</INDINicknames>
"""


def started(config: Path, emulate: str = "QHY268M,QHY600M") -> DriverProcess:
    proc = DriverProcess(emulate, config)
    proc.send("<getProperties version='1.7'/>")
    proc.wait(lambda m: m.tag == "defTextVector" and m.get("name") == "ACTIVE_DEVICES"
              and m.get("device") in (BIG, "QHY Imager"))  # the last camera's last base property
    return proc


def test_a_nickname_names_the_camera_from_the_next_start_and_keeps_other_drivers_entries(tmp_path: Path) -> None:
    (tmp_path / "Nicknames.xml").write_text(OTHER_DRIVERS)
    with started(tmp_path) as proc:
        assert proc.values[(BIG, "NICKNAME")] == {"nickname": ""}
        reply = proc.set(BIG, "NICKNAME", "Text", nickname=" Imager ")
        assert reply.get("state") == "Ok" and "'QHY Imager' when the driver next starts" in reply.get("message", "")
        assert proc.values[(BIG, "NICKNAME")] == {"nickname": "Imager"}
        taken = proc.set(MONO, "NICKNAME", "Text", nickname="QHY Imager")  # the name BIG will have
        assert taken.get("state") == "Alert" and "already named 'QHY Imager'" in taken.get("message", "")
    root = ET.parse(tmp_path / "Nicknames.xml").getroot()
    sections = {s.get("name"): {n.get("identifier"): n.text for n in s} for s in root}
    assert sections == {"ZWO CCD": {"081a0f011a020900": "ASI6200MM-Pro WB"}, "QHY CCD (Python)": {BIG: "Imager"}}
    with started(tmp_path) as proc:
        devices = {d for d, _ in proc.defined}
        assert "QHY Imager" in devices and BIG not in devices and MONO in devices
        assert proc.values[("QHY Imager", "NICKNAME")] == {"nickname": "Imager"}
        proc.connect("QHY Imager")
        proc.set("QHY Imager", "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
        with blob_fits(proc.expose("QHY Imager")) as hdus:
            assert image_hdu(hdus).header["INSTRUME"] == "QHY600M"
        reply = proc.set("QHY Imager", "NICKNAME", "Text", nickname="")
        assert reply.get("state") == "Ok" and f"'{BIG}' when the driver next starts" in reply.get("message", "")


@pytest.mark.parametrize(("nickname", "why"), [
    ("main.scope", "'.'"), ("x" * 41, "at most 40"), ("tab\there", "control characters"),
    ("QHY268M-268M000000000001", "already named"),
])
def test_a_nickname_that_cannot_name_a_device_is_refused(tmp_path: Path, nickname: str, why: str) -> None:
    with started(tmp_path) as proc:
        reply = proc.set(BIG, "NICKNAME", "Text", nickname=nickname)
        assert reply.get("state") == "Alert" and why in reply.get("message", "")
        assert proc.values[(BIG, "NICKNAME")] == {"nickname": ""}
    assert not (tmp_path / "Nicknames.xml").exists()


def test_a_broken_nickname_file_is_reported_and_the_cameras_keep_their_ids(tmp_path: Path) -> None:
    (tmp_path / "Nicknames.xml").write_text("<INDINicknames><device name='QHY CCD (Python)'>")
    with DriverProcess("QHY268M", tmp_path) as proc:
        said = proc.wait(lambda m: m.tag == "message" and "nicknames not used" in m.get("message", ""))
        assert "Nicknames.xml" in said.get("message", "")
        proc.send("<getProperties version='1.7'/>")
        proc.wait(lambda m: m.get("device") == MONO and m.get("name") == "CONNECTION")
