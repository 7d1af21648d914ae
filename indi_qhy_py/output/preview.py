"""A PNG preview of a frame: reduced to at most ~1000 px a side, stretched; colour when the frame has a mosaic.

A colour camera's frame is debayered from its FITS keys (BAYERPAT, XBAYROFF, YBAYROFF) by 2x2 superpixels (one
RGB pixel per cell: enough for a preview, and no interpolation artefacts); each channel's background is set to the
same grey so the sky comes out neutral, and one white scale serves all three so stars keep their colour. A mono
frame, or a binned colour frame (no Bayer keys), stays grey. The stretch maps the median to dark grey and the
99.9th percentile to white, with an asinh curve so faint nebulae and bright stars both show. The PNG is written
with zlib and struct alone (a signature and three chunks): a library would not make it shorter.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

MAX_SIDE = 1000


def reduce(plane: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Block means, so the longer side is at most ``max_side``.

    Splitting the axes of a view never copies, and the mean accumulates in float64 a chunk at a time: no float64
    copy of a 123 MB frame is made.
    """
    step = max(1, -(-max(plane.shape) // max_side))
    cropped = plane[: plane.shape[0] // step * step, : plane.shape[1] // step * step]
    blocks = cropped.reshape(cropped.shape[0] // step, step, cropped.shape[1] // step, step)
    return blocks.mean(axis=(1, 3), dtype=np.float64)


def _curve(scaled: np.ndarray) -> np.ndarray:
    """0..1 (clipped) to 8 bits on an asinh curve, the sky at dark grey."""
    curve = np.arcsinh(np.clip(scaled, 0.0, 1.0) * 10.0) / np.arcsinh(10.0)
    return np.round((0.08 + 0.92 * curve) * 255).astype(np.uint8)


def stretch(pixels: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Reduced, then the median to dark grey and the 99.9th percentile to white on an asinh curve."""
    small = reduce(pixels, max_side)
    low, high = np.percentile(small, (50.0, 99.9))
    return _curve((small - low) / max(high - low, 1e-9))


def stretch_colour(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Each channel's own median to dark grey (a neutral sky), one white scale for all (star colours kept)."""
    small = [reduce(rgb[..., c], max_side) for c in range(3)]
    levels = [np.percentile(channel, (50.0, 99.9)) for channel in small]
    spread = max(max(high - low for low, high in levels), 1e-9)
    return np.stack([_curve((channel - low) / spread) for channel, (low, _) in zip(small, levels, strict=True)],
                    axis=-1)


def debayer(pixels: np.ndarray, pattern: str, x_offset: int = 0, y_offset: int = 0,
            max_side: int | None = None) -> np.ndarray:
    """RGB superpixels (height/2, width/2, 3): each 2x2 cell's red, mean green and blue.

    With ``max_side`` each Bayer site's plane (a view) is block-reduced before the colours are combined, so a
    preview never holds a full-size float copy of the frame.
    """
    pattern = pattern.upper()
    if len(pattern) != 4 or sorted(pattern) != ["B", "G", "G", "R"]:
        raise ValueError(f"Bayer pattern {pattern!r} is not one of RGGB, BGGR, GRBG, GBRG")
    height, width = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
    planes: dict[str, list[np.ndarray]] = {"R": [], "G": [], "B": []}
    for dy in (0, 1):
        for dx in (0, 1):
            colour = pattern[((dy + y_offset) % 2) * 2 + (dx + x_offset) % 2]
            site = pixels[dy:height:2, dx:width:2]
            planes[colour].append(reduce(site, max_side) if max_side else site.astype(np.float64))
    return np.stack([sum(planes[c]) / len(planes[c]) for c in "RGB"], axis=-1)


def preview_image(pixels: np.ndarray, header: Mapping[str, object] | None = None,
                  max_side: int = MAX_SIDE) -> np.ndarray:
    """8-bit grey (2-D) or RGB (3-D) preview, colour when the header describes a Bayer mosaic."""
    pattern = str(header.get("BAYERPAT", "")).strip() if header is not None else ""
    if not pattern:
        return stretch(pixels, max_side)
    rgb = debayer(pixels, pattern, int(header.get("XBAYROFF", 0) or 0), int(header.get("YBAYROFF", 0) or 0),
                  max_side)
    return stretch_colour(rgb, max_side)


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of 8-bit grey (height, width) or RGB (height, width, 3) pixels."""
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = np.hstack([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, width * channels)])  # filter 0
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


def write_preview(pixels: np.ndarray, path: Path, header: Mapping[str, object] | None = None) -> None:
    path.write_bytes(png_bytes(preview_image(pixels, header)))
