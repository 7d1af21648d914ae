"""Recording a live stream to a SER file: every frame, in its own thread, behind a bounded buffer.

The stream's reader hands each frame over and goes on at once (``offer`` never blocks). The writer thread empties
the buffer to disk. Only when the disk falls behind by more than the buffer (LIMITS_BUFFER_MAX) is a frame left out
of the recording, and each one left out is counted; the camera and the preview never wait for the disk. A
recording ends by itself after its frame count or its duration (from its first frame), or when told to.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..camera.live import LiveFrame
from .ser import SerHeader, SerWriter
from .upload import UploadRoot

RECORDER_NICE = 5  # this thread only


@dataclass(frozen=True)
class RecordPlan:
    directory: str  # under the upload root (placeholders already expanded)
    name: str  # the file name, ".ser" included
    max_frames: int | None = None
    max_seconds: float | None = None
    colour: int = 0  # SER ColorID
    observer: str = ""
    instrument: str = ""
    telescope: str = ""


@dataclass
class RecordResult:
    path: Path
    frames: int = 0  # written
    dropped: int = 0  # left out: the disk fell behind by more than the buffer
    error: str = ""  # why the recording ended early, when it did
    seconds: float = 0.0  # from its first frame to its last
    timestamps_ok: bool = True  # every frame's UTC time later than the one before


class Recorder:
    """One recording at a time; ``on_end`` runs in the writer thread once the file is closed."""

    def __init__(self, uploads: UploadRoot, on_end: Callable[[RecordResult], None]) -> None:
        self.uploads = uploads
        self.on_end = on_end
        self.buffer_bytes = 512 << 20
        self._queue: collections.deque[LiveFrame] = collections.deque()
        self._queued_bytes = 0
        self._wake = threading.Condition()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self._plan: RecordPlan | None = None
        self._first: LiveFrame | None = None
        self._accepted = 0
        self.result: RecordResult | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, plan: RecordPlan) -> Path:
        """Create the file (UploadError/OSError when it cannot be) and start accepting frames."""
        if self.running:
            raise RuntimeError("a recording is already running")
        out, path = self.uploads.create(plan.directory, plan.name)
        self._plan, self._first, self._accepted = plan, None, 0
        self.result = RecordResult(path)
        self._accepting = True
        self._thread = threading.Thread(target=self._write_loop, args=(out,), name="ser-recorder", daemon=True)
        self._thread.start()
        return path

    def offer(self, frame: LiveFrame) -> None:
        """Take a frame for the recording, or count it as dropped when the buffer is full; never waits."""
        plan, result = self._plan, self.result
        if not self._accepting or plan is None or result is None:
            return
        first = self._first or frame
        if plan.max_seconds is not None and frame.arrived - first.arrived >= plan.max_seconds:
            self.stop()
            return
        size = frame.pixels.nbytes
        with self._wake:
            if self._queued_bytes + size > self.buffer_bytes and self._queue:
                result.dropped += 1
                return
            self._first = first
            self._queue.append(frame)
            self._queued_bytes += size
            self._accepted += 1
            if plan.max_frames is not None and self._accepted >= plan.max_frames:
                self._accepting = False
            self._wake.notify()

    def stop(self) -> None:
        """Accept no more frames; the writer finishes what it holds, then closes the file."""
        with self._wake:
            self._accepting = False
            self._wake.notify()

    def wait(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _next(self) -> LiveFrame | None:
        with self._wake:
            while not self._queue and self._accepting:
                self._wake.wait(0.5)
            if not self._queue:
                return None
            frame = self._queue.popleft()
            self._queued_bytes -= frame.pixels.nbytes
            return frame

    def _write_loop(self, out: BinaryIO) -> None:
        with contextlib.suppress(OSError):  # the camera's reader comes first when the CPU is short; the buffer
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RECORDER_NICE)  # absorbs the wait
        plan, result = self._plan, self.result
        assert plan is not None and result is not None
        writer: SerWriter | None = None
        last = None
        try:
            while (frame := self._next()) is not None:
                if writer is None:
                    height, width = frame.pixels.shape
                    header = SerHeader(width, height, 8 if frame.pixels.dtype.itemsize == 1 else 16, plan.colour,
                                       observer=plan.observer, instrument=plan.instrument,
                                       telescope=plan.telescope, start=frame.utc)
                    writer = SerWriter(out, header)
                writer.write(frame.pixels, frame.utc)
                result.frames += 1
                if last is not None and frame.utc <= last.utc:
                    result.timestamps_ok = False
                last = frame
        except (OSError, ValueError) as err:
            result.error = f"recording stopped after {result.frames} frames: {err}"
            self.stop()
        finally:
            self._drop_queue()
            with contextlib.suppress(OSError):
                if writer is None:
                    SerWriter(out, SerHeader(0, 0, 16, plan.colour)).close()
                else:
                    writer.close()
            if last is not None and self._first is not None:
                result.seconds = last.arrived - self._first.arrived
            self.on_end(result)

    def _drop_queue(self) -> None:
        with self._wake:
            self._accepting = False
            self._queue.clear()
            self._queued_bytes = 0
