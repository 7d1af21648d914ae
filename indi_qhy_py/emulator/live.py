"""The emulated camera's live mode: a frame every period from the moment it free-runs, kept in the DDR until the
host reads it, and counted as lost when the DDR is full (the frame numbers then jump, as the driver sees)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class LiveSchedule:
    t0: float
    period: float
    capacity: int  # frames the DDR holds
    next_index: int = 0
    lost: int = 0  # frames that found the DDR full

    def retimed(self, now: float, period: float, capacity: int) -> LiveSchedule:
        """The same stream after a setting changed the frame time: the next frame comes one new period on."""
        return LiveSchedule(now - self.next_index * period, period, capacity, self.next_index, self.lost)

    def backlog(self, now: float) -> int:
        """Frames finished and waiting in the DDR for the host (at most the DDR's capacity)."""
        due = math.floor((now - self.t0) / self.period) if self.period > 0 else self.next_index
        return min(max(0, due - self.next_index), self.capacity)

    def take(self, now: float) -> tuple[int, float] | None:
        """The next frame the host may read now, as (frames lost to a full DDR just before it, its start time);
        None while it is still being exposed or read out."""
        due = math.floor((now - self.t0) / self.period) if self.period > 0 else self.next_index + 1
        if due <= self.next_index:
            return None
        overflow = max(0, due - self.next_index - self.capacity)
        self.lost += overflow
        self.next_index += overflow
        started = self.t0 + self.next_index * self.period
        self.next_index += 1
        return overflow, started
