"""Checking what clients send: INDI numbers, trimmed text, and refusals that are valid for indiserver."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from indi_qhy_py.indi.properties import Blob, NewValueError, Text, blobs, parse_number, texts


@pytest.mark.parametrize(("text", "value"), [
    ("1", 1.0), (" -2.5 ", -2.5), ("1e3", 1000.0), (".5", 0.5), ("-10:30:00", -10.5), ("10 30 0", 10.5),
    ("-0:30", -0.5), ("0", 0.0), ("0.000e-999", 0.0),
])
def test_indi_numbers_are_read(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(("text", "why"), [
    ("١٢", "not a number"), ("1_0", "not a number"), ("1e-400", "too small"), ("1e400", "too large"),
    ("inf", "not a number"), ("nan", "not a number"), ("0x10", "not a number"), ("1:-30", "not a number"),
    ("", "empty"), ("1 2 3 4", "not a number"), ("９", "not a number"),
])
def test_anything_else_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_number(text)


def test_text_from_the_wire_is_trimmed_as_indiserver_wraps_it() -> None:
    vector = texts("cam", "UPLOAD_SETTINGS", "Upload", "Options", [Text("UPLOAD_DIR", "Dir")])
    message = ET.fromstring("<newTextVector device='cam' name='UPLOAD_SETTINGS'><oneText name='UPLOAD_DIR'>\n"
                            "/data/night\n    </oneText></newTextVector>")
    assert vector.parse_new(message) == {"UPLOAD_DIR": "/data/night"}


def test_a_blob_vector_is_refused_without_sending_a_blob() -> None:
    vector = blobs("cam", "CCD1", "Image", "Image", [Blob("CCD1", "Image")])
    message = ET.fromstring("<newBLOBVector device='cam' name='CCD1'><oneBLOB name='CCD1' size='4' format='.fits'>"
                            "QUJDRA==</oneBLOB></newBLOBVector>")
    with pytest.raises(NewValueError, match="read-only"):
        vector.parse_new(message)
    reply = vector.set_xml("CCD1 is read-only")
    assert reply.tag == "setBLOBVector" and reply.get("message") == "CCD1 is read-only" and len(reply) == 0
