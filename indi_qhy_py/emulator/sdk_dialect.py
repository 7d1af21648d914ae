"""The emulated camera as QHY's own SDK drives it: the OBSERVED dialect of ``protocol`` (second half).

The SDK's requests (0xD1 blocks A0-A9 in its meaning, FPGA writes, DDR count, temperature, cooler, sensors,
version and id reads) are answered here, and its frames are streamed in the observed format: the marker, the
frame number, the hidden rows, the image rows big-endian, padded to whole DDR units. The device switches to this
dialect at the first request only the SDK makes (``starts_sdk_dialect``) and back at the first 0xD2 status read
of the project's first dialect, so one emulated camera serves both the SDK oracle and the driver.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .. import protocol
from ..protocol import SdkCommand, SdkReadout
from .commands import Stall
from .sensor import Integration, Truth
from .stream import FrameRecord, FrameStream

if TYPE_CHECKING:
    from .device import EmulatedCamera, Registers

SDK_ONLY_REQUESTS = frozenset({protocol.REQ_FPGA_WRITE, protocol.REQ_EXPOSURE_ARM, protocol.REQ_DDR_COUNT,
                               protocol.REQ_FIRMWARE_VERSION, protocol.REQ_CAMERA_ID, protocol.REQ_SENSORS,
                               protocol.REQ_TEMPERATURE, protocol.REQ_COOLER_TARGET, protocol.REQ_COOLER_MODE,
                               protocol.REQ_CFW_WRITE, protocol.REQ_CFW_READ})
_ZERO_ANSWERS = (protocol.REQ_CAMERA_ID, protocol.REQ_SENSORS, protocol.REQ_FIRMWARE_VERSION, protocol.REQ_CFW_READ)
FPGA_VERSION = bytes([0x24, 0x05, 0x17, 0x01])  # the emulator's own (a real camera's is what the SDK reads)


def starts_sdk_dialect(request: int, data_len: int) -> bool:
    return request in SDK_ONLY_REQUESTS or (request == protocol.REQ_COMMAND and data_len == protocol.SDK_GAIN_BLOCK_LEN)


@dataclass
class SdkRegisters:
    """What the SDK has written, in the camera's terms."""

    rows: int = 0  # 0 = the full frame
    first_row: int = 25
    bits: int = 16
    gain: protocol.GainRegisters = field(default_factory=lambda: protocol.GainRegisters(2400, 8))


class SdkDialect:
    """Answers the SDK's requests for one ``EmulatedCamera``."""

    def __init__(self, camera: EmulatedCamera) -> None:
        self.camera = camera
        self.registers = SdkRegisters()
        self.live = False
        self.family = camera.model.family.name
        self.width, self.full_height = camera.model.readout_width, camera.model.readout_height

    # --- OUT ---------------------------------------------------------------------------------------------------
    def control_out(self, request: int, value: int, index: int, data: bytes) -> int:
        cam = self.camera
        if request == protocol.REQ_COMMAND:
            self._command(data)
        elif request == protocol.REQ_FPGA_WRITE:
            if index == protocol.FPGA_READ_DONE:
                cam.discard_frame()  # other registers (the watchdog among them) are taken and not acted on
        elif request == protocol.REQ_COOLER_TARGET:
            cam.thermal.set_auto(cam.clock.now(), protocol.decode_cooler_target(data))
        elif request == protocol.REQ_COOLER_MODE:
            if not data[0]:
                cam.thermal.set_manual(cam.clock.now(), min(protocol.PWM_FULL, data[1] * 2))
        elif request not in (protocol.REQ_EXPOSURE_ARM, protocol.REQ_CFW_WRITE):
            raise Stall(f"the SDK dialect has no write 0x{request:02X}")
        return len(data)

    def _command(self, block: bytes) -> None:
        cam, regs = self.camera, self.registers
        try:
            command = SdkCommand(block[0])
        except ValueError as err:
            raise Stall(f"unknown SDK command 0x{block[0]:02X}") from err
        r = cam.registers
        if command == SdkCommand.EXPOSURE:
            r.exposure_us = max(1, int.from_bytes(block[1:5], "big"))
        elif command == SdkCommand.GAIN:
            regs.gain = protocol.decode_gain(block)
        elif command == SdkCommand.OFFSET:
            r.offset = min(cam.model.offset_max, int.from_bytes(block[1:3], "big") // 16)
        elif command == SdkCommand.USB_TRAFFIC:
            r.usb_traffic = min(block[1], cam.model.usb_traffic_max)
        elif command == SdkCommand.BITS:
            regs.bits = 16 if block[1] else 8
        elif command == SdkCommand.DDR:
            r.ddr = block[1] == 0xFF
        elif command == SdkCommand.ROWS:
            regs.rows, regs.first_row = protocol.decode_rows(block)
        elif command == SdkCommand.START:
            cam.start_exposure(cam.clock.now())
        elif command == SdkCommand.MODE:
            self.live = block[1] == 0  # OBSERVED: A0 00 with stream mode 1 (live), A0 01 single frame
            cam.discard_frame()

    # --- IN ----------------------------------------------------------------------------------------------------
    def control_in(self, request: int, value: int, index: int, length: int) -> bytes:
        cam = self.camera
        if request == protocol.REQ_DDR_COUNT and index == protocol.DDR_COUNT_INDEX:
            stream = cam.current_stream()
            waiting = 0 if stream is None else stream.total - stream.sent
            return protocol.encode_ddr_count(waiting)
        if request == protocol.REQ_DDR_COUNT and index in protocol.FPGA_VERSION_INDEXES:
            return bytes([FPGA_VERSION[protocol.FPGA_VERSION_INDEXES.index(index)]])
        if request == protocol.REQ_TEMPERATURE:
            cam.thermal.update(cam.clock.now())
            return protocol.encode_temperature(cam.thermal.sensor_c, round(cam.thermal.pwm))[:length]
        if request == protocol.REQ_SENSORS and index == protocol.SENSOR_HUMIDITY:
            return bytes([1 if cam.model.humidity_sensor else 0]).ljust(length, b"\0")
        if request == protocol.REQ_SENSORS and index == protocol.SENSOR_HUMIDITY_READ and cam.model.humidity_sensor:
            cam.thermal.update(cam.clock.now())
            return protocol.encode_humidity(cam.thermal.humidity_percent)[:length]
        if request == protocol.REQ_CAMERA_ID and index == protocol.CAMERA_TYPE_INDEX:
            return protocol.encode_camera_type(cam.model.colour)[:length]
        if request == protocol.REQ_CAMERA_ID and index == protocol.CAMERA_SERIAL_INDEX:
            return cam.serial.encode("ascii")[:length].ljust(length, b"\0")
        if request in _ZERO_ANSWERS:
            # ASSUMED: zeros read as "no sensor", "no wheel"; the firmware-version layout is not known yet
            return bytes(length)
        raise Stall(f"the SDK dialect has no read 0x{request:02X} index 0x{index:X}")

    # --- frames ------------------------------------------------------------------------------------------------
    def readout(self) -> SdkReadout:
        """What the A2 registers ask the camera to stream."""
        return protocol.sdk_readout(self.family, self.registers.rows, self.registers.first_row, self.full_height)

    def integration(self, exposure_s: float, temperature_c: float) -> tuple[Integration, SdkReadout]:
        r, readout = self.camera.registers, self.readout()
        integration = Integration(exposure_s, self._gain_setting(), r.offset, r.read_mode, self.registers.bits,
                                  readout.first_row, readout.rendered_rows, temperature_c)
        return integration, readout

    def _gain_setting(self) -> int:
        """The user gain the A4 registers stand for (the lowest that sends them, in the camera's read mode)."""
        mode = self.camera.registers.read_mode
        gain = protocol.gain_setting(self.family, mode, self.registers.gain) or 0
        return min(gain, self.camera.model.read_mode(mode).gain_max)

    def materialize(self, exposure_s: float, started: float, registers: Registers, sequence: int
                    ) -> tuple[FrameRecord, FrameStream]:
        """Render one finished exposure and queue it in the SDK's format (no stream faults: they target the
        first dialect's trailer)."""
        cam = self.camera
        integration, readout = self.integration(exposure_s, cam.thermal.sensor_c)
        size = protocol.sdk_frame_length(self.width, readout.streamed_rows, 16)  # room for either bit depth
        truths: list[Truth] = []
        data, image = self.frame(cam.frames.buffer_of(size), integration, readout, sequence,
                                 lambda out, it: truths.append(cam.sensor.render(out, it, cam.scene)))
        layout = protocol.frame_layout(self.width, readout.image_rows, integration.bits, False)
        record = FrameRecord(sequence, started, registers, layout, truths[0], 0, sdk_image=image)
        rate = (cam.model.bytes_per_second(integration.roi_height, integration.bits, registers.usb_traffic)
                if cam.rate_limit else math.inf)
        return record, FrameStream([data], rate, cam.clock.now())

    def frame(self, buffer: np.ndarray, integration: Integration, readout: SdkReadout, sequence: int,
              render: Callable[[np.ndarray, Integration], object]) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``buffer`` with one frame in the SDK's format: (the bytes to send, the image rows within them)."""
        bpp = 2 if integration.bits == 16 else 1
        row_bytes = self.width * bpp
        marker = len(protocol.FRAME_MARKER)
        total = protocol.sdk_frame_length(self.width, readout.streamed_rows, integration.bits)
        rendered_at = marker + readout.blank_rows * row_bytes
        buffer[:rendered_at] = 0
        render(buffer[rendered_at:], integration)
        buffer[:marker] = np.frombuffer(protocol.FRAME_MARKER, dtype=np.uint8)
        buffer[marker : marker + protocol.HEAD_SEQUENCE_LEN] = np.frombuffer(
            (sequence & 0xFFFFFFFF).to_bytes(4, "big"), dtype=np.uint8)
        end = rendered_at + integration.roi_height * row_bytes
        buffer[end:total] = 0
        image_at = marker + readout.hidden * row_bytes
        image = buffer[image_at : image_at + readout.image_rows * row_bytes]
        return buffer[:total], image.view(">u2" if bpp == 2 else np.uint8).reshape(readout.image_rows, self.width)
