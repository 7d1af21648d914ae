"""The CCD device's stream recording: RECORD_STREAM, RECORD_FILE and RECORD_OPTIONS, to SER files.

Recording takes every frame of the stream (``output.recorder``); turning it on starts the stream when none runs,
and that stream ends with the recording. RECORD_FILE_DIR stays under the upload root like every file the driver
writes, and names take INDI's placeholders, in UTC: ``_D_`` the date, ``_H_`` the time, ``_T_`` both, ``_F_`` the
filter in place. A file is never overwritten: a taken name gets ``_1``, ``_2``...
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..camera.live import LiveFrame
from ..output import ser
from ..output.fits_header import bayer_offsets
from ..output.recorder import Recorder, RecordPlan, RecordResult
from ..output.upload import UploadError, check_prefix
from .device import Refused
from .properties import State, Vector

if TYPE_CHECKING:
    from .ccd import QhyCcd
    from .ccd_stream import CcdStreaming

MODES = ("RECORD_ON", "RECORD_DURATION_ON", "RECORD_FRAME_ON")


def expand(template: str, when: datetime, filter_name: str | None) -> str:
    """INDI's record-name placeholders, filled in."""
    safe_filter = re.sub(r"[^A-Za-z0-9._-]+", "_", filter_name or "NoFilter")
    return (template.replace("_D_", when.strftime("%Y-%m-%d")).replace("_H_", when.strftime("%H-%M-%S"))
            .replace("_T_", when.strftime("%Y-%m-%d@%H-%M-%S")).replace("_F_", safe_filter))


def shifted_pattern(pattern: str, dx: int, dy: int) -> str:
    """A 2x2 mosaic ("RGGB") as seen from (dx, dy) into it."""
    cells = [pattern[0:2], pattern[2:4]]
    return "".join(cells[(row + dy) % 2][(col + dx) % 2] for row in (0, 1) for col in (0, 1))


class CcdRecording:
    def __init__(self, device: QhyCcd, streaming: CcdStreaming) -> None:
        self.device = device
        self.streaming = streaming
        self.recorder = Recorder(device.delivery.uploads, self._on_recorded)

    # --- client requests ----------------------------------------------------------------------------------------
    def _on_record_stream(self, v: Vector, values: dict[str, object]) -> None:
        choice = v.choice(values)
        if choice == "RECORD_OFF" or choice is None:
            self.stop()
            v.apply({"RECORD_OFF": True})
            self.device.update(v, State.BUSY if self.recorder.running else State.IDLE,
                               "finishing the recording" if self.recorder.running else None)
            return
        if self.recorder.running:
            raise Refused("a recording is already running: turn RECORD_OFF first", State.BUSY)
        self.recorder.buffer_bytes = round(self.device.all["LIMITS"]["LIMITS_BUFFER_MAX"].value) << 20
        try:
            path = self.recorder.start(self._plan(str(choice)))
        except (UploadError, OSError) as err:
            raise Refused(f"cannot record: {err}") from err
        if self.device.camera.live.stream is None:
            try:
                self.streaming.start(by_recording=True)
            except Refused:
                self.recorder.stop()
                raise
        v.apply({choice: True})
        self.device.update(v, State.BUSY, f"recording to {path}")

    def _on_record_file(self, v: Vector, values: dict[str, object]) -> None:
        now, uploads = datetime.now(UTC), self.device.delivery.uploads
        try:
            if "RECORD_FILE_DIR" in values:
                uploads.check(expand(str(values["RECORD_FILE_DIR"]), now, None))
            if "RECORD_FILE_NAME" in values:
                check_prefix(expand(str(values["RECORD_FILE_NAME"]), now, None))
        except UploadError as err:
            raise Refused(str(err)) from err
        self.device.accept(v, values)

    def _on_record_options(self, v: Vector, values: dict[str, object]) -> None:
        self.device.accept(v, values)  # read when a recording starts

    # --- the stream's frames --------------------------------------------------------------------------------------
    def offer(self, frame: LiveFrame) -> None:
        self.recorder.offer(frame)

    def stop(self) -> None:
        self.recorder.stop()

    def counts(self) -> dict[str, int]:
        result = self.recorder.result
        return {"RECORDED": result.frames if result else 0, "RECORD_DROPPED": result.dropped if result else 0}

    # --- plan and end -----------------------------------------------------------------------------------------------
    def _plan(self, mode: str) -> RecordPlan:
        device, a = self.device, self.device.all
        snooped = device.snoops.snapshot()
        now = datetime.now(UTC)
        directory = expand(str(a["RECORD_FILE"]["RECORD_FILE_DIR"].value), now, snooped.filter_name)
        name = expand(str(a["RECORD_FILE"]["RECORD_FILE_NAME"].value), now, snooped.filter_name)
        options = a["RECORD_OPTIONS"]
        camera = device.camera
        stream_settings = dataclasses.replace(camera.settings, roi=self.streaming.sensor_roi())
        offsets = bayer_offsets(device.model, stream_settings)
        colour = ser.MONO if offsets is None else ser.colour_id(shifted_pattern(device.model.bayer_pattern or "",
                                                                               *offsets))
        return RecordPlan(directory, name if name.lower().endswith(".ser") else f"{name}.ser",
                          max_frames=round(options["RECORD_FRAME_TOTAL"].value) if mode == "RECORD_FRAME_ON" else None,
                          max_seconds=options["RECORD_DURATION"].value if mode == "RECORD_DURATION_ON" else None,
                          colour=colour, instrument=f"{device.model.name} {camera.info.serial}",
                          telescope=a["ACTIVE_DEVICES"]["ACTIVE_TELESCOPE"].value)

    def _on_recorded(self, result: RecordResult) -> None:
        """The recorder's thread, once the file is closed."""
        text = (f"recorded {result.frames} frames ({result.seconds:.1f} s) to {result.path}"
                + (f"; {result.dropped} left out: the disk fell behind the stream by more than LIMITS_BUFFER_MAX"
                   if result.dropped else ""))
        if result.error:
            text = f"{result.error}; {text}"
        with self.device.lock:
            v = self.device.all["RECORD_STREAM"]
            v.apply({"RECORD_OFF": True})
            self.device.update(v, State.ALERT if result.error or result.dropped else State.OK, text)
            self.streaming.report(final=True)
            if self.streaming.started_by_recording and self.streaming.on:
                self.streaming.stop("recording finished: stream stopped")
                self.device.update(self.device.all["CCD_VIDEO_STREAM"], State.BUSY, "stopping the stream")
