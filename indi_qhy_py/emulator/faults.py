"""Faults the emulated camera injects on demand: the failures QHY users actually meet, each counted.

Stream faults damage the next frame(s) sent on EP 0x81:

* ``drop`` — a run of packets lost (USB CRC errors): everything after arrives early, the frame is misaligned;
* ``corrupt`` — bytes flipped in the pixel data: only the checksum can tell;
* ``short`` — the device ends the frame early with a short packet;
* ``stall`` — the device stops sending mid-frame: the host's read times out;
* ``zero_fill`` — rows of zeros where the DDR overflowed ("frames implanted with zeros");
* ``misalign`` — stale bytes in front of the frame: the frame starts late.

Device faults: ``unplug`` makes the device vanish (a 12 V power cycle or a pulled cable) now, midway through the
next exposure, or midway through the next readout, and return after ``down_s`` emulated seconds.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

STREAM_FAULTS = ("drop", "corrupt", "short", "stall", "zero_fill", "misalign")
UNPLUG_WHEN = ("now", "exposure", "readout")


@dataclass
class Fault:
    kind: str
    remaining: int = 1  # frames (or unplugs) it still applies to
    params: dict[str, float | int | str] = field(default_factory=dict)


class FaultInjector:
    """A queue of pending faults and counters of what was injected and what took effect."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.requested: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()

    def inject(self, kind: str, frames: int = 1, **params: float | int | str) -> None:
        """Arm a fault for the next ``frames`` frames (stream faults) or the next unplug point."""
        if kind not in STREAM_FAULTS and kind != "unplug":
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join((*STREAM_FAULTS, 'unplug'))}")
        if kind == "unplug" and params.get("when", "now") not in UNPLUG_WHEN:
            raise ValueError(f"unplug 'when' must be one of {UNPLUG_WHEN}")
        with self._lock:
            self._pending.append(Fault(kind, frames, dict(params)))
            self.requested[kind] += frames

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take_stream_faults(self) -> list[Fault]:
        """The stream faults that apply to the frame about to be sent (each counted as applied)."""
        taken: list[Fault] = []
        with self._lock:
            for fault in self._pending:
                if fault.kind in STREAM_FAULTS and fault.remaining > 0:
                    fault.remaining -= 1
                    taken.append(fault)
                    self.applied[fault.kind] += 1
            self._pending = [f for f in self._pending if f.remaining > 0]
        return taken

    def take_unplug(self, when: str) -> Fault | None:
        """A pending unplug due at ``when``; counted as applied when taken."""
        with self._lock:
            for fault in self._pending:
                if fault.kind == "unplug" and fault.params.get("when", "now") == when:
                    fault.remaining -= 1
                    self.applied["unplug"] += 1
                    self._pending = [f for f in self._pending if f.remaining > 0]
                    return fault
        return None

    def pending(self, kind: str) -> bool:
        with self._lock:
            return any(f.kind == kind for f in self._pending)
