"""One emulated QHY268/QHY600: the USB device model behind the emulator's pyusb backend.

It answers exactly the requests ``protocol`` defines, in both stages of an FX3 camera (boot loader, then the
running firmware), streams frames in ``protocol``'s format at the model's rated throughput, runs the sensor and
thermal physics, and injects the faults of ``faults``. All timing is on an ``EmulatedClock``; USB timeouts are
real milliseconds, as libusb's are.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .. import protocol
from ..models import CameraModel
from ..protocol import CameraState, Command
from .clock import EmulatedClock
from .faults import Fault, FaultInjector
from .scene import Dark, Scene
from .sensor import Exposure, SensorSimulator, Truth
from .thermal import ThermalModel

FIRMWARE_DATE = "2024-05-17"
REENUMERATE_S = 0.5  # ASSUMED: time from the FX3 jump (or power-on) to the runtime device appearing
_addresses = itertools.count(2)


class DeviceAbsent(Exception):
    """The device is not on the bus (the backend reports ENODEV)."""


class Stall(Exception):
    """The device refuses the request (the backend reports a pipe error, EPIPE)."""


class StreamTimeout(Exception):
    """No data within the transfer's timeout (the backend reports ETIMEDOUT)."""


@dataclass
class Settings:
    """What the host has set; power-on defaults here."""

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
class _Exposure:
    settings: Settings
    started: float
    duration: float
    ready_at: float
    temperature_c: float = 0.0


@dataclass
class FrameRecord:
    """What the camera sent as one frame: for tests and ground truth."""

    sequence: int
    started: float
    settings: Settings
    layout: protocol.FrameLayout
    truth: Truth
    checksum: int  # as sent in the trailer
    faults: list[str] = field(default_factory=list)
    damage: dict[str, object] = field(default_factory=dict)


class _Stream:
    """The bytes of one frame still to be sent, as segments of the frame buffer (faults cut and splice them)."""

    def __init__(self, segments: list[np.ndarray], rate: float, start: float) -> None:
        self.segments = segments
        self.total = sum(len(s) for s in segments)
        self.sent = 0
        self.stall_at: int | None = None
        self.unplug_at: int | None = None
        self.unplug_down_s = 2.0
        self.rate = rate
        self.clock_pos = start  # emulated time the link is busy until

    def serve(self, address: int, length: int) -> int:
        """Copy up to ``length`` bytes to ``address``; stops at a stall point."""
        limit = self.total if self.stall_at is None else min(self.total, self.stall_at)
        n = max(0, min(length, limit - self.sent))
        done = 0
        pos = self.sent
        for seg in self.segments:
            if done >= n:
                break
            if pos >= len(seg):
                pos -= len(seg)
                continue
            take = min(len(seg) - pos, n - done)
            ctypes.memmove(address + done, seg.ctypes.data + pos, take)
            done += take
            pos = 0
        self.sent += done
        return done


class EmulatedCamera:
    """A virtual camera; give one or several to ``EmulatorBackend``."""

    def __init__(self, model: CameraModel, serial: str | None = None, clock: EmulatedClock | None = None,
                 seed: int = 1, boot_loader: bool = False, rate_limit: bool = True, ambient_c: float = 20.0) -> None:
        self.model = model
        self.serial = serial or f"{model.name[3:7]}{seed:012X}"[:16]
        self.clock = clock or EmulatedClock()
        self.faults = FaultInjector()
        self.scene: Scene = Dark()
        self.sensor = SensorSimulator(model, seed)
        self.thermal = ThermalModel(ambient_c, model.cooling_delta_single_c,
                                    humidity_base=25.0 if model.humidity_sensor else 0.0)
        self.thermal.reset(self.clock.now())
        self.rate_limit = rate_limit
        self.boots_in_loader = boot_loader
        self.in_loader = boot_loader
        self.ram: dict[int, bytearray] = {}  # boot-loader RAM, 4 KiB pages by address
        self.generation = 0
        self.address = next(_addresses)
        self.settings = Settings()
        self.frame_counter = 0
        self.frames_sent = 0
        self.last_frame: FrameRecord | None = None
        self.last_frame_failed = False
        self.unplugs = 0
        self._absent_until: float | None = None
        self._unplug_at: tuple[float, float] | None = None  # (emulated time, down seconds)
        self._exposure: _Exposure | None = None
        self._stream: _Stream | None = None
        self._buffer: np.ndarray | None = None
        self._lock = threading.RLock()

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
            self.settings = Settings()
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
                return self._ram_read(address, length)
            if self.in_loader or request != protocol.REQ_STATUS or length < protocol.STATUS_LEN:
                raise Stall(f"unsupported control read 0x{request:02X} ({length} bytes)")
            return self._status()

    # --- boot loader -------------------------------------------------------------------------------------------
    def _loader_write(self, value: int, index: int, data: bytes) -> int:
        address = value | (index << 16)
        if len(data) > protocol.FIRMWARE_CHUNK:
            raise Stall("firmware chunk larger than 4096 bytes")
        if data:
            for i, byte_index in enumerate(range(address, address + len(data))):
                page = self.ram.setdefault(byte_index & ~0xFFF, bytearray(4096))
                page[byte_index & 0xFFF] = data[i]
            return len(data)
        if not self.ram:
            raise Stall("jump requested but no firmware was loaded")
        # jump: the FX3 runs the firmware and re-enumerates with the runtime product ID
        self.in_loader = False
        self.generation += 1
        self._absent_until = self.clock.now() + REENUMERATE_S
        return 0

    def _ram_read(self, address: int, length: int) -> bytes:
        """RAM contents (zero where nothing was written), in 4 KiB pages."""
        out = bytearray(length)
        for i in range(length):
            page = self.ram.get((address + i) & ~0xFFF)
            if page is not None:
                out[i] = page[(address + i) & 0xFFF]
        return bytes(out)

    # --- commands ------------------------------------------------------------------------------------------------
    def _command(self, command: Command, f: dict[str, int]) -> None:
        s = self.settings
        model = self.model
        now = self.clock.now()
        if command is Command.INIT:
            s.single = bool(f["single"])  # binning fields ignored: binning is digital, on the host (ASSUMED)
        elif command is Command.READOUT_SPEED:
            s.speed = f["speed"]
        elif command is Command.ROI:
            if f["height"] == 0 or f["y"] + f["height"] > model.readout_height:
                raise Stall(f"ROI rows {f['y']}+{f['height']} outside 0..{model.readout_height}")
            s.roi_x, s.roi_y, s.roi_width, s.roi_height = f["x"], f["y"], f["width"], f["height"]
        elif command is Command.EXPOSURE:
            s.exposure_us = max(1, f["microseconds"])
        elif command is Command.GAIN:
            s.gain = min(f["gain"], model.read_mode(s.read_mode).gain_max)
        elif command is Command.USB_TRAFFIC:
            s.usb_traffic = min(f["traffic"], model.usb_traffic_max)
        elif command is Command.OFFSET:
            s.offset = min(f["offset"], model.offset_max)
        elif command is Command.READ_MODE:
            if f["mode"] >= len(model.read_modes):
                raise Stall(f"read mode {f['mode']} does not exist")
            self._reinitialise()
            self.settings.read_mode = f["mode"]
        elif command is Command.TRANSFER:
            if f["bits"] not in model.bit_depths:
                raise Stall(f"{f['bits']}-bit transfer not supported")
            changed = f["bits"] != s.bits
            if changed:
                self._reinitialise()
            self.settings.bits, self.settings.ddr = f["bits"], bool(f["ddr"])
        elif command is Command.START:
            self._start_exposure(now)
        elif command is Command.ABORT:
            self._exposure = None
            self._stream = None
        elif command is Command.HEATER:
            s.heater_pwm = f["pwm"]
            self.thermal.set_heater(now, f["pwm"])
        elif command is Command.RESET_FRAME_COUNTER:
            self.frame_counter = 0
        elif command is Command.TEMPERATURE:
            if f["auto"]:
                target = f["target_decic"] / 10.0 if f["unit"] == 0 else f["target_adu"] / 100.0 - 50.0
                self.thermal.set_auto(now, target)
            else:
                self.thermal.set_manual(now, f["pwm"])

    def _reinitialise(self) -> None:
        """ASSUMED, after the C++ driver's users' reports: a read-mode or bit-depth change re-initialises the
        sensor and the camera forgets gain, offset, USB traffic and ROI (they return to power-on defaults)."""
        keep = self.settings
        self.settings = Settings(read_mode=keep.read_mode, bits=keep.bits, ddr=keep.ddr, heater_pwm=keep.heater_pwm,
                                 exposure_us=keep.exposure_us)
        self._exposure = None
        self._stream = None

    def _start_exposure(self, now: float) -> None:
        """Start a single frame; a new start discards any frame still queued (ASSUMED: A6 flushes the FIFO)."""
        _, rows = self._rows_of(self.settings)
        duration = self.settings.exposure_us / 1e6
        readout = 0.5 * self.model.frame_time_s(rows, self.settings.bits) if self.rate_limit else 0.0
        self._stream = None
        self._exposure = _Exposure(replace(self.settings), now, duration, now + duration + readout)
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
        s = self.settings
        _, rows = self._rows_of(self.settings)
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
    def _frame_buffer(self, size: int) -> np.ndarray:
        if self._buffer is None or len(self._buffer) < size:
            full = protocol.frame_layout(self.model.readout_width, self.model.readout_height, 16,
                                         self.model.variant.frame_header).total_len
            self._buffer = np.zeros(max(size, full), dtype=np.uint8)
        return self._buffer

    def _materialize(self, exp: _Exposure) -> _Stream:
        """Render the finished exposure into the frame buffer and queue it, with any armed faults applied."""
        s = exp.settings
        y, rows = self._rows_of(s)
        layout = protocol.frame_layout(self.model.readout_width, rows, s.bits, self.model.variant.frame_header)
        buf = self._frame_buffer(layout.total_len)
        self.thermal.update(exp.ready_at)
        exposure = Exposure(exp.duration, s.gain, s.offset, s.read_mode, s.bits, y, rows, self.thermal.sensor_c)
        truth = self.sensor.render(buf[layout.pixel_offset :], exposure, self.scene)
        sequence = self.frame_counter
        self.frame_counter += 1
        if layout.header_len:
            buf[: layout.header_len] = np.frombuffer(
                protocol.encode_pro_header(sequence, self.model.readout_width, rows), dtype=np.uint8)
        checksum = protocol.frame_checksum(buf[: layout.header_len], s.bits, *truth.pixel_sums)
        trailer = protocol.encode_trailer(protocol.Trailer(sequence, checksum, self.model.readout_width, rows, s.bits))
        buf[layout.trailer_offset : layout.payload_len] = np.frombuffer(trailer, dtype=np.uint8)
        buf[layout.payload_len : layout.total_len] = 0
        record = FrameRecord(sequence, exp.started, s, layout, truth, checksum)
        rate = self.model.bytes_per_second(rows, s.bits, s.usb_traffic) if self.rate_limit else math.inf
        stream = _Stream([buf[: layout.total_len]], rate, self.clock.now())
        for fault in self.faults.take_stream_faults():
            self._apply_fault(fault, stream, record, buf, layout)
        unplug = self.faults.take_unplug("readout")
        if unplug is not None:
            stream.unplug_at = stream.total // 2
            stream.unplug_down_s = float(unplug.params.get("down_s", 2.0))
        self.last_frame = record
        return stream

    def _rows_of(self, s: Settings) -> tuple[int, int]:
        return s.roi_y, s.roi_height or self.model.readout_height

    def _apply_fault(self, fault: Fault, stream: _Stream, record: FrameRecord, buf: np.ndarray,
                     layout: protocol.FrameLayout) -> None:
        rng = self.sensor.rng
        p = fault.params
        packet = protocol.FRAME_ALIGN
        pix0, pix1 = layout.pixel_offset, layout.trailer_offset

        def packet_point(default_fraction: float) -> int:
            at = int(p.get("at", int(pix0 + (pix1 - pix0) * default_fraction)))
            return max(packet, at // packet * packet)

        record.faults.append(fault.kind)
        if fault.kind == "corrupt":
            count = int(p.get("bytes", 8))
            where = np.sort(rng.integers(pix0, pix1, count))
            buf[where] ^= rng.integers(1, 256, count).astype(np.uint8)
            record.damage["corrupt_offsets"] = where.tolist()
        elif fault.kind == "zero_fill":
            row_bytes = self.model.readout_width * layout.bytes_per_pixel
            first = int(p.get("row", layout.height // 3))
            count = int(p.get("rows", max(1, layout.height // 20)))
            first, count = min(first, layout.height - 1), min(count, layout.height - first)
            buf[pix0 + first * row_bytes : pix0 + (first + count) * row_bytes] = 0
            record.damage["zero_rows"] = (first, count)
        elif fault.kind == "drop":
            start = packet_point(0.4)
            length = int(p.get("packets", 16)) * packet
            whole = stream.segments[0]
            stream.segments = [whole[:start], whole[start + length :]]
            stream.total -= min(length, len(whole) - start)
            record.damage["dropped"] = (start, length)
        elif fault.kind == "misalign":
            garbage = rng.integers(0, 256, int(p.get("bytes", 512)), dtype=np.uint8)
            stream.segments.insert(0, garbage)
            stream.total += len(garbage)
            record.damage["leading_bytes"] = len(garbage)
        elif fault.kind == "short":
            end = packet_point(0.5)
            stream.segments = [np.concatenate(stream.segments)[:end]] if len(stream.segments) > 1 \
                else [stream.segments[0][:end]]
            stream.total = end
            record.damage["ends_at"] = end
        elif fault.kind == "stall":
            stream.stall_at = packet_point(0.5)
            record.damage["stalls_at"] = stream.stall_at

    def _current_stream(self, now: float) -> _Stream | None:
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
