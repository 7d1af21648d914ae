"""One emulated QHY268/QHY600: the USB device model behind the emulator's pyusb backend.

It is in one of the two stages of an FX3 camera (boot loader, then the running firmware), answers the requests
of ``protocol`` (``control``), exposes and streams frames in the observed formats at the model's rated throughput
(``readout``), free-runs in live mode, runs the sensor and thermal physics, resets when its FPGA watchdog is not
fed, and injects the faults of ``faults``. Exposure and thermal timing are on an ``EmulatedClock``; USB timeouts
and the watchdog are real time, as libusb's and the camera's are.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, replace

from .. import protocol
from ..models import CameraModel
from .clock import EmulatedClock
from .control import CameraRegisters, ControlRequests, Stall
from .faults import FaultInjector, FaultSite, damage
from .filter_port import EmulatedWheel, FilterPort
from .live import LiveSchedule
from .loader import BootLoaderRam
from .power import PowerSupply
from .readout import FrameBuilder
from .scene import Dark, Scene
from .sensor import SensorSimulator
from .stand_in import StandIn
from .stream import FrameRecord, FrameStream, LinkClock
from .thermal import ThermalModel
from .watchdog import FpgaWatchdog

__all__ = ["DeviceAbsent", "EmulatedCamera", "Stall", "StreamTimeout"]

REENUMERATE_S = 0.5  # ASSUMED: time from the FX3 jump (or power-on, or a watchdog reset) to the runtime device
WATCHDOG_TIMEOUT_S = 30.0  # ASSUMED: three of the SDK's 10 s feeds missed
_addresses = itertools.count(2)


class DeviceAbsent(Exception):
    """The device is not on the bus (the backend reports ENODEV)."""


class StreamTimeout(Exception):
    """No data within the transfer's timeout (the backend reports ETIMEDOUT)."""


@dataclass
class _ExposureInProgress:
    registers: CameraRegisters
    started: float
    duration: float
    ready_at: float


class EmulatedCamera:
    """A virtual camera; give one or several to ``EmulatorBackend``."""

    def __init__(self, model: CameraModel, serial: str | None = None, clock: EmulatedClock | None = None,
                 seed: int = 1, boot_loader: bool = False, rate_limit: bool = True, ambient_c: float = 20.0,
                 watchdog_s: float | None = WATCHDOG_TIMEOUT_S, filter_wheel: EmulatedWheel | None = None) -> None:
        self.model = model
        self.serial = serial or f"{model.name[3:7]}{seed:012X}"[:16]
        self.clock = clock or EmulatedClock()
        self.faults = FaultInjector()
        self.scene: Scene = Dark()
        self.stand_in = StandIn(self)  # what discovery hands to a driver: scene per frame type, faults
        self.sensor = SensorSimulator(model, seed)
        self.frames = FrameBuilder(model, self.sensor)
        self.thermal = ThermalModel(ambient_c, model.cooling_delta_single_c,
                                    humidity_base=25.0 if model.humidity_sensor else 0.0)
        self.thermal.reset(self.clock.now())
        self.power = PowerSupply()
        self.filter_port = FilterPort(self.clock.now, filter_wheel)
        self.rate_limit = rate_limit
        self.watchdog = FpgaWatchdog(watchdog_s)
        self.boots_in_loader = boot_loader
        self.in_loader = boot_loader
        self.ram = BootLoaderRam()
        self.generation = 0
        self.address = next(_addresses)
        self.registers = CameraRegisters()
        self.requests = ControlRequests(self)
        self.frame_counter = 0
        self.frames_sent = 0
        self.last_frame: FrameRecord | None = None
        self.unplugs = 0
        self._absent_until: float | None = None
        self._unplug_at: tuple[float, float] | None = None  # (emulated time, down seconds)
        self._exposure: _ExposureInProgress | None = None
        self._live: LiveSchedule | None = None
        self._stream: FrameStream | None = None
        self.link = LinkClock(self.clock)
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
            if self._absent_until is None and self.watchdog.fired():
                self.unplug(REENUMERATE_S)  # it re-enumerates at its power-on defaults
            if self._absent_until is not None and now >= self._absent_until:
                self._absent_until = None
                self.generation += 1
                self.address = next(_addresses)
                self.thermal.set_powered(now, True)
                self.filter_port.power_on()  # the wheel, powered from the camera, starts again
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
            self._exposure = self._live = self._stream = None
            self.watchdog.disarm()
            self.thermal.set_powered(now, False)
            self.registers = CameraRegisters()
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
            if not self.in_loader:
                return self.requests.control_out(request, value, index, data)
            taken, jump = self.ram.request_out(request, value, index, data)
            if jump:  # the FX3 runs the firmware and re-enumerates
                self.in_loader = False
                self.generation += 1
                self._absent_until = self.clock.now() + REENUMERATE_S
            return taken

    def control_in(self, generation: int, request: int, value: int, index: int, length: int) -> bytes:
        with self._lock:
            self.check(generation)
            if self.in_loader:
                return self.ram.request_in(request, value, index, length)
            return self.requests.control_in(request, value, index, length)

    # --- exposures -----------------------------------------------------------------------------------------------
    def discard_frame(self) -> None:
        """Drop the exposure in progress and whatever frame is queued for EP 0x81."""
        self._exposure = None
        self._stream = None

    def reinitialise(self, single: bool) -> None:
        """A0: ASSUMED, as QHY's SDK sends every setting again after it: the camera returns its registers to their
        power-on defaults and drops any frame; in live mode (A0 00) it free-runs from now (the SDK's
        BeginQHYCCDLive sends nothing before it reads)."""
        self.registers = CameraRegisters(single=single, fpga=self.registers.fpga)
        self.discard_frame()
        self._live = None if single else self._new_live(self.clock.now())

    def _new_live(self, now: float) -> LiveSchedule:
        return LiveSchedule(now, self.live_period(), self.frames.ddr_frames(self.registers))

    def live_period(self) -> float:
        """Seconds between two live frames: the exposure, or the camera's frame time if longer."""
        r = self.registers
        period = self.frames.frame_time(r, r.usb_traffic) if self.rate_limit else 0.0
        return max(r.exposure_us / 1e6, period)

    def start_exposure(self, now: float) -> None:
        """Start a single frame; a new start discards any frame still queued (ASSUMED: A6 flushes the FIFO)."""
        duration = self.registers.exposure_us / 1e6
        transfer = 0.5 * self.frames.frame_time(self.registers) if self.rate_limit else 0.0
        self._stream = None
        self._exposure = _ExposureInProgress(replace(self.registers), now, duration, now + duration + transfer)
        fault = self.faults.take_unplug("exposure")
        if fault is not None:
            self._unplug_at = (now + duration / 2, float(fault.params.get("down_s", 2.0)))

    def ddr_waiting(self) -> int:
        """Bytes of the current frame waiting in the frame buffer (what 0xBC/4 counts)."""
        stream = self._current_stream(self.clock.now())
        return 0 if stream is None else stream.waiting

    # --- frames --------------------------------------------------------------------------------------------------
    def _materialize(self, registers: CameraRegisters, started: float, duration: float, ready_at: float
                     ) -> FrameStream:
        """Render a finished exposure and queue it on EP 0x81, with any armed faults applied. Its bytes may cross
        the link from ``ready_at``: on a camera the frame waits in the DDR, so rendering it costs no USB time."""
        self.thermal.update(ready_at)
        sequence = self.frame_counter
        self.frame_counter += 1
        built = self.frames.build(registers, self.scene, sequence, duration, self.thermal.sensor_c)
        record = FrameRecord(sequence, started, registers, built.layout, built.truth, built.image)
        rate = self.frames.wire_rate(registers, len(built.data)) if self.rate_limit else math.inf
        stream = FrameStream([built.data], rate, ready_at)
        for fault in self.faults.take_stream_faults():
            damage(fault, FaultSite(fault.params, stream, record, built.data, built.layout, self.sensor.rng))
        unplug = self.faults.take_unplug("readout")
        if unplug is not None:
            stream.unplug_at = stream.total // 2
            stream.unplug_down_s = float(unplug.params.get("down_s", 2.0))
        self.last_frame = record
        return stream

    def _current_stream(self, now: float) -> FrameStream | None:
        """The frame queued on EP 0x81 (materialised once its exposure and readout are done), if any."""
        if self._stream is not None:
            return self._stream
        live = self._live
        if live is not None:
            period = self.live_period()
            if period != live.period:
                self._live = live = live.retimed(now, period, self.frames.ddr_frames(self.registers))
            taken = live.take(now)
            if taken is None:
                return None
            overflow, started = taken
            self.frame_counter += overflow  # frames the full DDR never stored still took their numbers
            self._stream = self._materialize(replace(self.registers), started, self.registers.exposure_us / 1e6,
                                             min(now, started + live.period))
            return self._stream
        exp = self._exposure
        if exp is not None and now >= exp.ready_at:
            self._exposure = None
            self._stream = self._materialize(exp.registers, exp.started, exp.duration, exp.ready_at)
        return self._stream

    def bulk_read(self, generation: int, endpoint: int, address: int, length: int, timeout_ms: int,
                  queued_at: float | None = None) -> int:
        """Serve EP 0x81: wait for a frame (up to the timeout), then copy the next bytes of it, rate limited. A
        transfer ends at a frame's end (a short packet), as the camera's DMA ends it. ``queued_at``: the real time
        a queued (asynchronous) transfer was submitted; its bytes moved from then, or once the link was free."""
        if endpoint != protocol.BULK_IN_ENDPOINT:
            raise Stall(f"no endpoint 0x{endpoint:02X}")
        entered, entered_real = self.clock.now(), time.monotonic()  # a frame not yet begun may cross from then
        deadline = entered_real + (timeout_ms / 1000.0 if timeout_ms else 3600.0)
        if queued_at is not None:
            entered -= (entered_real - queued_at) * self.clock.speed
        while True:
            with self._lock:
                working = time.monotonic()
                self.check(generation)
                if self.in_loader:
                    raise Stall("boot loader has no bulk endpoint")
                stream = self._current_stream(self.clock.now())
                if stream is not None and (stream.stall_at is None or stream.sent < stream.stall_at):
                    before = stream.sent
                    if before == 0:
                        stream.begin(self.link.host_from(entered, entered_real) if queued_at is None
                                     else self.link.queued_from(entered))
                    if stream.unplug_at is not None and before + length > stream.unplug_at:
                        stream.serve(address, stream.unplug_at - before)
                        self.unplug(stream.unplug_down_s)
                        raise DeviceAbsent("device vanished during readout")
                    n = stream.serve(address, length)
                    stalled_mid = stream.stall_at is not None and stream.sent >= stream.stall_at and n < length
                    if stream.sent >= stream.total:
                        self._stream = None
                        self.frames_sent += 1
                    due = self.link.free_at = stream.due()
                    self.link.own_s = time.monotonic() - working  # rendering and copying: the camera's hardware
                    break
            if time.monotonic() >= deadline:
                raise StreamTimeout(f"no data within {timeout_ms} ms")
            time.sleep(0.002)
        wait = self.clock.real_seconds(due - self.clock.now())
        if stalled_mid:
            wait = max(wait, deadline - time.monotonic())  # the transfer hangs until libusb's timeout
        if wait > 0:
            time.sleep(wait)
        self.link.handed_over(slept=wait > 0)
        if stalled_mid and n == 0:
            raise StreamTimeout(f"device stalled; no data within {timeout_ms} ms")
        return n

    @property
    def live_backlog(self) -> int:
        """Live frames waiting in the DDR for the host to read (0 out of live mode)."""
        return self._live.backlog(self.clock.now()) if self._live is not None else 0

    @property
    def live_frames_lost(self) -> int:
        return self._live.lost if self._live is not None else 0
