"""The filter wheel on a camera's port as an INDI filter wheel: the device ``<camera device> CFW``.

It has INDI's standard filter-wheel properties (CONNECTION, DRIVER_INFO with the filter interface, FILTER_SLOT,
FILTER_NAME, CONFIG_PROCESS), so Ekos treats it as any filter wheel. Its CCD creates it when the camera reports a
wheel and deletes it when the camera is disconnected. FILTER_SLOT is Busy while the wheel turns and Alert, with
the reason, when a move fails; filter names are saved as soon as they change and come back with the device.
Everything it reports also goes to its CCD's snooping, so the CCD's FITS FILTER key follows the wheel.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from .. import __version__
from ..camera.filter_wheel import CameraWheel, WheelState
from . import config
from .ccd_properties import DRIVER_EXEC, MAIN, OPTIONS
from .device import Device, Refused
from .properties import Number, Rule, State, Switch, Text, Vector, numbers, switches, texts
from .wire import Writer

FILTER_INTERFACE = 16
FILTER_GROUP = "Filter Wheel"


def wheel_name(ccd_name: str) -> str:
    return f"{ccd_name} CFW"


def build(device: str, slots: int) -> dict[str, Vector]:
    vectors = [
        switches(device, "CONNECTION", "Connection", MAIN,
                 [Switch("CONNECT", "Connect", True), Switch("DISCONNECT", "Disconnect")], saved=False),
        texts(device, "DRIVER_INFO", "Driver Info", OPTIONS,
              [Text("DRIVER_NAME", "Name", "QHY CFW (camera port)"), Text("DRIVER_EXEC", "Exec", DRIVER_EXEC),
               Text("DRIVER_VERSION", "Version", __version__),
               Text("DRIVER_INTERFACE", "Interface", str(FILTER_INTERFACE))], perm="ro", saved=False),
        switches(device, "CONFIG_PROCESS", "Configuration", OPTIONS,
                 [Switch("CONFIG_LOAD", "Load"), Switch("CONFIG_SAVE", "Save"), Switch("CONFIG_DEFAULT", "Default"),
                  Switch("CONFIG_PURGE", "Purge")], rule=Rule.AT_MOST_ONE, saved=False),
        numbers(device, "FILTER_SLOT", "Filter Slot", FILTER_GROUP,
                [Number("FILTER_SLOT_VALUE", "Filter", 1, 1, slots, 1, "%.f")], saved=False),
        texts(device, "FILTER_NAME", "Filter", FILTER_GROUP,
              [Text(f"FILTER_SLOT_NAME_{i}", f"Filter #{i}", f"Filter {i}") for i in range(1, slots + 1)]),
    ]
    return {v.name: v for v in vectors}


class QhyFilterWheel(Device):
    """One camera's wheel; ``publish`` hands every report to the CCD too (its snooping of ACTIVE_FILTER)."""

    def __init__(self, ccd_name: str, wheel: CameraWheel, slots: int, writer: Writer,
                 publish: Callable[[ET.Element], None]) -> None:
        super().__init__(wheel_name(ccd_name), writer)
        self.wheel = wheel
        self.slots = slots
        self.publish = publish
        self.all = build(self.name, slots)

    def start(self, announce: bool = True) -> None:
        for vector in self.all.values():
            self.define(vector, announce=announce)
        saved = [m for m in self._saved() if m.get("name") == "FILTER_NAME"]
        for message in saved:
            self.handle_new(message)
        self.show(self.wheel.state)

    def _saved(self) -> list[ET.Element]:
        try:
            return config.load(self.name)
        except config.ConfigError as err:
            self.log("WARNING", str(err))
            return []

    def close(self) -> None:
        """The camera is gone: the device goes with it."""
        with self.lock:
            self.writer.send(ET.Element("delProperty", {"device": self.name}))
            self.props.clear()

    def update(self, vector: Vector, state: State | None = None, message: str | None = None,
               limits: bool = False) -> None:
        super().update(vector, state, message, limits)
        self.publish(vector.set_xml())

    # --- what the wheel does ---------------------------------------------------------------------------------
    def show(self, state: WheelState) -> None:
        """Report the wheel's state: its slot (Ok), Busy while it turns or starts again, Alert with why a move
        failed."""
        slot = self.all["FILTER_SLOT"]
        if state.moving:
            self.update(slot, State.BUSY)
            return
        if state.slots is None:
            self.update(slot, State.BUSY, "the filter wheel is starting again (it was powered off)")
            return
        if state.position is not None:
            slot["FILTER_SLOT_VALUE"].value = state.position
        self.update(slot, State.ALERT if state.error else State.OK, state.error or None)

    # --- client requests -------------------------------------------------------------------------------------
    def _on_connection(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        connected = v.on_switch() == "CONNECT"
        self.update(v, State.OK if connected else State.IDLE,
                    None if connected else "the wheel stays where it is; connect to turn it again")

    def _on_filter_slot(self, v: Vector, values: dict[str, object]) -> None:
        if self.all["CONNECTION"].on_switch() != "CONNECT":
            raise Refused("connect the filter wheel first")
        slot = round(float(values["FILTER_SLOT_VALUE"]))  # type: ignore[arg-type]
        self.wheel.move(slot)
        v["FILTER_SLOT_VALUE"].value = slot
        self.update(v, State.BUSY, f"turning to slot {slot} ({self._name_of(slot)})")

    def _name_of(self, slot: int) -> str:
        return str(self.all["FILTER_NAME"][f"FILTER_SLOT_NAME_{slot}"].value)

    def _on_filter_name(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self.update(v, State.OK)
        self._save()

    def _save(self) -> None:
        try:
            config.save(self.name, [self.all["FILTER_NAME"]])
        except config.ConfigError as err:
            self.log("WARNING", f"filter names not saved: {err}")

    def _on_config_process(self, v: Vector, values: dict[str, object]) -> None:
        action = next((name for name, on in values.items() if on), None)
        if action == "CONFIG_SAVE":
            self._save()
            text = f"filter names saved to {config.config_path(self.name)}"
        elif action == "CONFIG_LOAD":
            saved = [m for m in self._saved() if m.get("name") == "FILTER_NAME"]
            if not saved:
                raise Refused(f"no saved filter names at {config.config_path(self.name)}")
            for message in saved:
                self.handle_new(message)
            text = "saved filter names applied"
        elif action == "CONFIG_DEFAULT":
            defaults = build(self.name, self.slots)["FILTER_NAME"]
            self.handle_new(defaults.new_xml())
            text = "filter names back to the driver's defaults"
        elif action == "CONFIG_PURGE":
            text = "saved filter names removed" if config.purge(self.name) else "nothing was saved"
        else:
            self.update(v, State.IDLE)
            return
        self.update(v, State.OK, text)
