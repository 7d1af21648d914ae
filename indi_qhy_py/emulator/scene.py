"""What the emulated camera looks at: darkness, a flat field, or stars on a sky background.

A scene gives a photon rate in electrons per pixel per second (after quantum efficiency). Colour cameras see it
through the RGGB mosaic with a per-channel response (ASSUMED white-light response R 0.55, G 1.0, B 0.75).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CFA_RESPONSE = {"R": 0.55, "G": 1.0, "B": 0.75}


@dataclass(frozen=True)
class Dark:
    """A capped telescope: no light at all (bias and dark frames)."""

    def uniform_rate(self) -> float:
        return 0.0

    def sources(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class FlatField:
    """Uniform illumination, e.g. a flat panel: ``e_per_s`` electrons per pixel per second (green channel)."""

    e_per_s: float

    def uniform_rate(self) -> float:
        return self.e_per_s

    def sources(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return Dark().sources(width, height)


@dataclass(frozen=True)
class StarField:
    """Gaussian stars on a uniform sky; ``sources`` lists the pixels the stars add light to."""

    sky_e_per_s: float = 2.0
    stars: int = 300
    brightest_e_per_s: float = 2.0e5
    fwhm_px: float = 3.0
    seed: int = 7
    _cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, hash=False, repr=False)

    def uniform_rate(self) -> float:
        return self.sky_e_per_s

    def sources(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and extra e-/s of every star pixel in a ``width`` x ``height`` readout (cached)."""
        key = (width, height)
        if key not in self._cache:
            rng = np.random.default_rng(self.seed)
            sigma = self.fwhm_px / 2.3548
            radius = int(np.ceil(4 * sigma))
            offsets = np.arange(-radius, radius + 1)
            dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
            cy = rng.uniform(radius, height - radius - 1, self.stars)
            cx = rng.uniform(radius, width - radius - 1, self.stars)
            flux = self.brightest_e_per_s * rng.pareto(1.5, self.stars).clip(0, 20) / 20 + 50.0
            rows, cols, rates = [], [], []
            for y, x, f in zip(cy, cx, flux, strict=True):
                iy, ix = int(y), int(x)
                r = iy + dy
                c = ix + dx
                weight = np.exp(-((r - y) ** 2 + (c - x) ** 2) / (2 * sigma**2))
                weight *= f / (2 * np.pi * sigma**2)
                rows.append(r.ravel())
                cols.append(c.ravel())
                rates.append(weight.ravel())
            r_all = np.concatenate(rows)
            c_all = np.concatenate(cols)
            v_all = np.concatenate(rates)
            flat = r_all.astype(np.int64) * width + c_all
            uniq, inverse = np.unique(flat, return_inverse=True)
            summed = np.bincount(inverse, weights=v_all)
            self._cache[key] = (uniq // width, uniq % width, summed)
        return self._cache[key]


Scene = Dark | FlatField | StarField
