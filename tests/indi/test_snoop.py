"""Snooped values reach the header only when sane; a bad one is left out and told once, not per frame."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from indi_qhy_py.indi.snoop import SnoopState


def number(device: str, name: str, **values: object) -> ET.Element:
    body = "".join(f"<oneNumber name='{k}'>{v}</oneNumber>" for k, v in values.items())
    return ET.fromstring(f"<setNumberVector device='{device}' name='{name}' state='Ok'>{body}</setNumberVector>")


@pytest.fixture
def snoops() -> tuple[SnoopState, list[str]]:
    said: list[str] = []
    return SnoopState(on_warning=said.append), said


@pytest.mark.parametrize(("name", "values", "field"), [
    ("EQUATORIAL_EOD_COORD", {"RA": "1e308", "DEC": 10}, "ra_hours"),
    ("EQUATORIAL_EOD_COORD", {"RA": 5, "DEC": 91}, "dec_deg"),
    ("EQUATORIAL_EOD_COORD", {"RA": "nan", "DEC": 0}, "ra_hours"),
    ("GEOGRAPHIC_COORD", {"LAT": "-1e308", "LONG": 10, "ELEV": 0}, "latitude"),
    ("GEOGRAPHIC_COORD", {"LAT": 50, "LONG": 400, "ELEV": 0}, "longitude"),
    ("TELESCOPE_INFO", {"TELESCOPE_FOCAL_LENGTH": "1e300", "TELESCOPE_APERTURE": 100}, "focal_length_mm"),
])
def test_an_insane_value_clears_the_property_and_is_told_once(snoops, name: str, values: dict, field: str) -> None:
    state, said = snoops
    good = {"EQUATORIAL_EOD_COORD": {"RA": 5.5, "DEC": -5}, "GEOGRAPHIC_COORD": {"LAT": 51, "LONG": 359, "ELEV": 5},
            "TELESCOPE_INFO": {"TELESCOPE_FOCAL_LENGTH": 1000, "TELESCOPE_APERTURE": 200}}[name]
    state.update(number("Telescope Simulator", name, **good))
    assert getattr(state.snapshot(), field) is not None
    for _ in range(3):
        state.update(number("Telescope Simulator", name, **values))
    assert getattr(state.snapshot(), field) is None
    assert len(said) == 1 and name in said[0] and "left out of the FITS header" in said[0]
    state.update(number("Telescope Simulator", name, **good))
    assert getattr(state.snapshot(), field) is not None
    state.update(number("Telescope Simulator", name, **values))
    assert len(said) == 2  # bad again after a good value: told again


def test_values_of_devices_not_snooped_are_ignored(snoops) -> None:
    state, said = snoops
    assert not state.update(number("Someone Else", "EQUATORIAL_EOD_COORD", RA="1e308", DEC=0))
    assert said == [] and state.snapshot().ra_hours is None
