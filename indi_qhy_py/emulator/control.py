"""The emulated camera's control requests: what each request of ``protocol`` does to the device, what each IN
request answers, and the registers the host has written.

The camera answers exactly the requests QHY's SDK was seen to make and refuses (stalls) any other, as a device
refuses a request it does not know. Where the SDK could not tell what a real camera answers, the answer here is
marked ASSUMED.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import protocol
from ..protocol import Command

if TYPE_CHECKING:
    from .device import EmulatedCamera

FIRMWARE_DATE = (2024, 5, 17)  # the emulator's own FX3 firmware date (a real camera's is what the SDK reads)
FPGA_VERSION = bytes([0x24, 0x05, 0x17, 0x01])  # the emulator's own FPGA version


class Stall(Exception):
    """The device refuses the request (the backend reports a pipe error, EPIPE)."""


def _default_gain() -> protocol.GainRegisters:
    return protocol.GainRegisters(2400, protocol.DIGITAL_UNITY, False)


@dataclass
class CameraRegisters:
    """What the host has written into the camera; power-on defaults here (ASSUMED)."""

    single: bool = True  # A0
    rows: int = 0  # A2: rows to read, 0 = the full frame
    first_row: int = protocol.FIRST_ROW
    exposure_us: int = 1000
    gain: protocol.GainRegisters = field(default_factory=_default_gain)
    usb_traffic: int = 30
    bits: int = 16
    offset: int = 30
    ddr: bool = True
    fpga: dict[int, int] = field(default_factory=dict)


class ControlRequests:
    """The running firmware's side of EP0 for one ``EmulatedCamera``."""

    def __init__(self, camera: EmulatedCamera) -> None:
        self.camera = camera

    # --- OUT ---------------------------------------------------------------------------------------------------
    def control_out(self, request: int, value: int, index: int, data: bytes) -> int:
        cam = self.camera
        if request == protocol.REQ_COMMAND:
            self._command(bytes(data))
        elif request == protocol.REQ_FPGA_WRITE:
            self._fpga_write(index, value)
        elif request == protocol.REQ_EXPOSURE_ARM:
            if (value, index) != (protocol.EXPOSURE_ARM_VALUE, protocol.EXPOSURE_ARM_INDEX):
                raise Stall(f"exposure arm request with value 0x{value:X} index 0x{index:X}")
        elif request == protocol.REQ_COOLER_TARGET and len(data) == 3:
            cam.thermal.set_auto(cam.clock.now(), protocol.decode_cooler_target(data))
        elif request == protocol.REQ_COOLER_MODE and len(data) == 2:
            pwm = protocol.decode_manual_pwm(data)
            if pwm is not None:
                cam.thermal.set_manual(cam.clock.now(), pwm)
        elif request == protocol.REQ_CFW_WRITE:
            cam.filter_port.write(bytes(data))
        else:
            raise Stall(f"unsupported control write 0x{request:02X} ({len(data)} bytes)")
        return len(data)

    def _fpga_write(self, register: int, value: int) -> None:
        cam = self.camera
        cam.registers.fpga[register] = value
        if register == protocol.FPGA_WATCHDOG:
            cam.watchdog.feed()
        elif register == protocol.FPGA_READ_DONE and cam.registers.single:
            cam.discard_frame()  # ASSUMED: the frame buffer is released after the host has read the frame

    def _command(self, block: bytes) -> None:
        cam, r = self.camera, self.camera.registers
        try:
            command = Command(block[0])
        except (ValueError, IndexError) as err:
            raise Stall(f"unknown command 0x{block[:1].hex()}") from err
        expected = protocol.GAIN_BLOCK_LEN if command == Command.GAIN else protocol.COMMAND_LEN
        if len(block) != expected:
            raise Stall(f"{command.name} block of {len(block)} bytes, expected {expected}")
        if command == Command.MODE:
            cam.reinitialise(single=block[1] != 0)
        elif command == Command.ROWS:
            rows, first = protocol.decode_rows(block)
            if rows and first + rows - protocol.FIRST_ROW > cam.model.readout_height + 2 * protocol.ROW_MARGIN:
                raise Stall(f"rows {first}+{rows} outside the sensor")
            r.rows, r.first_row = rows, first
        elif command == Command.EXPOSURE:
            r.exposure_us = protocol.decode_exposure(block)
        elif command == Command.GAIN:
            r.gain = protocol.decode_gain(block)
        elif command == Command.USB_TRAFFIC:
            r.usb_traffic = min(block[1], cam.model.usb_traffic_max)
        elif command == Command.BITS:
            r.bits = 16 if block[1] else 8
        elif command == Command.OFFSET:
            r.offset = min(cam.model.offset_max, protocol.decode_offset(block))
        elif command == Command.DDR:
            r.ddr = block[1] == 0xFF
        elif command == Command.START:
            if not r.single:
                raise Stall("START in live mode")
            cam.start_exposure(cam.clock.now())

    # --- IN ----------------------------------------------------------------------------------------------------
    def control_in(self, request: int, value: int, index: int, length: int) -> bytes:
        cam = self.camera
        if request == protocol.REQ_DDR_COUNT and index == protocol.DDR_COUNT_INDEX:
            return protocol.encode_ddr_count(cam.ddr_waiting())
        if request == protocol.REQ_DDR_COUNT and index in protocol.FPGA_VERSION_INDEXES:
            return bytes([FPGA_VERSION[protocol.FPGA_VERSION_INDEXES.index(index)]])
        if request == protocol.REQ_TEMPERATURE:
            cam.thermal.update(cam.clock.now())
            return protocol.encode_temperature(cam.thermal.sensor_c, round(cam.thermal.pwm))[:length]
        if request == protocol.REQ_SENSORS:
            return self._sensor(index).ljust(64, b"\0")[:length]
        if request == protocol.REQ_CAMERA_ID and index == protocol.CAMERA_TYPE_INDEX:
            return protocol.encode_camera_type(cam.model.colour)[:length]
        if request == protocol.REQ_CAMERA_ID and index == protocol.CAMERA_SERIAL_INDEX:
            return cam.serial.encode("ascii")[:length].ljust(length, b"\0")
        if request == protocol.REQ_FIRMWARE_VERSION:
            return protocol.encode_firmware_version(*FIRMWARE_DATE)[:length].ljust(length, b"\0")
        if request == protocol.REQ_CFW_READ:
            return cam.filter_port.read(length)
        raise Stall(f"unsupported control read 0x{request:02X} index 0x{index:X}")

    def _sensor(self, index: int) -> bytes:
        cam = self.camera
        if index == protocol.SENSOR_HUMIDITY:
            return bytes([1 if cam.model.humidity_sensor else 0])
        if index == protocol.SENSOR_HUMIDITY_READ and cam.model.humidity_sensor:
            cam.thermal.update(cam.clock.now())
            return protocol.encode_humidity(cam.thermal.humidity_percent)
        if index == protocol.SENSOR_STATUS:
            return bytes([cam.power.sensor_status()])
        if index in (protocol.SENSOR_PRESSURE, protocol.SENSOR_STATUS_AT_INIT, protocol.SENSOR_HUMIDITY_READ):
            return b""  # ASSUMED: zeros read as "no pressure sensor", "no humidity sensor", nothing to report
        raise Stall(f"no sensor block 0x{index:02X}")
