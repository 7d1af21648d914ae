"""A frame as an XISF 1.0 file in memory (``.xisf``, PixInsight's format), with the FITS keywords in its header.

A monolithic XISF file is the signature ``XISF0100``, the XML header's length (uint32, little-endian), four reserved
bytes, the XML header, and the pixels as an attached data block. The pixels are stored as they are in memory
(planar, little-endian: XISF's default byte order), so writing them is one copy into a reused buffer — no byte
swap, unlike FITS. The block starts on a 4096-byte boundary, as XISF recommends for direct I/O.

The frame's FITS cards go in as ``<FITSKeyword>`` elements, values formatted as in a FITS header (strings quoted),
except those that describe FITS's own data layout (BITPIX, BZERO, ...): the ``<Image>`` element says that. Text
that FITS had to transliterate (a filter named ``Hα``) is kept as sent in an XISF property, since XML carries
UTF-8. A colour frame's mosaic, shifted to the image's first pixel, is its ``<ColorFilterArray>``.

Specification: https://pixinsight.com/doc/docs/XISF-1.0-spec/XISF-1.0-spec.html
"""

from __future__ import annotations

import struct
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import numpy as np
from astropy.io import fits

from .. import __version__

SIGNATURE = b"XISF0100"
ALIGN = 4096
_PREAMBLE = 16  # signature, header length, reserved
_NAMESPACE = "http://www.pixinsight.com/xisf"
_SAMPLE_FORMATS = {np.dtype(np.uint8): "UInt8", np.dtype(np.uint16): "UInt16", np.dtype(np.uint32): "UInt32"}
_LAYOUT_KEYS = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BZERO", "BSCALE", "END"}
_IMAGE_TYPES = {"Light": "Light", "Bias": "Bias", "Dark": "Dark", "Flat": "Flat"}
# XISF's own properties for what the FITS cards already say (keyword -> (property id, type))
_PROPERTIES = {"EXPTIME": ("Instrument:ExposureTime", "Float32"), "CCD-TEMP": ("Instrument:Sensor:Temperature",
                                                                                 "Float32"),
               "INSTRUME": ("Instrument:Camera:Name", "String"), "XBINNING": ("Instrument:Camera:XBinning", "Int32"),
               "YBINNING": ("Instrument:Camera:YBinning", "Int32"),
               "PIXSIZE1": ("Instrument:Sensor:XPixelSize", "Float32"),
               "PIXSIZE2": ("Instrument:Sensor:YPixelSize", "Float32"),
               "FOCALLEN": ("Instrument:Telescope:FocalLength", "Float32"),
               "APTDIA": ("Instrument:Telescope:Aperture", "Float32"),
               "TELESCOP": ("Instrument:Telescope:Name", "String"), "FILTER": ("Instrument:Filter:Name", "String")}


def fits_value(value: object) -> str:
    """A card's value as it reads in a FITS header: strings quoted (quotes doubled), logicals T/F."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def shifted_pattern(pattern: str, x_offset: int, y_offset: int) -> str:
    """A 2x2 mosaic ("RGGB") as seen from ``(x_offset, y_offset)`` pixels into it."""
    cells = [pattern[0:2], pattern[2:4]]
    return "".join(cells[(row + y_offset) % 2][(col + x_offset) % 2] for row in range(2) for col in range(2))


def header_xml(pixels: np.ndarray, cards: fits.Header, position: int, created: datetime) -> bytes:
    """The XML header for ``pixels`` stored at ``position``."""
    height, width = pixels.shape
    root = ET.Element("xisf", {"version": "1.0", "xmlns": _NAMESPACE})
    image = ET.SubElement(root, "Image", {
        "geometry": f"{width}:{height}:1", "sampleFormat": _sample_format(pixels.dtype), "colorSpace": "Gray",
        "location": f"attachment:{position}:{pixels.nbytes}"})
    frame = str(cards.get("FRAME", "")).strip()
    if frame in _IMAGE_TYPES:
        image.set("imageType", _IMAGE_TYPES[frame])
    properties = {prop: (kind, cards[key]) for key, (prop, kind) in _PROPERTIES.items() if key in cards}
    for card in cards.cards:  # text FITS had to transliterate, as it was sent: XML carries UTF-8
        key = card.keyword.removesuffix(" UTF8")
        if card.keyword.endswith(" UTF8") and key in _PROPERTIES and _PROPERTIES[key][1] == "String":
            properties[_PROPERTIES[key][0]] = ("String", str(card.value).encode("ascii").decode("unicode_escape"))
    if "DATE-OBS" in cards:
        properties["Observation:Time:Start"] = ("TimePoint", f"{cards['DATE-OBS']}Z")
    for prop, (kind, value) in properties.items():
        _property(image, prop, kind, value)
    if "BAYERPAT" in cards:
        pattern = shifted_pattern(str(cards["BAYERPAT"]), int(cards.get("XBAYROFF", 0)), int(cards.get("YBAYROFF", 0)))
        ET.SubElement(image, "ColorFilterArray", {"pattern": pattern, "width": "2", "height": "2"})
    for card in cards.cards:
        if card.keyword in _LAYOUT_KEYS or card.keyword.endswith(" UTF8") or not card.keyword:
            continue
        value = "" if card.keyword in ("COMMENT", "HISTORY") else fits_value(card.value)
        comment = str(card.value) if card.keyword in ("COMMENT", "HISTORY") else card.comment
        ET.SubElement(image, "FITSKeyword", {"name": card.keyword, "value": value, "comment": comment})
    metadata = ET.SubElement(root, "Metadata")
    _property(metadata, "XISF:CreationTime", "TimePoint", created.strftime("%Y-%m-%dT%H:%M:%SZ"))
    _property(metadata, "XISF:CreatorApplication", "String", f"indi_qhy_py {__version__}")
    _property(metadata, "XISF:BlockAlignmentSize", "UInt16", ALIGN)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


class XisfEncoder:
    """Encodes frames; keeps one output buffer so a run of same-size frames allocates nothing."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, dtype=np.uint8)

    def encode(self, pixels: np.ndarray, cards: fits.Header, created: datetime | None = None) -> memoryview:
        """The whole ``.xisf`` file. The view stays valid until the next call."""
        created = created or datetime.now(UTC)
        position = _aligned(_PREAMBLE + 1024)
        while True:  # the position is written into the header it follows: settle both
            xml = header_xml(pixels, cards, position, created)
            if _PREAMBLE + len(xml) <= position:
                break
            position = _aligned(_PREAMBLE + len(xml))
        total = position + pixels.nbytes
        if self._buffer.size < total:
            self._buffer = np.empty(total, dtype=np.uint8)
        out = self._buffer[:total]
        head = SIGNATURE + struct.pack("<II", len(xml), 0) + xml
        out[: len(head)] = np.frombuffer(head, dtype=np.uint8)
        out[len(head) : position] = 0
        body = out[position:].view(pixels.dtype.newbyteorder("<")).reshape(pixels.shape)
        np.copyto(body, pixels, casting="no" if sys.byteorder == "little" else "equiv")  # one pass
        return memoryview(out)


def _sample_format(dtype: np.dtype) -> str:
    try:
        return _SAMPLE_FORMATS[np.dtype(dtype).newbyteorder("=")]
    except KeyError:
        raise TypeError(f"no XISF sample format for {dtype} pixels (uint8, uint16, uint32)") from None


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _property(parent: ET.Element, prop: str, kind: str, value: object) -> None:
    """A scalar's value is an attribute; a String's is the element's text (XISF 1.0, 11.1)."""
    if kind == "String":
        ET.SubElement(parent, "Property", {"id": prop, "type": kind}).text = str(value)
    else:
        ET.SubElement(parent, "Property", {"id": prop, "type": kind, "value": str(value)})
