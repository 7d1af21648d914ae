"""The CCD device's camera settings: gain, offset, read mode, geometry, bit depth, and config files.

Each handler hands its change to the camera layer (which checks it, applies it and re-applies everything after a
re-initialisation), then ``sync`` makes every settings property show what the camera layer holds. Saved
configurations are replayed through the same handlers a client reaches, modes before the values they limit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ..errors import CameraBusyError
from ..models import Rect
from ..output.fits_header import bayer_offsets
from . import config
from .ccd_properties import BIT_DEPTHS, CONFIG_ORDER, mode_element
from .device import Refused
from .properties import State, Vector

if TYPE_CHECKING:
    from .ccd import QhyCcd


class CcdSettings:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.camera = device.camera
        self.model = device.model

    # --- applying and showing ---------------------------------------------------------------------------------
    def _configure(self, **changes: object) -> None:
        try:
            self.camera.configure(**changes)
        except CameraBusyError as err:
            raise Refused(f"{err}; try again when the exposure has finished") from err
        self.sync()

    def sync(self) -> None:
        """Make every settings property show what the camera layer holds (after a change, or on connect)."""
        s, model, a = self.camera.settings, self.model, self.device.all
        width, height = self.camera.image_size()
        roi = s.roi or Rect(0, 0, width, height)
        for name, value in (("X", roi.x), ("Y", roi.y), ("WIDTH", roi.width), ("HEIGHT", roi.height)):
            a["CCD_FRAME"][name].value = value
        a["CCD_FRAME"]["X"].max, a["CCD_FRAME"]["Y"].max = width - 1, height - 1
        a["CCD_FRAME"]["WIDTH"].max, a["CCD_FRAME"]["HEIGHT"].max = width, height
        a["CCD_BINNING"]["HOR_BIN"].value = a["CCD_BINNING"]["VER_BIN"].value = s.binning
        info = a["CCD_INFO"]
        info["CCD_MAX_X"].value, info["CCD_MAX_Y"].value = width, height
        info["CCD_BITSPERPIXEL"].value = 8 if s.bits == 8 else 32 if s.binning > 1 and not s.average_binning else 16
        a["CCD_GAIN"]["GAIN"].value, a["CCD_OFFSET"]["OFFSET"].value = s.gain, s.offset
        a["CCD_GAIN"]["GAIN"].max = model.read_mode(s.read_mode).gain_max
        a["READ_MODE"].apply({mode_element(model.read_mode(s.read_mode).name): True})
        a["USB_TRAFFIC"]["TRAFFIC"].value = s.usb_traffic
        a["OVERSCAN_MODE"].apply({"INDI_ENABLED" if s.include_overscan else "INDI_DISABLED": True})
        a["BIT_DEPTH"].apply({"BITS_8" if s.bits == 8 else "BITS_16" if s.average_binning else "BITS_32": True})
        if "CCD_CFA" in a:
            offsets = bayer_offsets(model, s)
            cfa = a["CCD_CFA"]
            cfa["CFA_OFFSET_X"].value = str(offsets[0]) if offsets else "0"
            cfa["CFA_OFFSET_Y"].value = str(offsets[1]) if offsets else "0"
            cfa["CFA_TYPE"].value = model.bayer_pattern if offsets else ""

    def _report_geometry(self) -> None:
        for name in ("CCD_FRAME", "CCD_BINNING", "CCD_INFO", "CCD_CFA"):
            if name in self.device.all:
                self.device.update(self.device.all[name], State.OK, limits=name == "CCD_FRAME")
        self.device.streaming.follow_frame()

    # --- frame geometry -------------------------------------------------------------------------------------------
    def _on_ccd_frame(self, v: Vector, values: dict[str, object]) -> None:
        merged = {**{k: int(x) for k, x in v.values().items()},  # type: ignore[call-overload]
                  **{k: round(float(x)) for k, x in values.items()}}  # type: ignore[arg-type]
        width, height = self.camera.image_size()
        roi = Rect(merged["X"], merged["Y"], merged["WIDTH"], merged["HEIGHT"])
        self._configure(roi=None if roi == Rect(0, 0, width, height) else roi)
        self._report_geometry()

    def _on_ccd_frame_reset(self, v: Vector, values: dict[str, object]) -> None:
        self._configure(roi=None, binning=1)
        self._report_geometry()
        v["RESET"].on = False
        self.device.update(v, State.OK)

    def _on_ccd_binning(self, v: Vector, values: dict[str, object]) -> None:
        given = {round(float(x)) for x in values.values()}  # type: ignore[arg-type]
        if len(given) != 1:
            raise Refused(f"binning must be the same both ways: 1..{max(self.model.binnings)} (got "
                          f"{' x '.join(str(round(float(x))) for x in values.values())})")  # type: ignore[arg-type]
        self._configure(binning=given.pop())
        self._report_geometry()

    def _on_overscan_mode(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self._configure(include_overscan=v.on_switch() == "INDI_ENABLED", roi=None)
        self._report_geometry()
        self.device.update(v, State.OK)

    def _on_bit_depth(self, v: Vector, values: dict[str, object]) -> None:
        choice = v.choice(values)
        self._configure(bits=8 if choice == "BITS_8" else 16, average_binning=choice != "BITS_32")
        self._report_geometry()
        self.device.update(v, State.OK, f"{BIT_DEPTHS[str(choice)]}")

    # --- camera settings ------------------------------------------------------------------------------------------
    def _simple(self, v: Vector, **changes: object) -> None:
        self._configure(**changes)
        self.device.update(v, State.OK)

    def _on_ccd_gain(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, gain=round(float(values["GAIN"])))  # type: ignore[arg-type]

    def _on_ccd_offset(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, offset=round(float(values["OFFSET"])))  # type: ignore[arg-type]

    def _on_usb_traffic(self, v: Vector, values: dict[str, object]) -> None:
        self._simple(v, usb_traffic=round(float(values["TRAFFIC"])))  # type: ignore[arg-type]

    def _on_read_mode(self, v: Vector, values: dict[str, object]) -> None:
        choice = v.choice(values)
        mode = next((m for m in self.model.read_modes if mode_element(m.name) == choice), None)
        if mode is None:
            raise Refused("choose one read mode: " + ", ".join(mode_element(m.name) for m in self.model.read_modes))
        self._configure(read_mode=mode.index)  # every mode takes the same gain range (QHY's SDK)
        self.device.update(v, State.OK, f"read mode {mode.name}")

    # --- saved configurations -------------------------------------------------------------------------------------
    def _on_config_process(self, v: Vector, values: dict[str, object]) -> None:
        action = next((name for name, on in values.items() if on), None)
        if action is None:
            self.device.update(v, State.IDLE)
            return
        name, props = self.device.name, self.device.props
        if action == "CONFIG_SAVE":
            text = f"saved to {config.save(name, [props[n] for n in CONFIG_ORDER if n in props])}"
        elif action == "CONFIG_LOAD":
            messages = config.load(name)
            if not messages:
                raise Refused(f"no saved configuration at {config.config_path(name)}")
            text = f"applied {self.replay(messages)} of {len(messages)} saved settings"
        elif action == "CONFIG_DEFAULT":
            defaults = self.device.build_properties()
            text = (f"restored {self.replay([defaults[n].new_xml() for n in CONFIG_ORDER if n in props])} settings "
                    "to the driver's defaults")
        else:
            text = "saved configuration removed" if config.purge(name) else "nothing was saved"
        for element in v.elements:
            element.on = False
        self.device.update(v, State.OK, text)

    def replay(self, messages: list[ET.Element]) -> int:
        """Apply saved messages as if a client sent them, ranges before the values they limit."""
        order = {name: i for i, name in enumerate(CONFIG_ORDER)}
        ordered = sorted(messages, key=lambda m: order.get(m.get("name", ""), len(order)))
        return sum(self.device.handle_new(m) for m in ordered if m.get("name") in order)

    def load_saved(self) -> None:
        """On connect: the saved configuration, if any, applied before the connection is reported."""
        try:
            loaded = self.replay(config.load(self.device.name))
            if loaded:
                self.device.log("INFO", f"applied {loaded} saved settings from {config.config_path(self.device.name)}")
        except config.ConfigError as err:
            self.device.log("WARNING", str(err))
