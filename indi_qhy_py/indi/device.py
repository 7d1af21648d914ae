"""An INDI device: its properties, their definition and deletion, and the handling of a client's new values.

A property's handler is the ``_on_<name>`` method (``_on_ccd_gain`` for CCD_GAIN) of the device or of one of
its ``parts`` (a device split by job); a property without one cannot be changed by clients. Every
``new*Vector`` gets exactly one reply: the handler's own ``update`` (Ok or Busy), or, when the values are
invalid or the handler raises, the property re-sent unchanged with state Alert and a message naming the problem.
No exception from a handler escapes into the message loop.
"""

from __future__ import annotations

import threading
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

from ..errors import QhyError
from .properties import NewValueError, State, Vector, format_number, message_xml, timestamp
from .wire import Writer

Handler = Callable[[Vector, dict[str, object]], None]


class Refused(Exception):
    """A handler's refusal: the property goes to Alert with this text (and optionally a state other than Alert)."""

    def __init__(self, text: str, state: State = State.ALERT) -> None:
        super().__init__(text)
        self.state = state


class Device:
    def __init__(self, name: str, writer: Writer) -> None:
        self.name = name
        self.writer = writer
        self.props: dict[str, Vector] = {}  # defined now, in definition order
        self.lock = threading.RLock()
        self.debug = False
        self.parts: list[object] = []  # objects that also handle properties (``_on_<name>``), each with one job

    # --- defining and updating ---------------------------------------------------------------------------------
    def define(self, vector: Vector, announce: bool = True) -> None:
        """Make a property exist; with ``announce`` send its definition now (else at the next getProperties)."""
        with self.lock:
            self.props[vector.name] = vector
            if announce:
                self.writer.send(vector.def_xml())

    def delete(self, names: Iterable[str]) -> None:
        with self.lock:
            for name in names:
                vector = self.props.pop(name, None)
                if vector is not None:
                    self.writer.send(vector.del_xml())

    def remove(self) -> None:
        """The whole device goes: one ``delProperty`` without a property name, as INDI's drivers say it."""
        with self.lock:
            self.props.clear()
            self.writer.send(ET.Element("delProperty", {"device": self.name, "timestamp": timestamp()}))

    def update(self, vector: Vector, state: State | None = None, message: str | None = None,
               limits: bool = False) -> None:
        """Send a property's current values (and, with ``limits``, its number elements' min/max/step)."""
        with self.lock:
            if state is not None:
                vector.state = state
            if vector.name not in self.props:
                return  # not defined now (disconnected): nothing to report
            element = vector.set_xml(message)
            if limits:
                for child, number in zip(element, vector.elements, strict=True):
                    child.attrib.update(min=format_number(number.min), max=format_number(number.max),
                                        step=format_number(number.step))
            self.writer.send(element)

    def log(self, level: str, text: str) -> None:
        """A ``<message>`` with INDI's ``[INFO]``/``[WARNING]``/``[ERROR]``/``[DEBUG]`` prefix."""
        if level == "DEBUG" and not self.debug:
            return
        self.writer.send(message_xml(f"[{level}] {text}", self.name))

    # --- client requests ----------------------------------------------------------------------------------------
    def get_properties(self, name: str | None = None) -> bool:
        """Re-define all properties (or one); False when ``name`` is not a property here."""
        with self.lock:
            vectors = list(self.props.values()) if name is None else [self.props[name]] if name in self.props else []
            for vector in vectors:
                self.writer.send(vector.def_xml())
            return bool(vectors) or name is None

    def handle_new(self, message: ET.Element) -> bool:
        """Apply a client's new*Vector; True when it was accepted."""
        name = message.get("name", "")
        with self.lock:
            vector = self.props.get(name)
            if vector is None:
                self.log("ERROR", f"{message.tag} for unknown property {name!r}; this device has: "
                                  f"{', '.join(self.props)}")
                return False
            handler = self.handler(name)
            try:
                values = vector.parse_new(message)
                if handler is None:
                    raise NewValueError(f"{name} cannot be changed")
                handler(vector, values)
                return True
            except Refused as refusal:
                self._refuse(vector, refusal.state, str(refusal))
            except (NewValueError, ValueError, QhyError) as err:
                self._refuse(vector, State.ALERT, str(err))
            except Exception as err:  # a bug: report it, keep serving
                self._refuse(vector, State.ALERT, f"internal error handling {name}: {err!r}")
                self.log("ERROR", f"internal error handling {name}: {traceback.format_exc(limit=3)}")
            return False

    def _refuse(self, vector: Vector, state: State, text: str) -> None:
        """The property re-sent with ``state`` and the reason; a BLOB property only as a message.

        A ``setBLOBVector`` goes to clients by their BLOB policy, not as other replies do, and one without data is
        not what clients expect of it: INDI's own drivers answer a BLOB written to them with silence. A message
        reaches every client whatever its BLOB policy, and says why.
        """
        if vector.kind == "BLOB":
            self.log("ERROR", f"{vector.name} not changed: {text}")
        else:
            self.update(vector, state, text)

    def handler(self, name: str) -> Handler | None:
        """The ``_on_<name>`` method of this device or of one of its parts."""
        method = f"_on_{name.lower()}"
        return next((getattr(owner, method) for owner in (self, *self.parts) if hasattr(owner, method)), None)

    def snoop(self, message: ET.Element) -> None:
        """Traffic from another device this one asked to snoop; subclasses use it."""
