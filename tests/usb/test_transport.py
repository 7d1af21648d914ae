"""The pyusb transport over the emulator: discovery, errors with their errno, in-place chunked reads."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.errors import DeviceBusyError, DeviceGoneError, UsbError, UsbTimeoutError
from indi_qhy_py.models import QHY268C, QHY268M, QHY600M
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import ReadCancelled, Transport
from tests.conftest import expose, make_rig

pytestmark = pytest.mark.emulated


def test_finds_only_qhy_product_ids_in_bus_order() -> None:
    rig = make_rig(QHY600M, QHY268C, QHY268M)
    found = Transport.find([QHY268C.runtime_pid], rig.backend)
    assert len(found) == 2 and found[0].address < found[1].address
    assert Transport.find([0x1234], rig.backend) == []
    serials = {rig.open(i).serial() for i in range(3)}
    assert serials == {c.serial for c in rig.cameras}


def test_second_claim_is_device_busy() -> None:
    rig = make_rig(QHY600M)
    rig.open()
    other = Transport(Transport.find([QHY600M.runtime_pid], rig.backend)[0])
    with pytest.raises(DeviceBusyError) as info:
        other.open()
    assert info.value.errno == errno.EBUSY and info.value.__cause__ is not None


def test_unplugged_device_is_gone_with_errno() -> None:
    rig = make_rig(QHY600M)
    transport = rig.open().transport  # the transport itself: its own contract
    rig.cameras[0].unplug(down_s=5)
    with pytest.raises(DeviceGoneError) as info:
        CameraLink(transport).temperature()
    assert info.value.errno == errno.ENODEV
    assert "0xF2" in str(info.value)
    assert Transport.find([QHY600M.runtime_pid], rig.backend) == []
    rig.clock.advance(5)
    back = Transport.find([QHY600M.runtime_pid], rig.backend)
    assert len(back) == 1 and back[0].address != transport.device.address
    with pytest.raises(DeviceGoneError):  # the old handle stays dead
        CameraLink(transport).temperature()


def test_read_with_nothing_to_send_times_out() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    with pytest.raises(UsbTimeoutError) as info:
        transport.read_frame(np.empty(4096, np.uint8), 4096, timeout_ms=50)
    assert info.value.errno == errno.ETIMEDOUT


def _started(rig) -> tuple[Transport, int]:
    """A full frame started on the rig's camera; the transport and the frame's length."""
    link = rig.open()
    link.start_exposure()
    model = rig.cameras[0].model
    readout = protocol.readout_for(model.family.value, 0, protocol.FIRST_ROW, model.readout_height)
    return link.transport, protocol.single_frame_length(model.readout_width, readout.streamed_rows, 16)


def test_frames_are_read_in_place_in_chunks() -> None:
    rig = make_rig(QHY268M)
    transport, total = _started(rig)
    buf = np.zeros(total, np.uint8)
    seen: list[int] = []
    got = transport.read_frame(buf, total, 2000, progress=seen.append, chunk=1 << 20)
    assert got == total
    assert seen == sorted(seen) and len(seen) == -(-total // (1 << 20))
    assert bytes(buf[:4]) == protocol.FRAME_MARKER


def test_cancel_between_chunks() -> None:
    rig = make_rig(QHY600M, rate_limit=True)
    transport, total = _started(rig)
    cancel = threading.Event()
    buf = np.zeros(total, np.uint8)
    with pytest.raises(ReadCancelled):
        transport.read_frame(buf, total, 5000, cancel=cancel,
                             progress=lambda n: cancel.set() if n > 8 << 20 else None)


def test_bad_buffers_are_refused() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        transport.read_frame(np.zeros(10, np.uint16), 10, 100)
    with pytest.raises(ValueError):
        transport.read_frame(np.zeros(10, np.uint8), 11, 100)


def test_stalled_control_request_is_a_usb_error() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    with pytest.raises(UsbError) as info:
        transport.control_out(0xD2, bytes(16))  # a request QHY's SDK never makes
    assert info.value.errno == errno.EPIPE
    with pytest.raises(UsbError) as info:
        CameraLink(transport).command(bytes([0xAC]) + bytes(15))  # nor this command
    assert info.value.errno == errno.EPIPE


def test_drain_discards_queued_bytes() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    link = CameraLink(transport)
    exposed = expose(link, QHY268M, height=8)
    link.start_exposure()
    while link.ddr_bytes() < exposed.received:
        pass
    assert transport.drain() == exposed.received
    assert link.ddr_bytes() == 0
