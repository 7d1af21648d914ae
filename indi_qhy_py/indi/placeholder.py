"""The device KStars asked for when no camera is attached: connect it to a camera, or to an emulated one.

KStars starts a driver from its profile with a device name (indiserver's ``-n``, seen here as ``INDIDEV``) and
waits for that device. With no QHY camera attached, the driver still defines it, with CONNECTION, DRIVER_INFO,
SIMULATION and SIMULATE_MODEL, and says that no camera is attached. CONNECT with SIMULATION on gives an emulated
camera of the chosen model under this name; CONNECT with it off takes a camera attached since; a camera plugged in
later attaches by itself. The driver does the attaching (``attach``): this class only holds the properties.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import __version__
from ..models import MAIN_MODELS
from .ccd_properties import CCD_INTERFACE, DRIVER_EXEC, MAIN, OPTIONS
from .device import Device, Refused
from .properties import State, Switch, Text, Vector, switches, texts
from .wire import Writer

DEFAULT_NAME = "QHY CCD (Python)"
Attach = Callable[["Placeholder", str | None], str | None]  # (placeholder, model to emulate or None) -> problem


class Placeholder(Device):
    def __init__(self, name: str, writer: Writer, attach: Attach) -> None:
        super().__init__(name, writer)
        self.attach = attach
        d = name
        self.all = {v.name: v for v in (
            switches(d, "CONNECTION", "Connection", MAIN,
                     [Switch("CONNECT", "Connect"), Switch("DISCONNECT", "Disconnect", True)], saved=False),
            texts(d, "DRIVER_INFO", "Driver Info", OPTIONS,
                  [Text("DRIVER_NAME", "Name", DEFAULT_NAME), Text("DRIVER_EXEC", "Exec", DRIVER_EXEC),
                   Text("DRIVER_VERSION", "Version", __version__),
                   Text("DRIVER_INTERFACE", "Interface", str(CCD_INTERFACE))], perm="ro", saved=False),
            switches(d, "SIMULATION", "Simulation", OPTIONS,
                     [Switch("ENABLE", "Enable"), Switch("DISABLE", "Disable", True)], saved=False),
            switches(d, "SIMULATE_MODEL", "Emulated model", OPTIONS,
                     [Switch(m.name, m.name, i == 0) for i, m in enumerate(MAIN_MODELS)], saved=False),
        )}

    def start(self, announce: bool) -> None:
        for vector in self.all.values():
            self.define(vector, announce=announce)
        self._say_why()

    def get_properties(self, name: str | None = None) -> bool:
        """Also tell each client that asks why there is no camera (one that connects later missed the first)."""
        known = super().get_properties(name)
        if name is None:
            self._say_why()
        return known

    def _say_why(self) -> None:
        self.log("WARNING", "no QHY268/QHY600 camera is attached: turn SIMULATION on and connect for an emulated "
                            "camera (model in SIMULATE_MODEL), or plug a camera in")

    def close(self) -> None:
        """Nothing to close: there is no camera behind it."""

    def snoop(self, message: object) -> None:
        """Nothing to snoop without a camera."""

    def _on_simulation(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.update(v, State.OK)

    def _on_simulate_model(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.update(v, State.OK)

    def _on_connection(self, v: Vector, values: dict[str, object]) -> None:
        if v.choice(values) != "CONNECT":
            self.update(v, State.IDLE)
            return
        model = self.all["SIMULATE_MODEL"].on_switch() if self.all["SIMULATION"].on_switch() == "ENABLE" else None
        problem = self.attach(self, model)
        if problem is not None:
            raise Refused(problem)
