"""One emulated QHY268/QHY600: the USB device model behind the emulator's pyusb backend.

It answers exactly the requests ``protocol`` defines, in both stages of an FX3 camera (boot loader, then the
running firmware), streams frames in ``protocol``'s format at the model's rated throughput, runs the sensor and
thermal physics, and injects the faults of ``faults``. All timing is on an ``EmulatedClock``; USB timeouts are
real milliseconds, as libusb's are.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, replace

from .. import protocol
from ..models import CameraModel
from ..protocol import CameraState, Command
from .clock import EmulatedClock
from .commands import COMMANDS, Stall
from .faults import FaultInjector, FaultSite, damage
from .frames import FrameBuilder
from .loader import BootLoaderRam
from .scene import Dark, Scene
from .sdk_dialect import SdkDialect, starts_sdk_dialect
from .sensor import Integration, SensorSimulator
from .stand_in import StandIn
from .stream import FrameRecord, FrameStream
from .thermal import ThermalModel

FIRMWARE_DATE = "2024-05-17"
REENUMERATE_S = 0.5  # ASSUMED: time from the FX3 jump (or power-on) to the runtime device appearing
_addresses = itertools.count(2)


class DeviceAbsent(Exception):
    """The device is not on the bus (the backend reports ENODEV)."""


class StreamTimeout(Exception):
    """No data within the transfer's timeout (the backend reports ETIMEDOUT)."""


@dataclass
class Registers:
    """What the host has written into the camera; power-on defaults here."""

    gain: int = 0
    offset: int = 30
    read_mode: int = 0
    usb_traffic: int = 30
    speed: int = 0
    bits: int = 16
    ddr: bool = True
    single: bool = True
    roi_x: int = 0
    roi_y: int = 0
    roi_width: int = 0  # 0 = full readout width
    roi_height: int = 0  # 0 = full readout height
    exposure_us: int = 1000
    heater_pwm: int = 0


@dataclass
class _ExposureInProgress:
    registers: Registers
    started: float
    duration: float
    ready_at: float
    temperature_c: float = 0.0


class EmulatedCamera:
    """A virtual camera; give one or several to ``EmulatorBackend``."""

    def __init__(self, model: CameraModel, serial: str | None = None, clock: EmulatedClock | None = None,
                 seed: int = 1, boot_loader: bool = False, rate_limit: bool = True, ambient_c: float = 20.0) -> None:
        self.model = model
        self.serial = serial or f"{model.name[3:7]}{seed:012X}"[:16]
        self.clock = clock or EmulatedClock()
        self.faults = FaultInjector()
        self.scene: Scene = Dark()
        self.stand_in = StandIn(self)  # what discovery hands to a driver: scene per frame type, faults
        self.sensor = SensorSimulator(model, seed)
        self.frames = FrameBuilder(model, self.sensor)  # the wire format of each frame, in one reused buffer
        self.thermal = ThermalModel(ambient_c, model.cooling_delta_single_c,
                                    humidity_base=25.0 if model.humidity_sensor else 0.0)
        self.thermal.reset(self.clock.now())
        self.rate_limit = rate_limit
        self.boots_in_loader = boot_loader
        self.in_loader = boot_loader
        self.ram = BootLoaderRam()
        self.generation = 0
        self.address = next(_addresses)
        self.registers = Registers()
        self.frame_counter = 0
        self.frames_sent = 0
        self.last_frame: FrameRecord | None = None
        self.last_frame_failed = False
        self.unplugs = 0
        self._absent_until: float | None = None
        self._unplug_at: tuple[float, float] | None = None  # (emulated time, down seconds)
        self._exposure: _ExposureInProgress | None = None
        self._stream: FrameStream | None = None
        self._lock = threading.RLock()
        self.sdk = SdkDialect(self)  # QHY's SDK's dialect (protocol, OBSERVED); see sdk_dialect
        self.speaks_sdk = False

    # --- presence on the bus ----------------------------------------------------------------------------------
    @property
    def product_id(self) -> int:
        return self.model.loader_pid if self.in_loader else self.model.runtime_pid

    def present(self) -> bool:
        with self._lock:
            now = self.clock.now()
            if self._unplug_at is not None and now >= self._unplug_at[0]:
                down = self._unplug_at[1]
                self._unplug_at = None
                self.unplug(down)
            if self._absent_until is not None and now >= self._absent_until:
                self._absent_until = None
                self.generation += 1
                self.address = next(_addresses)
                self.thermal.set_powered(now, True)
            return self._absent_until is None

    def check(self, generation: int) -> None:
        """Raise DeviceAbsent unless a handle opened at ``generation`` still reaches this device."""
        if not self.present() or generation != self.generation:
            raise DeviceAbsent(f"{self.model.name} {self.serial} is not on the bus")

    def unplug(self, down_s: float | None = None) -> None:
        """Cut the 12 V supply (or pull the cable); the device returns after ``down_s`` emulated seconds."""
        with self._lock:
            now = self.clock.now()
            self.unplugs += 1
            self._absent_until = math.inf if down_s is None else now + down_s
            self.generation += 1
            if self._exposure is not None or self._stream is not None:
                self.last_frame_failed = True
            self._exposure = None
            self._stream = None
            self.thermal.set_powered(now, False)
            self.registers = Registers()
            self.sdk = SdkDialect(self)
            self.speaks_sdk = False
            self.frame_counter = 0
            self.in_loader = self.boots_in_loader
            self.ram.clear()

    def replug(self) -> None:
        """Bring an unplugged camera back now."""
        with self._lock:
            if self._absent_until is not None:
                self._absent_until = self.clock.now()

    # --- control requests ---------------------------------------------------------------------------------------
    def control_out(self, generation: int, request: int, value: int, index: int, data: bytes) -> int:
        with self._lock:
            self.check(generation)
            if request == protocol.REQ_FIRMWARE and self.in_loader:
                return self._loader_write(value, index, data)
            if self.in_loader:
                raise Stall(f"boot loader does not answer request 0x{request:02X}")
            self.speaks_sdk = self.speaks_sdk or starts_sdk_dialect(request, len(data))
            if self.speaks_sdk:
                return self.sdk.control_out(request, value, index, data)
            if request != protocol.REQ_COMMAND or len(data) != protocol.COMMAND_LEN:
                raise Stall(f"unsupported control write 0x{request:02X} ({len(data)} bytes)")
            try:
                command, fields = protocol.decode_command(data)
            except protocol.ProtocolError as err:
                raise Stall(str(err)) from err
            self._command(command, fields)
            return len(data)

    def control_in(self, generation: int, request: int, value: int, index: int, length: int) -> bytes:
        with self._lock:
            self.check(generation)
            if request == protocol.REQ_FIRMWARE and self.in_loader:
                address = value | (index << 16)
                return self.ram.read(address, length)
            if not self.in_loader and (self.speaks_sdk or starts_sdk_dialect(request, 0)):
                self.speaks_sdk = request != protocol.REQ_STATUS
                if self.speaks_sdk:
                    return self.sdk.control_in(request, value, index, length)
            if self.in_loader or request != protocol.REQ_STATUS or length < protocol.STATUS_LEN:
                raise Stall(f"unsupported control read 0x{request:02X} ({length} bytes)")
            return self._status()

    # --- boot loader -------------------------------------------------------------------------------------------
    def _loader_write(self, value: int, index: int, data: bytes) -> int:
        """A firmware chunk into RAM, or (no data) the jump: the FX3 runs the firmware and re-enumerates."""
        if data:
            return self.ram.write(value | (index << 16), data)
        if not self.ram:
            raise Stall("jump requested but no firmware was loaded")
        self.in_loader = False
        self.generation += 1
        self._absent_until = self.clock.now() + REENUMERATE_S
        return 0

    # --- commands ------------------------------------------------------------------------------------------------
    def _command(self, command: Command, f: dict[str, int]) -> None:
        """Carry out one command block: each command is one small function, found in ``commands.COMMANDS``."""
        handler = COMMANDS.get(command)
        if handler is None:
            raise Stall(f"command {command.name} is not implemented by the emulated camera")
        handler(self, f)

    def discard_frame(self) -> None:
        """Drop the exposure in progress and whatever frame is queued for EP 0x81."""
        self._exposure = None
        self._stream = None

    def reinitialise(self) -> None:
        """ASSUMED, after the C++ driver's users' reports: a read-mode or bit-depth change re-initialises the
        sensor and the camera forgets gain, offset, USB traffic and ROI (they return to power-on defaults)."""
        keep = self.registers
        self.registers = Registers(read_mode=keep.read_mode, bits=keep.bits, ddr=keep.ddr, heater_pwm=keep.heater_pwm,
                                 exposure_us=keep.exposure_us)
        self._exposure = None
        self._stream = None

    def start_exposure(self, now: float) -> None:
        """Start a single frame; a new start discards any frame still queued (ASSUMED: A6 flushes the FIFO)."""
        _, rows = self._rows_of(self.registers)
        duration = self.registers.exposure_us / 1e6
        readout = 0.5 * self.model.frame_time_s(rows, self.registers.bits) if self.rate_limit else 0.0
        self._stream = None
        self._exposure = _ExposureInProgress(replace(self.registers), now, duration, now + duration + readout)
        self.last_frame_failed = False
        fault = self.faults.take_unplug("exposure")
        if fault is not None:
            self._unplug_at = (now + duration / 2, float(fault.params.get("down_s", 2.0)))

    # --- status --------------------------------------------------------------------------------------------------
    def _state(self, now: float) -> CameraState:
        exp = self._exposure
        if exp is not None:
            if now < exp.started + exp.duration:
                return CameraState.EXPOSING
            if now < exp.ready_at:
                return CameraState.READING_OUT
            return CameraState.FRAME_READY
        return CameraState.FRAME_READY if self._stream is not None else CameraState.IDLE

    def _status(self) -> bytes:
        now = self.clock.now()
        self.thermal.update(now)
        state = self._state(now)
        exp = self._exposure
        remaining = max(0.0, exp.started + exp.duration - now) if exp else 0.0
        stream = self._stream
        percent = int(100 * stream.sent / stream.total) if stream else (0 if state != CameraState.IDLE else 100)
        s = self.registers
        _, rows = self._rows_of(self.registers)
        status = protocol.Status(
            state=state, exposure_remaining_s=remaining, exposure_total_s=s.exposure_us / 1e6,
            firmware_date=FIRMWARE_DATE, temperature_c=self.thermal.sensor_c, target_c=self.thermal.target_c,
            temp_auto=self.thermal.auto, tec_pwm=round(self.thermal.pwm),
            ddr_frames=1 if state == CameraState.FRAME_READY else 0,
            image_width=self.model.readout_width, image_height=rows, bits=s.bits, usb_speed=3,
            variant=self.model.variant.name, colour=self.model.colour, read_mode=s.read_mode,
            humidity_percent=self.thermal.humidity_percent if self.model.humidity_sensor else None,
            frame_counter=self.frame_counter, heater_pwm=s.heater_pwm, readout_percent=percent,
            serial=self.serial, cooler_on=self.thermal.auto or self.thermal.pwm > 0, ddr_on=s.ddr,
            last_frame_failed=self.last_frame_failed,
        )
        return protocol.encode_status(status)

    # --- frames --------------------------------------------------------------------------------------------------
    def _materialize(self, exp: _ExposureInProgress) -> FrameStream:
        """Render the finished exposure and queue it on EP 0x81, with any armed faults applied."""
        if self.speaks_sdk:
            return self._materialize_sdk(exp)
        s = exp.registers
        y, rows = self._rows_of(s)
        self.thermal.update(exp.ready_at)
        integration = Integration(exp.duration, s.gain, s.offset, s.read_mode, s.bits, y, rows, self.thermal.sensor_c)
        sequence = self.frame_counter
        self.frame_counter += 1
        built = self.frames.build(integration, self.scene, sequence)
        record = FrameRecord(sequence, exp.started, s, built.layout, built.truth, built.checksum)
        rate = self.model.bytes_per_second(rows, s.bits, s.usb_traffic) if self.rate_limit else math.inf
        stream = FrameStream([built.data], rate, self.clock.now())
        for fault in self.faults.take_stream_faults():
            damage(fault, FaultSite(fault.params, stream, record, built.data, built.layout, self.sensor.rng,
                                    self.model.readout_width))
        unplug = self.faults.take_unplug("readout")
        if unplug is not None:
            stream.unplug_at = stream.total // 2
            stream.unplug_down_s = float(unplug.params.get("down_s", 2.0))
        self.last_frame = record
        return stream

    def _materialize_sdk(self, exp: _ExposureInProgress) -> FrameStream:
        """The finished exposure in the SDK dialect's frame format (``SdkDialect.materialize``)."""
        self.thermal.update(exp.ready_at)
        sequence = self.frame_counter
        self.frame_counter += 1
        self.last_frame, stream = self.sdk.materialize(exp.duration, exp.started, replace(exp.registers), sequence)
        return stream

    def current_stream(self) -> FrameStream | None:
        """The frame queued on EP 0x81 (materialised once its exposure and readout are done), if any."""
        with self._lock:
            return self._current_stream(self.clock.now())

    def _rows_of(self, s: Registers) -> tuple[int, int]:
        return s.roi_y, s.roi_height or self.model.readout_height

    def _current_stream(self, now: float) -> FrameStream | None:
        if self.speaks_sdk and self.sdk.live and self._exposure is None and self._stream is None:
            self.start_exposure(now)  # live mode free-runs: the next exposure starts as the last frame leaves
        exp = self._exposure
        if exp is not None and now >= exp.ready_at:
            self._exposure = None
            self._stream = self._materialize(exp)
        return self._stream

    def bulk_read(self, generation: int, endpoint: int, address: int, length: int, timeout_ms: int) -> int:
        """Serve EP 0x81: wait for a frame (up to the timeout), then copy the next bytes of it, rate limited."""
        if endpoint != protocol.BULK_IN_ENDPOINT:
            raise Stall(f"no endpoint 0x{endpoint:02X}")
        deadline = time.monotonic() + (timeout_ms / 1000.0 if timeout_ms else 3600.0)
        while True:
            with self._lock:
                self.check(generation)
                if self.in_loader:
                    raise Stall("boot loader has no bulk endpoint")
                stream = self._current_stream(self.clock.now())
                if stream is not None and (stream.stall_at is None or stream.sent < stream.stall_at):
                    before = stream.sent
                    if stream.unplug_at is not None and before + length > stream.unplug_at:
                        stream.serve(address, stream.unplug_at - before)
                        self.unplug(stream.unplug_down_s)
                        raise DeviceAbsent("device vanished during readout")
                    n = stream.serve(address, length)
                    stalled_mid = stream.stall_at is not None and stream.sent >= stream.stall_at and n < length
                    if stream.sent >= stream.total:
                        self._stream = None
                        self.frames_sent += 1
                    due = max(stream.clock_pos, self.clock.now()) + n / stream.rate
                    stream.clock_pos = due
                    break
            if time.monotonic() >= deadline:
                raise StreamTimeout(f"no data within {timeout_ms} ms")
            time.sleep(0.002)
        wait = self.clock.real_seconds(due - self.clock.now())
        if stalled_mid:
            wait = max(wait, deadline - time.monotonic())  # the transfer hangs until libusb's timeout
        if wait > 0:
            time.sleep(wait)
        if stalled_mid and n == 0:
            raise StreamTimeout(f"device stalled; no data within {timeout_ms} ms")
        return n
