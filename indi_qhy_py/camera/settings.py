"""What a user sets on a camera, how it is checked, and the frame geometry it implies.

Pure functions of the camera table and the settings: the camera layer re-applies settings after every
re-initialisation, the exposure asks for the decode request of the frame it reads, the INDI device shows the
image size, and none of them repeat the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .. import protocol
from ..decode.frame import DecodeRequest, FrameMeta
from ..models import CameraModel, Rect


@dataclass
class CameraSettings:
    """Everything the user sets; the camera layer re-applies all of it after any re-initialisation.

    ``roi`` is in unbinned pixels of the delivered image: the effective area, or the full readout when
    ``include_overscan`` is set. None means the whole image.
    """

    gain: int = 0
    offset: int = 30
    read_mode: int = 0
    usb_traffic: int = 30
    bits: int = 16
    binning: int = 1
    average_binning: bool = False
    include_overscan: bool = False
    roi: Rect | None = None


@dataclass
class Stats:
    frames_captured: int = 0
    frames_retried: int = 0
    frames_failed: int = 0
    frames_lost: int = 0  # sequence gaps: frames the camera made that never arrived
    usb_errors: int = 0
    reconnects: int = 0


@dataclass(frozen=True)
class CameraFacts:
    """What the camera said of itself, as it goes into a frame's header."""

    serial: str
    firmware_date: str | None  # the FX3 firmware's date, YYYY-MM-DD; None when it did not give one
    fpga_version: str  # the four FPGA version bytes, hex
    humidity_percent: float | None = None  # chamber humidity at readout (cameras with the sensor)
    power_fault: bool = False  # the camera reported a 12 V fault while the frame was taken


@dataclass
class CapturedFrame:
    pixels: np.ndarray
    meta: FrameMeta
    started_utc: datetime
    exposure_s: float
    settings: CameraSettings
    temperature_c: float
    attempts: int
    downloaded_at: float = 0.0  # time.monotonic() when the last byte arrived (for delivery timing)
    facts: CameraFacts | None = None


def validate(model: CameraModel, s: CameraSettings) -> None:
    """Raise ValueError naming the setting and its allowed range."""
    try:
        mode = model.read_mode(s.read_mode)
    except KeyError as err:
        raise ValueError(str(err.args[0])) from err

    def check(name: str, value: int, low: int, high: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"{name} {value} is out of range {low}..{high}"
                             + (f" in read mode {mode.name}" if name == "gain" else ""))

    check("gain", s.gain, 0, mode.gain_max)
    check("offset", s.offset, 0, model.offset_max)
    check("USB traffic", s.usb_traffic, 0, model.usb_traffic_max)
    check("binning", s.binning, 1, max(model.binnings))
    if s.bits not in model.bit_depths:
        raise ValueError(f"bit depth {s.bits} is not one of {model.bit_depths}")
    if s.roi is not None:
        width, height = image_size(model, s)
        r = s.roi
        if r.x < 0 or r.y < 0 or r.width < s.binning or r.height < s.binning or r.x_end > width or r.y_end > height:
            raise ValueError(f"ROI {r.x},{r.y} {r.width}x{r.height} must lie within 0,0 {width}x{height} "
                             f"and be at least {s.binning} pixels a side")


def image_size(model: CameraModel, s: CameraSettings) -> tuple[int, int]:
    """Unbinned width and height of the whole delivered image (effective area, or full readout)."""
    if s.include_overscan:
        return model.readout_width, model.readout_height
    return model.effective.width, model.effective.height


def _origin(model: CameraModel, s: CameraSettings) -> tuple[int, int]:
    return (0, 0) if s.include_overscan else (model.effective.x, model.effective.y)


def image_rows(model: CameraModel, s: CameraSettings) -> tuple[int, int]:
    """First image row and row count the camera must deliver for ``s``."""
    _, oy = _origin(model, s)
    width, height = image_size(model, s)
    roi = s.roi or Rect(0, 0, width, height)
    return oy + roi.y, roi.height


def rows_request(model: CameraModel, s: CameraSettings, live: bool = False) -> tuple[int, int]:
    """The A2 (rows to read, first row) QHY's SDK asks for the same image rows and binning."""
    y, height = image_rows(model, s)
    return protocol.rows_for(model.family.value, y, height, model.readout_height, s.binning, live)


def readout(model: CameraModel, s: CameraSettings, live: bool = False) -> protocol.Readout:
    """How the camera streams a frame for ``s``."""
    return protocol.readout_for(model.family.value, *rows_request(model, s, live), model.readout_height)


def decode_request(model: CameraModel, s: CameraSettings, expected_sequence: int | None,
                   live: bool = False) -> DecodeRequest:
    ox, _ = _origin(model, s)
    width, height = image_size(model, s)
    roi = s.roi or Rect(0, 0, width, height)
    y, rows = image_rows(model, s)
    return DecodeRequest.for_model(model, readout(model, s, live), y=y, height=rows, bits=s.bits, x=ox + roi.x,
                                   width=roi.width, full=s.include_overscan, binning=s.binning,
                                   average=s.average_binning, expected_sequence=expected_sequence, live=live)
