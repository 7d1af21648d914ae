"""Every fault the emulator injects reaches the host as the right USB error or a detectably bad frame."""

from __future__ import annotations

import time

import pytest

from indi_qhy_py import protocol
from indi_qhy_py.decode import decoder
from indi_qhy_py.decode.frame import Verdict
from indi_qhy_py.errors import DeviceGoneError
from indi_qhy_py.models import QHY268M, QHY600M, QHY600M_PRO
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import Transport
from tests.conftest import expose, make_rig, request_for

pytestmark = pytest.mark.emulated

ROWS = 64


@pytest.mark.parametrize(("kind", "verdict"), [
    ("drop", Verdict.SHORT), ("short", Verdict.SHORT), ("zero_fill", Verdict.ZERO_FILLED),
    ("misalign", Verdict.MISALIGNED), ("stall", Verdict.SHORT),
])
@pytest.mark.parametrize("model", [QHY268M, QHY600M], ids=lambda m: m.name)
def test_stream_faults_are_classified(kind: str, verdict: Verdict, model) -> None:
    rig = make_rig(model)
    cam = rig.cameras[0]
    link = rig.open()
    cam.faults.inject(kind)
    exposed = expose(link, model, y=100, height=ROWS, timeout_ms=300)
    frame = decoder.decode(exposed.raw, exposed.received, request_for(model, exposed))
    assert frame.meta.verdict is verdict, frame.meta.damage
    assert frame.meta.damage
    assert cam.faults.applied[kind] == 1 and cam.last_frame is not None and cam.last_frame.faults == [kind]
    link.drain()
    exposed = expose(link, model, y=100, height=ROWS)  # the next frame is clean again
    assert decoder.decode(exposed.raw, exposed.received, request_for(model, exposed)).meta.good


def test_zero_fill_reports_the_rows() -> None:
    rig = make_rig(QHY268M)
    rig.cameras[0].faults.inject("zero_fill", row=10, rows=5)
    exposed = expose(rig.open(), QHY268M, height=ROWS)
    meta = decoder.decode(exposed.raw, exposed.received, request_for(QHY268M, exposed)).meta
    assert meta.zero_rows == (10, 5) and "between frame rows 10 and 14" in meta.damage


def test_lost_frames_show_as_a_sequence_gap() -> None:
    rig = make_rig(QHY268M)
    link = rig.open()
    expose(link, QHY268M, height=ROWS)
    exposed = expose(link, QHY268M, height=ROWS)
    meta = decoder.decode(exposed.raw, exposed.received, request_for(QHY268M, exposed, expected_sequence=0)).meta
    assert meta.verdict is Verdict.SEQUENCE_GAP and meta.sequence == 1


def test_unplug_mid_exposure() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    link = rig.open()
    cam.faults.inject("unplug", when="exposure", down_s=3.0)
    link.command(protocol.encode_exposure(2_000_000))
    link.start_exposure()
    rig.clock.advance(1.5)
    with pytest.raises(DeviceGoneError):
        link.ddr_bytes()
    assert cam.faults.applied["unplug"] == 1 and cam.unplugs == 1
    rig.clock.advance(3.0)
    back = CameraLink.open(Transport.find([QHY268M.runtime_pid], rig.backend)[0])
    rig.clock.advance(5.0)
    assert back.ddr_bytes() == 0 and cam.frame_counter == 0  # power cycled: the exposure was lost


def test_unplug_mid_readout() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    cam.faults.inject("unplug", when="readout", down_s=1.0)
    with pytest.raises(DeviceGoneError):
        expose(rig.open(), QHY268M)
    assert cam.unplugs == 1


def test_power_cycle_returns_in_the_boot_loader_when_it_started_there() -> None:
    rig = make_rig(QHY600M_PRO, boot_loader=True)
    cam = rig.cameras[0]
    cam.in_loader = False  # as if firmware had been loaded
    cam.unplug(down_s=1.0)
    rig.clock.advance(1.0)
    assert Transport.find([QHY600M_PRO.loader_pid], rig.backend)


def test_unknown_faults_are_refused() -> None:
    rig = make_rig(QHY268M)
    with pytest.raises(ValueError, match="unknown fault"):
        rig.cameras[0].faults.inject("gremlins")


def test_a_watchdog_not_fed_resets_the_camera() -> None:
    """ASSUMED, as QHY's SDK feeds it every 10 s: once fed, the FPGA watchdog resets a camera it does not hear from
    within its timeout (here 0.3 s); the camera re-enumerates at its defaults. Fed in time, nothing happens."""
    rig = make_rig(QHY268M, watchdog_s=0.3)
    cam = rig.cameras[0]
    link = rig.open()
    link.temperature()
    time.sleep(0.4)
    link.temperature()  # not armed yet: the host has never fed it
    link.feed_watchdog()
    for _ in range(4):
        time.sleep(0.15)
        link.feed_watchdog()
    assert cam.watchdog.resets == 0
    time.sleep(0.4)
    with pytest.raises(DeviceGoneError):
        link.temperature()
    assert cam.watchdog.resets == 1 and cam.unplugs == 1
    rig.clock.advance(1.0)
    assert Transport.find([QHY268M.runtime_pid], rig.backend)  # back, at its power-on defaults
