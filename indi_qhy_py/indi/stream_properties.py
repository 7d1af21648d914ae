"""The streaming properties of a QHY camera: INDI StreamManager's names, elements and defaults, and our counters.

Names, elements, rules and permissions are those INDI's own CCD drivers define (checked against
indi_simulator_ccd in tests/e2e), so KStars' video window and any INDI client work unchanged. CCD_STREAM_FRAME is,
as there, in binned pixels within CCD_FRAME, and follows CCD_FRAME and CCD_BINNING. STREAM_STATS is ours: what the
camera lost, what the recording and the preview left out, counted apart.
"""

from __future__ import annotations

from ..models import CameraModel
from .properties import Number, Switch, Text, Vector, numbers, switches, texts

STREAMING = "Streaming"
MAX_STREAM_EXPOSURE_S = 60.0
STATS_ELEMENTS = (
    ("FRAMES", "Frames received"), ("LOST", "Lost by the camera"), ("DAMAGED", "Damaged, left out"),
    ("RECORDED", "Recorded"), ("RECORD_DROPPED", "Left out of the recording"), ("PREVIEW_SENT", "Preview sent"),
    ("PREVIEW_DROPPED", "Preview dropped (slow client)"), ("PREVIEW_SKIPPED", "Preview skipped (rate limit)"),
)
#: Saved with the configuration, in this order (after the CCD's own).
STREAM_CONFIG = ("STREAMING_EXPOSURE", "CCD_STREAM_ENCODER", "STREAM_FULL_DEPTH", "LIMITS", "RECORD_FILE",
                 "RECORD_OPTIONS")


def stream_vectors(d: str, model: CameraModel, upload_dir: str) -> list[Vector]:
    eff = model.effective
    return [
        switches(d, "CCD_VIDEO_STREAM", "Video Stream", STREAMING,
                 [Switch("STREAM_ON", "Stream On"), Switch("STREAM_OFF", "Stream Off", True)], saved=False),
        numbers(d, "STREAMING_EXPOSURE", "Expose", STREAMING,
                [Number("STREAMING_EXPOSURE_VALUE", "Duration (s)", 0.1, model.exposure_min_s, MAX_STREAM_EXPOSURE_S,
                        0.1, "%.6f"),
                 Number("STREAMING_DIVISOR_VALUE", "Divisor", 1, 1, 15, 1, "%.f")]),
        numbers(d, "FPS", "FPS", STREAMING,
                [Number("EST_FPS", "Instant.", 0, 0, 999, 0, "%.2f"),
                 Number("AVG_FPS", "Average (1 sec.)", 0, 0, 999, 0, "%.2f")], perm="ro", saved=False),
        switches(d, "RECORD_STREAM", "Video Record", STREAMING,
                 [Switch("RECORD_ON", "Record On"), Switch("RECORD_DURATION_ON", "Record (Duration)"),
                  Switch("RECORD_FRAME_ON", "Record (Frames)"), Switch("RECORD_OFF", "Record Off", True)],
                 saved=False),
        texts(d, "RECORD_FILE", "Record File", STREAMING,
              [Text("RECORD_FILE_DIR", "Dir.", f"{upload_dir.rstrip('/')}/indi__D_"),
               Text("RECORD_FILE_NAME", "Name", "indi_record__T_")]),
        numbers(d, "RECORD_OPTIONS", "Record Options", STREAMING,
                [Number("RECORD_DURATION", "Duration (sec)", 1, 0.001, 999999, 0, "%.3f"),
                 Number("RECORD_FRAME_TOTAL", "Frames", 30, 1, 999999999, 1, "%.f")]),
        numbers(d, "CCD_STREAM_FRAME", "Frame", STREAMING,
                [Number("X", "Left", 0, 0, eff.width - 1, 1, "%.f"), Number("Y", "Top", 0, 0, eff.height - 1, 1, "%.f"),
                 Number("WIDTH", "Width", eff.width, 1, eff.width, 1, "%.f"),
                 Number("HEIGHT", "Height", eff.height, 1, eff.height, 1, "%.f")], saved=False),
        switches(d, "CCD_STREAM_ENCODER", "Encoder", STREAMING,
                 [Switch("RAW", "RAW", True), Switch("MJPEG", "MJPEG")]),
        switches(d, "CCD_STREAM_RECORDER", "Recorder", STREAMING, [Switch("SER", "SER", True)], saved=False),
        # INDI 2.x: the raw preview's depth (8: stretched, as clients before it expect; 16: the camera's values)
        switches(d, "STREAM_FULL_DEPTH", "Stream Depth", STREAMING,
                 [Switch("FULL_DEPTH_8BIT", "8 bit", True), Switch("FULL_DEPTH_16BIT", "16 bit")]),
        numbers(d, "LIMITS", "Limits", STREAMING,
                [Number("LIMITS_BUFFER_MAX", "Maximum Buffer Size (MB)", 512, 1, 65536, 1, "%.0f"),
                 Number("LIMITS_PREVIEW_FPS", "Maximum Preview FPS", 10, 1, 120, 1, "%.0f")]),
        numbers(d, "STREAM_STATS", "Stream Statistics", STREAMING,
                [Number(name, label, 0, 0, 0, 0, "%.f") for name, label in STATS_ELEMENTS], perm="ro", saved=False),
    ]


