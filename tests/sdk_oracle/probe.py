"""Probes: what the SDK accepts as a frame, found by feeding it patterned streams and reading back its image.

``frame_layout(...)`` feeds a random stream (seeded, so every byte is recomputable) to a scripted device, lets
the SDK expose and read one frame, and locates each row of the image the SDK returns inside that stream. That
gives, without any assumption about the format: the byte order, the row stride on the wire, how many leading
bytes the SDK skips, and how many bytes it needs before it accepts the frame.

Run as a script to print the table recorded in ``protocol.py`` (``python3 -m tests.sdk_oracle.probe``).
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

import numpy as np

from .bridge import ScriptedUsbDevice
from .sdk import Control, Sdk, SdkCamera, oracle


@dataclass(frozen=True)
class ObservedFrame:
    """Where the SDK found its image in the stream we fed it."""

    width: int
    height: int
    bits: int
    first_row_offset: int  # byte offset of the image's first row in the stream
    stride: int  # bytes from one image row to the next on the wire
    big_endian: bool
    contiguous: bool  # every row found at first_row_offset + i * stride
    consumed: int  # bytes the SDK read


def random_stream(nbytes: int, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()


def locate(image: np.ndarray, stream: bytes, bits: int) -> tuple[int, int, bool, bool]:
    """(first row offset, stride, big-endian, contiguous) of ``image``'s rows in ``stream``.

    Rows near the middle are searched (the first rows may carry what the SDK writes into the image).
    """
    def row_bytes(row: np.ndarray, be: bool) -> bytes:
        return row.astype(">u2" if be else "<u2").tobytes() if bits == 16 else row.astype(np.uint8).tobytes()
    mid = image.shape[0] // 2
    for big_endian in (True, False):
        at = stream.find(row_bytes(image[mid], big_endian))
        if at >= 0:
            break
    else:
        return -1, 0, True, False
    nxt = stream.find(row_bytes(image[mid + 1], big_endian), at + 1) if image.shape[0] > mid + 1 else at
    stride = nxt - at
    first = at - mid * stride
    rows = range(1, image.shape[0], max(1, image.shape[0] // 64))
    contiguous = all(stream[first + r * stride : first + r * stride + len(row_bytes(image[r], big_endian))]
                     == row_bytes(image[r], big_endian) for r in rows)
    return first, stride, big_endian, contiguous


def expose_stream(cam: SdkCamera, device: ScriptedUsbDevice, stream: bytes) -> tuple[int, np.ndarray | None, int]:
    """One single frame with ``stream`` on EP 0x81: (SDK return code, image or None, bytes consumed)."""
    device.feed(stream)
    cam.ExpQHYCCDSingleFrame()
    buffer = ctypes.create_string_buffer(cam.GetQHYCCDMemLength())
    rc, w, h, bits, channels = cam.single_frame(buffer)
    if rc != 0 or not w or not h:
        return rc, None, device.sent
    dtype = np.uint16 if bits == 16 else np.uint8
    size = w * h * channels * (2 if bits == 16 else 1)
    image = np.frombuffer(buffer.raw[:size], dtype=dtype).reshape(h, w * channels).copy()
    return rc, image, device.sent


def frame_layout(cam: SdkCamera, device: ScriptedUsbDevice, stream_bytes: int, seed: int = 7) -> ObservedFrame | None:
    stream = random_stream(stream_bytes, seed)
    _rc, image, consumed = expose_stream(cam, device, stream)
    if image is None:
        return None
    bits = 16 if image.dtype == np.uint16 else 8
    first, stride, be, contiguous = locate(image, stream, bits)
    return ObservedFrame(image.shape[1], image.shape[0], bits, first, stride, be, contiguous, consumed)


def open_scripted(sdk: Sdk, product_id: int, slot: int = 7) -> tuple[SdkCamera, ScriptedUsbDevice]:
    """The SDK on a new scripted device in ``slot``: opened, in single-frame mode, initialised, 1 ms exposures."""
    device = ScriptedUsbDevice(product_id, ddr_auto=True)
    device.slot = slot
    camera_id = sdk.plug(slot, device)
    cam = sdk.open(camera_id)
    cam.SetQHYCCDStreamMode(0)
    cam.InitQHYCCD()
    cam.SetQHYCCDParam(Control.EXPOSURE, 1000.0)
    return cam, device


def main() -> None:  # pragma: no cover - a research tool
    sdk = oracle()
    for name, pid in (("QHY600M", 0xC601), ("QHY268M", 0xC269)):
        cam, device = open_scripted(sdk, pid)
        info = cam.chip_info()
        print(name, info, "effective", cam.area("effective"), "overscan", cam.area("overscan"), file=sys.stderr)
        for label, setup in (
            ("16-bit", lambda c: None),
            ("8-bit", lambda c: c.SetQHYCCDParam(Control.TRANSFERBIT, 8.0)),
            ("bin2", lambda c: c.SetQHYCCDBinMode(2, 2)),
            ("bin4", lambda c: c.SetQHYCCDBinMode(4, 4)),
            ("roi", lambda c: c.SetQHYCCDResolution(1000, 500, 2000, 1000)),
        ):
            cam.SetQHYCCDParam(Control.TRANSFERBIT, 16.0)
            cam.SetQHYCCDBinMode(1, 1)
            cam.SetQHYCCDResolution(0, 0, info.width, info.height)
            setup(cam)
            print(name, label, frame_layout(cam, device, info.width * (info.height + 200) * 2), flush=True)
        cam.close()
        sdk.unplug(7)


if __name__ == "__main__":  # pragma: no cover
    main()
