"""A frame rate from the times frames arrived at: the camera's clock seen through a host's late wake-ups.

A frame arrives when its last byte has crossed the link plus however late the host's thread was to stamp it, and
that lateness is never negative: a few ms, now and then tens, more often while other threads are busy (a file
being opened at a recording's start). A least-squares line through every arrival takes that one-sided scatter as
signal: a window that starts busy and ends quiet reads faster than the camera, the reverse slower, by 1e-4 to 6e-3
in the live bench's recordings of 6 to 30 s. The least late frame of each block of frames keeps the camera's own
period (the idea behind one-way delay skew estimators, which fit the delays' lower envelope), so the line through
those frames follows the camera; a host that delayed the frames themselves still shows, wherever in the window,
since every frame after the delay arrives later, the least late ones too.
"""

from __future__ import annotations

import numpy as np

BLOCK_FRAMES = 20  # frames per block: enough that one of them found the host awake
MIN_BLOCKS = 6  # blocks at the least, fewer frames each in a short recording


def period_of_least_late(arrivals: np.ndarray) -> float:
    """Seconds per frame of the least-squares line through the least late frame of each block of about
    ``BLOCK_FRAMES`` frames (late measured from the least-squares line through them all). A delay within the last
    block may go unseen: the resolution is one block."""
    if len(arrivals) < 2 * MIN_BLOCKS:
        raise ValueError(f"a rate from the least late frames needs {2 * MIN_BLOCKS} frames or more")
    blocks = max(MIN_BLOCKS, len(arrivals) // BLOCK_FRAMES)
    index, since = _frames_and_seconds(arrivals)
    rough, _ = period_least_squares(arrivals)
    late = since - rough * index
    chosen = [int(part[np.argmin(late[part])]) for part in np.array_split(np.arange(len(since)), blocks)]
    return float(np.polyfit(index[chosen], since[chosen], 1)[0])


def period_least_squares(arrivals: np.ndarray) -> tuple[float, float]:
    """Seconds per frame of the least-squares line through the arrival times, and that slope's standard error."""
    index, since = _frames_and_seconds(arrivals)
    (slope, _), residuals = np.polyfit(index, since, 1, full=True)[:2]
    scatter = np.sqrt(residuals[0] / (len(since) - 2)) if len(residuals) and len(since) > 2 else 0.0
    return float(slope), float(scatter / np.sqrt(np.sum((index - index.mean()) ** 2)))


def _frames_and_seconds(arrivals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame indexes and seconds since the first arrival (epoch seconds lose the ms a slope needs)."""
    return np.arange(len(arrivals), dtype=np.float64), np.asarray(arrivals, dtype=np.float64) - float(arrivals[0])
