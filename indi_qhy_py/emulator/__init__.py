"""An emulated QHY268/QHY600 that plugs in under pyusb as a backend: tests and camera-less users run the real
transport, firmware loader, protocol and decoder against it.

``emulated_backend("QHY600M,QHY268C")`` serves those models on one virtual bus (``QHY600M+CFW`` with a 7-slot
CFW3 filter wheel on its port, ``+CFW5`` / ``+CFW9`` with that many slots; ``QHY268C@30`` plugged in 30 s after the
bus starts, to rehearse hot-plug); each camera's ``stand_in`` is what a driver may control beyond USB (the scene a
frame type means, faults to rehearse).
"""

from ..models import model_by_name
from .backend import EmulatorBackend
from .clock import EmulatedClock
from .device import EmulatedCamera
from .filter_port import EmulatedWheel
from .scene import Dark, FlatField, StarField
from .stand_in import FAULTS, StandIn

__all__ = ["FAULTS", "Dark", "EmulatedCamera", "EmulatedClock", "EmulatedWheel", "EmulatorBackend", "FlatField",
           "StandIn", "StarField", "emulated_backend"]


def _camera(item: str, clock: EmulatedClock, seed: int, rate_limit: bool) -> EmulatedCamera:
    """``QHY600M`` or ``QHY600M+CFW`` (``+CFW5``...): a camera, with a filter wheel on its port when asked;
    ``@S`` after either: plugged in S seconds from now."""
    item, _, delay = item.strip().partition("@")
    try:
        plug_in_s = float(delay) if delay.strip() else 0.0
    except ValueError:
        raise KeyError(f"{item.strip()}@{delay}: say @<seconds> for a camera plugged in later") from None
    if not 0 <= plug_in_s < 1e6:
        raise KeyError(f"{item.strip()}@{delay}: the seconds must be 0 or more")
    name, _, accessory = item.strip().partition("+")
    wheel = None
    if accessory:
        slots = accessory.strip().upper().removeprefix("CFW")
        if not accessory.strip().upper().startswith("CFW") or (slots and not slots.isdigit()):
            raise KeyError(f"unknown accessory {accessory!r} in {item.strip()!r}; say +CFW (7 slots) or +CFW5")
        wheel = EmulatedWheel(slots=int(slots) if slots else 7)
    camera = EmulatedCamera(model_by_name(name), clock=clock, seed=seed, rate_limit=rate_limit, filter_wheel=wheel)
    if plug_in_s > 0:
        camera.unplug(plug_in_s)  # off the bus until then, as a camera not yet plugged in
    return camera


def emulated_backend(spec: str, rate_limit: bool = True) -> EmulatorBackend:
    """A backend serving the comma-separated cameras of ``spec``, looking at stars; KeyError names a bad model."""
    clock = EmulatedClock()
    cameras = [_camera(item, clock, seed, rate_limit)
               for seed, item in enumerate((n for n in spec.split(",") if n.strip()), start=1)]
    for camera in cameras:
        camera.scene = StarField()
    return EmulatorBackend(cameras)
