"""The pyusb transport over the emulator: discovery, errors with their errno, in-place chunked reads."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.errors import DeviceBusyError, DeviceGoneError, UsbError, UsbTimeoutError
from indi_qhy_py.models import QHY268C, QHY268M, QHY600M
from indi_qhy_py.protocol import Command
from indi_qhy_py.usb.transport import ReadCancelled, Transport
from tests.conftest import expose, make_rig, send, status

pytestmark = pytest.mark.emulated


def test_finds_only_qhy_product_ids_in_bus_order() -> None:
    rig = make_rig(QHY600M, QHY268C, QHY268M)
    found = Transport.find([QHY268C.runtime_pid], rig.backend)
    assert len(found) == 2 and found[0].address < found[1].address
    assert Transport.find([0x1234], rig.backend) == []
    serials = {status(rig.open(i)).serial for i in range(3)}
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
        status(transport)
    assert info.value.errno == errno.ENODEV
    assert "0xD2" in str(info.value)
    assert Transport.find([QHY600M.runtime_pid], rig.backend) == []
    rig.clock.advance(5)
    back = Transport.find([QHY600M.runtime_pid], rig.backend)
    assert len(back) == 1 and back[0].address != transport.device.address
    with pytest.raises(DeviceGoneError):  # the old handle stays dead
        status(transport)


def test_read_with_nothing_to_send_times_out() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    with pytest.raises(UsbTimeoutError) as info:
        transport.read_frame(np.empty(4096, np.uint8), 4096, timeout_ms=50)
    assert info.value.errno == errno.ETIMEDOUT


def test_frames_are_read_in_place_in_chunks() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    send(transport, Command.START)
    layout = protocol.frame_layout(QHY268M.readout_width, QHY268M.readout_height, 16, False)
    buf = np.zeros(layout.total_len, np.uint8)
    seen: list[int] = []
    while status(transport).state != protocol.CameraState.FRAME_READY:
        pass
    got = transport.read_frame(buf, layout.total_len, 2000, progress=seen.append, chunk=1 << 20)
    assert got == layout.total_len
    assert seen == sorted(seen) and len(seen) == -(-layout.total_len // (1 << 20))
    assert bytes(buf[layout.trailer_offset : layout.trailer_offset + 4]) == protocol.TRAILER_MAGIC


def test_cancel_between_chunks() -> None:
    rig = make_rig(QHY600M, rate_limit=True)
    transport = rig.open().transport  # the transport itself: its own contract
    send(transport, Command.START)
    cancel = threading.Event()
    layout = protocol.frame_layout(QHY600M.readout_width, QHY600M.readout_height, 16, False)
    buf = np.zeros(layout.total_len, np.uint8)
    with pytest.raises(ReadCancelled):
        transport.read_frame(buf, layout.total_len, 5000, cancel=cancel,
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
        send(transport, Command.READ_MODE, mode=9)
    assert info.value.errno == errno.EPIPE


def test_drain_discards_queued_bytes() -> None:
    rig = make_rig(QHY268M)
    transport = rig.open().transport  # the transport itself: its own contract
    _raw, received = expose(transport, QHY268M, rows=8)
    send(transport, Command.START)
    while status(transport).state != protocol.CameraState.FRAME_READY:
        pass
    assert transport.drain() == received
    assert status(transport).state == protocol.CameraState.IDLE
