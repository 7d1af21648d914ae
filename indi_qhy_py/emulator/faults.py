"""Faults the emulated camera injects on demand: the failures QHY users actually meet, each counted.

Stream faults damage the next frame(s) sent on EP 0x81:

* ``drop`` — a run of packets lost (USB CRC errors): the frame arrives shorter than its rows, the rest shifted;
* ``short`` — the device ends the frame early with a short packet;
* ``stall`` — the device stops sending mid-frame: the host's read times out;
* ``zero_fill`` — rows of zeros where the DDR overflowed ("frames implanted with zeros");
* ``misalign`` — stale bytes in front of the frame: the frame starts late.

Device faults: ``unplug`` makes the device vanish (a 12 V power cycle or a pulled cable) now, midway through the
next exposure, or midway through the next readout, and return after ``down_s`` emulated seconds.

Flipped bits are not among them: the observed frame format carries no checksum, so neither QHY's SDK nor this
driver could tell such a frame from a good one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import protocol

STREAM_FAULTS = ("drop", "short", "stall", "zero_fill", "misalign")
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


@dataclass
class FaultSite:
    """Where a stream fault strikes: the frame's buffer and stream, its record, and how to find a packet boundary."""

    params: dict[str, float | int | str]
    stream: Any  # the device's queued stream: segments, total, stall_at
    record: Any  # the device's FrameRecord: damage is noted there
    buf: np.ndarray
    layout: protocol.FrameLayout
    rng: np.random.Generator

    def packet_point(self, default_fraction: float) -> int:
        """A packet boundary at ``params["at"]``, or at that fraction of the pixel data."""
        pix0, packet = self.layout.pixel_offset, protocol.MAX_PACKET_SUPERSPEED
        at = int(self.params.get("at", int(pix0 + self.layout.pixel_bytes * default_fraction)))
        return max(packet, at // packet * packet)


def zero_fill(at: FaultSite) -> None:
    layout = at.layout
    row_bytes = layout.row_bytes
    first = int(at.params.get("row", layout.height // 3))
    count = int(at.params.get("rows", max(1, layout.height // 20)))
    first, count = min(first, layout.height - 1), min(count, layout.height - first)
    pix0 = layout.pixel_offset
    at.buf[pix0 + first * row_bytes : pix0 + (first + count) * row_bytes] = 0
    at.record.damage["zero_rows"] = (first, count)


def drop(at: FaultSite) -> None:
    start = at.packet_point(0.4)
    length = int(at.params.get("packets", 16)) * protocol.MAX_PACKET_SUPERSPEED
    whole = at.stream.segments[0]
    at.stream.segments = [whole[:start], whole[start + length :]]
    at.stream.total -= min(length, len(whole) - start)
    at.record.damage["dropped"] = (start, length)


def misalign(at: FaultSite) -> None:
    garbage = at.rng.integers(0, 256, int(at.params.get("bytes", 512)), dtype=np.uint8)
    at.stream.segments.insert(0, garbage)
    at.stream.total += len(garbage)
    at.record.damage["leading_bytes"] = len(garbage)


def short(at: FaultSite) -> None:
    end = at.packet_point(0.5)
    segments = at.stream.segments
    at.stream.segments = [np.concatenate(segments)[:end]] if len(segments) > 1 else [segments[0][:end]]
    at.stream.total = end
    at.record.damage["ends_at"] = end


def stall(at: FaultSite) -> None:
    at.stream.stall_at = at.packet_point(0.5)
    at.record.damage["stalls_at"] = at.stream.stall_at


#: How each stream fault damages the frame about to be sent.
STREAM_DAMAGE: dict[str, Callable[[FaultSite], None]] = {
    "zero_fill": zero_fill,
    "drop": drop,
    "misalign": misalign,
    "short": short,
    "stall": stall,
}


def damage(fault: Fault, site: FaultSite) -> None:
    """Apply one stream fault to the frame about to be sent, and note it in the frame's record."""
    site.record.faults.append(fault.kind)
    STREAM_DAMAGE[fault.kind](site)
