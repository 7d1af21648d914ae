"""The live bench's frame rate from arrival times: a host's one-sided lateness does not read as a faster or slower
camera, and frames the host really delayed still read as a shortfall, wherever in the recording."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("bench_rates", Path(__file__).parents[2] / "bench" / "_rates.py")
assert _spec is not None and _spec.loader is not None
rates = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rates)

PERIOD = 1 / 22.5  # QHY600 9600x1080 16-bit
FRAMES = 270  # the bench's 12 s there


def arrivals(seed: int, busy_start: bool = False) -> np.ndarray:
    """Frames crossing at exactly the camera's period, stamped a few ms late (now and then tens of ms)."""
    rng = np.random.default_rng(seed)
    late = rng.exponential(0.002, FRAMES)
    if busy_start:
        late[:25] += rng.exponential(0.030, 25)  # the recording's file being opened
    return 1.7e9 + np.arange(FRAMES) * PERIOD + late


@pytest.mark.parametrize("seed", range(5))
def test_a_busy_start_reads_as_the_cameras_rate(seed: int) -> None:
    stamps = arrivals(seed, busy_start=True)
    least_squares, _ = rates.period_least_squares(stamps)
    assert PERIOD / least_squares > 1 + 5e-4  # all frames' least squares reads the busy start as a faster camera
    assert PERIOD / rates.period_of_least_late(stamps) == pytest.approx(1.0, abs=2.5e-4)


@pytest.mark.parametrize("delayed_from", [20, 135, 240])
def test_frames_the_host_delayed_read_as_a_shortfall_wherever_they_are(delayed_from: int) -> None:
    stamps = arrivals(7)
    stamps[delayed_from:] += 0.005  # the link idled 5 ms for the host: every later frame is later
    exact = 1.7e9 + np.arange(FRAMES) * PERIOD
    exact[delayed_from:] += 0.005
    shortfall = 1 - PERIOD / rates.period_least_squares(exact)[0]  # what the delay costs the rate, unstamped
    assert 1 - PERIOD / rates.period_of_least_late(stamps) > 0.5 * shortfall > 5e-5


def test_a_short_recording_uses_smaller_blocks_and_too_short_is_refused() -> None:
    stamps = 100.0 + np.arange(35) * 0.4  # QHY600 full frame 16-bit, 14 s
    assert rates.period_of_least_late(stamps) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="12 frames or more"):
        rates.period_of_least_late(stamps[:11])
