"""SER video files, the format lucky-imaging tools (AutoStakkert!, Siril, PIPP, PlanetarySystemStacker) read.

The layout (public SER v3 description): a 178-byte little-endian header — "LUCAM-RECORDER", LuID, ColorID,
LittleEndian, width, height, bits per plane, frame count, observer / instrument / telescope (40 bytes each), the
start time local and UTC as .NET ticks (100 ns since 0001-01-01) — then the frames, then one UTC tick count per
frame. 16-bit samples are written little-endian with the LittleEndian field 0: the description says 1, but the
readers named above (and INDI's and FireCapture's writers) take 0 as little-endian, and a file must open there.

The frame count in the header is written when the file is closed, and every ``HEADER_EVERY`` frames as the count
of frames then in the file, so a recording cut short by a crash or a power cut still opens, with its frames.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import numpy as np

from .append_file import AppendFile

FILE_ID = b"LUCAM-RECORDER"
HEADER = struct.Struct("<14s7i40s40s40sqq")
HEADER_LEN = HEADER.size  # 178
FRAME_COUNT_AT = 14 + 6 * 4
LITTLE_ENDIAN_DATA = 0  # see the module docstring
MONO = 0
BAYER = {"RGGB": 8, "GRBG": 9, "GBRG": 10, "BGGR": 11}
HEADER_EVERY = 100
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def ticks(when: datetime) -> int:
    """A time as .NET ticks: 100 ns units since 0001-01-01 (``when`` aware; naive is taken as UTC)."""
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_ticks(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value // 10)


def colour_id(bayer: str | None) -> int:
    """The ColorID of a mosaic ("RGGB", ...), or MONO."""
    if bayer is None:
        return MONO
    if bayer not in BAYER:
        raise ValueError(f"SER has no colour id for a {bayer} mosaic")
    return BAYER[bayer]


@dataclass(frozen=True)
class SerHeader:
    width: int
    height: int
    bits: int
    colour: int = MONO
    frames: int = 0
    observer: str = ""
    instrument: str = ""
    telescope: str = ""
    start: datetime | None = None

    def pack(self) -> bytes:
        start = self.start or datetime.now(UTC)
        local_wall_clock = start.astimezone().replace(tzinfo=UTC)  # DateTime is the local time, in ticks
        return HEADER.pack(FILE_ID, 0, self.colour, LITTLE_ENDIAN_DATA, self.width, self.height, self.bits,
                           self.frames, _field(self.observer), _field(self.instrument), _field(self.telescope),
                           ticks(local_wall_clock), ticks(start))

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * (2 if self.bits > 8 else 1)


def _field(text: str) -> bytes:
    return text.encode("ascii", "replace")[:40]


class SerWriter:
    """Frames appended one by one to an open binary file; ``close`` writes the timestamps and the frame count."""

    def __init__(self, out: BinaryIO, header: SerHeader, direct: bool = True) -> None:
        if header.bits not in range(1, 17):
            raise ValueError(f"SER holds 1-16 bits per sample, not {header.bits}")
        self.out = AppendFile(out, direct)  # O_DIRECT where the filesystem allows: see append_file
        self.header = header
        self.frames = 0
        self._ticks: list[int] = []
        self._dtype = np.dtype("<u2" if header.bits > 8 else "u1")
        self.out.write(header.pack())

    def write(self, pixels: np.ndarray, utc: datetime) -> None:
        """One frame (height x width, of the header's size); 16-bit samples go out little-endian as they are."""
        h = self.header
        if pixels.shape != (h.height, h.width):
            raise ValueError(f"frame is {pixels.shape[1]}x{pixels.shape[0]}, the recording {h.width}x{h.height}")
        if pixels.dtype != self._dtype or not pixels.flags.c_contiguous:
            pixels = np.ascontiguousarray(pixels, dtype=self._dtype)  # only on a big-endian host or a view
        self.out.write(pixels)
        self._ticks.append(ticks(utc))
        self.frames += 1
        if self.frames % HEADER_EVERY == 0:  # the count of the frames now really in the file, for a crash
            durable = (self.out.sync_blocks() - HEADER_LEN) // self.header.frame_bytes
            self._write_count(min(self.frames, durable))

    def _write_count(self, count: int | None = None) -> None:
        self.out.patch(FRAME_COUNT_AT, struct.pack("<i", self.frames if count is None else count))

    def close(self) -> None:
        """The trailer (one UTC time per frame) and the final frame count; closes the file."""
        try:
            self.out.write(struct.pack(f"<{len(self._ticks)}q", *self._ticks))
            self._write_count()
        finally:
            self.out.close()


@dataclass(frozen=True)
class SerFile:
    """A SER file read back: its header, its frames (a read-only map of the file) and their UTC times."""

    header: SerHeader
    frames: np.ndarray  # frames x height x width
    utc: list[datetime]  # empty when the file has no trailer (cut short)


def read_ser(path: str, any_file_id: bool = False) -> SerFile:
    """Read a SER file (as written here or by any SER writer that puts little-endian data under LittleEndian 0;
    ``any_file_id``: also files whose FileID is not the format's, as INDI's own recorder writes "INDI-RECORDER").
    A header that counts more frames than the file holds is believed only as far as the file goes."""
    with open(path, "rb") as f:
        raw = f.read(HEADER_LEN)
    if len(raw) < HEADER_LEN or (raw[:14] != FILE_ID and not any_file_id):
        raise ValueError(f"{path} is not a SER file")
    (_, _, colour, _, width, height, bits, count, observer, instrument, telescope, _,
     utc_start) = HEADER.unpack(raw)
    header = SerHeader(width, height, bits, colour, count, observer.rstrip(b"\0").decode("ascii", "replace"),
                       instrument.rstrip(b"\0").decode("ascii", "replace"),
                       telescope.rstrip(b"\0").decode("ascii", "replace"), from_ticks(utc_start))
    dtype = np.dtype("<u2" if bits > 8 else "u1")
    if header.frame_bytes:
        count = min(count, (os.path.getsize(path) - HEADER_LEN) // header.frame_bytes)
        header = dataclasses.replace(header, frames=count)
    frames = (np.memmap(path, dtype=dtype, mode="r", offset=HEADER_LEN, shape=(count, height, width)) if count
              else np.empty((0, height, width), dtype=dtype))
    trailer_at = HEADER_LEN + count * header.frame_bytes
    stamps: list[datetime] = []
    if os.path.getsize(path) == trailer_at + 8 * count:  # a file cut short has more frames there, no trailer
        with open(path, "rb") as f:
            f.seek(trailer_at)
            stamps = [from_ticks(t) for t in struct.unpack(f"<{count}q", f.read(8 * count))]
    return SerFile(header, frames, stamps)
