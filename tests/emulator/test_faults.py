"""Every fault the emulator injects reaches the host as the right USB error or a detectably bad frame."""

from __future__ import annotations

import pytest

from indi_qhy_py.decode import decoder
from indi_qhy_py.decode.frame import DecodeRequest, Verdict
from indi_qhy_py.errors import DeviceGoneError
from indi_qhy_py.models import QHY268M, QHY600M_PRO
from indi_qhy_py.protocol import Command
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import Transport
from tests.conftest import expose, make_rig, send, status

pytestmark = pytest.mark.emulated

ROWS = 64


@pytest.mark.parametrize(("kind", "verdict"), [
    ("drop", Verdict.MISALIGNED), ("corrupt", Verdict.CHECKSUM), ("short", Verdict.SHORT),
    ("zero_fill", Verdict.ZERO_FILLED), ("misalign", Verdict.MISALIGNED), ("stall", Verdict.SHORT),
])
@pytest.mark.parametrize("model", [QHY268M, QHY600M_PRO], ids=lambda m: m.name)
def test_stream_faults_are_classified(kind: str, verdict: Verdict, model) -> None:
    rig = make_rig(model)
    cam = rig.cameras[0]
    transport = rig.open()
    cam.faults.inject(kind)
    raw, received = expose(transport, model, rows=ROWS, roi_y=100, timeout_ms=300)
    frame = decoder.decode(raw, received, DecodeRequest.for_model(model, roi_y=100, rows=ROWS))
    assert frame.meta.verdict is verdict, frame.meta.damage
    assert frame.meta.damage
    assert cam.faults.applied[kind] == 1 and cam.last_frame is not None and cam.last_frame.faults == [kind]
    # the next frame is clean again
    raw, received = expose(transport, model, rows=ROWS, roi_y=100)
    assert decoder.decode(raw, received, DecodeRequest.for_model(model, roi_y=100, rows=ROWS)).meta.good


def test_zero_fill_reports_the_rows() -> None:
    rig = make_rig(QHY268M)
    rig.cameras[0].faults.inject("zero_fill", row=10, rows=5)
    raw, received = expose(rig.open(), QHY268M, rows=ROWS)
    meta = decoder.decode(raw, received, DecodeRequest.for_model(QHY268M, rows=ROWS)).meta
    assert meta.zero_rows == (10, 5) and "between ROI rows 10 and 14" in meta.damage


def test_lost_frames_show_as_a_sequence_gap() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open()
    expose(transport, QHY268M, rows=ROWS)
    raw, received = expose(transport, QHY268M, rows=ROWS)
    meta = decoder.decode(raw, received, DecodeRequest.for_model(QHY268M, rows=ROWS, expected_sequence=0)).meta
    assert meta.verdict is Verdict.SEQUENCE_GAP and meta.sequence == 1


def test_unplug_mid_exposure() -> None:
    rig = make_rig(QHY268M)
    cam = rig.cameras[0]
    transport = rig.open()
    cam.faults.inject("unplug", when="exposure", down_s=3.0)
    send(transport, Command.EXPOSURE, microseconds=2_000_000)
    send(transport, Command.START)
    rig.clock.advance(1.5)
    with pytest.raises(DeviceGoneError):
        status(transport)
    assert cam.faults.applied["unplug"] == 1 and cam.unplugs == 1
    rig.clock.advance(3.0)
    back = CameraLink.open(Transport.find([QHY268M.runtime_pid], rig.backend)[0])
    st = status(back)
    assert st.frame_counter == 0 and st.last_frame_failed  # power cycled: the exposure was lost


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
