# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: nonecheck=False, infer_types=False
"""The decoder's pixel pass, in one read of the frame's bytes.

For each row: one loop converts the wire's samples (16-bit MSB-first, or 8-bit) to native integers in a row buffer
that stays in L1 cache, OR-ing them to spot all-zero rows; then, from that row
buffer, the cut (or binning) into the caller's output array, the optical-black and overscan statistics and the
saturated-pixel count. The frame is read once and the output written once; nothing is allocated in proportion to
the frame (a row buffer, a bin accumulator row and a fixed histogram for the optical-black median).

Same contract as ``indi_qhy_py/decode_reference.py``; tests assert both agree exactly.
"""

import sys

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

ctypedef fused out_t:
    uint8_t
    uint16_t
    uint32_t

if sys.byteorder != "little":  # the 16-bit loop swaps bytes assuming a little-endian host
    raise ImportError("the Cython decoder supports little-endian hosts only; the numpy reference will be used")


cdef inline void _clip(Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t limit, Py_ssize_t* a, Py_ssize_t* b) noexcept nogil:
    a[0] = lo if lo > 0 else 0
    b[0] = hi if hi < limit else limit
    if b[0] < a[0]:
        b[0] = a[0]


cdef extern from "decode_simd.h" nogil:
    void qhy_decode16(const uint16_t* src, uint16_t* dst, size_t n, uint16_t level, uint16_t* ored, uint32_t* count)


cdef inline uint16_t _decode16_count(const uint16_t* src, uint16_t* dst, Py_ssize_t n, uint16_t level,
                                     int64_t* at_least) noexcept nogil:
    """MSB-first samples to native into ``dst``; those >= ``level`` counted; returns the OR of them."""
    cdef uint32_t count
    cdef uint16_t ored
    qhy_decode16(src, dst, n, level, &ored, &count)
    at_least[0] += count
    return ored


cdef inline uint16_t _decode16(const uint16_t* src, uint16_t* dst, Py_ssize_t n) noexcept nogil:
    cdef int64_t ignored = 0
    return _decode16_count(src, dst, n, 0xFFFF, &ignored)


cdef inline uint16_t _px(const uint16_t* row, const uint16_t* cut, Py_ssize_t cx0, Py_ssize_t cx1,
                         Py_ssize_t c) noexcept nogil:
    """Sample ``c`` of the current row: in the cut it was decoded straight into the output row."""
    if cut != NULL and cx0 <= c < cx1:
        return cut[c - cx0]
    return row[c]


cdef inline uint16_t _decode8(const uint8_t* src, uint16_t* dst, Py_ssize_t n) noexcept nogil:
    cdef uint16_t acc_or = 0, y
    cdef Py_ssize_t i
    for i in range(n):
        y = src[i]
        dst[i] = y
        acc_or |= y
    return acc_or


cdef inline uint32_t _count_at_least(const uint16_t* p, Py_ssize_t n, uint16_t level) noexcept nogil:
    cdef uint32_t count = 0
    cdef Py_ssize_t i
    for i in range(n):
        count += p[i] >= level
    return count


cdef double _hist_rank(const uint32_t[::1] hist, uint64_t rank) noexcept nogil:
    cdef uint64_t seen = 0
    cdef Py_ssize_t v
    for v in range(hist.shape[0]):
        seen += hist[v]
        if seen > rank:
            return <double>v
    return 0.0


def pixel_pass(const uint8_t[::1] raw, request, Py_ssize_t rows, out_t[:, ::1] out, double[::1] ob_row_means):
    """Decode ``rows`` complete rows of pixel bytes into ``out`` and measure the frame; see PassResult."""
    cdef Py_ssize_t width = request.width
    cdef int bits = request.bits
    cdef Py_ssize_t b = request.binning
    cdef bint average = request.average
    cdef uint16_t sat_level = request.saturation_level
    cdef Py_ssize_t cx0, cx1, cy0, cy1, ox0, ox1, oy0, oy1, vx0, vx1, vy0, vy1
    cx0, cx1, cy0, cy1 = request.local(request.crop)
    ox0, ox1, oy0, oy1 = request.local(request.optical_black)
    vx0, vx1, vy0, vy1 = request.local(request.overscan)
    _clip(cx0, cx1, width, &cx0, &cx1)
    _clip(ox0, ox1, width, &ox0, &ox1)
    _clip(vx0, vx1, width, &vx0, &vx1)
    cdef Py_ssize_t bpp = 2 if bits == 16 else 1
    if rows < 0 or rows * width * bpp > raw.shape[0]:
        raise ValueError("raw holds fewer bytes than the rows asked for")
    if rows > 0 and bits == 16 and (<size_t>&raw[0]) % 2:
        raise ValueError("16-bit pixel data must start at an even address")
    cdef Py_ssize_t out_w = (cx1 - cx0) // b
    cdef Py_ssize_t crop_rows_end = cy1 if cy1 < rows else rows
    cdef Py_ssize_t bin_rows_end = cy0 + ((crop_rows_end - cy0) // b) * b if crop_rows_end > cy0 else cy0
    if out_w > out.shape[1] or (bin_rows_end - cy0) // b > out.shape[0]:
        raise ValueError("out is smaller than the crop")
    cdef bint direct = b == 1 and bits == 16 and out_t is uint16_t and cx1 - cx0 == out_w

    row_np = np.empty(width if width > 0 else 1, dtype=np.uint16)
    acc_np = np.zeros(out_w if out_w > 0 else 1, dtype=np.uint64)
    hist_np = np.zeros(65536 if bits == 16 else 256, dtype=np.uint32)
    cdef uint16_t[::1] row = row_np
    cdef uint64_t[::1] acc = acc_np
    cdef uint32_t[::1] hist = hist_np

    cdef uint16_t ored
    cdef uint32_t v
    cdef Py_ssize_t zero_rows = 0, first_zero = -1, last_zero = -1
    cdef int64_t ob_n = 0, ob_sum = 0, ob_sumsq = 0, os_n = 0, os_sum = 0, os_sumsq = 0, seg_sum
    cdef int64_t saturated = 0
    cdef Py_ssize_t r, c, j, bo, sub
    cdef uint64_t bb = b * b
    cdef const uint8_t* p
    cdef const uint16_t* src16
    cdef uint16_t* cut

    with nogil:
        for r in range(rows):
            p = &raw[r * width * bpp]
            cut = NULL
            if direct and cy0 <= r < crop_rows_end:
                # the cut goes straight into the output; only the columns around it pass through ``row``
                cut = <uint16_t*>&out[r - cy0, 0]
                src16 = <const uint16_t*>p
                ored = _decode16(src16, &row[0], cx0)
                ored |= _decode16_count(src16 + cx0, cut, cx1 - cx0, sat_level, &saturated)
                ored |= _decode16(src16 + cx1, &row[cx1], width - cx1)
            elif bits == 16:
                ored = _decode16(<const uint16_t*>p, &row[0], width)
            else:
                ored = _decode8(p, &row[0], width)
            if ored == 0:
                zero_rows += 1
                if first_zero < 0:
                    first_zero = r
                last_zero = r

            if cut == NULL and cy0 <= r < crop_rows_end:
                saturated += _count_at_least(&row[cx0], cx1 - cx0, sat_level)
                if r < bin_rows_end:
                    if b == 1:
                        for c in range(out_w):
                            out[r - cy0, c] = <out_t>row[cx0 + c]
                    else:
                        sub = (r - cy0) % b
                        if sub == 0:
                            memset(&acc[0], 0, out_w * sizeof(uint64_t))
                        for j in range(out_w):
                            seg_sum = 0
                            for c in range(cx0 + j * b, cx0 + j * b + b):
                                seg_sum += row[c]
                            acc[j] += seg_sum
                        if sub == b - 1:
                            bo = (r - cy0) // b
                            if average:
                                for j in range(out_w):
                                    out[bo, j] = <out_t>((acc[j] + bb // 2) // bb)
                            else:
                                for j in range(out_w):
                                    out[bo, j] = <out_t>acc[j]

            if oy0 <= r < oy1 and ox1 > ox0:
                seg_sum = 0
                for c in range(ox0, ox1):
                    v = _px(&row[0], cut, cx0, cx1, c)
                    seg_sum += v
                    ob_sumsq += <int64_t>v * v
                    hist[v] += 1
                ob_sum += seg_sum
                ob_n += ox1 - ox0
                ob_row_means[r - oy0] = <double>seg_sum / <double>(ox1 - ox0)

            if vy0 <= r < vy1 and vx1 > vx0:
                for c in range(vx0, vx1):
                    v = _px(&row[0], cut, cx0, cx1, c)
                    os_sum += v
                    os_sumsq += <int64_t>v * v
                os_n += vx1 - vx0

    cdef double median = float("nan")
    if ob_n > 0:
        if ob_n % 2:
            median = _hist_rank(hist, ob_n // 2)
        else:
            median = (_hist_rank(hist, ob_n // 2 - 1) + _hist_rank(hist, ob_n // 2)) / 2.0
    return (zero_rows, first_zero, last_zero, ob_n, ob_sum, ob_sumsq, median, os_n, os_sum, os_sumsq, saturated)
