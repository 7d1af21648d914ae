"""The emulated camera's 4-pin filter-wheel port, and a CFW3 filter wheel that may be plugged into it.

The host writes ASCII orders with 0xC1 and reads the wheel's answers with 0xC3 (``protocol``, OBSERVED): "VRS" its
version, "MXP" its slot count, "NOW" its position, one digit to move. With no wheel every answer is zeros, which
QHY's SDK takes as "no wheel". ASSUMED, for want of a real wheel: a CFW3 answers its version only once it has
started after power-on (users report up to a minute), turns at ``seconds_per_slot`` the shorter way round, answers
"N" for its position while it turns, and may stop answering altogether (a fault to rehearse).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .. import protocol

CFW_VERSION = b"20210104"  # ASSUMED: a version text starting with "2", which the SDK takes as a plugged wheel


class EmulatedWheel:
    """A QHY CFW3 on the camera's port, on the camera's clock."""

    def __init__(self, slots: int = 7, seconds_per_slot: float = 1.0, start_delay_s: float = 0.0) -> None:
        if not 2 <= slots <= 9:
            raise ValueError(f"a CFW3 has 2-9 slots, not {slots}")
        self.slots = slots
        self.seconds_per_slot = seconds_per_slot
        self.start_delay_s = start_delay_s
        self.answering = True
        self.position = 0  # 0-based
        self.moves = 0
        self._target = 0
        self._move_started = 0.0
        self._move_time = 0.0
        self._powered_at = 0.0

    def power_on(self, now: float) -> None:
        self._powered_at = now
        self._target = self.position
        self._move_time = 0.0

    def ready(self, now: float) -> bool:
        return self.answering and now >= self._powered_at + self.start_delay_s

    def _settle(self, now: float) -> bool:
        """True while the wheel is turning."""
        if self._target != self.position and now >= self._move_started + self._move_time:
            self.position = self._target
        return self._target != self.position

    def order(self, slot: int, now: float) -> None:
        if not self.ready(now) or not 0 <= slot < self.slots:
            return  # ASSUMED: a wheel that is not ready, or a slot it lacks, ignores the order
        self._settle(now)
        steps = abs(slot - self.position)
        self._target, self._move_started = slot, now
        self._move_time = min(steps, self.slots - steps) * self.seconds_per_slot
        self.moves += 1

    def answer(self, query: bytes, now: float) -> bytes:
        if not self.ready(now):
            return b""
        if query == protocol.CFW_VERSION_QUERY:
            return CFW_VERSION
        if query == protocol.CFW_SLOTS_QUERY:
            return protocol.encode_cfw_digit(self.slots)
        if query == protocol.CFW_POSITION_QUERY:
            return protocol.CFW_MOVING if self._settle(now) else protocol.encode_cfw_digit(self.position)
        return b""


class FilterPort:
    """The port: orders out, answers in; ``wheel`` is None with nothing plugged in."""

    def __init__(self, clock: Callable[[], float], wheel: EmulatedWheel | None = None) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.wheel = wheel
        self.orders: list[bytes] = []
        self._query = b""
        if wheel is not None:
            wheel.power_on(clock())

    def power_on(self) -> None:
        if self.wheel is not None:
            self.wheel.power_on(self._clock())

    def write(self, order: bytes) -> None:
        with self._lock:
            self.orders.append(order)
            if order in protocol.CFW_QUERIES:
                self._query = order
            elif len(order) == 1 and self.wheel is not None:
                slot = protocol.decode_cfw_digit(order)
                if slot is not None:
                    self.wheel.order(slot, self._clock())

    def read(self, length: int) -> bytes:
        with self._lock:
            answer = self.wheel.answer(self._query, self._clock()) if self.wheel is not None else b""
        return answer[:length].ljust(length, b"\0")
