"""The PNG preview of a QHY600 frame (9576 x 6388, 16-bit): memory it holds beyond the frame, and its time.

Measured with tracemalloc (numpy reports its buffers to it), for a colour frame (debayered) and a mono frame,
against the baseline of one plain copy of the same frame in the same run. Last line:
``preview_peak_ratio=<colour preview peak / one frame copy>`` (below 1: the preview never holds a copy).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from indi_qhy_py.output.preview import preview_image


def peak(work) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    start = time.perf_counter()
    work()
    took = time.perf_counter() - start
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6, took


def main() -> None:
    frame = np.random.default_rng(1).integers(900, 1200, (6388, 9576), dtype=np.uint16)
    copy_mb, _ = peak(frame.copy)
    colour_mb, colour_s = peak(lambda: preview_image(frame, {"BAYERPAT": "RGGB"}))
    mono_mb, mono_s = peak(lambda: preview_image(frame, None))
    print(f"baseline: one copy of the {frame.nbytes / 1e6:.1f} MB frame: {copy_mb:.0f} MB")
    print(f"colour preview: peak {colour_mb:.0f} MB, {colour_s:.2f} s; mono preview: peak {mono_mb:.0f} MB, "
          f"{mono_s:.2f} s")
    print(f"preview_peak_ratio={colour_mb / copy_mb:.3f}")


if __name__ == "__main__":
    main()
