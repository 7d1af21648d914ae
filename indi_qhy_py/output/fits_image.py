"""A frame as a FITS file in memory: plain (``.fits``) or tile-compressed like fpack (``.fits.fz``).

The header is built and formatted by astropy. For the plain file the pixel data is packed by our Cython kernel
straight into a reusable buffer (one pass: BZERO shift and byte swap together), because astropy's writer makes
two passes and a fresh 123 MB copy for a QHY600 frame. Compressed files are written entirely by astropy (RICE_1,
lossless for integers). 32-bit binned sums are stored as BITPIX 32 with BZERO 2^31: every bit is kept.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from astropy.io import fits

try:
    from . import _fits_pack as _kernel
except ImportError:  # pragma: no cover - only without a compiler
    _kernel = None
    warnings.warn("indi_qhy_py.output._fits_pack is not built: FITS packing falls back to numpy (two passes)",
                  RuntimeWarning, stacklevel=1)

BLOCK = 2880
_FORMS = {  # dtype -> (BITPIX, BZERO)
    np.dtype(np.uint8): (8, None),
    np.dtype(np.uint16): (16, 32768),
    np.dtype(np.uint32): (32, 2147483648),
}


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def structural_header(pixels: np.ndarray, cards: fits.Header) -> fits.Header:
    """SIMPLE/BITPIX/NAXIS*/BZERO in the order the standard requires, then the caller's cards."""
    try:
        bitpix, bzero = _FORMS[pixels.dtype]
    except KeyError:
        raise TypeError(f"no FITS form for {pixels.dtype} pixels (uint8, uint16, uint32)") from None
    header = fits.Header()
    header["SIMPLE"] = (True, "conforms to FITS standard")
    header["BITPIX"] = (bitpix, "bits per data value")
    header["NAXIS"] = 2
    header["NAXIS1"] = (pixels.shape[1], "width")
    header["NAXIS2"] = (pixels.shape[0], "height")
    header["EXTEND"] = True
    if bzero is not None:
        header["BZERO"] = (bzero, "offset data range to that of unsigned")
        header["BSCALE"] = 1
    header.extend(cards, unique=True)
    return header


class FitsEncoder:
    """Encodes frames; keeps one output buffer so a run of same-size frames allocates nothing."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, dtype=np.uint8)

    def plain(self, pixels: np.ndarray, cards: fits.Header) -> memoryview:
        """The whole ``.fits`` file. The view stays valid until the next call."""
        header = structural_header(pixels, cards).tostring().encode("ascii")
        data_len = pixels.nbytes
        total = len(header) + _padded(data_len)
        if self._buffer.size < total:
            self._buffer = np.empty(total, dtype=np.uint8)
        out = self._buffer[:total]
        out[: len(header)] = np.frombuffer(header, dtype=np.uint8)
        body = out[len(header) : len(header) + data_len]
        _pack(np.ascontiguousarray(pixels).reshape(-1), body)
        out[len(header) + data_len :] = 0
        return memoryview(out)

    @staticmethod
    def compressed(pixels: np.ndarray, cards: fits.Header) -> memoryview:
        """The ``.fits.fz`` file: an empty primary HDU and a RICE_1 tile-compressed image, as fpack writes."""
        image = fits.CompImageHDU(pixels, header=cards, compression_type="RICE_1")
        stream = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), image]).writeto(stream)
        return stream.getbuffer()  # the written bytes themselves, not a copy


def _pack(flat: np.ndarray, body: np.ndarray) -> None:
    if flat.dtype == np.uint8:
        body[:] = flat
    elif _kernel is not None:
        kernel = _kernel.pack_u16 if flat.dtype == np.uint16 else _kernel.pack_u32
        kernel(flat, body.view(flat.dtype))
    else:
        shift = flat.dtype.type(1 << (flat.dtype.itemsize * 8 - 1))
        np.bitwise_xor(flat, shift, out=body.view(flat.dtype))
        body.view(flat.dtype).byteswap(inplace=True)
