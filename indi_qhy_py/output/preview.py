"""A PNG preview of a frame: reduced to at most ~1000 px a side, stretched, 8-bit grey.

Written with zlib and struct alone (a PNG is a signature and three chunks), so a preview needs no imaging library.
The stretch maps the median to dark grey and the 99.9th percentile to white, with an asinh curve so faint nebulae
and bright stars both show.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

MAX_SIDE = 1000


def stretch(pixels: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    step = max(1, -(-max(pixels.shape) // max_side))
    small = pixels[: pixels.shape[0] // step * step, : pixels.shape[1] // step * step].astype(np.float64)
    small = small.reshape(small.shape[0] // step, step, small.shape[1] // step, step).mean(axis=(1, 3))
    low, high = np.percentile(small, (50.0, 99.9))
    scaled = np.clip((small - low) / max(high - low, 1e-9), 0.0, 1.0)
    curve = np.arcsinh(scaled * 10.0) / np.arcsinh(10.0)
    return np.round((0.08 + 0.92 * curve) * 255).astype(np.uint8)


def png_bytes(grey: np.ndarray) -> bytes:
    height, width = grey.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = np.hstack([np.zeros((height, 1), dtype=np.uint8), grey])  # filter byte 0 (none) per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


def write_preview(pixels: np.ndarray, path: Path) -> None:
    path.write_bytes(png_bytes(stretch(pixels)))
