"""Hostile input through Debian's indiserver: every attack answered, the driver never restarted, no frame lost.

Each case of ``tests/hostile.py`` is sent through indiserver by a raw-socket client; the test then asserts the
driver's reply, that indiserver still runs the same driver process, that the next exposure delivers a frame whose
header shows what it must, and that nothing outside the upload root changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import NEEDS_INDISERVER
from tests.e2e.hostile import CASES, DEVICE, MOUNT, HostileSession, flood, new, run_case, snooped, warning

pytestmark = [pytest.mark.emulated, NEEDS_INDISERVER]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileSession]:
    running = HostileSession(tmp_path_factory.mktemp("hostile"))
    yield running
    running.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_attack_is_answered_and_the_next_frame_arrives(session: HostileSession, case) -> None:  # type: ignore[no-untyped-def]
    outcome = run_case(session, case)
    assert outcome.survived, outcome.problems


def test_a_poisoned_value_is_reported_once_not_per_frame(session: HostileSession) -> None:
    poison = snooped("Number", MOUNT, "EQUATORIAL_EOD_COORD", RA="-7", DEC=95)
    session.send(new("Text", "ACTIVE_DEVICES", ACTIVE_TELESCOPE=MOUNT))
    mark = session.send(poison)
    session.client.wait(warning("EQUATORIAL_EOD_COORD"), 10, mark)
    session.send(poison)
    for _ in range(2):
        assert "OBJCTRA" not in session.expose()
    said = [m for m in session.client.messages[mark:] if warning("EQUATORIAL_EOD_COORD")(m)]
    assert len(said) == 1, [m.get("message") for m in said]
    session.send(snooped("Number", MOUNT, "EQUATORIAL_EOD_COORD", RA=1.5, DEC=20))
    assert session.expose().get("OBJCTRA", "").startswith("01 ")


def test_a_garbage_flood_from_another_client_leaves_the_driver_alone(session: HostileSession) -> None:
    assert flood(session) >= 0
    assert session.driver_pid() == session.pid
    assert session.client.set(DEVICE, "CCD_GAIN", "Number", GAIN=10).get("state") == "Ok"
    assert session.expose()["GAIN"] == 10


def test_a_power_cycle_rehearsed_mid_exposure_alerts_then_the_camera_returns_with_its_settings(
        session: HostileSession) -> None:
    client = session.client
    assert client.set(DEVICE, "CCD_GAIN", "Number", GAIN=37).get("state") == "Ok"
    assert client.set(DEVICE, "CCD_OFFSET", "Number", OFFSET=12).get("state") == "Ok"
    assert client.set(DEVICE, "SIMULATE_FAULT_SETTINGS", "Number", DOWN_S=1).get("state") == "Ok"
    mark = session.send(new("Number", "CCD_EXPOSURE", CCD_EXPOSURE_VALUE=3))
    client.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Busy", 10, mark)
    armed = client.set(DEVICE, "SIMULATE_FAULT", "Switch", POWER_CYCLE="On")
    assert armed.get("state") == "Ok" and "12 V" in armed.get("message", "")
    failed = client.wait(lambda m: m.get("device") == DEVICE and m.get("name") == "CCD_EXPOSURE"
                         and m.get("state") == "Alert", 30, mark)
    assert "vanished" in failed.get("message", "") or "failed" in failed.get("message", "")
    client.wait(warning("camera is back; all settings re-applied"), 30, mark)
    header = session.expose()
    assert (header["GAIN"], header["OFFSET"], header["INTEGRTY"]) == (37, 12, "good")
    assert float(client.values[(DEVICE, "FRAME_STATS")]["RECONNECTS"]) >= 1
    assert session.driver_pid() == session.pid


@pytest.mark.parametrize("fault", ["SHORT_FRAME", "ZERO_ROWS", "DROP_PACKETS"])
def test_a_rehearsed_damaged_frame_is_retried_and_delivered_intact(session: HostileSession, fault: str) -> None:
    client = session.client
    retried = float(client.values[(DEVICE, "FRAME_STATS")].get("FRAMES_RETRIED", "0") or 0)
    assert client.set(DEVICE, "SIMULATE_FAULT", "Switch", **{fault: "On"}).get("state") == "Ok"
    assert session.expose()["INTEGRTY"] == "good"
    assert float(client.values[(DEVICE, "FRAME_STATS")]["FRAMES_RETRIED"]) == retried + 1


def test_every_writable_text_property_can_be_set_through_indiserver(session: HostileSession) -> None:
    """indiserver re-indents forwarded text; each text property must still take exactly what the client sent."""
    client = session.client
    wanted = {
        "ACTIVE_DEVICES": {"ACTIVE_TELESCOPE": MOUNT, "ACTIVE_FOCUSER": "Focuser Simulator"},
        "UPLOAD_SETTINGS": {"UPLOAD_DIR": str(session.root / "texts"), "UPLOAD_PREFIX": "M42_XXX"},
        "FITS_HEADER": {"KEYWORD_NAME": "OBSERVER", "KEYWORD_VALUE": "Jane Doe", "KEYWORD_COMMENT": "who"},
        "RECORD_FILE": {"RECORD_FILE_DIR": str(session.root / "video" / "night__D_"), "RECORD_FILE_NAME": "M42__T_"},
        "NICKNAME": {"nickname": "Guide cam"},
    }
    writable = {name for (device, name), d in client.defined.items()
                if device == DEVICE and d.tag == "defTextVector" and d.get("perm") != "ro"}
    assert writable == set(wanted)
    for name, values in wanted.items():
        reply = client.set(DEVICE, name, "Text", **values)
        assert reply.get("state") == "Ok", (name, reply.get("message"))
        assert {c.get("name"): (c.text or "").strip() for c in reply} == {**client.values[(DEVICE, name)], **values}
    header = session.expose()
    assert (header["OBSERVER"], header.comments["OBSERVER"]) == ("Jane Doe", "who")
    client.set(DEVICE, "FITS_HEADER", "Text", KEYWORD_NAME="OBSERVER", KEYWORD_VALUE="")
    client.set(DEVICE, "NICKNAME", "Text", nickname="")
