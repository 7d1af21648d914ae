"""The emulated camera's command set: what each 0xD1 command block does to the device, one function each.

``COMMANDS`` maps a command to its function; a command the table lacks is refused with a stall, as a device
refuses a request it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import protocol
from ..protocol import Command

if TYPE_CHECKING:
    from .device import EmulatedCamera


class Stall(Exception):
    """The device refuses the request (the backend reports a pipe error, EPIPE)."""


def init(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.single = bool(f["single"])  # binning fields ignored: binning is digital, on the host (ASSUMED)


def readout_speed(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.speed = f["speed"]


def roi(cam: EmulatedCamera, f: dict[str, int]) -> None:
    if f["height"] == 0 or f["y"] + f["height"] > cam.model.readout_height:
        raise Stall(f"ROI rows {f['y']}+{f['height']} outside 0..{cam.model.readout_height}")
    r = cam.registers
    r.roi_x, r.roi_y, r.roi_width, r.roi_height = f["x"], f["y"], f["width"], f["height"]


def exposure(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.exposure_us = max(1, f["microseconds"])


def gain(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.gain = min(f["gain"], cam.model.read_mode(cam.registers.read_mode).gain_max)


def usb_traffic(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.usb_traffic = min(f["traffic"], cam.model.usb_traffic_max)


def offset(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.offset = min(f["offset"], cam.model.offset_max)


def read_mode(cam: EmulatedCamera, f: dict[str, int]) -> None:
    if f["mode"] >= len(cam.model.read_modes):
        raise Stall(f"read mode {f['mode']} does not exist")
    cam.reinitialise()
    cam.registers.read_mode = f["mode"]


def transfer(cam: EmulatedCamera, f: dict[str, int]) -> None:
    if f["bits"] not in cam.model.bit_depths:
        raise Stall(f"{f['bits']}-bit transfer not supported")
    if f["bits"] != cam.registers.bits:
        cam.reinitialise()
    cam.registers.bits, cam.registers.ddr = f["bits"], bool(f["ddr"])


def start(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.start_exposure(cam.clock.now())


def abort(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.discard_frame()


def heater(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.registers.heater_pwm = f["pwm"]
    cam.thermal.set_heater(cam.clock.now(), f["pwm"])


def reset_frame_counter(cam: EmulatedCamera, f: dict[str, int]) -> None:
    cam.frame_counter = 0


def temperature(cam: EmulatedCamera, f: dict[str, int]) -> None:
    now = cam.clock.now()
    if f["auto"]:
        cam.thermal.set_auto(now, protocol.setpoint_celsius(f))
    else:
        cam.thermal.set_manual(now, f["pwm"])


COMMANDS: dict[Command, Callable[[EmulatedCamera, dict[str, int]], None]] = {
    Command.INIT: init,
    Command.READOUT_SPEED: readout_speed,
    Command.ROI: roi,
    Command.EXPOSURE: exposure,
    Command.GAIN: gain,
    Command.USB_TRAFFIC: usb_traffic,
    Command.OFFSET: offset,
    Command.READ_MODE: read_mode,
    Command.TRANSFER: transfer,
    Command.START: start,
    Command.ABORT: abort,
    Command.HEATER: heater,
    Command.RESET_FRAME_COUNTER: reset_frame_counter,
    Command.TEMPERATURE: temperature,
}
