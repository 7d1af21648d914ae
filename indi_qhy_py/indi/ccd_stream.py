"""The CCD device's live video: CCD_VIDEO_STREAM and its settings, the measured FPS, the preview, the counters.

The camera layer's reader hands each frame to ``_on_frame`` (in its own thread): the FPS meter, the preview sender
and the recording take it without waiting. Handlers run in the message loop and never wait for the camera: a stop
is asked for and its completion reported when the camera is back in single-frame mode (``_on_end``). A stream
that ends because the camera vanished starts again by itself once the camera is back (the ticker's ``report``),
so an unattended night of recording survives an unplug; the SER file's timestamps show the gap.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING

from ..camera.live import LiveEnd, LiveFrame
from ..errors import CameraBusyError, QhyError
from ..models import Rect
from .ccd_recording import CcdRecording
from .device import Refused
from .properties import State, Vector
from .stream_preview import PreviewLimits, PreviewSender

if TYPE_CHECKING:
    from .ccd import QhyCcd


class FpsMeter:
    """Instant FPS (the last interval) and the average over the last second, from arrival times."""

    def __init__(self) -> None:
        self.arrivals: collections.deque[float] = collections.deque(maxlen=4096)

    def add(self, arrived: float) -> None:
        self.arrivals.append(arrived)

    def instant(self) -> float:
        a = self.arrivals
        return 1.0 / (a[-1] - a[-2]) if len(a) >= 2 and a[-1] > a[-2] else 0.0

    def average(self, now: float) -> float:
        return float(sum(1 for t in self.arrivals if now - t <= 1.0))


class CcdStreaming:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.camera = device.camera
        self.preview = PreviewSender(device.name, device.writer, self._preview_limits)
        self.recording = CcdRecording(device, self)
        self.fps = FpsMeter()
        self.totals = {"FRAMES": 0, "LOST": 0, "DAMAGED": 0}  # of the streams of this session before the current
        self.on = False  # the user wants the stream (STREAM_ON), even while it waits for the camera to come back
        self.resume = False  # the camera vanished mid-stream: start again when it is back
        self.started_by_recording = False

    # --- client requests ----------------------------------------------------------------------------------------
    def _on_ccd_video_stream(self, v: Vector, values: dict[str, object]) -> None:
        if v.choice(values) == "STREAM_ON":
            self.start(by_recording=False)
        else:
            self.stop("stream stopped")
            v.apply({"STREAM_OFF": True})
            self.device.update(v, State.IDLE if not self.camera.live.stream else State.BUSY, "stopping the stream")

    def _on_streaming_exposure(self, v: Vector, values: dict[str, object]) -> None:
        self.device.accept(v, values)
        if self.camera.live.stream is not None:  # a new exposure applies at once: the stream restarts with it
            self._restart("streaming exposure changed")

    def _on_ccd_stream_frame(self, v: Vector, values: dict[str, object]) -> None:
        merged = {**{k: round(x) for k, x in v.values().items()},  # type: ignore[call-overload]
                  **{k: round(float(x)) for k, x in values.items()}}  # type: ignore[arg-type]
        width, height = self._binned_frame()
        if not (merged["X"] >= 0 and merged["Y"] >= 0 and merged["WIDTH"] >= 1 and merged["HEIGHT"] >= 1
                and merged["X"] + merged["WIDTH"] <= width and merged["Y"] + merged["HEIGHT"] <= height):
            raise Refused(f"stream frame {merged['X']},{merged['Y']} {merged['WIDTH']}x{merged['HEIGHT']} must lie "
                          f"within the frame, 0,0 {width}x{height} (binned pixels of CCD_FRAME)")
        v.apply(merged)
        self.device.update(v, State.OK)
        if self.camera.live.stream is not None:
            self._restart("stream frame changed")

    def _on_ccd_stream_encoder(self, v: Vector, values: dict[str, object]) -> None:
        self.device.accept(v, values)  # read for each preview frame

    _on_limits = _on_ccd_stream_recorder = _on_stream_full_depth = _on_ccd_stream_encoder

    def follow_frame(self) -> None:
        """CCD_FRAME or CCD_BINNING changed: the stream frame becomes the whole new (binned) frame, as in INDI."""
        v = self.device.all["CCD_STREAM_FRAME"]
        width, height = self._binned_frame()
        v.apply({"X": 0, "Y": 0, "WIDTH": width, "HEIGHT": height})
        v["X"].max, v["Y"].max, v["WIDTH"].max, v["HEIGHT"].max = width - 1, height - 1, width, height
        self.device.update(v, State.OK, limits=True)

    # --- running ------------------------------------------------------------------------------------------------
    def start(self, by_recording: bool) -> None:
        """Start the stream (Refused when the camera cannot); a running one goes on."""
        v = self.device.all["CCD_VIDEO_STREAM"]
        if self.camera.live.stream is not None:
            self.device.update(v, State.BUSY)
            return
        if self.device.exposures.busy():
            raise Refused("an exposure is running: the stream can start once it is done", State.BUSY)
        try:
            self._start_camera()
        except (CameraBusyError, QhyError, ValueError) as err:
            raise Refused(f"the stream cannot start: {err}") from err
        self.on, self.resume, self.started_by_recording = True, False, by_recording
        self.totals = dict.fromkeys(self.totals, 0)
        self.fps = FpsMeter()
        self.preview.start()
        v.apply({"STREAM_ON": True})
        exposure = self.device.all["STREAMING_EXPOSURE"]["STREAMING_EXPOSURE_VALUE"].value
        self.device.update(v, State.BUSY, f"streaming {self._geometry_text()} at {exposure:g} s a frame")

    def _start_camera(self) -> None:
        a, s = self.device.all, self.camera.settings
        exposure = a["STREAMING_EXPOSURE"]["STREAMING_EXPOSURE_VALUE"].value
        self.camera.live.start(exposure, self._on_frame, self._on_end, roi=self.sensor_roi(),
                               bits=16 if s.bits > 8 else 8, average_binning=True)

    def stop(self, reason: str) -> None:
        """Ask the stream to end (it reports when the camera is back in single-frame mode); never waits."""
        self.on = self.resume = False
        self.recording.stop()
        self.camera.live.stop(reason, wait_s=0)
        self.preview.stop()

    def _restart(self, why: str) -> None:
        self.camera.live.stop(why, wait_s=1.0)  # the handler waits here: the reader's end does not take the lock
        self._keep_totals()
        try:
            self._start_camera()
        except (CameraBusyError, QhyError, ValueError) as err:
            self.stop(f"stream stopped: {err}")
            raise Refused(f"the stream could not restart: {err}") from err

    def _keep_totals(self) -> None:
        stream = self.camera.live.last
        if stream is not None:
            for key, value in (("FRAMES", stream.stats.frames), ("LOST", stream.stats.lost),
                               ("DAMAGED", stream.stats.damaged)):
                self.totals[key] += value

    def _on_frame(self, frame: LiveFrame) -> None:
        """The reader's thread: hand on, never wait."""
        self.fps.add(frame.arrived)
        self.recording.offer(frame)
        self.preview.offer(frame)

    def _on_end(self, end: LiveEnd) -> None:
        """The reader's thread, once the camera is out of live mode (or gone): reported from a thread of its own,
        so the reader ends at once even while a handler holds the device and waits for it."""
        threading.Thread(target=self._report_end, args=(end,), name=f"{self.device.name}-stream-end",
                         daemon=True).start()

    def _report_end(self, end: LiveEnd) -> None:
        with self.device.lock:
            if self.camera.live.stream is not None:
                return  # a restart, or a new stream: it carries on
            self._keep_totals()
            v = self.device.all["CCD_VIDEO_STREAM"]
            if end.vanished and self.on:
                self.resume = True
                self.device.update(v, State.ALERT, f"{end.reason}; the stream starts again when it is back")
                return
            self.on = False
            self.preview.stop()
            self.recording.stop()
            v.apply({"STREAM_OFF": True})
            self.device.update(v, State.IDLE, end.reason)
            self.report(final=True)

    def report(self, final: bool = False) -> None:
        """The ticker's share: FPS and counters while streaming (``final``: once more after the end); a stream
        that vanished with the camera started again once the camera is back."""
        self._resume_if_back()
        stream = self.camera.live.stream
        if stream is None and not self.on and not final:
            return
        a = self.device.all
        a["FPS"]["EST_FPS"].value = round(self.fps.instant(), 2) if stream is not None else 0
        a["FPS"]["AVG_FPS"].value = self.fps.average(time.monotonic())
        self.device.update(a["FPS"], State.OK)
        live = stream.stats if stream is not None else None
        counts = {key: self.totals[key] + (getattr(live, key.lower()) if live is not None else 0)
                  for key in self.totals}
        counts.update(self.recording.counts())
        p = self.preview.stats
        counts.update(PREVIEW_SENT=p.sent, PREVIEW_DROPPED=p.dropped, PREVIEW_SKIPPED=p.skipped)
        stats = a["STREAM_STATS"]
        for key, value in counts.items():
            stats[key].value = value
        self.device.update(stats, State.ALERT if counts["LOST"] or counts["RECORD_DROPPED"] else State.OK)

    def _resume_if_back(self) -> None:
        if self.resume and self.camera.state == "connected" and self.camera.live.stream is None:
            self.resume = False
            try:
                self._start_camera()
                self.device.update(self.device.all["CCD_VIDEO_STREAM"], State.BUSY,
                                   "the camera is back: streaming again")
            except (CameraBusyError, QhyError, ValueError) as err:
                self.resume = True
                self.device.log("WARNING", f"stream not restarted yet: {err}")

    # --- geometry -----------------------------------------------------------------------------------------------
    def _base_frame(self) -> Rect:
        s = self.camera.settings
        width, height = self.camera.image_size()
        return s.roi or Rect(0, 0, width, height)

    def _binned_frame(self) -> tuple[int, int]:
        base, b = self._base_frame(), self.camera.settings.binning
        return base.width // b, base.height // b

    def sensor_roi(self) -> Rect:
        """CCD_STREAM_FRAME (binned, within CCD_FRAME) as the camera's ROI in image pixels."""
        f, base, b = self.device.all["CCD_STREAM_FRAME"], self._base_frame(), self.camera.settings.binning
        x, y, w, h = (round(f[n].value) for n in ("X", "Y", "WIDTH", "HEIGHT"))
        return Rect(base.x + x * b, base.y + y * b, w * b, h * b)

    def _geometry_text(self) -> str:
        f = self.device.all["CCD_STREAM_FRAME"]
        bits = 8 if self.camera.settings.bits == 8 else 16
        return f"{f['WIDTH'].value:.0f}x{f['HEIGHT'].value:.0f} {bits}-bit bin {self.camera.settings.binning}"

    def _preview_limits(self) -> PreviewLimits:
        a = self.device.all
        return PreviewLimits(a["LIMITS"]["LIMITS_PREVIEW_FPS"].value,
                             round(a["STREAMING_EXPOSURE"]["STREAMING_DIVISOR_VALUE"].value),
                             a["CCD_STREAM_ENCODER"].on_switch() == "MJPEG",
                             a["STREAM_FULL_DEPTH"].on_switch() == "FULL_DEPTH_16BIT")
