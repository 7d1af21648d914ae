"""What a sensor analysis shows people and programs: a table on the terminal, ``analysis.json`` and PNG plots, with the
published points beside the measured ones.

Plots are matplotlib's (an optional dependency, ``pip install matplotlib``): axes, legends, log scales and PNG output
that a drawing of our own would only imitate; without it the table and JSON are still written, and the tool says
why the plots are missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..analysis.photon_transfer import Transfer
from ..analysis.published import PublishedPoint


@dataclass(frozen=True)
class Entry:
    """One read mode and gain, measured (the JSON's entries; ``points`` is the transfer curve, for plots)."""

    mode: int
    mode_name: str
    gain: int
    offset: int
    e_per_adu: float
    read_noise_e: float
    full_well_e: float
    dynamic_range: float
    dynamic_range_db: float
    linearity_pct: float | None
    dark_e_per_s: float | None
    sensor_c: float | None
    bias_adu: float
    bias_clipped: bool
    bias_clipped_pct: float
    points: list[tuple[float, float]]

    @classmethod
    def of(cls, mode: int, mode_name: str, gain: int, offset: int, t: Transfer, dark: float | None,
           sensor_c: float | None, bias_adu: float, clipped_fraction: float) -> Entry:
        return cls(mode, mode_name, gain, offset, t.e_per_adu, t.read_noise_e, t.full_well_e, t.dynamic_range,
                   t.dynamic_range_db, t.linearity_pct, dark, sensor_c, bias_adu, clipped_fraction > 0,
                   100 * clipped_fraction, [list(p) for p in t.points])  # type: ignore[misc]


def table(entries: Iterable[Entry], published: dict[tuple[int, int], PublishedPoint]) -> str:
    """The terminal's table; a published point, where there is one, on the line below its measurement."""
    lines = [f"{'mode':<26}{'gain':>5}{'e-/ADU':>9}{'RN e-':>8}{'full well':>11}{'DR dB':>7}{'dark e-/s':>11}"
             f"{'lin %':>7}  bias"]
    for e in entries:
        dark = f"{e.dark_e_per_s:.5f}" if e.dark_e_per_s is not None else "-"
        lin = f"{e.linearity_pct:.2f}" if e.linearity_pct is not None else "-"
        bias = f"{e.bias_adu:.0f} ADU" + (f", CLIPPED {e.bias_clipped_pct:.2g} %" if e.bias_clipped else "")
        lines.append(f"{e.mode} {e.mode_name:<24}{e.gain:>5}{e.e_per_adu:>9.3f}{e.read_noise_e:>8.2f}"
                     f"{e.full_well_e:>11,.0f}{e.dynamic_range_db:>7.1f}{dark:>11}{lin:>7}  {bias}")
        p = published.get((e.mode, e.gain))
        if p is not None:
            lines.append(f"{'  published':<31}{_num(p.e_per_adu, '.3f', 9)}{_num(p.read_noise_e, '.2f', 8)}"
                         f"{_num(p.full_well_e, ',.0f', 11)}{'':>7}{_num(p.dark_e_per_s, '.5f', 11)}")
    return "\n".join(lines)


def _num(value: float | None, form: str, width: int) -> str:
    return f"{value:>{width}{form}}" if value is not None else f"{'-':>{width}}"


def write_json(entries: list[Entry], path: Path, camera: dict[str, object]) -> None:
    """A list of entries, one per read mode and gain: the measurement, the camera it was made on, and its transfer
    curve's (signal, variance) points in ADU."""
    document = [{**camera, **{k: v for k, v in asdict(e).items() if k != "points"},
                 "curve_signal_variance_adu": e.points} for e in entries]
    path.write_text(json.dumps(document, indent=2) + "\n")


def plot(entries: list[Entry], published: Iterable[PublishedPoint], out: Path) -> list[Path]:
    """The PNG plots; raises ImportError when matplotlib is missing."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written = []
    modes = sorted({e.mode for e in entries})
    names = {e.mode: e.mode_name for e in entries}
    published = list(published)
    for name, field, label in (("read_noise.png", "read_noise_e", "read noise (e- RMS)"),
                               ("e_per_adu.png", "e_per_adu", "system gain (e-/ADU)"),
                               ("full_well.png", "full_well_e", "full well (e-)")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for mode in modes:
            mine = sorted((e.gain, getattr(e, field)) for e in entries if e.mode == mode)
            line = ax.plot(*zip(*mine, strict=True), "o-", label=f"{mode} {names[mode]}: measured")[0]
            theirs = sorted((p.gain, getattr(p, field)) for p in published
                            if p.mode == mode and getattr(p, field) is not None)
            if theirs:
                ax.plot(*zip(*theirs, strict=True), "x", markersize=9, color=line.get_color(),
                        label=f"{mode} {names[mode]}: published")
        ax.set_xlabel("gain setting")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(_save(fig, out / name))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for e in entries:
        signal, variance = zip(*[(s, v) for s, v in e.points if s > 0 and v > 0], strict=True)
        dots = ax.loglog(signal, variance, "o", label=f"mode {e.mode} gain {e.gain}: {e.e_per_adu:.3f} e-/ADU")[0]
        ends = [min(signal), e.full_well_e / e.e_per_adu]  # the fit: shot noise plus read noise, to full well
        ax.loglog(ends, [s / e.e_per_adu + (e.read_noise_e / e.e_per_adu) ** 2 for s in ends], "-",
                  color=dots.get_color(), alpha=0.6)
    ax.set_xlabel("signal above bias (ADU)")
    ax.set_ylabel("temporal variance (ADU^2)")
    ax.set_title("photon transfer: variance = signal / gain, until the pixels saturate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(_save(fig, out / "photon_transfer.png"))
    plt.close("all")
    return written


def _save(fig: object, path: Path) -> Path:
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    return path
