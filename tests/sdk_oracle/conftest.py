"""Fixtures of the SDK oracle: QHY's SDK loaded once per test session over the libusb stand-in.

Tests here skip, saying why, where the SDK wheel cannot load (it is x86_64 Linux only); CI installs it.
"""

from __future__ import annotations

import ctypes
import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock
from indi_qhy_py.emulator.scene import Dark
from indi_qhy_py.models import model_by_name

from .bridge import MAX_SLOTS, EmulatedUsbDevice, ScriptedUsbDevice
from .probe import open_scripted
from .sdk import Control, Sdk, SdkCamera, oracle, unavailable_reason

QUIET_SLOT = MAX_SLOTS - 1  # one device only: measuring the SDK's background threads needs a slot no other handle read
_slots = itertools.count()
_seeds = itertools.count(101)  # every emulated camera a serial of its own: the SDK lists cameras by id


def next_slot() -> int:
    """A slot no device has been plugged into this session. Never one used before: the session's shared cameras
    stay plugged in theirs, and the SDK may still hold a handle on an unplugged one (reusing slots in turn once put
    a test's device over the shared QHY600M, whose next test then got NO_DEVICE)."""
    slot = next(_slots)
    if slot >= QUIET_SLOT:
        raise RuntimeError(f"the libusb stand-in's {MAX_SLOTS} slots are all used: raise MAX_SLOTS")
    return slot


def binned_sum(image: np.ndarray, n: int) -> np.ndarray:
    """``n`` x ``n`` binning as the SDK does it on the host: the sum of each block, saturating at 65535."""
    h, w = (image.shape[0] // n) * n, (image.shape[1] // n) * n
    blocks = image[:h, :w].astype(np.uint32).reshape(h // n, n, w // n, n)
    return np.minimum(blocks.sum(axis=(1, 3)), 65535).astype(np.uint16)


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
    camera = EmulatedCamera(model_by_name(model), clock=EmulatedClock(), seed=next(_seeds), rate_limit=False, **kwargs)  # type: ignore[arg-type]
    slot = next_slot()
    camera_id = sdk.plug(slot, EmulatedUsbDevice(camera))
    cam = sdk.open(camera_id)
    assert cam.SetQHYCCDStreamMode(0) == 0
    assert cam.InitQHYCCD() == 0
    return SdkOnEmulator(sdk, camera, cam, slot)


def reset(cam: SdkCamera) -> None:
    """Back to a full 16-bit 1x1 frame of 2 ms (tests share one opened camera per model)."""
    cam.SetQHYCCDParam(Control.TRANSFERBIT, 16.0)
    cam.SetQHYCCDBinMode(1, 1)
    info = cam.chip_info()
    cam.SetQHYCCDResolution(0, 0, info.width, info.height)
    cam.SetQHYCCDParam(Control.EXPOSURE, 2000.0)


# The SDK keeps every camera it has opened in a table of 16 (and crashes closing one after an exposure), so the
# session opens one device per model and kind, and each test resets it.
_emulated: dict[str, SdkOnEmulator] = {}
_scripted: dict[int, tuple[SdkCamera, ScriptedUsbDevice]] = {}


@pytest.fixture
def emulated(sdk: Sdk):  # type: ignore[no-untyped-def]
    """``emulated("QHY600M")``: the SDK on that model's emulated camera, reset to a dark full 16-bit frame."""

    def make(model: str) -> SdkOnEmulator:
        if model not in _emulated:
            _emulated[model] = open_emulated(sdk, model)
        emu = _emulated[model]
        emu.camera.scene = Dark()
        reset(emu.cam)
        return emu

    return make


@pytest.fixture
def scripted(sdk: Sdk):  # type: ignore[no-untyped-def]
    """``scripted(0xC601)``: the SDK on a scripted device whose answers a probe chooses (reset per test)."""

    def make(product_id: int) -> tuple[SdkCamera, ScriptedUsbDevice]:
        if product_id not in _scripted:
            _scripted[product_id] = open_scripted(sdk, product_id, next_slot())
        cam, device = _scripted[product_id]
        serial = (protocol.REQ_CAMERA_ID, protocol.CAMERA_SERIAL_INDEX)  # its id in the SDK's list: kept
        keep = {key: value for key, value in device.answers.items() if key == serial}
        device.answers.clear()
        device.answers.update(keep)
        device.ddr_auto, device.read_limits, device.stream, device.sent = True, [], b"", 0
        cam.SetQHYCCDReadMode(0)  # a test may have left another read mode set
        cam.InitQHYCCD()
        reset(cam)
        cam.SetQHYCCDParam(Control.EXPOSURE, 1000.0)
        return cam, device

    return make
