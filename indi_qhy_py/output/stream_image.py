"""A live frame as the preview clients see: 8 bits a pixel, stretched, raw or as a JPEG (or 16 bits, unstretched).

INDI's video clients (KStars' video window, any StreamManager client) take a raw stream frame as 8-bit pixels,
width x height of CCD_STREAM_FRAME, or an image file they decode themselves (".stream_jpg"). A 16-bit frame is
stretched with one lookup table built from a sparse sample of it: the 0.1st percentile goes to black and the
99.95th to white, so a faint target shows while focusing instead of the near-black frame a plain shift by 8 bits
gives. One pass over the frame (the table lookup); the sample costs a few thousand pixels.

JPEG encoding is Pillow's (libjpeg-turbo): a JPEG encoder of our own would be slower and larger.
"""

from __future__ import annotations

import io
import time

import numpy as np

SAMPLE_PIXELS = 20_000
LOW_PERCENTILE, HIGH_PERCENTILE = 0.1, 99.95
MIN_SPAN = 64  # ADU: a flat frame (a dark, a bias) is not stretched into noise
JPEG_QUALITY = 85
BAND_PIXELS = 1 << 18  # about 1 ms of lookups


def stretch_table(pixels: np.ndarray) -> np.ndarray:
    """The 65536-entry lookup table from 16-bit values to 8 bits, for this frame."""
    step = max(1, int(np.sqrt(pixels.size / SAMPLE_PIXELS)))
    sample = pixels[::step, ::step]
    low, high = np.percentile(sample, (LOW_PERCENTILE, HIGH_PERCENTILE))
    high = max(float(high), float(low) + MIN_SPAN)
    levels = (np.arange(65536, dtype=np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.clip(levels, 0, 255).astype(np.uint8)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """The frame as 8-bit pixels (an 8-bit frame as it is; others stretched).

    The lookup runs a band of rows at a time: numpy holds the interpreter lock through one call, and the stream's
    reader must not wait milliseconds for it between two USB reads."""
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint16:
        pixels = np.clip(pixels, 0, 65535).astype(np.uint16)
    table = stretch_table(pixels)
    out = np.empty(pixels.shape, dtype=np.uint8)
    rows = max(1, BAND_PIXELS // max(1, pixels.shape[1]))
    for top in range(0, pixels.shape[0], rows):
        np.take(table, pixels[top : top + rows], out=out[top : top + rows])
        time.sleep(0)  # let the reader have the lock between bands
    return out


def to_16bit(pixels: np.ndarray) -> np.ndarray:
    """The frame as 16-bit little-endian pixels for a full-depth raw stream: a 16-bit frame as it is (no copy on
    a little-endian host), 32-bit sums clipped."""
    if pixels.dtype != np.uint16:
        pixels = np.clip(pixels, 0, 65535).astype(np.uint16)
    return np.ascontiguousarray(pixels, dtype="<u2")


def jpeg(pixels8: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """An 8-bit grey frame as JPEG bytes."""
    from PIL import Image  # only MJPEG streams need it

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels8, dtype=np.uint8)).save(out, format="JPEG", quality=quality)
    return out.getvalue()
