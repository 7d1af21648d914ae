"""The SDK operations a user of these cameras meets, each a small function on an opened ``SdkCamera``.

``trace(sdk, device, operation)`` runs one operation and returns the transfers it made. ``record`` writes them as
text under ``traces/<model>/<operation>.txt``: one transfer per line, with the bytes of OUT blocks that the SDK
leaves uninitialised (they differ between two identical runs) shown as ``..``; runs of bulk reads collapse into
one line. These files are observations (request codes and bytes), not SDK text.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from pathlib import Path

from indi_qhy_py import protocol

from .bridge import Transfer
from .sdk import Control, Sdk, SdkCamera

TRACES = Path(__file__).resolve().parent / "traces"
MODELS = {"QHY600M": 0xC601, "QHY600C": 0xC601, "QHY268M": 0xC269, "QHY268C": 0xC269}  # colour: 0xCA answer


def _set(control: int, value: float) -> Callable[[SdkCamera], object]:
    return lambda cam: cam.SetQHYCCDParam(control, value)


def _read_mode(mode: int) -> Callable[[SdkCamera], object]:
    return lambda cam: cam.SetQHYCCDReadMode(mode)


def _bin(n: int) -> Callable[[SdkCamera], object]:
    return lambda cam: cam.SetQHYCCDBinMode(n, n)


def _single_frame(cam: SdkCamera) -> object:
    cam.ExpQHYCCDSingleFrame()
    buffer = ctypes.create_string_buffer(cam.GetQHYCCDMemLength())
    return cam.single_frame(buffer)


def _cancel(cam: SdkCamera) -> object:
    cam.SetQHYCCDParam(Control.EXPOSURE, 5_000_000.0)
    cam.ExpQHYCCDSingleFrame()
    time.sleep(0.3)
    return cam.CancelQHYCCDExposingAndReadout()


def _humidity(cam: SdkCamera) -> object:
    value = ctypes.c_double()
    return cam.GetQHYCCDHumidity(ctypes.byref(value)), value.value


def _pressure(cam: SdkCamera) -> object:
    value = ctypes.c_double()
    return cam.GetQHYCCDPressure(ctypes.byref(value)), value.value


def _live(cam: SdkCamera) -> object:
    cam.SetQHYCCDStreamMode(1)
    rc = cam.BeginQHYCCDLive()
    time.sleep(0.5)
    stop = cam.StopQHYCCDLive()
    cam.SetQHYCCDStreamMode(0)
    return rc, stop


def _cfw(cam: SdkCamera) -> object:
    status = ctypes.create_string_buffer(64)
    order = ctypes.create_string_buffer(b"3")
    return cam.IsQHYCCDCFWPlugged(), cam.SendOrder2QHYCCDCFW(order, 1), cam.GetQHYCCDCFWStatus(status)


OPERATIONS: dict[str, Callable[[SdkCamera], object]] = {
    "init": lambda cam: cam.InitQHYCCD(),
    "gain_0": _set(Control.GAIN, 0.0),
    "gain_56": _set(Control.GAIN, 56.0),
    "gain_100": _set(Control.GAIN, 100.0),
    "offset_25": _set(Control.OFFSET, 25.0),
    "offset_60": _set(Control.OFFSET, 60.0),
    "exposure_20ms": _set(Control.EXPOSURE, 20_000.0),
    "exposure_300s": _set(Control.EXPOSURE, 300_000_000.0),
    "usb_traffic_0": _set(Control.USBTRAFFIC, 0.0),
    "usb_traffic_30": _set(Control.USBTRAFFIC, 30.0),
    "ddr_off": _set(Control.DDR, 0.0),
    "ddr_on": _set(Control.DDR, 1.0),
    "bits_8": _set(Control.TRANSFERBIT, 8.0),
    "bits_16": _set(Control.TRANSFERBIT, 16.0),
    "cooler_target_-10": lambda cam: cam.ControlQHYCCDTemp(-10.0),
    "cooler_setparam_-20": _set(Control.COOLER, -20.0),
    "manual_pwm_128": _set(Control.MANULPWM, 128.0),
    "manual_pwm_0": _set(Control.MANULPWM, 0.0),
    "read_temperature": lambda cam: cam.GetQHYCCDParam(Control.CURTEMP),
    "read_pwm": lambda cam: cam.GetQHYCCDParam(Control.CURPWM),
    "bin_1": _bin(1),
    "bin_2": _bin(2),
    "bin_3": _bin(3),
    "bin_4": _bin(4),
    "resolution_roi": lambda cam: (cam.SetQHYCCDBinMode(1, 1), cam.SetQHYCCDResolution(1000, 500, 2000, 1000)),
    "read_mode_0": _read_mode(0),
    "read_mode_1": _read_mode(1),
    "read_mode_2": _read_mode(2),
    "read_mode_3": _read_mode(3),
    "single_frame": _single_frame,
    "cancel_exposure": _cancel,
    "humidity": _humidity,
    "pressure": _pressure,
    "firmware_version": lambda cam: cam.text("GetQHYCCDFWVersion"),
    "fpga_version": lambda cam: cam.text("GetQHYCCDFPGAVersion", 0),
    "live_begin_stop": _live,
    "cfw": _cfw,
}


def trace(sdk: Sdk, cam: SdkCamera, operation: str) -> tuple[object, list[Transfer]]:
    """Run one operation; the transfers it made (the watchdog's, from another SDK thread, included)."""
    mark = sdk.bridge.mark()
    result = OPERATIONS[operation](cam)
    return result, sdk.bridge.since(mark)


def without_watchdog(transfers: list[Transfer]) -> list[Transfer]:
    """The transfers minus those of the SDK's background threads, which come on their own clocks: the watchdog's
    FPGA writes and the sensor-status reads."""
    return [t for t in transfers
            if not (t.kind == "OUT" and t.request == protocol.REQ_FPGA_WRITE and t.index == protocol.FPGA_WATCHDOG)
            and not (t.kind == "IN" and (t.request, t.index) == (protocol.REQ_SENSORS, protocol.SENSOR_STATUS))]


def render(runs: list[list[Transfer]]) -> str:
    """The transfers of one operation as text; bytes that differ between runs are shown as ``..``."""
    first, lines, i = runs[0], [], 0
    while i < len(first):
        t = first[i]
        if t.kind == "BULK":
            j = i
            while j < len(first) and first[j].kind == "BULK" and first[j].length == t.length:
                j += 1
            ok = sum(1 for x in first[i:j] if x.result > 0)
            lines.append(f"BULK ep={t.request:02x} len={t.length} x{j - i} ({ok} with data)")
            i = j
            continue
        data = bytearray(t.data)
        shown = [f"{b:02x}" for b in data]
        for other in runs[1:]:
            same = [o for o in other if o.kind != "BULK"]
            position = sum(1 for x in first[:i] if x.kind != "BULK")
            match = same[position] if position < len(same) else None
            if match is not None and (match.request, match.index, match.length) != (t.request, t.index, t.length):
                match = None
            if t.kind == "OUT" and match is not None:
                shown = [s if k < len(match.data) and match.data[k] == data[k] else ".." for k, s in enumerate(shown)]
        lines.append(f"{t.kind} {t.request:02x} value={t.value:04x} index={t.index:04x} len={t.length} "
                     f"{' '.join(shown)}".rstrip())
        i += 1
    return "\n".join(lines) + "\n"


def record(sdk: Sdk, model: str, slot: int = 6) -> dict[str, str]:
    """Trace every operation twice on a scripted ``model`` and write ``traces/<model>/<op>.txt``."""
    from .bridge import ScriptedUsbDevice

    out: dict[str, str] = {}
    device = ScriptedUsbDevice(MODELS[model], ddr_auto=True)
    device.answers[(protocol.REQ_CAMERA_ID, protocol.CAMERA_TYPE_INDEX)] = protocol.encode_camera_type(
        model.endswith("C"))
    camera_id = sdk.plug(slot, device)
    cam = sdk.open(camera_id)
    cam.SetQHYCCDStreamMode(0)
    try:
        for name in OPERATIONS:
            runs = []
            for _ in range(2):
                if name == "single_frame":
                    cam.SetQHYCCDParam(Control.EXPOSURE, 1000.0)
                    cam.SetQHYCCDBinMode(1, 1)  # resolution is in binned pixels: a full frame at bin 4 overflows
                    info = cam.chip_info()
                    cam.SetQHYCCDResolution(0, 0, info.width, info.height)
                    device.feed(bytes.fromhex("ee11dd22") + bytes(info.width * (info.height + 40) * 2))
                runs.append(without_watchdog(trace(sdk, cam, name)[1]))
            out[name] = render(runs)
            folder = TRACES / model
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.txt").write_text(out[name])
    finally:
        sdk.unplug(slot)  # not CloseQHYCCD: after an exposure it crashes this SDK build (seen in every run)
    return out


if __name__ == "__main__":  # pragma: no cover - regenerates the recorded traces
    from .sdk import oracle

    for model_name in MODELS:
        record(oracle(), model_name)
