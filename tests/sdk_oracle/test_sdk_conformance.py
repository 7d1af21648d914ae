"""QHY's SDK drives the emulated cameras end to end, and what it returns equals the emulator's ground truth.

Each assertion is on what the SDK returned (image, temperature, geometry), compared with what the emulated
camera rendered or holds: if the emulator's dialect drifted from what the SDK expects, these fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator.scene import FlatField

pytestmark = pytest.mark.emulated
MODELS = ["QHY600M", "QHY268M"]


def image_of(raw: bytes, w: int, h: int, bits: int) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint16 if bits == 16 else np.uint8).reshape(h, w)


def truth_of(emu) -> np.ndarray:  # type: ignore[no-untyped-def]
    frame = emu.camera.last_frame
    assert frame is not None and frame.sdk_image is not None
    return frame.sdk_image.astype(np.uint16 if frame.sdk_image.dtype.itemsize == 2 else np.uint8)


@pytest.mark.parametrize("model", MODELS)
def test_sdk_full_frame_16_bit_equals_the_emulators_pixels(emulated, model: str) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(2000.0)
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and bits == 16
    assert (w, h) == protocol.SDK_IMAGE[emu.camera.model.family.name][0]
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))
