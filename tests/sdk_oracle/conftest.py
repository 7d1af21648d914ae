"""Fixtures of the SDK oracle: QHY's SDK loaded once per test session over the libusb stand-in.

Tests here skip, saying why, where the SDK wheel cannot load (it is x86_64 Linux only); CI installs it.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock
from indi_qhy_py.models import model_by_name

from .bridge import EmulatedUsbDevice, ScriptedUsbDevice
from .sdk import Control, Sdk, SdkCamera, oracle, unavailable_reason

_slots = itertools.cycle(range(8))


@pytest.fixture(scope="session")
def sdk() -> Sdk:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    return oracle()


@dataclass
class SdkOnEmulator:
    """An emulated camera, plugged in for the SDK, opened and initialised by it."""

    sdk: Sdk
    camera: EmulatedCamera
    cam: SdkCamera
    slot: int

    def single_frame(self) -> tuple[int, int, int, int, bytes]:
        """ExpQHYCCDSingleFrame + GetQHYCCDSingleFrame: (rc, width, height, bits, image bytes)."""
        assert self.cam.ExpQHYCCDSingleFrame() == 0
        buffer = ctypes.create_string_buffer(self.cam.GetQHYCCDMemLength())
        rc, w, h, bits, channels = self.cam.single_frame(buffer)
        return rc, w, h, bits, buffer.raw[: w * h * channels * (bits // 8)]


def open_emulated(sdk: Sdk, model: str, **kwargs: object) -> SdkOnEmulator:
    camera = EmulatedCamera(model_by_name(model), clock=EmulatedClock(), rate_limit=False, **kwargs)  # type: ignore[arg-type]
    slot = next(_slots)
    camera_id = sdk.plug(slot, EmulatedUsbDevice(camera))
    cam = sdk.open(camera_id)
    assert cam.SetQHYCCDStreamMode(0) == 0
    assert cam.InitQHYCCD() == 0
    cam.SetQHYCCDParam(Control.EXPOSURE, 2000.0)
    info = cam.chip_info()
    cam.SetQHYCCDBinMode(1, 1)
    cam.SetQHYCCDResolution(0, 0, info.width, info.height)
    return SdkOnEmulator(sdk, camera, cam, slot)


@pytest.fixture
def emulated(sdk: Sdk) -> Iterator[object]:
    """``emulated("QHY600M")``: the SDK on a fresh emulated camera; unplugged after the test."""
    opened: list[SdkOnEmulator] = []

    def make(model: str, **kwargs: object) -> SdkOnEmulator:
        opened.append(open_emulated(sdk, model, **kwargs))
        return opened[-1]

    yield make
    for item in opened:
        sdk.unplug(item.slot)  # never CloseQHYCCD after an exposure: this SDK build crashes in it


@pytest.fixture
def scripted(sdk: Sdk) -> Iterator[object]:
    """``scripted(0xC601)``: the SDK on a scripted device whose answers a probe chooses."""
    opened: list[int] = []

    def make(product_id: int) -> tuple[SdkCamera, ScriptedUsbDevice]:
        device = ScriptedUsbDevice(product_id, ddr_auto=True)
        slot = next(_slots)
        cam = sdk.open(sdk.plug(slot, device))
        opened.append(slot)
        cam.SetQHYCCDStreamMode(0)
        cam.InitQHYCCD()
        cam.SetQHYCCDParam(Control.EXPOSURE, 1000.0)
        return cam, device

    yield make
    for slot in opened:
        sdk.unplug(slot)
