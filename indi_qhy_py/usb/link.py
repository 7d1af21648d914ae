"""The camera link: transport plus protocol, the one owner of the conversation with a camera.

Everything above the USB layer (discovery, firmware loading, the camera layer, the tests' rig) talks to a camera
through a ``CameraLink``: send a command, read the status block, read a frame, and in the boot loader write and
verify RAM. Nobody else names a request code or builds a command block, so when the protocol changes (as
observing QHY's SDK will change it) only ``protocol`` and this class do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import usb.core

from .. import protocol
from ..protocol import Command
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

    # --- the running firmware -------------------------------------------------------------------------------
    def send(self, command: Command, **fields: int) -> None:
        """One command block (raises UsbError, or ValueError for a field that does not fit)."""
        self.transport.control_out(protocol.REQ_COMMAND, protocol.encode_command(command, **fields))

    def status(self) -> protocol.Status:
        """The camera's status block, decoded and checked."""
        return protocol.decode_status(self.transport.control_in(protocol.REQ_STATUS, protocol.STATUS_LEN))

    def read_frame(self, buffer: np.ndarray, nbytes: int, timeout_ms: int, cancel: threading.Event | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
        """Bulk-read up to ``nbytes`` of one frame into ``buffer``; returns how many arrived."""
        return self.transport.read_frame(buffer, nbytes, timeout_ms, cancel=cancel, progress=progress)

    def drain(self, timeout_ms: int = 20) -> int:
        """Discard whatever the camera still has queued (after an abort or a damaged frame)."""
        return self.transport.drain(timeout_ms=timeout_ms)

    # --- the observed dialect (protocol, second half): what QHY's SDK sends -------------------------------------
    def command(self, block: bytes) -> None:
        """One 0xD1 block of the observed dialect (``protocol.encode_exposure`` and friends build them)."""
        self.transport.control_out(protocol.REQ_COMMAND, block)

    def fpga_write(self, register: int, value: int) -> None:
        """An FPGA register write (0xB9: the register in wIndex, the value in wValue, one unused data byte)."""
        self.transport.control_out(protocol.REQ_FPGA_WRITE, b"\0", value, register)

    def arm_exposure(self) -> None:
        """The request the SDK sends once per exposure, after A6 and the exposure FPGA write."""
        self.transport.control_out(protocol.REQ_EXPOSURE_ARM, b"\0", protocol.EXPOSURE_ARM_VALUE,
                                   protocol.EXPOSURE_ARM_INDEX)

    def ddr_bytes(self) -> int:
        """Bytes of the current frame waiting in the camera's frame buffer."""
        return protocol.decode_ddr_count(self.transport.control_in(protocol.REQ_DDR_COUNT, 4, 0,
                                                                   protocol.DDR_COUNT_INDEX))

    def temperature(self) -> tuple[float, int]:
        """(sensor temperature in C, TEC PWM 0-255) from one 0xF2 answer."""
        raw = self.transport.control_in(protocol.REQ_TEMPERATURE, 4)
        return protocol.decode_temperature(raw), protocol.decode_tec_pwm(raw)

    def humidity(self) -> float | None:
        """Chamber humidity in %, or None on a camera without the sensor."""
        if not protocol.humidity_present(self.transport.control_in(protocol.REQ_SENSORS, 64, 0,
                                                                   protocol.SENSOR_HUMIDITY)):
            return None
        return protocol.decode_humidity(self.transport.control_in(protocol.REQ_SENSORS, 64, 0,
                                                                  protocol.SENSOR_HUMIDITY_READ))

    def cooler_target(self, celsius: float) -> None:
        self.transport.control_out(protocol.REQ_COOLER_MODE, protocol.encode_cooler_mode(True))
        self.transport.control_out(protocol.REQ_COOLER_TARGET, protocol.encode_cooler_target(celsius))

    def cooler_manual(self, pwm: int) -> None:
        self.transport.control_out(protocol.REQ_COOLER_MODE, protocol.encode_cooler_mode(False, pwm))

    # --- the FX3 boot loader --------------------------------------------------------------------------------
    def write_ram(self, address: int, data: bytes) -> int:
        """Write one chunk (at most ``protocol.FIRMWARE_CHUNK`` bytes) of boot-loader RAM; bytes written."""
        return self.transport.control_out(protocol.REQ_FIRMWARE, data, address & 0xFFFF, address >> 16)

    def read_ram(self, address: int, length: int) -> bytes:
        return self.transport.control_in(protocol.REQ_FIRMWARE, length, address & 0xFFFF, address >> 16)

    def jump(self, entry: int) -> None:
        """Start the uploaded firmware: the boot loader leaves the bus and the runtime device appears."""
        self.transport.control_out(protocol.REQ_FIRMWARE, b"", entry & 0xFFFF, entry >> 16)
