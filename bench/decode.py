"""Decoder speed against the floor: numpy copying the same bytes into a preallocated array, in the same run.

Last line: ratio=<decode/copy> for a QHY600 16-bit full frame (goal <= 1.5).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, capture_raw, full_frame_readout

from indi_qhy_py.decode import decoder
from indi_qhy_py.decode.frame import DecodeRequest
from indi_qhy_py.models import QHY600M


def measure(label: str, bits: int, binning: int) -> tuple[float, float]:
    """Median decode time into a preallocated output, and a numpy copy of the same pixel bytes."""
    raw, received = capture_raw(QHY600M, bits)
    request = DecodeRequest.for_model(QHY600M, full_frame_readout(QHY600M), bits=bits, binning=binning,
                                      expected_sequence=0)
    out = decoder.allocate_output(request)
    frame = decoder.decode(raw, received, request, out)
    assert frame.meta.good, frame.meta.damage
    decode_s = best_of(lambda: decoder.decode(raw, received, request, out))
    copy_src = raw[: request.layout.pixel_bytes]
    copy_dst = np.empty_like(copy_src)
    copy_s = best_of(lambda: np.copyto(copy_dst, copy_src))
    print(f"{label}: decode {decode_s * 1000:.1f} ms, numpy copy of the same {copy_src.nbytes / 1e6:.1f} MB "
          f"{copy_s * 1000:.1f} ms, ratio {decode_s / copy_s:.2f}")
    return decode_s, copy_s


def main() -> None:
    if decoder.CYTHON_KERNEL is None:
        raise SystemExit("the Cython decoder is not built; run 'pip install .'")
    decode_s, copy_s = measure("16bit", 16, 1)
    measure("8bit", 8, 1)
    measure("16bit_bin2", 16, 2)
    print(f"ratio={decode_s / copy_s:.3f}")


if __name__ == "__main__":
    main()
