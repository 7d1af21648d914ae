"""The frames a sensor analysis takes, through INDI: settings for one read mode and gain, bias, flat and dark pairs
on a centred region of interest, and the exposure that brings a flat to a wanted level, found by the tool itself.

Frames come as FITS BLOBs of the region only (a flat field is uniform: a region is enough, and a QHY600 full frame
is 123 MB); each pair is reduced to its statistics at once (``analysis.photon_transfer``), so no frame is kept.
What the analysis changes on the camera is put back afterwards (``snapshot``/``restore``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..analysis.photon_transfer import ADC_MAX, AnalysisError, BiasStats, PairStats
from ..indi.client import blob_payload
from .remote_camera import CaptureError, RemoteCamera

#: What the analysis changes, in the order to put it back (the read mode before the gain its range depends on).
RESTORED = (("READ_MODE", "Switch"), ("BIT_DEPTH", "Switch"), ("OVERSCAN_MODE", "Switch"), ("CCD_BINNING", "Number"),
            ("CCD_FRAME", "Number"), ("CCD_GAIN", "Number"), ("CCD_OFFSET", "Number"), ("CCD_FRAME_TYPE", "Switch"),
            ("CCD_TRANSFER_FORMAT", "Switch"), ("UPLOAD_MODE", "Switch"))
PROBE_S = 0.05
MAX_EXPOSURE_S = 120.0
UNIFORMITY = 0.10  # the largest spread of 8x8 block means, as a fraction of their mean, for a usable flat field


@dataclass(frozen=True)
class Setting:
    mode: str  # the READ_MODE element
    gain: int
    offset: int


class SensorSession:
    """One camera under analysis; ``say`` reports progress."""

    def __init__(self, camera: RemoteCamera, roi_size: int, timeout: float, say: Callable[[str], None]) -> None:
        self.camera = camera
        self.roi_size = roi_size
        self.timeout = timeout
        self.say = say
        self.min_exposure = camera.limits("CCD_EXPOSURE", "CCD_EXPOSURE_VALUE")[0]
        self.instrument = ""  # the model, as the frames' INSTRUME says

    def snapshot(self) -> list[tuple[str, str, dict[str, object]]]:
        """The camera's settings the analysis will change, as they are now (for ``restore``)."""
        saved = []
        for prop, kind in RESTORED:
            values = dict(self.camera.client.values.get((self.camera.name, prop), {}))
            if kind == "Switch":
                values = {k: "On" for k, v in values.items() if v == "On"}
            if values:
                saved.append((prop, kind, values))
        return saved

    def restore(self, saved: list[tuple[str, str, dict[str, object]]]) -> list[str]:
        """Put the settings back; what could not be is returned (said, never raised: the results are written)."""
        failed = []
        for prop, kind, values in saved:
            try:
                self.camera.set(prop, kind, **values)
            except CaptureError as err:
                failed.append(f"{prop}: {err}")
        return failed

    def prepare(self) -> None:
        """16-bit, unbinned, no overscan, FITS to this client, a centred square region."""
        cam = self.camera
        cam.set("BIT_DEPTH", "Switch", BITS_16="On")
        cam.set("OVERSCAN_MODE", "Switch", INDI_DISABLED="On")
        cam.set("CCD_BINNING", "Number", HOR_BIN=1, VER_BIN=1)
        if cam.value("CCD_TRANSFER_FORMAT", "FORMAT_FITS") == "Off":
            cam.set("CCD_TRANSFER_FORMAT", "Switch", FORMAT_FITS="On")
        cam.set("UPLOAD_MODE", "Switch", UPLOAD_CLIENT="On")
        width = cam.limits("CCD_FRAME", "WIDTH")[1]
        height = cam.limits("CCD_FRAME", "HEIGHT")[1]
        size = int(min(self.roi_size, width, height))
        cam.set("CCD_FRAME", "Number", X=int(width - size) // 2, Y=int(height - size) // 2, WIDTH=size, HEIGHT=size)

    def apply(self, setting: Setting) -> None:
        self.camera.set("READ_MODE", "Switch", **{setting.mode: "On"})
        self.camera.set("CCD_GAIN", "Number", GAIN=setting.gain)
        self.camera.set("CCD_OFFSET", "Number", OFFSET=setting.offset)

    # --- frames -------------------------------------------------------------------------------------------------
    def frame(self, kind: str, seconds: float) -> np.ndarray:
        """One frame of ``kind`` ("BIAS", "FLAT", "DARK") as its pixels."""
        self.camera.set("CCD_FRAME_TYPE", "Switch", **{f"FRAME_{kind}": "On"})
        message = self.camera.expose(seconds, self.timeout + seconds, lambda m: None)
        data, fmt = blob_payload(message)
        if not fmt.startswith(".fits"):
            raise AnalysisError(f"the camera sent {fmt} frames; the analysis reads FITS")
        with fits.open(io.BytesIO(data)) as hdus:
            hdu = hdus[1] if len(hdus) > 1 else hdus[0]
            self.instrument = str(hdu.header.get("INSTRUME", self.instrument))
            return np.asarray(hdu.data)

    def pair(self, kind: str, seconds: float) -> PairStats:
        first = self.frame(kind, seconds)
        return PairStats.of(first, self.frame(kind, seconds), seconds)

    def bias(self) -> BiasStats:
        first = self.frame("BIAS", self.min_exposure)
        return BiasStats.of(first, self.frame("BIAS", self.min_exposure))

    # --- flats at chosen levels -----------------------------------------------------------------------------------
    def flat_rate(self, bias: BiasStats) -> float:
        """ADU per second above the bias in a flat: from probes, ten times longer until the light shows, shorter
        while they saturate. Raises when there is no light, or too much, or the field is not uniform."""
        span = ADC_MAX - bias.level
        seconds = max(PROBE_S, self.min_exposure)
        while True:
            pixels = self.frame("FLAT", seconds)
            signal = float(pixels.mean()) - bias.level
            clipped = np.count_nonzero(pixels >= ADC_MAX) / pixels.size
            if clipped > 0.01:
                if seconds <= self.min_exposure * 1.0001:
                    raise AnalysisError("the flats saturate at the shortest exposure: dim the light source")
                seconds = max(self.min_exposure, seconds / 10)
            elif signal < 0.02 * span:
                if seconds >= MAX_EXPOSURE_S:
                    raise AnalysisError(f"no light: a {seconds:g} s flat is no brighter than the bias (is the light "
                                        "source on, the cap off?)")
                seconds = min(MAX_EXPOSURE_S, seconds * 10)
            else:
                _check_uniform(pixels, bias.level)
                return signal / seconds
            self.say(f"  probing the light: {seconds:g} s next")

    def flats(self, bias: BiasStats, levels: list[float], saturate: bool = True) -> list[PairStats]:
        """A flat pair at each fraction of full scale, and one past saturation (to find where the curve bends)."""
        rate = self.flat_rate(bias)
        span = ADC_MAX - bias.level
        wanted = [*levels, 1.4] if saturate else levels
        pairs = []
        for level in wanted:
            seconds = min(MAX_EXPOSURE_S, max(self.min_exposure, level * span / rate))
            self.say(f"  flat pair at {level:.0%} of full scale: {seconds:.3g} s")
            pairs.append(self.pair("FLAT", seconds))
        return pairs


def _check_uniform(pixels: np.ndarray, bias_level: float) -> None:
    """A flat field must be flat: the region's 8x8 block means within ``UNIFORMITY`` of each other."""
    rows, cols = (s // 8 * 8 for s in pixels.shape)
    blocks = pixels[:rows, :cols].reshape(8, rows // 8, 8, cols // 8).mean(axis=(1, 3)) - bias_level
    spread = float(np.ptp(blocks) / max(blocks.mean(), 1e-9))
    if spread > UNIFORMITY:
        raise AnalysisError(f"the field is not uniform enough ({spread:.0%} spread across the region, at most "
                            f"{UNIFORMITY:.0%}): use a flat panel or a diffuser filling the aperture evenly")
