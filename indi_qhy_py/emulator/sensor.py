"""Sensor physics of the emulated camera: turns an exposure into the pixel bytes the camera would send.

Per pixel: offset pedestal + (scene light + dark current) / conversion gain, with Gaussian noise whose variance is
shot noise plus read noise, then full-well saturation, ADC rounding and clipping. Optical-black columns collect
dark current but no light; overscan rows collect neither. Hot pixels carry a fixed, much larger dark current.

Speed (one QHY600 16-bit frame within 300 ms): the frame is built in blocks of rows that stay in the CPU cache,
and the Gaussian draws come from a precomputed bank of standard-normal samples, taken at a random offset and
sign for every block, so two frames never share their noise pattern. Poisson shot noise is approximated by a
Gaussian of the same variance, which is exact enough above a few electrons and leaves means and variances
(what the statistics tests measure) right at every level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..models import CameraModel
from .response import SensorResponse
from .scene import CFA_RESPONSE, Scene

BLOCK_ROWS = 16
_BANK_SIZE = 1 << 22
_BANK_SLACK = 1 << 18  # a block of BLOCK_ROWS full-width rows fits in the slack, so slices never wrap


@lru_cache(maxsize=1)
def noise_bank() -> np.ndarray:
    """Standard-normal float32 samples shared by every emulated camera in the process."""
    return np.random.default_rng(0x51_48_59).standard_normal(_BANK_SIZE + _BANK_SLACK, dtype=np.float32)


def pedestal_adu(offset: int) -> float:
    """Bias level for an offset setting. FITTED to the bench test's one point (offset 20 -> mean ~326 ADU)."""
    return 126.0 + 10.0 * offset


@dataclass(frozen=True)
class Integration:
    """Everything the sensor needs to know about one frame."""

    exposure_s: float
    response: SensorResponse  # what the gain registers select
    offset: int
    bits: int
    roi_y: int
    roi_height: int
    temperature_c: float


@dataclass(frozen=True)
class Truth:
    """What the emulator put into a frame, for tests and the decoder's metadata checks."""

    pedestal_adu: float
    e_per_adu: float
    read_noise_e: float
    dark_e_per_s: float
    well_e: float
    light_e_per_s: float
    hot_pixels: int

    @property
    def read_noise_adu(self) -> float:
        return self.read_noise_e / self.e_per_adu


class SensorSimulator:
    """One camera's sensor: its hot pixels are fixed at construction; every frame's noise is fresh."""

    HOT_FRACTION = 2e-5  # ASSUMED; gives ~80 saturated hot pixels in a 600 s QHY268 dark at gain 64 (bench: 86)

    def __init__(self, model: CameraModel, seed: int = 0) -> None:
        self.model = model
        self.rng = np.random.default_rng(seed)
        eff = model.effective
        exposed = model.readout_width * eff.height  # hot pixels only where dark current builds: the exposed rows
        count = int(exposed * self.HOT_FRACTION)
        flat = np.sort(self.rng.choice(exposed, size=count, replace=False)) + model.readout_width * eff.y
        self.hot_rows = flat // model.readout_width
        self.hot_cols = flat % model.readout_width
        self.hot_multiplier = 10.0 ** self.rng.uniform(1.5, 5.0, count)  # x dark current, log-uniform
        width = model.readout_width
        self._tmp = np.empty(BLOCK_ROWS * width, dtype=np.float32)
        self._tmp16 = np.empty(BLOCK_ROWS * width, dtype=np.uint16)

    def _response(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Per-pixel CFA response (1 on mono sensors); the mosaic starts with R at the effective area's origin."""
        if not self.model.colour:
            return np.ones(rows.shape, dtype=np.float64)
        ry = (rows - self.model.effective.y) % 2
        rx = (cols - self.model.effective.x) % 2
        table = np.array([[CFA_RESPONSE["R"], CFA_RESPONSE["G"]], [CFA_RESPONSE["G"], CFA_RESPONSE["B"]]])
        return table[ry, rx]

    def _sparse(self, exp: Integration, scene: Scene, light: float, dark: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and total mean electrons of every pixel of the rows read out that differs from its
        region's uniform level (only those rows' pixels are worked on: a 100-row stream renders at 160 FPS)."""
        model, eff = self.model, self.model.effective
        s_rows, s_cols, s_rates = scene.sources(eff.width, eff.height)
        star_rows = s_rows + eff.y
        hot, star = self._in_rows(self.hot_rows, exp), self._in_rows(star_rows, exp)
        hot_rows = self.hot_rows[hot]
        rows = np.concatenate([hot_rows, star_rows[star]])
        cols = np.concatenate([self.hot_cols[hot], s_cols[star] + eff.x])
        in_light = cols >= eff.x
        resp = self._response(rows, cols)
        base = dark + np.where(in_light, light * resp, 0.0)
        extra = np.concatenate([dark * (self.hot_multiplier[hot] - 1.0), s_rates[star] * resp[len(hot_rows):]])
        flat = rows * model.readout_width + cols
        uniq, inverse = np.unique(flat, return_inverse=True)
        # a star on a hot pixel: add the extras, keep one base
        extra_sum = np.bincount(inverse, weights=extra * exp.exposure_s)
        base_one = np.zeros(len(uniq))
        base_one[inverse] = base * exp.exposure_s
        return uniq // model.readout_width, uniq % model.readout_width, base_one + extra_sum

    @staticmethod
    def _in_rows(rows: np.ndarray, exp: Integration) -> np.ndarray:
        return (rows >= exp.roi_y) & (rows < exp.roi_y + exp.roi_height)

    def render(self, out: np.ndarray, exp: Integration, scene: Scene) -> Truth:
        """Write the frame's pixel bytes (big-endian 16-bit or 8-bit, as the protocol says) into ``out``."""
        model, eff = self.model, self.model.effective
        width = model.readout_width
        k = exp.response.e_per_adu
        rn = exp.response.read_noise_e
        well = exp.response.well_e
        ped = pedestal_adu(exp.offset)
        dark = model.dark_current(exp.temperature_c)
        light = scene.uniform_rate()
        t = exp.exposure_s
        upper = min(65535.0, math.floor(ped + well / k)) + 0.99
        bank = noise_bank()
        sp_rows, sp_cols, sp_mean = self._sparse(exp, scene, light, dark)
        sp_noise = self.rng.standard_normal(len(sp_rows))
        # noise is drawn about the true mean and the well is applied by the clip below, so a pixel exposed past
        # full well sits at the well (plus read noise' worth of rounding), not scattered symmetrically around it
        sp_value = ped + sp_mean / k + sp_noise * np.sqrt(sp_mean + rn * rn) / k + 0.5

        def fill(tmp: np.ndarray, noise: np.ndarray, mean_e: float, sign: float) -> None:
            np.multiply(noise, np.float32(sign * math.sqrt(mean_e + rn * rn) / k), out=tmp)
            tmp += np.float32(ped + mean_e / k + 0.5)

        if exp.bits == 16:
            dst = out[: exp.roi_height * width * 2].view(">u2").reshape(exp.roi_height, width)
        else:
            dst = out[: exp.roi_height * width].reshape(exp.roi_height, width)
        obw = eff.x
        if model.colour:
            channel_rates = {(py, px): (dark + light * CFA_RESPONSE[c]) * t
                             for (py, px), c in {(0, 0): "R", (0, 1): "G", (1, 0): "G", (1, 1): "B"}.items()}
        for r0 in range(0, exp.roi_height, BLOCK_ROWS):
            r1 = min(exp.roi_height, r0 + BLOCK_ROWS)
            a0 = exp.roi_y + r0
            lo = min(max(eff.y - a0, 0), r1 - r0)  # rows [lo, hi) of this block are in the exposed rows;
            hi = min(max(eff.y_end - a0, 0), r1 - r0)  # the others (overscan above, rows below) see nothing
            n = (r1 - r0) * width
            start = int(self.rng.integers(0, _BANK_SIZE))
            sign = 1.0 if self.rng.random() < 0.5 else -1.0
            noise = bank[start : start + n].reshape(r1 - r0, width)
            tmp = self._tmp[:n].reshape(r1 - r0, width)
            if hi > lo:
                fill(tmp[lo:hi, :obw], noise[lo:hi, :obw], dark * t, sign)
                if model.colour:
                    for (py, px), mean_e in channel_rates.items():
                        oy = lo + (py - a0 - lo + eff.y) % 2  # first exposed row whose mosaic row parity is py
                        fill(tmp[oy:hi:2, obw + px :: 2], noise[oy:hi:2, obw + px :: 2], mean_e, sign)
                else:
                    fill(tmp[lo:hi, obw:], noise[lo:hi, obw:], (dark + light) * t, sign)
            if lo > 0:
                fill(tmp[:lo], noise[:lo], 0.0, sign)
            if hi < r1 - r0:
                fill(tmp[hi:], noise[hi:], 0.0, sign)
            lo, hi = np.searchsorted(sp_rows, [a0, exp.roi_y + r1])
            if hi > lo:
                tmp[sp_rows[lo:hi] - a0, sp_cols[lo:hi]] = sp_value[lo:hi]
            np.clip(tmp, 0.0, upper, out=tmp)
            samples = self._tmp16[:n].reshape(r1 - r0, width)
            np.copyto(samples, tmp, casting="unsafe")
            if exp.bits == 8:
                np.right_shift(samples, 8, out=samples)
            np.copyto(dst[r0:r1], samples, casting="unsafe")
        return Truth(ped, k, rn, dark, well, light, len(self.hot_rows))
