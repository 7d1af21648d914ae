"""What the emulated camera has queued on EP 0x81 (``FrameStream``), its record of each frame sent
(``FrameRecord``), and when its USB link is free (``LinkClock``): shared by the device and the fault injector."""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .. import protocol
from .sensor import Truth

if TYPE_CHECKING:
    from .clock import EmulatedClock
    from .control import CameraRegisters

HOST_QUEUE_S = 0.002  # real seconds: see LinkClock


@dataclass
class FrameRecord:
    """What the camera sent as one frame: for tests and ground truth."""

    sequence: int
    started: float
    registers: CameraRegisters
    layout: protocol.FrameLayout
    truth: Truth
    image: np.ndarray  # the image rows exactly as streamed (big-endian 16-bit or 8-bit), ground truth
    faults: list[str] = field(default_factory=list)
    damage: dict[str, object] = field(default_factory=dict)


class FrameStream:
    """The bytes of one frame still to be sent, as segments of the frame buffer (faults cut and splice them)."""

    def __init__(self, segments: list[np.ndarray], rate: float, start: float) -> None:
        self.segments = segments
        self.total = sum(len(s) for s in segments)
        self.sent = 0
        self.stall_at: int | None = None
        self.unplug_at: int | None = None
        self.unplug_down_s = 2.0
        self.rate = rate
        self.link_from = start  # emulated time the frame's first byte leaves (from ``begin``): the rest at ``rate``

    def begin(self, host_from: float) -> None:
        """The first byte goes once the frame is ready (``start``) and the host reads (``host_from``); the time the
        emulator spends rendering the frame costs no link time."""
        self.link_from = max(self.link_from, host_from)

    def due(self) -> float:
        """When the bytes sent so far have crossed the link."""
        return self.link_from + self.sent / self.rate

    @property
    def waiting(self) -> int:
        return self.total - self.sent

    def serve(self, address: int, length: int) -> int:
        """Copy up to ``length`` bytes to ``address``; stops at a stall point."""
        limit = self.total if self.stall_at is None else min(self.total, self.stall_at)
        n = max(0, min(length, limit - self.sent))
        done = 0
        pos = self.sent
        for seg in self.segments:
            if done >= n:
                break
            if pos >= len(seg):
                pos -= len(seg)
                continue
            take = min(len(seg) - pos, n - done)
            ctypes.memmove(address + done, seg.ctypes.data + pos, take)
            done += take
            pos = 0
        self.sent += done
        return done


class LinkClock:
    """When the camera's USB link finished the last bytes it carried (emulated seconds), and when the host had them.

    A host that reads again within ``HOST_QUEUE_S`` real seconds had its next transfer queued, as libusb's are: the
    link goes on from where it was, so a synchronous reader's call overhead is no idle time on the link. A host that
    comes back later finds the link idle for as long as it was away: its wake-up after the bytes were due plus the
    time it took to ask again. When the emulator itself fell behind (rendering or copying a frame in the host's
    process) the host had the bytes late through no fault of its own: that delay is not charged to the link.
    """

    def __init__(self, clock: EmulatedClock) -> None:
        self.clock = clock
        self.free_at: float | None = None
        self._handed_real: float | None = None  # real time the host had its last transfer's bytes
        self._woke_s = 0.0  # real seconds the host woke after they were due
        #: real seconds the emulator itself spent serving the last transfer (rendering the frame, copying bytes):
        #: a camera does that in hardware, so a host that queues its next transfer only after it is not late
        self.own_s = 0.0
        self.host_waited = False  # the host had to wait for the last transfer's bytes to cross the link

    def handed_over(self, slept: bool) -> None:
        """The host has its last transfer now: after the emulator slept until the link finished it (any overshoot
        is the host's wake-up, and counts), or at once because the emulator was behind time (that does not)."""
        self._handed_real = time.monotonic()
        self.host_waited = slept
        late = self.clock.real_seconds(self.clock.now() - self.free_at) if slept and self.free_at is not None else 0.0
        self._woke_s = max(0.0, late)

    def queued_from(self, submitted: float) -> float:
        """From when a transfer queued at ``submitted`` may move bytes: once the link is free, whenever the host
        wakes up (the host controller goes on with a queued transfer by itself)."""
        return submitted if self.free_at is None else max(self.free_at, submitted)

    def host_from(self, entered: float, entered_real: float) -> float:
        """From when a transfer the host asked for at ``entered`` (``entered_real`` in real time) may move bytes."""
        free_at = self.free_at
        if free_at is None or self._handed_real is None:
            return entered
        away = self._woke_s + max(0.0, entered_real - self._handed_real)
        if away <= HOST_QUEUE_S:
            return free_at
        return min(entered, free_at + away * self.clock.speed)
