"""The camera link: transport plus protocol, the one owner of the conversation with a camera.

Everything above the USB layer (discovery, firmware loading, the camera layer, the tests' rig) talks to a camera
through a ``CameraLink``: each method is one request (or one fixed pair of them) that QHY's SDK was seen to make,
with its answer decoded. Nobody else names a request code or builds a command block, so when a real camera shows
the protocol to differ, only ``protocol`` and this class change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import usb.core

from .. import protocol
from .frame_pipeline import FramePipeline
from .transport import Transport


class CameraLink:
    """One open camera (runtime or boot-loader stage)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    def open(cls, device: usb.core.Device) -> CameraLink:
        transport = Transport(device)
        transport.open()
        return cls(transport)

    @property
    def location(self) -> str:
        return self.transport.location

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> CameraLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands (0xD1) and FPGA registers ------------------------------------------------------------------
    def command(self, block: bytes) -> None:
        """One 0xD1 block (``protocol.encode_exposure`` and friends build them)."""
        self.transport.control_out(protocol.REQ_COMMAND, block)

    def fpga_write(self, register: int, value: int) -> None:
        """An FPGA register write (0xB9: the register in wIndex, the value in wValue, one unused data byte)."""
        self.transport.control_out(protocol.REQ_FPGA_WRITE, b"\0", value, register)

    def feed_watchdog(self) -> None:
        """The FPGA watchdog's feed, as the SDK's watchdog thread writes it: 1, then 0."""
        self.fpga_write(protocol.FPGA_WATCHDOG, 1)
        self.fpga_write(protocol.FPGA_WATCHDOG, 0)

    def start_exposure(self) -> None:
        """What the SDK sends to start one single frame: A6, the exposure FPGA write, the arm request."""
        self.command(protocol.encode_start())
        self.fpga_write(protocol.FPGA_EXPOSURE, 1)
        self.transport.control_out(protocol.REQ_EXPOSURE_ARM, b"\0", protocol.EXPOSURE_ARM_VALUE,
                                   protocol.EXPOSURE_ARM_INDEX)

    def frame_read_done(self) -> None:
        self.fpga_write(protocol.FPGA_READ_DONE, 0)

    # --- reads ------------------------------------------------------------------------------------------------
    def ddr_bytes(self) -> int:
        """Bytes of the current frame waiting in the camera's frame buffer."""
        return protocol.decode_ddr_count(self.transport.control_in(protocol.REQ_DDR_COUNT, 4, 0,
                                                                   protocol.DDR_COUNT_INDEX))

    def temperature(self) -> tuple[float, int]:
        """(sensor temperature in C, TEC PWM 0-255) from one 0xF2 answer."""
        raw = self.transport.control_in(protocol.REQ_TEMPERATURE, 4)
        return protocol.decode_temperature(raw), protocol.decode_tec_pwm(raw)

    def _sensor_block(self, index: int) -> bytes:
        return self.transport.control_in(protocol.REQ_SENSORS, 64, 0, index)

    def pressure_block(self) -> bytes:
        """0xD5/0x07 as InitQHYCCD reads it (its meaning is not known: kept for the debug log)."""
        return self._sensor_block(protocol.SENSOR_PRESSURE)

    def has_humidity_sensor(self) -> bool:
        return protocol.humidity_present(self._sensor_block(protocol.SENSOR_HUMIDITY))

    def humidity(self) -> float:
        """Chamber humidity in % (ask ``has_humidity_sensor`` first, as the SDK does)."""
        return protocol.decode_humidity(self._sensor_block(protocol.SENSOR_HUMIDITY_READ))

    def sensor_status(self) -> int:
        """The sensor's working status (``protocol.SensorStatus``; 2 and 9 mean under-voltage)."""
        return self._sensor_block(protocol.SENSOR_STATUS)[0]

    def is_colour(self) -> bool:
        return protocol.decode_colour(self.transport.control_in(protocol.REQ_CAMERA_ID, 16, 0,
                                                                protocol.CAMERA_TYPE_INDEX))

    def serial(self) -> str:
        return protocol.decode_serial(self.transport.control_in(
            protocol.REQ_CAMERA_ID, 16, protocol.CAMERA_SERIAL_INDEX, protocol.CAMERA_SERIAL_INDEX))

    def firmware_date(self) -> str | None:
        return protocol.decode_firmware_date(self.transport.control_in(protocol.REQ_FIRMWARE_VERSION, 10))

    def fpga_version(self) -> bytes:
        return bytes(self.transport.control_in(protocol.REQ_DDR_COUNT, 1, 0, index)[0]
                     for index in protocol.FPGA_VERSION_INDEXES)

    # --- the TEC ---------------------------------------------------------------------------------------------
    def cooler_target(self, celsius: float) -> None:
        """Regulate to ``celsius``: F4 "regulate", then the F3 target (the order the SDK sends them in)."""
        self.transport.control_out(protocol.REQ_COOLER_MODE, protocol.encode_cooler_mode(True))
        self.transport.control_out(protocol.REQ_COOLER_TARGET, protocol.encode_cooler_target(celsius))

    def cooler_manual(self, pwm: int) -> None:
        self.transport.control_out(protocol.REQ_COOLER_MODE, protocol.encode_cooler_mode(False, pwm))

    # --- the filter-wheel port --------------------------------------------------------------------------------
    def cfw_query(self, query: bytes) -> bytes:
        """One question to the wheel on the camera's port (C1 the query, C3 its answer); ask under one lock."""
        self.transport.control_out(protocol.REQ_CFW_WRITE, query)
        return self.transport.control_in(protocol.REQ_CFW_READ, protocol.CFW_ANSWER_LEN[query])

    def cfw_order(self, slot: int) -> None:
        """Turn the wheel to ``slot`` (0-based)."""
        self.transport.control_out(protocol.REQ_CFW_WRITE, protocol.encode_cfw_digit(slot))

    # --- frames ----------------------------------------------------------------------------------------------
    def read_frame(self, buffer: np.ndarray, nbytes: int, timeout_ms: int, cancel: threading.Event | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
        """Bulk-read up to ``nbytes`` of one frame into ``buffer``; returns how many arrived."""
        return self.transport.read_frame(buffer, nbytes, timeout_ms, cancel=cancel, progress=progress)

    def frame_pipeline(self, frame_len: int) -> FramePipeline:
        """Frames of ``frame_len`` bytes back to back (a live stream), with transfers queued ahead."""
        return self.transport.frame_pipeline(frame_len)

    def drain(self, timeout_ms: int = 20) -> int:
        """Discard whatever the camera still has queued (after an abort or a damaged frame)."""
        return self.transport.drain(timeout_ms=timeout_ms)

    # --- the FX3 boot loader --------------------------------------------------------------------------------
    def write_ram(self, address: int, data: bytes) -> int:
        """Write one chunk (at most ``protocol.FIRMWARE_CHUNK`` bytes) of boot-loader RAM; bytes written."""
        return self.transport.control_out(protocol.REQ_FIRMWARE, data, address & 0xFFFF, address >> 16)

    def read_ram(self, address: int, length: int) -> bytes:
        return self.transport.control_in(protocol.REQ_FIRMWARE, length, address & 0xFFFF, address >> 16)

    def jump(self, entry: int) -> None:
        """Start the uploaded firmware: the boot loader leaves the bus and the runtime device appears."""
        self.transport.control_out(protocol.REQ_FIRMWARE, b"", entry & 0xFFFF, entry >> 16)
