"""Snooping: what a CCD driver listens to from the mount, rotator, focuser, filter wheel and sky-quality meter.

The devices are named in ACTIVE_DEVICES. ``requests`` gives the ``getProperties`` messages that ask indiserver to
forward their traffic; ``SnoopState.update`` folds each forwarded def/set/del message into a ``Snooped`` record
that the FITS header reads.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import replace

from ..fits_header import Snooped
from .properties import parse_number

#: ACTIVE_DEVICES element -> the properties INDI::CCD snoops on that device.
SNOOPED_PROPERTIES = {
    "ACTIVE_TELESCOPE": ("EQUATORIAL_EOD_COORD", "TELESCOPE_INFO", "GEOGRAPHIC_COORD", "TELESCOPE_PIER_SIDE"),
    "ACTIVE_ROTATOR": ("ABS_ROTATOR_ANGLE",),
    "ACTIVE_FOCUSER": ("ABS_FOCUS_POSITION", "FOCUS_TEMPERATURE"),
    "ACTIVE_FILTER": ("FILTER_SLOT", "FILTER_NAME"),
    "ACTIVE_SKYQUALITY": ("SKY_QUALITY",),
}
DEFAULT_ACTIVE = {
    "ACTIVE_TELESCOPE": "Telescope Simulator",
    "ACTIVE_ROTATOR": "Rotator Simulator",
    "ACTIVE_FOCUSER": "Focuser Simulator",
    "ACTIVE_FILTER": "Filter Simulator",
    "ACTIVE_SKYQUALITY": "SQM",
}


def requests(active: dict[str, str]) -> list[ET.Element]:
    out = []
    for role, names in SNOOPED_PROPERTIES.items():
        device = active.get(role, "").strip()
        if not device:
            continue
        for name in names:
            out.append(ET.Element("getProperties", {"version": "1.7", "device": device, "name": name}))
    return out


def _values(message: ET.Element) -> dict[str, str]:
    return {child.get("name", ""): (child.text or "").strip() for child in message}


class SnoopState:
    """The latest snooped values, per role; safe to read from the exposure thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, str] = dict(DEFAULT_ACTIVE)
        self._data = Snooped()
        self._filter_slot: int | None = None
        self._filter_names: dict[int, str] = {}

    def set_active(self, active: dict[str, str]) -> None:
        with self._lock:
            self._active = dict(active)
            self._data = Snooped()
            self._filter_slot, self._filter_names = None, {}

    def snapshot(self) -> Snooped:
        with self._lock:
            return replace(self._data)

    def update(self, message: ET.Element) -> bool:
        """Fold one forwarded message in; True when it was about a device we snoop."""
        device, name = message.get("device", ""), message.get("name", "")
        with self._lock:
            role = next((r for r, d in self._active.items() if d and d == device), None)
            if role is None or name not in SNOOPED_PROPERTIES.get(role, ()):
                return False
            if message.tag == "delProperty":
                self._forget(name)
                return True
            if message.get("state") == "Alert":
                return True  # a failed value is not a position
            try:
                self._apply(name, _values(message))
            except ValueError:
                return True  # a malformed number from another driver: keep the last good value
            return True

    def _forget(self, name: str) -> None:
        d = self._data
        if name == "EQUATORIAL_EOD_COORD":
            d.ra_hours = d.dec_deg = None
        elif name == "ABS_FOCUS_POSITION":
            d.focus_position = None
        elif name == "FILTER_SLOT":
            d.filter_name, self._filter_slot = None, None

    def _apply(self, name: str, v: dict[str, str]) -> None:
        d = self._data
        num = parse_number
        if name == "EQUATORIAL_EOD_COORD" and "RA" in v and "DEC" in v:
            d.ra_hours, d.dec_deg = num(v["RA"]), num(v["DEC"])
        elif name == "GEOGRAPHIC_COORD":
            d.latitude = num(v["LAT"]) if "LAT" in v else d.latitude
            d.longitude = num(v["LONG"]) if "LONG" in v else d.longitude
            d.elevation = num(v["ELEV"]) if "ELEV" in v else d.elevation
        elif name == "TELESCOPE_INFO":
            d.focal_length_mm = num(v["TELESCOPE_FOCAL_LENGTH"]) if "TELESCOPE_FOCAL_LENGTH" in v else None
            d.aperture_mm = num(v["TELESCOPE_APERTURE"]) if "TELESCOPE_APERTURE" in v else None
            d.telescope = self._active.get("ACTIVE_TELESCOPE") or None
        elif name == "TELESCOPE_PIER_SIDE":
            d.pier_side = "WEST" if v.get("PIER_WEST") == "On" else "EAST" if v.get("PIER_EAST") == "On" else None
        elif name == "ABS_ROTATOR_ANGLE" and "ANGLE" in v:
            d.rotator_angle = num(v["ANGLE"])
        elif name == "ABS_FOCUS_POSITION" and "FOCUS_ABSOLUTE_POSITION" in v:
            d.focus_position = num(v["FOCUS_ABSOLUTE_POSITION"])
        elif name == "FOCUS_TEMPERATURE" and "TEMPERATURE" in v:
            d.focus_temperature = num(v["TEMPERATURE"])
        elif name == "FILTER_SLOT" and "FILTER_SLOT_VALUE" in v:
            self._filter_slot = round(num(v["FILTER_SLOT_VALUE"]))
        elif name == "FILTER_NAME":
            for key, text in v.items():
                if key.startswith("FILTER_SLOT_NAME_") and key[17:].isdigit():
                    self._filter_names[int(key[17:])] = text
        elif name == "SKY_QUALITY" and "SKY_BRIGHTNESS" in v:
            d.sky_quality = num(v["SKY_BRIGHTNESS"])
        if self._filter_slot is not None:
            d.filter_name = self._filter_names.get(self._filter_slot, f"Slot {self._filter_slot}")
