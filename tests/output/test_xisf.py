"""XISF files: what our writer makes is read back by an independent reader (PyPI's ``xisf``), pixels and metadata."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from indi_qhy_py.output.xisf_image import ALIGN, SIGNATURE, XisfEncoder, fits_value, shifted_pattern

xisf = pytest.importorskip("xisf")
NS = "{http://www.pixinsight.com/xisf}"


def cards(**extra: object) -> fits.Header:
    h = fits.Header()
    h["INSTRUME"] = ("QHY268C", "camera model")
    h["EXPTIME"] = (2.5, "exposure time [s]")
    h["FRAME"] = ("Dark", "frame type")
    h["CCD-TEMP"] = (-10.0, "sensor temperature at readout [C]")
    h["DATE-OBS"] = ("2026-12-05T01:02:03.456", "UTC start of exposure")
    h["OBJECT"] = ("M 31's core", "target")
    h["OVERSCAN"] = (False, "optical black and overscan included")
    for key, value in extra.items():
        h[key] = value
    return h


def read(tmp_path: Path, data: memoryview) -> tuple[np.ndarray, dict, dict, ET.Element]:
    path = tmp_path / "frame.xisf"
    path.write_bytes(data)
    reader = xisf.XISF(str(path))
    length = struct.unpack("<I", bytes(data[8:12]))[0]
    root = ET.fromstring(bytes(data[16 : 16 + length]))
    return reader.read_image(0), reader.get_images_metadata()[0], reader.get_file_metadata(), root


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_pixels_read_back_exactly_at_every_depth(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, np.iinfo(dtype).max, size=(61, 83), dtype=dtype, endpoint=True)
    pixels[0, 0], pixels[-1, -1] = 0, np.iinfo(dtype).max
    image, meta, _, _ = read(tmp_path, XisfEncoder().encode(pixels, cards()))
    assert image.shape == (61, 83, 1) and image.dtype == dtype
    assert np.array_equal(image[:, :, 0], pixels)  # top row first, as FITS' ROWORDER TOP-DOWN
    assert meta["geometry"] == (83, 61, 1) and meta["colorSpace"] == "Gray"


def test_the_fits_keywords_and_xisf_properties_are_in_the_header(tmp_path: Path) -> None:
    pixels = np.zeros((4, 6), dtype=np.uint16)
    h = cards(FILTER=("Ha", "filter"))
    h["HIERARCH FILTER UTF8"] = ("H\\u03b1", "FILTER as sent (escaped)")
    h["COMMENT"] = "taken by a test"
    _, meta, file_meta, root = read(tmp_path, XisfEncoder().encode(pixels, h))
    keywords = meta["FITSKeywords"]
    assert keywords["INSTRUME"][0] == {"value": "QHY268C", "comment": "camera model"}
    assert keywords["EXPTIME"][0]["value"] == "2.5" and keywords["OVERSCAN"][0]["value"] == "F"
    assert keywords["COMMENT"][0]["comment"] == "taken by a test"
    assert "BITPIX" not in keywords and "BZERO" not in keywords  # FITS's own layout: the Image element says it
    assert not any(k.endswith("UTF8") for k in keywords)
    raw = {k.get("name"): k.get("value") for k in root.iter(f"{NS}FITSKeyword")}
    assert raw["OBJECT"] == "'M 31''s core'"  # as a FITS header has it: quoted, quotes doubled
    props = meta["XISFProperties"]
    assert props["Instrument:Filter:Name"]["value"] == "Hα"  # the name as sent: XML carries UTF-8
    assert props["Instrument:ExposureTime"]["value"] == 2.5
    assert props["Instrument:Camera:Name"]["value"] == "QHY268C"
    assert props["Observation:Time:Start"]["value"] == "2026-12-05T01:02:03.456Z"
    assert meta["imageType"] == "Dark"
    assert file_meta["XISF:CreatorApplication"]["value"].startswith("indi_qhy_py ")
    assert "XISF:CreationTime" in file_meta


def test_the_layout_signature_alignment_and_a_reused_buffer() -> None:
    encoder = XisfEncoder()
    first = encoder.encode(np.full((10, 10), 7, dtype=np.uint16), cards())
    assert bytes(first[:8]) == SIGNATURE and bytes(first[12:16]) == b"\0\0\0\0"
    length = struct.unpack("<I", bytes(first[8:12]))[0]
    image = ET.fromstring(bytes(first[16 : 16 + length])).find(f"{NS}Image")
    assert image is not None
    kind, position, size = image.get("location", "").split(":")
    assert kind == "attachment" and int(position) % ALIGN == 0 and int(size) == 200
    assert len(first) == int(position) + 200
    assert np.frombuffer(first[int(position):], dtype="<u2").tolist() == [7] * 100
    many = cards(**{f"K{i:07d}": ("x" * 60, "padding the header past one block") for i in range(80)})
    second = encoder.encode(np.full((10, 10), 9, dtype=np.uint16), many)
    length = struct.unpack("<I", bytes(second[8:12]))[0]
    image = ET.fromstring(bytes(second[16 : 16 + length])).find(f"{NS}Image")
    assert image is not None
    position = int(image.get("location", "").split(":")[1])
    assert position >= 16 + length and position % ALIGN == 0  # a long header moves the data to the next block
    assert np.frombuffer(second[position:], dtype="<u2").tolist() == [9] * 100


def test_a_colour_frames_mosaic_is_the_pattern_at_its_first_pixel() -> None:
    assert shifted_pattern("RGGB", 0, 0) == "RGGB"
    assert shifted_pattern("RGGB", 1, 0) == "GRBG"
    assert shifted_pattern("RGGB", 0, 1) == "GBRG"
    assert shifted_pattern("RGGB", 1, 1) == "BGGR"
    data = XisfEncoder().encode(np.zeros((4, 4), dtype=np.uint16),
                                cards(BAYERPAT="RGGB", XBAYROFF=1, YBAYROFF=1))
    length = struct.unpack("<I", bytes(data[8:12]))[0]
    cfa = ET.fromstring(bytes(data[16 : 16 + length])).find(f"{NS}Image/{NS}ColorFilterArray")
    assert cfa is not None and cfa.attrib == {"pattern": "BGGR", "width": "2", "height": "2"}


def test_values_are_formatted_as_a_fits_header_has_them() -> None:
    assert fits_value(True) == "T" and fits_value("it's") == "'it''s'" and fits_value(3) == "3"
    assert fits_value(0.1) == "0.1"
