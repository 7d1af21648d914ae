"""Regenerates ``indi_qhy_py/data/sdk_gain.json``: the A4 gain registers QHY's SDK sends, per model and read mode.

The SDK never names the read mode to the camera: a read mode is a gain curve (observed: the A4 block is the only
init request that changes with the mode). The file keeps each distinct curve once, as [analog, digital, conversion
gain] per gain setting, and which curve each read mode uses. Run: ``python3 -m tests.sdk_oracle.gain_tables``.
"""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

from indi_qhy_py import protocol

from .probe import open_scripted
from .sdk import Control, Sdk, oracle

OUT = Path(__file__).resolve().parents[2] / "indi_qhy_py" / "data" / "sdk_gain.json"
FAMILIES = {"QHY600": 0xC601, "QHY268": 0xC269}


def sweep(sdk: Sdk, product_id: int) -> dict[int, list[list[int]]]:
    """Every read mode's curve: gain setting -> [analog, digital, conversion gain] as the SDK sends it."""
    cam, _ = open_scripted(sdk, product_id)
    curves: dict[int, list[list[int]]] = {}
    for mode in range(len(cam.read_modes())):
        cam.SetQHYCCDReadMode(mode)
        cam.InitQHYCCD()
        low, high, step = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        cam.GetQHYCCDParamMinMaxStep(Control.GAIN, ctypes.byref(low), ctypes.byref(high), ctypes.byref(step))
        curve = []
        for gain in range(int(low.value), int(high.value) + 1):
            mark = sdk.bridge.mark()
            cam.SetQHYCCDParam(Control.GAIN, float(gain))
            block = next(t.data for t in sdk.bridge.since(mark) if t.kind == "OUT" and t.request == 0xD1)
            registers = protocol.decode_gain(block)
            curve.append([registers.analog, registers.digital, int(registers.high_conversion)])
        curves[mode] = curve
    return curves


def tables(sdk: Sdk) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = {}
    for family, product_id in FAMILIES.items():
        distinct: list[list[list[int]]] = []
        modes: dict[str, int] = {}
        for mode, curve in sweep(sdk, product_id).items():
            if curve not in distinct:
                distinct.append(curve)
            modes[str(mode)] = distinct.index(curve)
        result[family] = {"read_mode_curve": modes, "curves": distinct}
    return result


if __name__ == "__main__":  # pragma: no cover - regenerates the data file
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"source": "QHY SDK 26.6.4.16 (qhyccd 0.1.3), observed by tests/sdk_oracle",
                               **tables(oracle())}, separators=(",", ":")) + "\n")
