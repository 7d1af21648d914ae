"""The CCD device's offset advice: whether the bias clips at 0 at the current gain and offset, and the lowest safe
offset there, from the last bias frame or one taken on request (``analysis.offset_advice``).

``OFFSET_ADVICE`` (read-only) holds the last bias's level, scatter, pixels at 0, the lowest safe offset and the gain
and offset it was taken at; Ok while the bias is clear of 0, Alert when it clips or is too close, with a message
saying which offset to use. ``OFFSET_CHECK`` takes a bias now (an exposure like any other: clients get its frame).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..analysis.offset_advice import advise
from ..camera import CapturedFrame
from .device import Refused
from .properties import Number, State, Switch, Vector, numbers, switches

if TYPE_CHECKING:
    from .ccd import QhyCcd

GROUP = "Sensor"


def offset_vectors(device: str) -> list[Vector]:
    return [
        numbers(device, "OFFSET_ADVICE", "Offset advice", GROUP,
                [Number(name, label, 0, 0, 0, 0, fmt) for name, label, fmt in (
                    ("BIAS_LEVEL", "Bias level (ADU)", "%.1f"), ("BIAS_SIGMA", "Bias sigma (ADU)", "%.2f"),
                    ("CLIPPED", "Pixels at 0", "%.f"), ("SAFE_OFFSET", "Lowest safe offset", "%.f"),
                    ("GAIN", "At gain", "%.f"), ("OFFSET", "At offset", "%.f"))], perm="ro", saved=False),
        switches(device, "OFFSET_CHECK", "Check offset", GROUP, [Switch("TAKE_BIAS", "Take a bias now")],
                 saved=False),
    ]


class CcdOffsetAdvice:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device

    def _on_offset_check(self, v: Vector, values: dict[str, object]) -> None:
        if self.device.exposures.busy():
            raise Refused("an exposure is running: the offset is checked on its own bias, after it", State.IDLE)
        self.device.exposures.start(frame_type="FRAME_BIAS")
        v["TAKE_BIAS"].on = False
        self.device.update(v, State.BUSY, "taking a bias to check the offset")

    def examine(self, frame: CapturedFrame) -> None:
        """A bias frame was delivered: its advice (in the exposure's worker thread)."""
        settings, device = frame.settings, self.device
        check = device.all["OFFSET_CHECK"]
        if frame.pixels.dtype != np.uint16 or settings.binning != 1:
            with device.lock:
                device.update(check, State.IDLE, "offset advice needs an unbinned 16-bit bias (BIT_DEPTH 16)")
            return
        advice = advise(frame.pixels, settings.offset, settings.gain)
        v = device.all["OFFSET_ADVICE"]
        with device.lock:
            for name, value in (("BIAS_LEVEL", advice.level_adu), ("BIAS_SIGMA", advice.sigma_adu),
                                ("CLIPPED", advice.clipped), ("SAFE_OFFSET", advice.safe_offset),
                                ("GAIN", advice.gain), ("OFFSET", advice.offset)):
                v[name].value = float(value)
            state = State.OK if advice.clear else State.ALERT
            device.update(v, state, advice.text())
            device.update(check, State.OK if check.state is State.BUSY else check.state)
        device.log("INFO" if advice.clear else "WARNING", advice.text())
