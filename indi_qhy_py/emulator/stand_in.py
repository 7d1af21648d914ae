"""What an emulated camera offers beyond its USB device: the scene a frame type means, faults to rehearse.

Discovery hands a ``StandIn`` to whoever drives an emulated camera (``CameraInfo.stand_in``), so the INDI driver
never names an emulator class: it says which frame type the user asked for and which fault to inject, and what
that means for the emulated sky, panel or capped scope is decided here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .power import NOMINAL_V
from .scene import Dark, FlatField, StarField

if TYPE_CHECKING:
    from .device import EmulatedCamera

#: Faults a user can rehearse, by name, with what each does.
FAULTS = {
    "unplug": "the cable is pulled now; the camera returns after the down time at its power-on defaults",
    "power_cycle": "the 12 V supply is cut now; the camera returns after the down time at its power-on defaults",
    "power_cycle_in_exposure": "the 12 V supply is cut midway through the next exposure",
    "power_cycle_in_download": "the 12 V supply is cut midway through the next download",
    "drop": "USB packets are lost in the next frame(s)",
    "zero_fill": "rows of zeros in the next frame(s)",
    "short": "the next frame(s) end early",
    "stall": "the next frame's transfer stalls",
    "misalign": "stale bytes arrive before the next frame(s)",
    "supply_sag": "the 12 V supply sags below 11.5 V for the down time (the camera reports a power fault)",
    "cfw_silent": "the filter wheel on the camera port stops answering for the down time",
}
_UNPLUG_POINTS = {"power_cycle_in_exposure": "exposure", "power_cycle_in_download": "readout"}
_TIMED = ("supply_sag", "cfw_silent")
SAG_V = 11.0
FLAT_FILL = 0.25  # ASSUMED: a flat panel fills the well to a quarter in one second at gain 0


class StandIn:
    """The emulated camera behind one discovered camera."""

    def __init__(self, camera: EmulatedCamera) -> None:
        self.camera = camera

    def set_frame_type(self, frame_type: str) -> None:
        """"light": stars on the sky; "flat": a flat panel; "dark" and "bias": a capped scope."""
        kind = frame_type.lower()
        if kind == "light":
            self.camera.scene = StarField()
        elif kind == "flat":
            self.camera.scene = FlatField(FLAT_FILL * self.camera.model.read_modes[0].full_well_e(0))
        else:
            self.camera.scene = Dark()

    def inject(self, fault: str, frames: int = 1, down_s: float = 3.0) -> None:
        """Arm one of ``FAULTS``; ValueError for a name it does not know."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if fault in ("unplug", "power_cycle"):
            self.camera.unplug(down_s)
        elif fault in _TIMED:
            self._for_a_while(fault, down_s)
        elif fault in _UNPLUG_POINTS:
            self.camera.faults.inject("unplug", when=_UNPLUG_POINTS[fault], down_s=down_s)
        else:
            self.camera.faults.inject(fault, frames=frames)

    def _for_a_while(self, fault: str, down_s: float) -> None:
        """A fault that lasts ``down_s`` seconds of the camera's clock, then ends by itself."""
        camera = self.camera
        wheel = camera.filter_port.wheel
        if fault == "cfw_silent" and wheel is None:
            raise ValueError("this emulated camera has no filter wheel (emulate it as QHY600M+CFW)")

        def set_fault(on: bool) -> None:
            if fault == "supply_sag":
                camera.power.set_volts(SAG_V if on else NOMINAL_V)
            elif wheel is not None:
                wheel.answering = not on

        set_fault(True)
        timer = threading.Timer(camera.clock.real_seconds(down_s), set_fault, args=(False,))
        timer.daemon = True
        timer.start()
