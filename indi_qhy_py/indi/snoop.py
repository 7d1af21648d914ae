"""Snooping: what a CCD driver listens to from the mount, rotator, focuser, filter wheel and sky-quality meter.

The devices are named in ACTIVE_DEVICES. ``requests`` gives the ``getProperties`` messages that ask indiserver to
forward their traffic; ``SnoopState.update`` folds each forwarded def/set/del message into a ``Snooped`` record
that the FITS header reads.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace

from ..output.fits_header import Snooped
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


#: The range a snooped value must be in to reach a FITS header (units as INDI sends them). Anything else — a
#: neighbour's bug, a client writing 1e308 into a mount's property — is left out, never allowed to break a frame.
LIMITS = {
    "RA": (0.0, 24.0), "DEC": (-90.0, 90.0), "LAT": (-90.0, 90.0), "LONG": (-180.0, 360.0),
    "ELEV": (-1000.0, 100000.0), "TELESCOPE_FOCAL_LENGTH": (0.0, 100000.0), "TELESCOPE_APERTURE": (0.0, 20000.0),
    "ANGLE": (-360.0, 360.0), "FOCUS_ABSOLUTE_POSITION": (-1e9, 1e9), "TEMPERATURE": (-100.0, 100.0),
    "FILTER_SLOT_VALUE": (0.0, 1000.0), "SKY_BRIGHTNESS": (-5.0, 30.0),
}


class SnoopValueError(ValueError):
    """A snooped value that cannot go into a header; the text says which and why."""


def _number(values: dict[str, str], key: str) -> float:
    try:
        value = parse_number(values[key])
    except ValueError as err:
        raise SnoopValueError(f"{key}: {err}") from err
    low, high = LIMITS[key]
    if not low <= value <= high:
        raise SnoopValueError(f"{key}={values[key][:40]} is outside {low:g}..{high:g}")
    return value


class SnoopState:
    """The latest snooped values, per role; safe to read from the exposure thread.

    A value out of range or not a number clears what that property said (a mount whose position is garbage has
    no known position) and is reported through ``on_warning`` once, not for every frame, until a good value
    arrives.
    """

    def __init__(self, on_warning: Callable[[str], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, str] = dict(DEFAULT_ACTIVE)
        self._data = Snooped()
        self._filter_slot: int | None = None
        self._filter_names: dict[int, str] = {}
        self._warned: dict[str, str] = {}  # property -> the warning last given for it
        self._on_warning = on_warning

    def set_active(self, active: dict[str, str]) -> None:
        with self._lock:
            self._active = dict(active)
            self._data = Snooped()
            self._filter_slot, self._filter_names = None, {}
            self._warned.clear()

    def snapshot(self) -> Snooped:
        with self._lock:
            return replace(self._data)

    def update(self, message: ET.Element) -> bool:
        """Fold one forwarded message in; True when it was about a device we snoop."""
        device, name = message.get("device", ""), message.get("name", "")
        warning = None
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
                self._warned.pop(name, None)
            except SnoopValueError as err:
                self._forget(name)
                text = f"{device}.{name}: {err}; left out of the FITS header until a valid value arrives"
                if self._warned.get(name) != text:
                    self._warned[name] = warning = text
        if warning is not None and self._on_warning is not None:
            self._on_warning(warning)
        return True

    def _forget(self, name: str) -> None:
        d = self._data
        if name == "EQUATORIAL_EOD_COORD":
            d.ra_hours = d.dec_deg = None
        elif name == "GEOGRAPHIC_COORD":
            d.latitude = d.longitude = d.elevation = None
        elif name == "TELESCOPE_INFO":
            d.focal_length_mm = d.aperture_mm = None
        elif name == "ABS_ROTATOR_ANGLE":
            d.rotator_angle = None
        elif name == "ABS_FOCUS_POSITION":
            d.focus_position = None
        elif name == "FOCUS_TEMPERATURE":
            d.focus_temperature = None
        elif name == "SKY_QUALITY":
            d.sky_quality = None
        elif name in ("FILTER_SLOT", "FILTER_NAME"):
            d.filter_name, self._filter_slot = None, None

    def _apply(self, name: str, v: dict[str, str]) -> None:
        """Check everything a message says before storing any of it (a half-applied position is worse than none)."""
        d = self._data
        if name == "EQUATORIAL_EOD_COORD" and "RA" in v and "DEC" in v:
            d.ra_hours, d.dec_deg = _number(v, "RA") % 24.0, _number(v, "DEC")
        elif name == "GEOGRAPHIC_COORD":
            new = {key: _number(v, key) for key in ("LAT", "LONG", "ELEV") if key in v}
            d.latitude = new.get("LAT", d.latitude)
            d.longitude = new["LONG"] % 360.0 if "LONG" in new else d.longitude
            d.elevation = new.get("ELEV", d.elevation)
        elif name == "TELESCOPE_INFO":
            focal = _number(v, "TELESCOPE_FOCAL_LENGTH") if "TELESCOPE_FOCAL_LENGTH" in v else None
            aperture = _number(v, "TELESCOPE_APERTURE") if "TELESCOPE_APERTURE" in v else None
            d.focal_length_mm, d.aperture_mm = focal, aperture
            d.telescope = self._active.get("ACTIVE_TELESCOPE") or None
        elif name == "TELESCOPE_PIER_SIDE":
            d.pier_side = "WEST" if v.get("PIER_WEST") == "On" else "EAST" if v.get("PIER_EAST") == "On" else None
        elif name == "ABS_ROTATOR_ANGLE" and "ANGLE" in v:
            d.rotator_angle = _number(v, "ANGLE")
        elif name == "ABS_FOCUS_POSITION" and "FOCUS_ABSOLUTE_POSITION" in v:
            d.focus_position = _number(v, "FOCUS_ABSOLUTE_POSITION")
        elif name == "FOCUS_TEMPERATURE" and "TEMPERATURE" in v:
            d.focus_temperature = _number(v, "TEMPERATURE")
        elif name == "FILTER_SLOT" and "FILTER_SLOT_VALUE" in v:
            self._filter_slot = round(_number(v, "FILTER_SLOT_VALUE"))
        elif name == "FILTER_NAME":
            for key, text in v.items():
                if key.startswith("FILTER_SLOT_NAME_") and key[17:].isdigit():
                    self._filter_names[int(key[17:])] = text
        elif name == "SKY_QUALITY" and "SKY_BRIGHTNESS" in v:
            d.sky_quality = _number(v, "SKY_BRIGHTNESS")
        if self._filter_slot is not None:
            d.filter_name = self._filter_names.get(self._filter_slot, f"Slot {self._filter_slot}")
