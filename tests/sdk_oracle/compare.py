"""The driver's transfers against the SDK's, field by field, for the same user operations.

``fields_of`` turns one transfer into the protocol fields it carries (request, FPGA register, command code and
its decoded values), ignoring bytes the SDK leaves uninitialised. ``driver_run`` records what the camera layer
sends to an emulated camera for each operation; ``sdk_run`` what QHY's SDK sends to a scripted camera. ``compare``
lists every SDK field the driver does not send identically, with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from indi_qhy_py import protocol
from indi_qhy_py.camera import Camera
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatorBackend
from indi_qhy_py.models import model_by_name
from indi_qhy_py.usb.discovery import discover

from .bridge import Transfer
from .sdk import Control, Sdk, SdkCamera

Field = tuple[str, object]


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
            code = protocol.SdkCommand(t.data[0])
        except ValueError:
            return [(f"0xD1 0x{t.data[0]:02X}", t.data.hex())]
        block = t.data
        values: dict[protocol.SdkCommand, Callable[[bytes], object]] = {
            protocol.SdkCommand.EXPOSURE: lambda b: int.from_bytes(b[1:5], "big"),
            protocol.SdkCommand.GAIN: protocol.decode_gain,
            protocol.SdkCommand.OFFSET: lambda b: int.from_bytes(b[1:3], "big"),
            protocol.SdkCommand.USB_TRAFFIC: lambda b: b[1],
            protocol.SdkCommand.BITS: lambda b: b[1],
            protocol.SdkCommand.DDR: lambda b: b[1],
            protocol.SdkCommand.ROWS: protocol.decode_rows,
            protocol.SdkCommand.MODE: lambda b: b[1],
            protocol.SdkCommand.START: lambda b: None,
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
Operation = tuple[str, Callable[[SdkCamera], object], Callable[[Camera], object]]
OPERATIONS: list[Operation] = [
    ("gain 56", lambda c: c.SetQHYCCDParam(Control.GAIN, 56.0), lambda cam: cam.configure(gain=56)),
    ("offset 60", lambda c: c.SetQHYCCDParam(Control.OFFSET, 60.0), lambda cam: cam.configure(offset=60)),
    ("USB traffic 30", lambda c: c.SetQHYCCDParam(Control.USBTRAFFIC, 30.0),
     lambda cam: cam.configure(usb_traffic=30)),
    ("8-bit", lambda c: c.SetQHYCCDParam(Control.TRANSFERBIT, 8.0), lambda cam: cam.configure(bits=8)),
    ("cooler -10 C", lambda c: c.ControlQHYCCDTemp(-10.0), lambda cam: cam.set_temperature(-10.0)),
    ("cooler manual 50 %", lambda c: c.SetQHYCCDParam(Control.MANULPWM, 128.0),
     lambda cam: cam.set_cooler_power(50.0)),
    ("read temperature", lambda c: c.GetQHYCCDParam(Control.CURTEMP), lambda cam: cam.read_status()),
]


def sdk_run(sdk: Sdk, cam: SdkCamera, call: Callable[[SdkCamera], object]) -> list[Transfer]:
    mark = sdk.bridge.mark()
    call(cam)
    return [t for t in sdk.bridge.since(mark) if not (t.request == protocol.REQ_FPGA_WRITE
                                                     and t.index == protocol.FPGA_WATCHDOG)]


class DriverRecorder:
    """The camera layer on an emulated camera, with every control transfer it makes recorded."""

    def __init__(self, model: str) -> None:
        self.device = EmulatedCamera(model_by_name(model), clock=EmulatedClock(50.0), rate_limit=False)
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
        self.camera.connect()

    def run(self, call: Callable[[Camera], object]) -> list[Transfer]:
        mark = len(self.transfers)
        call(self.camera)
        time.sleep(0.2)  # cooling changes go out from the camera's monitor thread
        return self.transfers[mark:]

    def close(self) -> None:
        self.camera.disconnect()


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
                  "the camera layer still speaks the first (ASSUMED) dialect")
        differences.append(Difference(operation, field, driven, reason))
    return matched, differences
