"""INDI properties as data: vectors of numbers, switches, texts, lights and BLOBs, and their XML.

A vector knows how to describe itself (``def``), report its current values (``set``) and check what a client
sends (``new``): names it does not have, numbers that are not numbers or are out of range, switch states other than
On/Off, a OneOfMany vector left with no switch on. Checking here means handlers only ever see valid values.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum


class State(Enum):
    IDLE = "Idle"
    OK = "Ok"
    BUSY = "Busy"
    ALERT = "Alert"


class Rule(Enum):
    ONE_OF_MANY = "OneOfMany"
    AT_MOST_ONE = "AtMostOne"
    ANY_OF_MANY = "AnyOfMany"


class NewValueError(ValueError):
    """A client's new*Vector cannot be applied; the text says what and what is allowed."""


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def message_xml(text: str, device: str | None = None) -> ET.Element:
    """A ``<message>`` (a log line for clients), for one device or for the whole driver."""
    attrs = {"device": device} if device else {}
    return ET.Element("message", {**attrs, "timestamp": timestamp(), "message": text})


#: INDI numbers are C-locale ASCII: no other digits, no underscores, no "inf"/"nan" (``float`` takes all of those).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UNSIGNED = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _decimal(text: str, pattern: re.Pattern[str], whole: str) -> float:
    whole = whole if len(whole) <= 40 else whole[:37] + "..."
    if not pattern.fullmatch(text):
        raise ValueError(f"{whole!r} is not a number (INDI numbers are ASCII decimal or sexagesimal)")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{whole!r} is too large to represent")
    if value == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0]):
        raise ValueError(f"{whole!r} is too small to represent (it would become 0)")
    return value


def parse_number(text: str) -> float:
    """A number as INDI clients send it: C-locale decimal, or sexagesimal ("-10:30:00", "10 30 0").

    Anything else is refused rather than guessed at: Unicode digits, ``1_0``, ``inf``, and values that would
    silently overflow or underflow.
    """
    cleaned = text.strip()
    parts = cleaned.replace(":", " ").split()
    if not parts:
        raise ValueError("empty number")
    if len(parts) == 1:
        return _decimal(parts[0], _DECIMAL, cleaned)
    if len(parts) > 3:
        raise ValueError(f"{cleaned!r} is not a number")
    negative = parts[0].startswith("-")
    units = [abs(_decimal(parts[0], _DECIMAL, cleaned))] + [_decimal(p, _UNSIGNED, cleaned) for p in parts[1:]]
    value = sum(u / 60.0**i for i, u in enumerate(units))
    return -value if negative else value


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.10g}"


@dataclass
class Number:
    name: str
    label: str
    value: float = 0.0
    min: float = 0.0
    max: float = 0.0  # min == max: no limits
    step: float = 0.0
    format: str = "%g"


@dataclass
class Switch:
    name: str
    label: str
    on: bool = False


@dataclass
class Text:
    name: str
    label: str
    value: str = ""


@dataclass
class Light:
    name: str
    label: str
    state: State = State.IDLE


@dataclass
class Blob:
    name: str
    label: str


@dataclass
class Vector:
    """One INDI property. ``kind`` is the INDI type word: Number, Switch, Text, Light or BLOB."""

    device: str
    name: str
    label: str
    group: str
    kind: str
    elements: list
    perm: str = "rw"
    state: State = State.IDLE
    rule: Rule | None = None
    timeout: float = 60.0
    saved: bool = True  # written by CONFIG_SAVE (when writable)
    extra: dict = field(default_factory=dict)

    # --- lookup --------------------------------------------------------------------------------------------------
    def __getitem__(self, name: str):  # type: ignore[no-untyped-def]
        for element in self.elements:
            if element.name == name:
                return element
        raise KeyError(f"{self.name} has no element {name}")

    def names(self) -> list[str]:
        return [e.name for e in self.elements]

    def on_switch(self) -> str | None:
        """The first switch that is On (for OneOfMany vectors: the choice)."""
        return next((e.name for e in self.elements if e.on), None)

    def choice(self, values: dict[str, object]) -> str | None:
        """The switch a checked one-of request leaves On: the one it turns on, else the one already on."""
        return next((name for name, on in values.items() if on), None) or next(
            (e.name for e in self.elements if e.on and e.name not in values), None)

    def values(self) -> dict[str, object]:
        return {e.name: _value_of(e) for e in self.elements}

    # --- XML -----------------------------------------------------------------------------------------------------
    def def_xml(self, message: str | None = None) -> ET.Element:
        attrs = {"device": self.device, "name": self.name, "label": self.label, "group": self.group,
                 "state": self.state.value, "timestamp": timestamp()}
        if self.kind != "Light":
            attrs["perm"] = self.perm
        if self.kind == "Switch":
            attrs["rule"] = (self.rule or Rule.ONE_OF_MANY).value
        if self.kind != "Light":
            attrs["timeout"] = format_number(self.timeout)
        if message:
            attrs["message"] = message
        root = ET.Element(f"def{self.kind}Vector", attrs)
        for e in self.elements:
            child = ET.SubElement(root, f"def{self.kind}", {"name": e.name, "label": e.label})
            if isinstance(e, Number):
                child.attrib.update(format=e.format, min=format_number(e.min), max=format_number(e.max),
                                    step=format_number(e.step))
            if not isinstance(e, Blob):
                child.text = _text_of(e)
        return root

    def set_xml(self, message: str | None = None, only: Iterable[str] | None = None) -> ET.Element:
        attrs = {"device": self.device, "name": self.name, "state": self.state.value, "timestamp": timestamp()}
        if self.kind != "Light":
            attrs["timeout"] = format_number(self.timeout)
        if message:
            attrs["message"] = message
        root = ET.Element(f"set{self.kind}Vector", attrs)
        if self.kind == "BLOB":
            return root  # state and message only: a oneBLOB without data and size makes indiserver drop the driver
        wanted = None if only is None else set(only)
        for e in self.elements:
            if wanted is None or e.name in wanted:
                ET.SubElement(root, f"one{self.kind}", {"name": e.name}).text = _text_of(e)
        return root

    def new_xml(self) -> ET.Element:
        """The current values as the new*Vector a client would send to set them (config files, defaults)."""
        root = ET.Element(f"new{self.kind}Vector", {"device": self.device, "name": self.name})
        for e in self.elements:
            ET.SubElement(root, f"one{self.kind}", {"name": e.name}).text = _text_of(e)
        return root

    def del_xml(self) -> ET.Element:
        return ET.Element("delProperty", {"device": self.device, "name": self.name, "timestamp": timestamp()})

    # --- a client's request --------------------------------------------------------------------------------------
    def parse_new(self, message: ET.Element) -> dict[str, object]:
        """The values a ``new*Vector`` asks for, checked; raises NewValueError naming the problem."""
        if self.perm == "ro" or self.kind in ("Light",):
            raise NewValueError(f"{self.name} is read-only")
        expected = f"new{self.kind}Vector"
        if message.tag != expected:
            raise NewValueError(f"{self.name} is a {self.kind} vector: send {expected}, not {message.tag}")
        values: dict[str, object] = {}
        for child in message:
            if child.tag != f"one{self.kind}":
                raise NewValueError(f"{self.name}: unexpected <{child.tag}> (elements are <one{self.kind}>)")
            name = child.get("name", "")
            try:
                element = self[name]
            except KeyError:
                raise NewValueError(f"{self.name} has no element {name!r}; elements: "
                                    f"{', '.join(self.names())}") from None
            values[name] = _parse_value(self.name, element, child.text or "")
        if not values:
            raise NewValueError(f"{self.name}: no elements given")
        if self.kind == "Switch":
            self._check_rule(values)
        return values

    def _check_rule(self, values: dict[str, object]) -> None:
        if self.rule is Rule.ANY_OF_MANY:
            return
        turned_on = [n for n, v in values.items() if v]
        if len(turned_on) > 1:
            raise NewValueError(f"{self.name} allows one switch on, got {', '.join(turned_on)}")
        if self.rule is not Rule.AT_MOST_ONE and self.choice(values) is None:
            raise NewValueError(f"{self.name} needs one switch on: {', '.join(self.names())}")

    def apply(self, values: dict[str, object]) -> None:
        """Store checked values (switch vectors with one-of rules: the one turned on, the others off)."""
        if self.kind == "Switch" and self.rule in (Rule.ONE_OF_MANY, Rule.AT_MOST_ONE, None):
            chosen = next((n for n, v in values.items() if v), None)
            if chosen is not None:
                for e in self.elements:
                    e.on = e.name == chosen
                return
        for name, value in values.items():
            element = self[name]
            if isinstance(element, Number):
                element.value = float(value)  # type: ignore[arg-type]
            elif isinstance(element, Switch):
                element.on = bool(value)
            elif isinstance(element, Text):
                element.value = str(value)


def _value_of(e: object) -> object:
    if isinstance(e, Number):
        return e.value
    if isinstance(e, Switch):
        return e.on
    if isinstance(e, Text):
        return e.value
    if isinstance(e, Light):
        return e.state
    return None


def _text_of(e: object) -> str:
    if isinstance(e, Number):
        return format_number(e.value)
    if isinstance(e, Switch):
        return "On" if e.on else "Off"
    if isinstance(e, Text):
        return e.value
    if isinstance(e, Light):
        return e.state.value
    return ""


def _parse_value(vector: str, element: object, text: str) -> object:
    if isinstance(element, Number):
        try:
            value = parse_number(text)
        except ValueError as err:
            raise NewValueError(f"{vector}.{element.name}: {err}") from err
        if element.min < element.max and not element.min <= value <= element.max:
            raise NewValueError(f"{vector}.{element.name} {format_number(value)} is out of range "
                                f"{format_number(element.min)}..{format_number(element.max)}")
        return value
    if isinstance(element, Switch):
        state = text.strip()
        if state not in ("On", "Off"):
            raise NewValueError(f"{vector}.{element.name}: switch state must be On or Off, not {state[:20]!r}")
        return state == "On"
    if isinstance(element, Text):
        text = text.strip()  # indiserver re-indents text ("\n/path\n    "); INDI's own drivers trim it too
        if len(text) > 4096:
            raise NewValueError(f"{vector}.{element.name}: text longer than 4096 characters")
        return text
    raise NewValueError(f"{vector} cannot be set by a client")


# --- constructors that read like the INDI tables ----------------------------------------------------------------
def numbers(device: str, name: str, label: str, group: str, elements: list[Number], perm: str = "rw",
            **kw: object) -> Vector:
    return Vector(device, name, label, group, "Number", elements, perm, **kw)  # type: ignore[arg-type]


def switches(device: str, name: str, label: str, group: str, elements: list[Switch],
             rule: Rule = Rule.ONE_OF_MANY, perm: str = "rw", **kw: object) -> Vector:
    return Vector(device, name, label, group, "Switch", elements, perm, rule=rule, **kw)  # type: ignore[arg-type]


def texts(device: str, name: str, label: str, group: str, elements: list[Text], perm: str = "rw",
          **kw: object) -> Vector:
    return Vector(device, name, label, group, "Text", elements, perm, **kw)  # type: ignore[arg-type]


def lights(device: str, name: str, label: str, group: str, elements: list[Light], **kw: object) -> Vector:
    return Vector(device, name, label, group, "Light", elements, "ro", saved=False, **kw)  # type: ignore[arg-type]


def blobs(device: str, name: str, label: str, group: str, elements: list[Blob], **kw: object) -> Vector:
    return Vector(device, name, label, group, "BLOB", elements, "ro", saved=False, **kw)  # type: ignore[arg-type]
