"""An emulated QHY268/QHY600 that plugs in under pyusb as a backend: tests and camera-less users run the real
transport, firmware loader, protocol and decoder against it."""

from .backend import EmulatorBackend
from .camera import EmulatedCamera
from .clock import EmulatedClock
from .scene import Dark, FlatField, StarField

__all__ = ["Dark", "EmulatedCamera", "EmulatedClock", "EmulatorBackend", "FlatField", "StarField"]
