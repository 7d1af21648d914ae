"""The frame pipeline on a scripted endpoint: transfers queued ahead across frame boundaries, in order, at most
``depth`` in flight; a short frame cancels what is queued behind it and reading starts again aligned; errors and
timeouts keep every buffer; a stop is noticed between transfers."""

from __future__ import annotations

import ctypes
import errno
import threading

import numpy as np
import pytest
import usb.core

from indi_qhy_py.errors import DeviceGoneError, UsbTimeoutError
from indi_qhy_py.usb.frame_pipeline import FramePipeline
from indi_qhy_py.usb.transport import ReadCancelled

FRAME = 10_000
CHUNK = 4_096  # three transfers a frame: 4096, 4096, 1808


class ScriptedEndpoint:
    """A bulk IN endpoint with frames queued on it: each transfer gets the next bytes, ending at a frame's end."""

    def __init__(self, frames: list[bytes], refuse_after: int | None = None) -> None:
        self.frames = list(frames)
        self.at = 0  # bytes of the current frame sent
        self.queued: list[tuple[int, int]] = []
        self.log: list[str] = []  # "submit" / "reap" in the order the pipeline made them
        self.refuse_after = refuse_after  # submissions accepted in flight before the system says no
        self.fail_next: usb.core.USBError | None = None
        self.cancelled = 0

    @property
    def pending(self) -> int:
        return len(self.queued)

    def submit(self, address: int, length: int) -> bool:
        if self.refuse_after is not None and len(self.queued) >= self.refuse_after:
            return False
        self.queued.append((address, length))
        self.log.append("submit")
        return True

    def reap(self, timeout_ms: int) -> int | None:
        if not self.frames:
            return None
        address, length = self.queued[0]
        if self.fail_next is not None:
            self.queued.pop(0)
            err, self.fail_next = self.fail_next, None
            raise err
        frame = self.frames[0]
        n = min(length, len(frame) - self.at)
        ctypes.memmove(address, frame[self.at:self.at + n], n)
        self.at += n
        if self.at == len(frame):
            self.frames.pop(0)
            self.at = 0
        self.queued.pop(0)
        self.log.append("reap")
        return n

    def cancel_all(self) -> None:
        self.cancelled += len(self.queued)
        self.queued.clear()


def frame(number: int, length: int = FRAME) -> bytes:
    return bytes([number]) * length


def pipeline(endpoint: ScriptedEndpoint, buffers: int = 2, depth: int = 3) -> FramePipeline:
    pipe = FramePipeline(endpoint, FRAME, "scripted", chunk=CHUNK, depth=depth)
    for _ in range(buffers):
        pipe.give(np.zeros(pipe.buffer_len, np.uint8))
    return pipe


def test_frames_arrive_whole_and_in_order_with_the_next_frame_queued_before_this_one_ends() -> None:
    endpoint = ScriptedEndpoint([frame(n) for n in range(1, 5)])
    pipe = pipeline(endpoint)
    got = []
    for _ in range(4):
        buffer, received = pipe.next_frame(100)
        got.append((received, set(buffer[:received].tolist())))
        pipe.give(buffer)
    assert got == [(FRAME, {n}) for n in range(1, 5)]
    # frame 1 is 3 transfers: when its last one is reaped, the next frame's first is already queued behind it
    third_reap = [i for i, e in enumerate(endpoint.log) if e == "reap"][2]
    assert endpoint.log[:third_reap].count("submit") >= 4
    assert max(_in_flight(endpoint.log)) == 3


def _in_flight(log: list[str]) -> list[int]:
    level, levels = 0, []
    for event in log:
        level += 1 if event == "submit" else -1
        levels.append(level)
    return levels


def test_a_refused_submission_goes_on_with_fewer_in_flight() -> None:
    endpoint = ScriptedEndpoint([frame(1), frame(2)], refuse_after=1)
    pipe = pipeline(endpoint)
    for number in (1, 2):
        buffer, received = pipe.next_frame(100)
        assert received == FRAME and buffer[0] == buffer[FRAME - 1] == number
        pipe.give(buffer)
    assert max(_in_flight(endpoint.log)) == 1


def test_a_short_frame_cancels_what_is_queued_behind_it_and_the_next_frame_is_whole() -> None:
    endpoint = ScriptedEndpoint([frame(1, 5_000), frame(2), frame(3)])
    pipe = pipeline(endpoint)
    buffer, received = pipe.next_frame(100)
    assert received == 5_000 and buffer[4_999] == 1  # handed on short: the decoder calls it damaged
    assert endpoint.cancelled >= 1  # the transfers aimed at the rest of frame 1 and at frame 2's middle
    pipe.give(buffer)
    mark = len(endpoint.log)
    for number in (2, 3):
        buffer, received = pipe.next_frame(100)
        assert received == FRAME and set(buffer[:FRAME].tolist()) == {number}
        pipe.give(buffer)
        if number == 2:  # one transfer at a time until a frame's end showed where the camera is
            assert max(_in_flight(endpoint.log[mark:])) == 1
    assert max(_in_flight(endpoint.log[mark:])) == 3  # then queued ahead again


def test_a_timeout_keeps_the_transfers_queued_and_a_stop_is_noticed() -> None:
    endpoint = ScriptedEndpoint([])
    pipe = pipeline(endpoint)
    with pytest.raises(UsbTimeoutError) as info:
        pipe.next_frame(10)
    assert info.value.errno == errno.ETIMEDOUT and endpoint.pending == 3
    endpoint.frames.append(frame(7))
    buffer, received = pipe.next_frame(10)
    assert received == FRAME and buffer[0] == 7
    stop = threading.Event()
    stop.set()
    with pytest.raises(ReadCancelled):
        pipe.next_frame(10, cancel=stop)
    pipe.close()
    assert endpoint.pending == 0


def test_a_failed_transfer_is_the_projects_error_with_its_cause_and_every_buffer_is_kept() -> None:
    endpoint = ScriptedEndpoint([frame(1), frame(2)])
    pipe = pipeline(endpoint)
    endpoint.fail_next = usb.core.USBError("No such device", -4, errno.ENODEV)
    with pytest.raises(DeviceGoneError) as info:
        pipe.next_frame(100)
    assert info.value.errno == errno.ENODEV and isinstance(info.value.__cause__, usb.core.USBError)
    assert "0 of 10000 bytes" in str(info.value) and endpoint.pending == 0
    endpoint.frames.pop(0)  # the camera came back at a frame boundary
    endpoint.at = 0
    buffer, received = pipe.next_frame(100)  # both buffers are still the pipeline's
    assert received == FRAME and buffer[0] == 2


def test_without_a_buffer_there_is_nothing_to_read_into() -> None:
    pipe = pipeline(ScriptedEndpoint([frame(1)]), buffers=0)
    assert not pipe.busy
    with pytest.raises(RuntimeError, match="no buffer"):
        pipe.next_frame(10)
    with pytest.raises(ValueError, match="at least 11024 bytes"):
        pipe.give(np.zeros(FRAME, np.uint8))  # no room for the last transfer's slack
