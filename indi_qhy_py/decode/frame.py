"""What a decoded frame is: the decode request, the metadata, and the integrity verdict.

Shared by the Cython decoder, the numpy reference decoder and everything downstream (camera layer, FITS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .. import protocol
from ..models import CameraModel, Rect


class Verdict(Enum):
    GOOD = "good"
    SHORT = "short"  # fewer bytes than the frame's rows
    MISALIGNED = "misaligned"  # the frame marker is not where it belongs: the stream is out of step
    ZERO_FILLED = "zero-filled"  # DDR overflow: rows of zeros
    SEQUENCE_GAP = "sequence gap"  # intact, but frames were lost before it


@dataclass(frozen=True)
class DecodeRequest:
    """How to decode one frame. All rectangles are in full-image coordinates.

    The camera streams ``readout`` (``protocol.readout_for``): its image rows are full-width image rows
    ``roi_y .. roi_y + rows``; ``crop`` is the part of them to return (the effective area, or the whole image),
    binned ``binning`` x ``binning``. ``live`` frames carry their marker at the end instead of the start.
    """

    width: int
    roi_y: int
    readout: protocol.Readout
    bits: int
    crop: Rect
    optical_black: Rect
    overscan: Rect
    binning: int = 1
    average: bool = False
    expected_sequence: int | None = None
    saturation: int | None = None  # ADU at or above which a pixel counts as saturated; default full scale
    live: bool = False

    @property
    def rows(self) -> int:
        return self.readout.image_rows

    @property
    def layout(self) -> protocol.FrameLayout:
        return protocol.frame_layout(self.width, self.readout, self.bits, self.live)

    @property
    def saturation_level(self) -> int:
        full = 65535 if self.bits == 16 else 255
        return full if self.saturation is None else min(self.saturation, full)

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.crop.height // self.binning, self.crop.width // self.binning

    @property
    def out_dtype(self) -> np.dtype:
        if self.binning > 1 and not self.average:
            return np.dtype(np.uint32)
        return np.dtype(np.uint16 if self.bits == 16 else np.uint8)

    def local(self, rect: Rect) -> tuple[int, int, int, int]:
        """``rect`` clipped to the received rows: (x0, x1, y0, y1) with y relative to the first received row."""
        y0 = max(rect.y, self.roi_y) - self.roi_y
        y1 = min(rect.y_end, self.roi_y + self.rows) - self.roi_y
        if y1 <= y0:
            return rect.x, rect.x, 0, 0
        return rect.x, rect.x_end, y0, y1

    @classmethod
    def for_model(cls, model: CameraModel, readout: protocol.Readout, *, y: int | None = None,
                  height: int | None = None, bits: int = 16, x: int | None = None, width: int | None = None,
                  full: bool = False, binning: int = 1, average: bool = False,
                  expected_sequence: int | None = None, live: bool = False) -> DecodeRequest:
        """The request for a model's frame streamed as ``readout``: the effective area (or, ``full``, the whole
        image) within image rows ``y .. y + height`` (by default every image row streamed)."""
        roi_y = readout.image_y
        y = roi_y if y is None else max(y, roi_y)
        end = roi_y + readout.image_rows if height is None else min(y + height, roi_y + readout.image_rows)
        if full:
            area = Rect(0, y, model.readout_width, max(0, end - y))
        else:
            eff = model.effective
            y0, y1 = max(eff.y, y), min(eff.y_end, end)
            area = Rect(eff.x, y0, eff.width, max(0, y1 - y0))
        if x is not None or width is not None:
            x0 = area.x if x is None else max(area.x, x)
            x1 = area.x_end if width is None else min(area.x_end, x0 + width)
            area = Rect(x0, area.y, max(0, x1 - x0), area.height)
        crop = Rect(area.x, area.y, area.width // binning * binning, area.height // binning * binning)

        def rows_of(rect: Rect) -> Rect:  # the calibration regions are measured on the delivered rows only
            y0, y1 = max(rect.y, y), min(rect.y_end, end)
            return Rect(rect.x, y0, rect.width, max(0, y1 - y0))

        return cls(model.readout_width, roi_y, readout, bits, crop, rows_of(model.optical_black),
                   rows_of(model.overscan), binning, average, expected_sequence, live=live)


@dataclass
class FrameMeta:
    """Everything learnt about a frame besides its pixels."""

    verdict: Verdict
    damage: str  # where and what, for the user; empty when good
    sequence: int | None
    received: int
    ob_mean: float
    ob_median: float
    ob_std: float
    ob_row_means: np.ndarray
    overscan_mean: float | None
    overscan_std: float | None
    saturated: int
    zero_rows: tuple[int, int] | None = None  # (first row, count) of all-zero rows, relative to the ROI
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def good(self) -> bool:
        return self.verdict is Verdict.GOOD


@dataclass
class DecodedFrame:
    pixels: np.ndarray
    meta: FrameMeta


@dataclass
class PassResult:
    """What one pass over the pixel bytes measures (the part the two kernels must agree on exactly)."""

    zero_rows: int
    first_zero_row: int
    last_zero_row: int
    ob_n: int
    ob_sum: int
    ob_sumsq: int
    ob_median: float
    os_n: int
    os_sum: int
    os_sumsq: int
    saturated: int
