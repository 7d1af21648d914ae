"""An emulated QHY268/QHY600 that plugs in under pyusb as a backend: tests and camera-less users run the real
transport, firmware loader, protocol and decoder against it.

``emulated_backend("QHY600M,QHY268C")`` serves those models on one virtual bus; each camera's ``stand_in`` is what
a driver may control beyond USB (the scene a frame type means, faults to rehearse).
"""

from ..models import model_by_name
from .backend import EmulatorBackend
from .clock import EmulatedClock
from .device import EmulatedCamera
from .scene import Dark, FlatField, StarField
from .stand_in import FAULTS, StandIn

__all__ = ["FAULTS", "Dark", "EmulatedCamera", "EmulatedClock", "EmulatorBackend", "FlatField", "StandIn",
           "StarField", "emulated_backend"]


def emulated_backend(spec: str, rate_limit: bool = True) -> EmulatorBackend:
    """A backend serving the comma-separated models of ``spec``, looking at stars; KeyError names a bad model."""
    clock = EmulatedClock()
    cameras = [EmulatedCamera(model_by_name(name.strip()), clock=clock, seed=seed, rate_limit=rate_limit)
               for seed, name in enumerate((n for n in spec.split(",") if n.strip()), start=1)]
    for camera in cameras:
        camera.scene = StarField()
    return EmulatorBackend(cameras)
