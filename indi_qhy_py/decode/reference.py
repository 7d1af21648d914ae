"""The numpy reference of the decoder's pixel pass: plain, obviously right, and slow (many passes).

Same contract as ``cython_ext/qhy_decode.pyx``'s ``pixel_pass``; tests assert the two agree exactly. It is also
the fallback when the extension is not built.
"""

from __future__ import annotations

import numpy as np

from .frame import DecodeRequest, PassResult


def samples(raw: np.ndarray, request: DecodeRequest, rows: int) -> np.ndarray:
    """The first ``rows`` full rows of pixel bytes as native integers (rows x width)."""
    count = rows * request.width
    if request.bits == 16:
        return raw[: count * 2].view(">u2").reshape(rows, request.width).astype(np.uint16)
    return raw[:count].reshape(rows, request.width)


def pixel_pass(raw: np.ndarray, request: DecodeRequest, rows: int, out: np.ndarray,
               ob_row_means: np.ndarray) -> PassResult:
    """Decode ``rows`` complete rows of ``raw`` (pixel bytes only) into ``out``; measure the frame."""
    img = samples(raw, request, rows)
    zero = np.flatnonzero(~img.any(axis=1))

    cx0, cx1, cy0, cy1 = request.local(request.crop)
    cy1 = min(cy1, rows)
    b = request.binning
    out_rows = max(0, (cy1 - cy0) // b)
    region = img[cy0 : cy0 + out_rows * b, cx0 : cx0 + (cx1 - cx0) // b * b]
    saturated = int(np.count_nonzero(img[cy0:cy1, cx0:cx1] >= request.saturation_level))
    if b == 1:
        out[:out_rows] = region
    else:
        sums = region.reshape(out_rows, b, -1, b).sum(axis=(1, 3), dtype=np.uint64)
        if request.average:
            out[:out_rows] = (sums + (b * b) // 2) // (b * b)
        else:
            out[:out_rows] = sums

    ox0, ox1, oy0, oy1 = request.local(request.optical_black)
    ob = img[oy0 : min(oy1, rows), ox0:ox1].astype(np.int64)
    ob_n = ob.size
    if ob_n:
        ob_row_means[: ob.shape[0]] = ob.mean(axis=1)
    vx0, vx1, vy0, vy1 = request.local(request.overscan)
    ovs = img[vy0 : min(vy1, rows), vx0:vx1].astype(np.int64)
    return PassResult(
        zero_rows=len(zero),
        first_zero_row=int(zero[0]) if len(zero) else -1,
        last_zero_row=int(zero[-1]) if len(zero) else -1,
        ob_n=ob_n,
        ob_sum=int(ob.sum()),
        ob_sumsq=int((ob * ob).sum()),
        ob_median=float(np.median(ob)) if ob_n else float("nan"),
        os_n=ovs.size,
        os_sum=int(ovs.sum()),
        os_sumsq=int((ovs * ovs).sum()),
        saturated=saturated,
    )
