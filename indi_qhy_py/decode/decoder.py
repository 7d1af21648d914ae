"""Frame decoder: the bytes read from EP 0x81 for one frame -> pixels, metadata and an integrity verdict.

The integrity logic is here, once. The observed frame format offers a marker (at the start of a single frame, at
the end of a live one), the frame number and the length the frame must have — no checksum — so what can be told
is: the stream out of step (no marker where it belongs), bytes missing, rows of zeros (a DDR overflow), frames
lost before this one. The heavy pass over the pixels is the Cython kernel ``_qhy_decode`` (one pass: byte order,
cut, binning, statistics, zero rows) or, when that extension is not built, the numpy reference, with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from .. import protocol
from . import reference as decode_reference
from .frame import DecodedFrame, DecodeRequest, FrameMeta, PassResult, Verdict

Kernel = Callable[[np.ndarray, DecodeRequest, int, np.ndarray, np.ndarray], PassResult]

try:
    from . import _qhy_decode  # type: ignore[attr-defined]

    def _cython_kernel(raw: np.ndarray, request: DecodeRequest, rows: int, out: np.ndarray,
                       ob_row_means: np.ndarray) -> PassResult:
        return PassResult(*_qhy_decode.pixel_pass(raw, request, rows, out, ob_row_means))

    CYTHON_KERNEL: Kernel | None = _cython_kernel
except ImportError:  # pragma: no cover - exercised only on a broken install
    CYTHON_KERNEL = None


def default_kernel() -> Kernel:
    if CYTHON_KERNEL is None:
        warnings.warn("indi_qhy_py.decode._qhy_decode is not built: decoding with the slow numpy reference "
                      "(run 'pip install .' to build it)", RuntimeWarning, stacklevel=3)
        return decode_reference.pixel_pass
    return CYTHON_KERNEL


def allocate_output(request: DecodeRequest) -> np.ndarray:
    return np.empty(request.out_shape, dtype=request.out_dtype)


def _marker_search(view: memoryview, received: int) -> str:
    found = bytes(view[: min(received, 1 << 20)]).find(protocol.FRAME_MARKER)
    return f"found {found} bytes late" if found > 0 else "not found"


def _classify(raw: np.ndarray, received: int, request: DecodeRequest) -> tuple[Verdict | None, str, int | None]:
    """(verdict for a structurally broken frame or None, what is wrong, the frame number)."""
    layout = request.layout
    view = memoryview(raw)[:received]
    row_bytes = layout.row_bytes
    if received < layout.total_len:
        got_rows = max(0, received - layout.pixel_offset) // row_bytes
        if got_rows >= request.rows and layout.live:
            got_rows = request.rows - 1  # the marker closes a live frame: without it the last row is in doubt
        missing = f"rows {got_rows} to {request.rows - 1} of the frame are missing" if got_rows < request.rows \
            else "the frame ends early"
        sequence = protocol.head_sequence(view) if not layout.live else None
        return Verdict.SHORT, f"received {received} of {layout.total_len} bytes; {missing}", sequence
    if layout.live:
        if not protocol.live_frame_ends(view, layout.total_len):
            return Verdict.MISALIGNED, "no frame marker at the end of the live frame: the stream is out of step", None
        return None, "", protocol.live_sequence(view)
    sequence = protocol.head_sequence(view)
    if sequence is None:
        return (Verdict.MISALIGNED, f"frame marker {_marker_search(view, received)}: the stream is out of step",
                None)
    return None, "", sequence


def decode(raw: np.ndarray, received: int, request: DecodeRequest, out: np.ndarray | None = None,
           kernel: Kernel | None = None) -> DecodedFrame:
    """Decode one frame. ``raw`` holds ``received`` bytes as read; ``out`` (optional) receives the pixels.

    Never raises on damaged input: the verdict says what is wrong and where.
    """
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("raw must be a 1-D uint8 array")
    received = max(0, min(received, raw.size))
    if out is None:
        out = allocate_output(request)
    elif out.shape != request.out_shape or out.dtype != request.out_dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous {request.out_dtype} of shape {request.out_shape}")
    verdict, damage, sequence = _classify(raw, received, request)
    if verdict is Verdict.MISALIGNED:
        out.fill(0)
        result, ob_row_means = _empty_pass(), np.zeros(0)
    else:
        result, ob_row_means = _pixel_pass(raw, received, request, out, kernel or default_kernel())
    if verdict is None:
        if result.zero_rows:
            verdict = Verdict.ZERO_FILLED
            damage = (f"{result.zero_rows} all-zero rows between frame rows {result.first_zero_row} and "
                      f"{result.last_zero_row} (camera DDR overflow)")
        elif request.expected_sequence is not None and sequence != request.expected_sequence:
            verdict = Verdict.SEQUENCE_GAP
            missed = ((sequence or 0) - request.expected_sequence) & 0xFFFFFFFF
            damage = f"frame {sequence} arrived, {request.expected_sequence} expected: {missed} frame(s) lost"
        else:
            verdict = Verdict.GOOD
    return DecodedFrame(out, _meta(verdict, damage, sequence, received, result, ob_row_means))


def _pixel_pass(raw: np.ndarray, received: int, request: DecodeRequest, out: np.ndarray, kernel: Kernel
                ) -> tuple[PassResult, np.ndarray]:
    """The kernel's one pass over the rows that arrived; rows that did not are zeroed in ``out``."""
    layout = request.layout
    rows = min(request.rows, max(0, received - layout.pixel_offset) // layout.row_bytes)
    ob_rows = request.local(request.optical_black)
    ob_row_means = np.zeros(ob_rows[3] - ob_rows[2], dtype=np.float64)
    result = kernel(raw[layout.pixel_offset :], request, rows, out, ob_row_means)
    _, _, crop_y0, crop_y1 = request.local(request.crop)
    done_rows = max(0, min(rows, crop_y1) - crop_y0) // request.binning
    if done_rows < out.shape[0]:
        out[done_rows:] = 0
    return result, ob_row_means


def _empty_pass() -> PassResult:
    return PassResult(0, 0, 0, 0, 0, 0, math.nan, 0, 0, 0, 0)


def _meta(verdict: Verdict, damage: str, sequence: int | None, received: int, r: PassResult,
          ob_row_means: np.ndarray) -> FrameMeta:
    def stats(n: int, total: int, squares: int) -> tuple[float, float]:
        if n == 0:
            return math.nan, math.nan
        mean = total / n
        return mean, math.sqrt(max(0.0, squares / n - mean * mean))

    ob_mean, ob_std = stats(r.ob_n, r.ob_sum, r.ob_sumsq)
    os_mean, os_std = stats(r.os_n, r.os_sum, r.os_sumsq)
    return FrameMeta(
        verdict=verdict, damage=damage, sequence=sequence, received=received,
        ob_mean=ob_mean, ob_median=r.ob_median, ob_std=ob_std, ob_row_means=ob_row_means,
        overscan_mean=None if r.os_n == 0 else os_mean, overscan_std=None if r.os_n == 0 else os_std,
        saturated=r.saturated,
        zero_rows=(r.first_zero_row, r.zero_rows) if r.zero_rows else None,
    )
