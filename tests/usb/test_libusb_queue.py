"""The libusb-1.0 asynchronous queue, run on a library with libusb's ABI: the project's libusb stand-in (the SDK
oracle's, ``tests/sdk_oracle/libusb_standin.c``), whose transfers are served by a scripted endpoint. The kernel
here has no USB, so this is as close to the real library as the queue's structures, callbacks and event loop get:
frames come through the frame pipeline whole and in order, a stop cancels what is queued, and a device that
vanishes is ENODEV."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from indi_qhy_py.errors import DeviceGoneError, UsbTimeoutError
from indi_qhy_py.usb.bulk_queue import LibusbBulkQueue
from indi_qhy_py.usb.frame_pipeline import FRAME_END_SLACK, FramePipeline
from tests.sdk_oracle.bridge import ScriptedUsbDevice, UsbBridge

STANDIN = Path(__file__).parents[1] / "sdk_oracle" / "libusb_standin.c"
FRAME = 40_000
CHUNK = 16_384  # three transfers a frame
ENDPOINT = 0x81


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    compiler = os.environ.get("CC", "gcc")
    if shutil.which(compiler) is None:
        pytest.skip("no C compiler to build the libusb stand-in")
    library = tmp_path_factory.mktemp("standin") / "libusb-standin.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(library), str(STANDIN),
                    "-lpthread"], check=True)
    return ctypes.CDLL(str(library))


class Opened:
    """One scripted device on the stand-in's bus, opened as pyusb's libusb1 backend opens a device."""

    def __init__(self, lib: ctypes.CDLL, frames: list[bytes]) -> None:
        self.bridge = UsbBridge()
        lib.standin_set_callbacks(*self.bridge.callbacks)
        ends = list(np.cumsum([len(f) for f in frames]))
        self.device = ScriptedUsbDevice(product_id=0xC601, stream=b"".join(frames), frame_ends=ends)
        self.bridge.plug(0, self.device)
        self.context = ctypes.c_void_p()
        assert lib.libusb_init(ctypes.byref(self.context)) == 0
        devices = ctypes.POINTER(ctypes.c_void_p)()
        lib.libusb_get_device_list.restype = ctypes.c_long
        assert lib.libusb_get_device_list(self.context, ctypes.byref(devices)) == 1
        self.handle = ctypes.c_void_p()
        lib.libusb_open.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        assert lib.libusb_open(devices[0], ctypes.byref(self.handle)) == 0
        self.queue = LibusbBulkQueue(lib, self.context.value, self.handle.value, ENDPOINT)

    def pipeline(self, buffers: int = 2) -> FramePipeline:
        pipe = FramePipeline(self.queue, FRAME, "stand-in", chunk=CHUNK, depth=3)
        for _ in range(buffers):
            pipe.give(np.zeros(pipe.buffer_len, np.uint8))
        return pipe


def frame(number: int, length: int = FRAME) -> bytes:
    return bytes([number]) * length


def test_frames_come_whole_and_in_order_through_libusbs_asynchronous_api(standin: ctypes.CDLL) -> None:
    opened = Opened(standin, [frame(n) for n in range(1, 6)])
    pipe = opened.pipeline()
    for number in range(1, 6):
        buffer, received = pipe.next_frame(1000)
        assert received == FRAME and set(buffer[:FRAME].tolist()) == {number}
        pipe.give(buffer)
    submits = [e for e in opened.bridge.events if e[0] == "submit"]
    assert len(submits) >= 15 and {e[2] for e in submits} <= {CHUNK, FRAME - 2 * CHUNK + FRAME_END_SLACK}
    pipe.close()


def test_after_a_short_frame_the_reads_come_back_in_step(standin: ctypes.CDLL) -> None:
    """The transfers queued behind a short frame have taken bytes of the next one before they could be
    cancelled (the stand-in completes every queued transfer at once): that frame comes out damaged, and the
    camera's next frame end, a short transfer, brings the reads back in step."""
    opened = Opened(standin, [frame(1, 20_000), *(frame(n) for n in range(2, 8))])
    pipe = opened.pipeline()
    buffer, received = pipe.next_frame(1000)
    assert received == 20_000 and buffer[19_999] == 1
    pipe.give(buffer)
    got = []
    while True:
        try:
            buffer, received = pipe.next_frame(1000)
        except UsbTimeoutError:
            break  # the script's end
        whole = received == FRAME and len(set(buffer[:FRAME].tolist())) == 1
        got.append(int(buffer[0]) if whole else None)
        assert whole or received != FRAME  # a frame out of step never passes for a whole one
        pipe.give(buffer)
    assert ("cancel", -1, 1) in opened.bridge.events
    assert got[-3:] == [5, 6, 7], got


def test_close_cancels_every_queued_transfer_and_frees_it(standin: ctypes.CDLL) -> None:
    opened = Opened(standin, [])
    pipe = opened.pipeline()
    pipe._fill()  # three transfers queued, nothing on the endpoint
    assert opened.queue.pending == 3
    pipe.close()
    assert opened.queue.pending == 0 and not opened.queue._by_address
    assert sum(1 for e in opened.bridge.events if e[0] == "cancel") == 3


def test_a_device_that_vanishes_is_gone_and_nothing_is_read_after_the_end(standin: ctypes.CDLL) -> None:
    opened = Opened(standin, [frame(1)])
    pipe = opened.pipeline()
    buffer, _ = pipe.next_frame(1000)
    pipe.give(buffer)
    with pytest.raises(UsbTimeoutError):  # the script's end: libusb reports the transfer timed out
        pipe.next_frame(1000)
    opened.bridge.unplug(0)
    with pytest.raises(DeviceGoneError) as info:
        pipe.next_frame(1000)
    assert info.value.errno == errno.ENODEV and "bulk read from stand-in failed" in str(info.value)
