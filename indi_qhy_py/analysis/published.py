"""What has been published of these sensors' photon transfer, to compare a measurement with (facts and figures).

``BENCH_QHY268M``: an independent bench test of a QHY268M (two flats, two biases and a 600 s dark at each setting,
after Berry's AIP4Win method, -10 C, offset 20), as tabled in ``shared/reference/camera-specs.md``; its full well is
e⁻/ADU x 65535 and its dynamic range full well / read noise. ``QHY600_PAGE``: the QHY600 product page's points
(read noise 1.0-3.7 e⁻ in the standard mode; full well > 51 ke⁻, ~80 ke⁻ in the extended full well modes).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedPoint:
    model: str
    mode: int
    gain: int
    e_per_adu: float | None
    full_well_e: float | None
    read_noise_e: float | None
    dark_e_per_s: float | None
    source: str


_BENCH = "independent QHY268M bench test (AIP4Win method)"
_BENCH_ROWS = (  # mode, gain, e-/ADU, full well e-, read noise e-, dark e-/px/s at -10 C
    (1, 0, 0.77, 50462, 3.56, 0.001558), (1, 52, 0.39, 25559, 3.58, 0.001744), (1, 56, 0.33, 21626, 1.66, 0.001641),
    (1, 58, 0.32, 20971, 1.59, 0.001575), (1, 60, 0.31, 20316, 1.67, 0.0016933), (1, 64, 0.28, 18350, 1.69, 0.001594),
    (3, 0, 1.28, 83886, 5.82, 0.001429), (3, 40, 0.82, 53739, 5.54, 0.001795))
BENCH_QHY268M = tuple(PublishedPoint("QHY268M", *row, _BENCH) for row in _BENCH_ROWS)

_PAGE = "QHY600 product page"
QHY600_PAGE = (
    PublishedPoint("QHY600M", 1, 0, None, 51000, 3.7, None, _PAGE),  # "1.0-3.7 e-" spans gains; ends drawn
    PublishedPoint("QHY600M", 1, 100, None, None, 1.0, None, _PAGE),
    PublishedPoint("QHY600M", 2, 0, None, 80000, None, None, _PAGE),
)


def points(model: str) -> tuple[PublishedPoint, ...]:
    """The published points for a model (its colour sibling shares the sensor's)."""
    family = model.rstrip("MC")
    return tuple(p for p in (*BENCH_QHY268M, *QHY600_PAGE) if p.model.rstrip("MC") == family)


def point(model: str, mode: int, gain: int) -> PublishedPoint | None:
    return next((p for p in points(model) if (p.mode, p.gain) == (mode, gain)), None)
