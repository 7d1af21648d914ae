"""The PNG preview: grey for mono and binned frames, debayered colour when the FITS keys describe a mosaic."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from indi_qhy_py.output.preview import debayer, png_bytes, preview_image


def mosaic(pattern: str, colour: str, height: int = 64, width: int = 96) -> np.ndarray:
    """A neutral sky (every site alike, with noise) and one bright square lit only at the ``colour`` sites."""
    rng = np.random.default_rng(3)
    pixels = rng.normal(1000, 20, (height, width)).astype(np.uint16)
    for dy in (0, 1):
        for dx in (0, 1):
            if pattern[dy * 2 + dx] == colour:
                pixels[20 + dy : 36 : 2, 40 + dx : 56 : 2] = 40000
    return pixels


def decode_png(data: bytes) -> tuple[int, int, int, np.ndarray]:
    width, height, _depth, colour_type = struct.unpack(">IIBB", data[16:26])
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    raw = np.frombuffer(zlib.decompress(data[idat + 4 : idat + 4 + length]), dtype=np.uint8)
    channels = 3 if colour_type == 2 else 1
    rows = raw.reshape(height, 1 + width * channels)[:, 1:]
    return width, height, colour_type, rows.reshape(height, width, channels)


@pytest.mark.parametrize(("pattern", "x_off", "y_off"), [("RGGB", 0, 0), ("RGGB", 1, 0), ("BGGR", 0, 1)])
def test_a_colour_frame_is_debayered_from_its_fits_keys(pattern: str, x_off: int, y_off: int) -> None:
    shifted = "".join(pattern[((dy + y_off) % 2) * 2 + (dx + x_off) % 2] for dy in (0, 1) for dx in (0, 1))
    frame = mosaic(shifted, "R")  # red where the mosaic, read with the offsets, has red
    rgb = debayer(frame, pattern, x_off, y_off)
    star = (slice(10, 18), slice(20, 28))
    assert rgb.shape == (32, 48, 3) and rgb[star][..., 0].mean() > 10 * rgb[star][..., 2].mean()
    width, height, colour_type, image = decode_png(png_bytes(preview_image(frame, {
        "BAYERPAT": pattern, "XBAYROFF": x_off, "YBAYROFF": y_off})))
    assert (width, height, colour_type) == (48, 32, 2)
    red, green, blue = (image[star][..., c].astype(float).mean() for c in range(3))
    assert red > 200 and blue < 100 and green < 100  # the star is red; the sky around it neutral
    sky = image[:8, :8].astype(float).mean(axis=(0, 1))
    assert sky.max() - sky.min() < 40


def test_mono_and_binned_frames_stay_grey() -> None:
    frame = mosaic("RGGB", "R")
    for header in (None, {"XBINNING": 2}):
        width, height, colour_type, _ = decode_png(png_bytes(preview_image(frame, header)))
        assert (width, height, colour_type) == (96, 64, 0)


def test_a_bad_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="Bayer pattern"):
        debayer(np.zeros((4, 4), np.uint16), "RGBW")
