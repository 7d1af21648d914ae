"""Frame decoder: the bytes read from EP 0x81 for one frame -> pixels, metadata and an integrity verdict.

The integrity logic (where the trailer is, what kind of damage) is here, once; the heavy pass over the pixels is
the Cython kernel ``_qhy_decode`` (one pass: byte order, cut, binning, statistics, checksum, zero rows) or, when
that extension is not built, the numpy reference, with a warning.
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


def _classify(raw: np.ndarray, received: int, request: DecodeRequest
              ) -> tuple[Verdict | None, str, protocol.Trailer | None]:
    """Find the trailer; a verdict here means the frame is structurally broken (short or misaligned)."""
    layout = request.layout
    view = memoryview(raw)[:received]
    trailer = protocol.decode_trailer(view[layout.trailer_offset :]) if received >= layout.payload_len else None
    if trailer is not None:
        if (trailer.width, trailer.height, trailer.bits) != (request.width, request.rows, request.bits):
            return (Verdict.MISALIGNED, f"trailer describes a {trailer.width}x{trailer.height} {trailer.bits}-bit "
                    f"frame, expected {request.width}x{request.rows} {request.bits}-bit", trailer)
        if layout.header_len and protocol.decode_pro_header_sequence(view) != trailer.sequence:
            return Verdict.MISALIGNED, "header and trailer sequence numbers differ", trailer
        return None, "", trailer
    found = protocol.find_trailer(view, layout.trailer_offset)
    row_bytes = request.width * layout.bytes_per_pixel
    if found is not None:
        shift = found - layout.trailer_offset
        first_bad = max(0, min(found, layout.trailer_offset) - layout.pixel_offset) // row_bytes
        what = f"{-shift} bytes lost" if shift < 0 else f"{shift} extra bytes"
        return (Verdict.MISALIGNED, f"trailer found {abs(shift)} bytes {'early' if shift < 0 else 'late'} "
                f"({what}); pixel data is shifted from about ROI row {first_bad}", None)
    if received < layout.payload_len:
        got_rows = max(0, received - layout.pixel_offset) // row_bytes
        return (Verdict.SHORT, f"received {received} of {layout.payload_len} bytes; rows {got_rows} to "
                f"{request.rows - 1} of the ROI are missing", None)
    return Verdict.MISALIGNED, "no frame trailer in the data: the stream is out of step", None


def _classify_observed(raw: np.ndarray, received: int, request: DecodeRequest) -> tuple[Verdict | None, str,
                                                                                       int | None]:
    """The observed dialect offers a marker, the frame number after it, and the length the DDR count announced:
    a frame that does not start with the marker is out of step; one that ends early is short."""
    layout = request.layout
    view = memoryview(raw)[:received]
    sequence = protocol.head_sequence(view)
    if sequence is None:
        found = bytes(view[: min(received, 1 << 20)]).find(protocol.FRAME_MARKER)
        where = f"found {found} bytes late" if found > 0 else "not found"
        return Verdict.MISALIGNED, f"frame marker {where}: the stream is out of step", None
    if received < layout.pixel_offset + layout.pixel_bytes:
        row_bytes = request.width * layout.bytes_per_pixel
        got_rows = max(0, received - layout.pixel_offset) // row_bytes
        return (Verdict.SHORT, f"received {received} of {layout.total_len} bytes; rows {got_rows} to "
                f"{request.rows - 1} of the ROI are missing", sequence)
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
    kernel = kernel or default_kernel()
    layout = request.layout
    if layout.observed:
        return _decode_observed(raw, received, request, out, kernel)
    verdict, damage, trailer = _classify(raw, received, request)
    result, ob_row_means = _pixel_pass(raw, received, request, out, kernel)
    header = bytes(raw[: min(layout.header_len, received)]).ljust(layout.header_len, b"\0")
    checksum = protocol.frame_checksum(header, request.bits, result.checksum & 0xFFFFFFFF, result.checksum >> 32)
    if verdict is None and trailer is not None:
        if trailer.checksum != checksum:
            if result.zero_rows:
                verdict = Verdict.ZERO_FILLED
                damage = (f"{result.zero_rows} all-zero rows between ROI rows {result.first_zero_row} and "
                          f"{result.last_zero_row} (camera DDR overflow)")
            else:
                verdict = Verdict.CHECKSUM
                damage = (f"checksum 0x{checksum:016X} != 0x{trailer.checksum:016X} in the trailer: "
                          "corrupted bytes somewhere in the pixel data")
        elif request.expected_sequence is not None and trailer.sequence != request.expected_sequence:
            verdict = Verdict.SEQUENCE_GAP
            missed = (trailer.sequence - request.expected_sequence) & 0xFFFFFFFF
            damage = f"frame {trailer.sequence} arrived, {request.expected_sequence} expected: {missed} frame(s) lost"
        else:
            verdict = Verdict.GOOD
    assert verdict is not None
    sequence, expected = (trailer.sequence, trailer.checksum) if trailer else (None, None)
    return DecodedFrame(out, _meta(verdict, damage, sequence, expected, received, result, checksum, ob_row_means))


def _pixel_pass(raw: np.ndarray, received: int, request: DecodeRequest, out: np.ndarray, kernel: Kernel
                ) -> tuple[PassResult, np.ndarray]:
    """The kernel's one pass over the rows that arrived; rows that did not are zeroed in ``out``."""
    layout = request.layout
    row_bytes = request.width * layout.bytes_per_pixel
    rows = min(request.rows, max(0, received - layout.pixel_offset) // row_bytes)
    ob_rows = request.local(request.optical_black)
    ob_row_means = np.zeros(ob_rows[3] - ob_rows[2], dtype=np.float64)
    result = kernel(raw[layout.pixel_offset :], request, rows, out, ob_row_means)
    _, _, crop_y0, crop_y1 = request.local(request.crop)
    done_rows = max(0, min(rows, crop_y1) - crop_y0) // request.binning
    if done_rows < out.shape[0]:
        out[done_rows:] = 0
    return result, ob_row_means


def _decode_observed(raw: np.ndarray, received: int, request: DecodeRequest, out: np.ndarray, kernel: Kernel
                     ) -> DecodedFrame:
    """A frame in the observed dialect: no checksum to check, so zero rows and sequence are what tells damage."""
    verdict, damage, sequence = _classify_observed(raw, received, request)
    if verdict is Verdict.MISALIGNED:
        out.fill(0)
        result, ob_row_means = _empty_pass(), np.zeros(0)
    else:
        result, ob_row_means = _pixel_pass(raw, received, request, out, kernel)
    if verdict is None:
        if result.zero_rows:
            verdict = Verdict.ZERO_FILLED
            damage = (f"{result.zero_rows} all-zero rows between ROI rows {result.first_zero_row} and "
                      f"{result.last_zero_row} (camera DDR overflow)")
        elif request.expected_sequence is not None and sequence != request.expected_sequence:
            verdict = Verdict.SEQUENCE_GAP
            missed = ((sequence or 0) - request.expected_sequence) & 0xFFFFFFFF
            damage = f"frame {sequence} arrived, {request.expected_sequence} expected: {missed} frame(s) lost"
        else:
            verdict = Verdict.GOOD
    return DecodedFrame(out, _meta(verdict, damage, sequence, None, received, result, result.checksum, ob_row_means))


def _empty_pass() -> PassResult:
    return PassResult(0, 0, 0, 0, 0, 0, 0, math.nan, 0, 0, 0, 0)


def _meta(verdict: Verdict, damage: str, sequence: int | None, checksum_expected: int | None, received: int,
          r: PassResult, checksum: int, ob_row_means: np.ndarray) -> FrameMeta:
    def stats(n: int, total: int, squares: int) -> tuple[float, float]:
        if n == 0:
            return math.nan, math.nan
        mean = total / n
        return mean, math.sqrt(max(0.0, squares / n - mean * mean))

    ob_mean, ob_std = stats(r.ob_n, r.ob_sum, r.ob_sumsq)
    os_mean, os_std = stats(r.os_n, r.os_sum, r.os_sumsq)
    return FrameMeta(
        verdict=verdict, damage=damage, sequence=sequence,
        checksum_expected=checksum_expected, checksum_actual=checksum, received=received,
        ob_mean=ob_mean, ob_median=r.ob_median, ob_std=ob_std, ob_row_means=ob_row_means,
        overscan_mean=None if r.os_n == 0 else os_mean, overscan_std=None if r.os_n == 0 else os_std,
        saturated=r.saturated,
        zero_rows=(r.first_zero_row, r.zero_rows) if r.zero_rows else None,
    )
