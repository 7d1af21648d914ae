"""The driver's transfers against the SDK's, field by field, for the same user operations.

``fields_of`` turns one transfer into the protocol fields it carries (request, FPGA register, command code and
its decoded values), ignoring bytes the SDK leaves uninitialised. ``driver_run`` records what the camera layer
sends to an emulated camera for each operation; ``sdk_run`` what QHY's SDK sends to a scripted camera. ``compare``
lists every SDK field the driver does not send identically, with the reason.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass

from indi_qhy_py import protocol
from indi_qhy_py.camera import Camera
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatedWheel, EmulatorBackend
from indi_qhy_py.models import Rect, model_by_name
from indi_qhy_py.usb.discovery import discover

from .bridge import ScriptedUsbDevice, Transfer
from .operations import without_watchdog
from .sdk import Control, Sdk, SdkCamera

Field = tuple[str, object]


SdkCall = Callable[[SdkCamera, ScriptedUsbDevice], object]


def _sdk(call: Callable[[SdkCamera], object]) -> SdkCall:
    return lambda cam, _device: call(cam)


def _sdk_read_mode(mode: int) -> SdkCall:
    """A read-mode change as the SDK's API wants it: SetQHYCCDReadMode, then InitQHYCCD."""
    return lambda c, _device: (c.SetQHYCCDReadMode(mode), c.InitQHYCCD())


def _sdk_single_frame(cam: SdkCamera, device: ScriptedUsbDevice) -> object:
    """ExpQHYCCDSingleFrame and GetQHYCCDSingleFrame of a 1 ms frame (the scripted device streams one)."""
    info = cam.chip_info()
    device.feed(protocol.FRAME_MARKER + bytes(info.width * (info.height + 40) * 2))
    cam.SetQHYCCDParam(Control.EXPOSURE, 1000.0)
    return cam.single_frame(ctypes.create_string_buffer(cam.GetQHYCCDMemLength()))


def fields_of(t: Transfer) -> list[Field]:
    """The protocol fields one transfer carries, as (name, value) pairs."""
    if t.kind == "BULK":
        return []
    if t.kind == "IN":
        return [(f"read 0x{t.request:02X}/0x{t.index:X}", t.length)]
    if t.request == protocol.REQ_FPGA_WRITE:
        return [(f"FPGA 0x{t.index:02X}", t.value)]
    if t.request == protocol.REQ_COMMAND and t.data:
        try:
            code = protocol.Command(t.data[0])
        except ValueError:
            return [(f"0xD1 0x{t.data[0]:02X}", t.data.hex())]
        block = t.data
        values: dict[protocol.Command, Callable[[bytes], object]] = {
            protocol.Command.EXPOSURE: protocol.decode_exposure,
            protocol.Command.GAIN: protocol.decode_gain,
            protocol.Command.OFFSET: protocol.decode_offset,
            protocol.Command.USB_TRAFFIC: lambda b: b[1],
            protocol.Command.BITS: lambda b: b[1],
            protocol.Command.DDR: lambda b: b[1],
            protocol.Command.ROWS: protocol.decode_rows,
            protocol.Command.MODE: lambda b: b[1],
            protocol.Command.START: lambda b: None,
        }
        return [(f"0xD1 {code.name} ({len(block)} bytes)", values[code](block))]
    return [(f"write 0x{t.request:02X} value 0x{t.value:X} index 0x{t.index:X}", t.data.hex())]


@dataclass(frozen=True)
class Difference:
    operation: str
    sdk: Field
    driver: str
    reason: str


#: The user operations compared: (name, what the SDK is asked, what the driver's camera layer is asked).
Operation = tuple[str, SdkCall, Callable[[Camera], object]]
OPERATIONS: list[Operation] = [
    ("gain 56", _sdk(lambda c: c.SetQHYCCDParam(Control.GAIN, 56.0)), lambda cam: cam.configure(gain=56)),
    ("offset 60", _sdk(lambda c: c.SetQHYCCDParam(Control.OFFSET, 60.0)), lambda cam: cam.configure(offset=60)),
    ("USB traffic 20", _sdk(lambda c: c.SetQHYCCDParam(Control.USBTRAFFIC, 20.0)),
     lambda cam: cam.configure(usb_traffic=20)),
    ("8-bit", _sdk(lambda c: c.SetQHYCCDParam(Control.TRANSFERBIT, 8.0)), lambda cam: cam.configure(bits=8)),
    ("cooler -10 C", _sdk(lambda c: c.ControlQHYCCDTemp(-10.0)), lambda cam: cam.tec.set_temperature(-10.0)),
    ("cooler manual 50 %", _sdk(lambda c: c.SetQHYCCDParam(Control.MANULPWM, 128.0)),
     lambda cam: cam.tec.set_power(50.0)),
    ("read temperature", _sdk(lambda c: c.GetQHYCCDParam(Control.CURTEMP)), lambda cam: cam.read_telemetry()),
    ("ROI 2000x1000 at (1000,500)", _sdk(lambda c: c.SetQHYCCDResolution(1000, 500, 2000, 1000)),
     lambda cam: cam.configure(include_overscan=True, roi=Rect(1000, 500, 2000, 1000))),
    ("read mode High Gain", _sdk_read_mode(1), lambda cam: cam.configure(read_mode=1)),
    ("single frame", _sdk_single_frame, lambda cam: cam.start_exposure(0.001).result(20)),
    ("filter wheel: is one plugged, how many slots", _sdk(lambda c: (c.IsQHYCCDCFWPlugged(),
                                                                     c.GetQHYCCDParam(Control.CFWSLOTSNUM))),
     lambda cam: cam.wheel.detect()),
    ("filter wheel: where is it", _sdk(lambda c: c.GetQHYCCDCFWStatus(ctypes.create_string_buffer(64))),
     lambda cam: cam.wheel.read_position()),
    ("filter wheel: turn to slot 4", _sdk(lambda c: c.SendOrder2QHYCCDCFW(ctypes.create_string_buffer(b"3"), 1)),
     lambda cam: cam.wheel.move(4)),
    ("firmware and FPGA versions", _sdk(lambda c: (c.text("GetQHYCCDFWVersion"), c.text("GetQHYCCDFPGAVersion", 0))),
     lambda cam: cam.io(lambda link: (link.firmware_date(), link.fpga_version()))),
]


def sdk_run(sdk: Sdk, cam: SdkCamera, device: ScriptedUsbDevice, call: SdkCall) -> list[Transfer]:
    mark = sdk.bridge.mark()
    call(cam, device)
    return without_watchdog(sdk.bridge.since(mark))


class DriverRecorder:
    """The camera layer on an emulated camera, with every control transfer it makes recorded."""

    def __init__(self, model: str) -> None:
        self.device = EmulatedCamera(model_by_name(model), clock=EmulatedClock(50.0), rate_limit=False,
                                     filter_wheel=EmulatedWheel(slots=7))
        self.transfers: list[Transfer] = []
        out, into = self.device.control_out, self.device.control_in

        def control_out(generation: int, request: int, value: int, index: int, data: bytes) -> int:
            self.transfers.append(Transfer("OUT", request, value, index, bytes(data), len(data), 0, time.monotonic()))
            return out(generation, request, value, index, data)

        def control_in(generation: int, request: int, value: int, index: int, length: int) -> bytes:
            answer = into(generation, request, value, index, length)
            self.transfers.append(Transfer("IN", request, value, index, answer, length, len(answer), time.monotonic()))
            return answer

        self.device.control_out, self.device.control_in = control_out, control_in  # type: ignore[method-assign]
        infos, _ = discover([EmulatorBackend([self.device])])
        self.camera = Camera(infos[0], clock=self.device.clock.now, poll_s=0.05)
        ramp = self.camera.tec.ramp
        ramp.slope_c_per_min = ramp.power_slope_pct_per_min = 0.0  # the SDK does not ramp
        self.camera.connect()

    def run(self, call: Callable[[Camera], object]) -> list[Transfer]:
        mark = len(self.transfers)
        call(self.camera)
        time.sleep(0.2)  # cooling changes go out from the camera's monitor thread
        return self.transfers[mark:]

    def close(self) -> None:
        self.camera.disconnect()


#: Why the driver leaves out a field QHY's SDK sends (every such field must be listed here, with its reason).
REASONS = {
    f"read 0x{protocol.REQ_SENSORS:02X}/0x{protocol.SENSOR_STATUS_AT_INIT:X}": "what the SDK uses of this answer is "
    "unknown; the driver reads the sensor status from 0xD5/0x24 every 5 s, as the SDK's thread does",
    f"read 0x{protocol.REQ_SENSORS:02X}/0x{protocol.SENSOR_STATUS:X}": "the sensor status is the housekeeping "
    "thread's, every 5 s, not part of this operation",
}


def compare(operation: str, sdk: list[Transfer], driver: list[Transfer]) -> tuple[int, list[Difference]]:
    """(SDK fields the driver sends identically, the differences)."""
    driver_fields = [f for t in driver for f in fields_of(t)]
    driven = ", ".join(f"{name}={value}" for name, value in driver_fields) or "nothing"
    matched, differences = 0, []
    for field in (f for t in sdk for f in fields_of(t)):
        if field in driver_fields:
            matched += 1
            continue
        same_name = [value for name, value in driver_fields if name == field[0]]
        reason = (f"driver sends {field[0]} = {same_name[0]}" if same_name else
                  REASONS.get(field[0], "the driver does not send it"))
        differences.append(Difference(operation, field, driven, reason))
    return matched, differences
