"""SER files: the header byte by byte, little-endian samples, the timestamp trailer, a file cut short, and the
recorder that writes them behind a bounded buffer."""

from __future__ import annotations

import os
import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

from indi_qhy_py.camera.live import LiveFrame
from indi_qhy_py.output import ser
from indi_qhy_py.output.recorder import Recorder, RecordPlan, RecordResult
from indi_qhy_py.output.upload import UploadError, UploadRoot

T0 = datetime(2026, 12, 1, 22, 0, 0, tzinfo=UTC)

def new_file(path: Path) -> BinaryIO:
    """A new file for a writer that takes it over (and closes it)."""
    return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640), "w+b")



def frames(count: int, shape: tuple[int, int], dtype: type, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    top = 65535 if dtype is np.uint16 else 255
    return [rng.integers(0, top, shape, dtype=dtype) for _ in range(count)]


def test_ticks_are_dotnet_100ns_units_since_year_one() -> None:
    assert ser.ticks(datetime(1, 1, 1, tzinfo=UTC)) == 0
    assert ser.ticks(datetime(2000, 1, 1, tzinfo=UTC)) == 630_822_816_000_000_000
    assert ser.from_ticks(ser.ticks(T0 + timedelta(microseconds=7))) == T0 + timedelta(microseconds=7)


@pytest.mark.parametrize("dtype,bits", [(np.uint16, 16), (np.uint8, 8)])
def test_written_frames_read_back_with_their_times(tmp_path: Path, dtype: type, bits: int) -> None:
    path = tmp_path / "a.ser"
    data = frames(5, (30, 40), dtype)
    writer = ser.SerWriter(new_file(path), ser.SerHeader(40, 30, bits, ser.colour_id("RGGB"), observer="me",
                                                             instrument="QHY600M", telescope="RC8", start=T0))
    for i, frame in enumerate(data):
        writer.write(frame, T0 + timedelta(milliseconds=25 * i))
    writer.close()
    raw = path.read_bytes()
    assert raw[:14] == b"LUCAM-RECORDER" and len(raw) == 178 + 5 * data[0].nbytes + 5 * 8
    lu_id, colour, endian, width, height, depth, count = struct.unpack("<7i", raw[14:42])
    assert (lu_id, colour, endian, width, height, depth, count) == (0, 8, 0, 40, 30, bits, 5)
    assert raw[42:82].rstrip(b"\0") == b"me" and raw[82:122].rstrip(b"\0") == b"QHY600M"
    assert struct.unpack("<q", raw[170:178])[0] == ser.ticks(T0)  # DateTime_UTC
    if bits == 16:  # little-endian samples: the low byte first
        assert raw[178:180] == struct.pack("<H", int(data[0][0, 0]))
    back = ser.read_ser(str(path))
    assert back.header.width == 40 and back.header.frames == 5 and back.header.telescope == "RC8"
    assert all(np.array_equal(a, b) for a, b in zip(back.frames, data, strict=True))
    assert back.utc == [T0 + timedelta(milliseconds=25 * i) for i in range(5)]


def test_a_recording_cut_short_still_opens_with_its_frames(tmp_path: Path) -> None:
    path = tmp_path / "cut.ser"
    out = new_file(path)
    writer = ser.SerWriter(out, ser.SerHeader(8, 4, 16))
    data = frames(ser.HEADER_EVERY + 7, (4, 8), np.uint16)
    for frame in data:
        writer.write(frame, T0)
    out.flush()  # the process dies here: no trailer, no final count, the last staged block never written
    got = ser.read_ser(str(path))
    assert 0 < got.header.frames <= ser.HEADER_EVERY and got.utc == []
    assert all(np.array_equal(a, b) for a, b in zip(got.frames, data, strict=False))
    assert path.stat().st_size >= ser.HEADER_LEN + got.header.frames * data[0].nbytes
    writer.out._stage_ref = None  # let the test's half-written writer go without closing it
    out.close()


def test_a_frame_of_another_size_is_refused(tmp_path: Path) -> None:
    writer = ser.SerWriter(new_file(tmp_path / "b.ser"), ser.SerHeader(8, 4, 16))
    with pytest.raises(ValueError, match="8x4"):
        writer.write(np.zeros((5, 8), np.uint16), T0)
    writer.close()


# --- the recorder -------------------------------------------------------------------------------------------------
def live(pixels: np.ndarray, index: int, arrived: float | None = None) -> LiveFrame:
    return LiveFrame(pixels, index, T0 + timedelta(milliseconds=10 * index), arrived if arrived is not None else
                     time.monotonic(), index + 1)


class Ended:
    def __init__(self) -> None:
        self.results: list[RecordResult] = []

    def __call__(self, result: RecordResult) -> None:
        self.results.append(result)


def test_the_recorder_stops_after_its_frame_count(tmp_path: Path) -> None:
    ended = Ended()
    recorder = Recorder(UploadRoot(tmp_path), ended)
    path = recorder.start(RecordPlan("night", "m42.ser", max_frames=10))
    data = frames(15, (16, 24), np.uint16)
    for i, frame in enumerate(data):
        recorder.offer(live(frame, i))
    assert recorder.wait(10)
    back = ser.read_ser(str(path))
    assert ended.results[0].frames == 10 == back.header.frames and ended.results[0].timestamps_ok
    assert all(np.array_equal(a, b) for a, b in zip(back.frames, data[:10], strict=True))


def test_the_recorder_stops_after_its_duration(tmp_path: Path) -> None:
    ended = Ended()
    recorder = Recorder(UploadRoot(tmp_path), ended)
    recorder.start(RecordPlan("", "d.ser", max_seconds=0.5))
    for i, frame in enumerate(frames(10, (4, 4), np.uint8)):
        recorder.offer(live(frame, i, arrived=100.0 + 0.1 * i))  # 0.1 s apart: frames 0-4 are within 0.5 s
    assert recorder.wait(10) and ended.results[0].frames == 5


class SlowFile:
    """A disk that takes 50 ms a write."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return self.inner.write(data)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_a_slow_disk_never_holds_up_the_stream_and_what_it_loses_is_counted(tmp_path: Path) -> None:
    uploads = UploadRoot(tmp_path)
    create = uploads.create

    def slow_create(directory: str, name: str):  # type: ignore[no-untyped-def]
        out, path = create(directory, name)
        return SlowFile(out), path

    uploads.create = slow_create  # type: ignore[method-assign]
    ended = Ended()
    recorder = Recorder(uploads, ended)
    recorder.buffer_bytes = 3 * 64 * 64 * 2
    recorder.start(RecordPlan("", "slow.ser"))
    began = time.monotonic()
    for i, frame in enumerate(frames(40, (64, 64), np.uint16)):
        recorder.offer(live(frame, i))
    offered_s = time.monotonic() - began
    recorder.stop()
    assert recorder.wait(20)
    result = ended.results[0]
    assert offered_s < 0.5  # 40 offers while the disk takes 50 ms a frame
    assert result.dropped > 0 and result.frames + result.dropped == 40


def test_recordings_never_overwrite_and_never_follow_a_planted_link(tmp_path: Path) -> None:
    uploads = UploadRoot(tmp_path / "root")
    (tmp_path / "root" / "rec").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "root" / "rec" / "a.ser")
    out, path = uploads.create("rec", "a.ser")
    out.close()
    assert path.name == "a_1.ser" and victim.read_text() == "keep"
    with pytest.raises(UploadError, match="outside the upload root"):
        uploads.create("/etc", "a.ser")
    os.symlink(tmp_path, tmp_path / "root" / "elsewhere")
    with pytest.raises(UploadError, match="symbolic link"):
        uploads.create("elsewhere", "b.ser")
