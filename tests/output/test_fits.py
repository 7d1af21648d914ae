"""FITS building: the packing kernel against astropy, header keys, precession, airmass, upload naming."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from indi_qhy_py.output import fits_image
from indi_qhy_py.output.fits_header import airmass, precess_to_j2000, sexagesimal
from indi_qhy_py.output.upload import UploadError, UploadRoot


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_plain_fits_round_trips_every_bit_through_astropy(dtype: type) -> None:
    info = np.iinfo(dtype)
    pixels = np.random.default_rng(3).integers(0, info.max, (37, 53), dtype=dtype, endpoint=True)
    pixels[0, :3] = (0, info.max, 1 << (info.bits - 1))
    cards = fits.Header([("EXPTIME", 1.5)])
    data = bytes(fits_image.FitsEncoder().plain(pixels, cards))
    assert len(data) % 2880 == 0
    with fits.open(io.BytesIO(data)) as hdus:
        assert hdus[0].data.dtype == dtype and np.array_equal(hdus[0].data, pixels)
        assert hdus[0].header["EXPTIME"] == 1.5


def test_numpy_fallback_packs_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = np.random.default_rng(4).integers(0, 1 << 32, (9, 11), dtype=np.uint32)
    fast = bytes(fits_image.FitsEncoder().plain(pixels, fits.Header()))
    monkeypatch.setattr(fits_image, "_kernel", None)
    assert bytes(fits_image.FitsEncoder().plain(pixels, fits.Header())) == fast


def test_compressed_fits_is_lossless() -> None:
    pixels = np.random.default_rng(5).integers(0, 65535, (64, 80), dtype=np.uint16)
    with fits.open(io.BytesIO(fits_image.FitsEncoder.compressed(pixels, fits.Header()))) as hdus:
        assert np.array_equal(hdus[1].data, pixels)


def test_precession_matches_meeus_example_21b() -> None:
    """Meeus, Astronomical Algorithms, example 21.b (theta Persei, J2000 -> 2028 Nov 13.19), run backwards."""
    when = datetime(2028, 11, 13, 4, 33, 36, tzinfo=UTC)
    ra, dec = precess_to_j2000(41.547214 / 15, 49.348483, when)
    assert ra * 15 == pytest.approx(41.054063, abs=3e-4) and dec == pytest.approx(49.227750, abs=3e-4)


def test_airmass_is_one_at_the_zenith_and_none_below_the_horizon() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    days = (when.timestamp() / 86400 + 2440587.5) - 2451545.0
    lst = (18.697374558 + 24.06570982441908 * days) % 24  # at longitude 0
    assert airmass(lst, 51.5, 51.5, 0.0, when) == pytest.approx(1.0, abs=1e-3)
    assert airmass((lst + 12) % 24, -51.5, 51.5, 0.0, when) is None
    # near the horizon it stays positive and below the horizon value (~38), never the polynomial's negatives
    for dec in (-37.9, -38.2):  # 0.6 and 0.3 degrees up at the meridian from 51.5 N
        assert 20.0 < airmass(lst, dec, 51.5, 0.0, when) < 40.0
    assert sexagesimal(-5.391111, True) == "-05 23 28.00"


def test_upload_names_and_the_directory_fence(tmp_path: Path) -> None:
    root = UploadRoot(tmp_path / "root")
    path, note = root.save("", "Light_XXX", ".fits", [b"a"])
    assert path == tmp_path / "root" / "Light_001.fits" and note is None
    (tmp_path / "root" / "Light_007.fits").write_bytes(b"")
    assert root.save(str(tmp_path / "root"), "Light_XXX", ".fits", [b"b"])[0].name == "Light_008.fits"
    when = datetime(2026, 11, 21, 22, 5, 1, tzinfo=UTC)
    path, _ = root.save("m31", "M31_ISO8601", ".fits.fz", [b"c"], when)
    assert path == tmp_path / "root" / "m31" / "M31_2026-11-21T22-05-01.fits.fz" and path.read_bytes() == b"c"
    for directory, prefix in (("", "../escape"), ("", "a/b"), ("/etc", "x"), (str(tmp_path), "x"),
                              (f"{tmp_path}/root/../..", "x"), ("", "..")):
        with pytest.raises(UploadError):
            root.save(directory, prefix, ".fits", [b"x"])
    assert not list(tmp_path.glob("*.fits")) and not list((tmp_path / "root").glob(".*partial"))


def test_non_ascii_text_is_transliterated_and_the_original_kept() -> None:
    from indi_qhy_py.output.fits_header import fits_ascii, text_card

    assert [fits_ascii(t) for t in ("Hα", "[OIII]", "Télescope", "µm", "滤镜", "a\tb")] == [
        "Ha", "[OIII]", "Telescope", "um", "\\u6ee4\\u955c", "a b"]
    header = fits.Header()
    text_card(header, "FILTER", "Hα", "filter")
    text_card(header, "TELESCOP", "plain", "telescope")
    again = fits.Header.fromstring(header.tostring())
    assert again["FILTER"] == "Ha" and again["TELESCOP"] == "plain" and "HIERARCH TELESCOP UTF8" not in again
    assert again["HIERARCH FILTER UTF8"].encode().decode("unicode_escape") == "Hα"
