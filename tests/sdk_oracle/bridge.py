"""The Python side of the libusb stand-in: which devices are on the bus, and who answers their transfers.

Every libusb call the SDK makes arrives here through ``libusb_standin.c``'s callbacks and is served by the
``UsbDevice`` in that slot — the project's emulated camera (``EmulatedUsbDevice``, the same object the pyusb
backend serves) or a probing script (``ScriptedUsbDevice``). Each transfer is appended to the bridge's trace, so
a test can read exactly what the SDK sent for one operation.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from indi_qhy_py import protocol
from indi_qhy_py.emulator.control import Stall
from indi_qhy_py.emulator.device import DeviceAbsent, EmulatedCamera, StreamTimeout

_scripted_addresses = itertools.count(64)
ERROR_IO, ERROR_NO_DEVICE, ERROR_TIMEOUT, ERROR_PIPE = -1, -4, -7, -9
MAX_SLOTS = 16  # as libusb_standin.c

DEVICE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_uint16),
                             ctypes.POINTER(ctypes.c_uint16), ctypes.POINTER(ctypes.c_uint8),
                             ctypes.POINTER(ctypes.c_uint8))
CONTROL_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16,
                              ctypes.c_uint16, ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint)
BULK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_uint8, ctypes.c_void_p, ctypes.c_int,
                           ctypes.POINTER(ctypes.c_int), ctypes.c_uint)
EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_int)


class UsbDevice(Protocol):
    vendor_id: int
    product_id: int
    address: int

    def present(self) -> bool: ...
    def opened(self) -> None: ...
    def control_out(self, request: int, value: int, index: int, data: bytes) -> int: ...
    def control_in(self, request: int, value: int, index: int, length: int) -> bytes: ...
    def bulk_in(self, endpoint: int, address: int, length: int, timeout_ms: int) -> int: ...


class EmulatedUsbDevice:
    """The project's emulated camera as the SDK sees it."""

    vendor_id = 0x1618

    def __init__(self, camera: EmulatedCamera) -> None:
        self.camera = camera
        self.generation = camera.generation

    @property
    def product_id(self) -> int:
        return self.camera.product_id

    @property
    def address(self) -> int:
        return self.camera.address & 0x7F

    def present(self) -> bool:
        return self.camera.present()

    def opened(self) -> None:
        self.generation = self.camera.generation

    def control_out(self, request: int, value: int, index: int, data: bytes) -> int:
        return self.camera.control_out(self.generation, request, value, index, data)

    def control_in(self, request: int, value: int, index: int, length: int) -> bytes:
        return self.camera.control_in(self.generation, request, value, index, length)

    def bulk_in(self, endpoint: int, address: int, length: int, timeout_ms: int) -> int:
        return self.camera.bulk_read(self.generation, endpoint, address, length, timeout_ms)


@dataclass
class ScriptedUsbDevice:
    """A device that answers IN requests from a table and serves a given bulk stream: for probing the SDK."""

    product_id: int
    answers: dict[tuple[int, int] | int, bytes] = field(default_factory=dict)  # (request, index) or request
    stream: bytes = b""
    vendor_id: int = 0x1618
    address: int = field(default_factory=lambda: next(_scripted_addresses))  # a new device path per device
    sent: int = 0
    ddr_auto: bool = False  # answer the DDR count (0xBC/4) with the unread part of the stream
    read_limits: list[int] = field(default_factory=list)  # caps on the next reads' sizes (0: a zero-length packet)
    frame_ends: list[int] = field(default_factory=list)  # stream offsets where a transfer ends short (live frames)
    slot: int = -1  # where it is plugged in (set by whoever plugs it)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _bytes_per_s: float = field(default=0.0, repr=False)  # the pace of ``feed`` (0: as fast as read)
    _paced_from: float | None = field(default=None, repr=False)  # real time of the stream's first read

    def __post_init__(self) -> None:
        # the SDK lists cameras by an id made from this answer: every scripted device gets its own
        self.answers.setdefault((protocol.REQ_CAMERA_ID, protocol.CAMERA_SERIAL_INDEX),
                                f"SCRIPT{self.address:010d}".encode())

    def present(self) -> bool:
        return True

    def opened(self) -> None:
        pass

    def control_out(self, request: int, value: int, index: int, data: bytes) -> int:
        return len(data)

    def control_in(self, request: int, value: int, index: int, length: int) -> bytes:
        if (request, index) == (protocol.REQ_DDR_COUNT, protocol.DDR_COUNT_INDEX) and self.ddr_auto:
            return protocol.encode_ddr_count(len(self.stream) - self.sent)
        answer = self.answers.get((request, index), self.answers.get(request, b""))
        return bytes(answer[:length]).ljust(length, b"\0")

    def feed(self, stream: bytes, bytes_per_s: float = 0.0) -> None:
        """The bytes EP 0x81 serves next; ``bytes_per_s`` paces them as a camera's link does (0: as fast as read)."""
        self.stream, self.sent = stream, 0
        self._bytes_per_s, self._paced_from = bytes_per_s, None

    def bulk_in(self, endpoint: int, address: int, length: int, timeout_ms: int) -> int:
        due = 0.0  # real time the bytes served have crossed a paced link
        with self._lock:
            end = next((e for e in self.frame_ends if e > self.sent), len(self.stream))
            n = min(length, end - self.sent)
            if self.read_limits:
                n = min(n, self.read_limits.pop(0))
                if n == 0:
                    return 0
            if n > 0:
                ctypes.memmove(address, self.stream[self.sent : self.sent + n], n)
                self.sent += n
                if self._bytes_per_s > 0:
                    if self._paced_from is None:
                        self._paced_from = time.monotonic()
                    due = self._paced_from + self.sent / self._bytes_per_s
        if n > 0:
            time.sleep(max(0.0, due - time.monotonic()))
            return n
        time.sleep(min(timeout_ms, 50) / 1000)
        raise StreamTimeout("scripted stream exhausted")


@dataclass(frozen=True)
class Transfer:
    """One transfer as the SDK made it: ``kind`` is OUT, IN or BULK."""

    kind: str
    request: int
    value: int
    index: int
    data: bytes  # OUT: what the SDK sent; IN: what it was answered
    length: int
    result: int
    at: float
    slot: int = -1  # the bus slot of the device it went to

    def line(self) -> str:
        if self.kind == "BULK":
            return f"BULK ep={self.request:02x} len={self.length} -> {self.result}"
        return (f"{self.kind} {self.request:02x} value={self.value:04x} index={self.index:04x} len={self.length} "
                f"{self.data.hex(' ')}").rstrip()


class UsbBridge:
    """Slots of devices and the trace of every transfer; hands ctypes callbacks to the stand-in."""

    def __init__(self) -> None:
        self.slots: dict[int, UsbDevice] = {}
        self.trace: list[Transfer] = []
        self.events: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()
        self.callbacks = (DEVICE_FN(self._device), CONTROL_FN(self._control), BULK_FN(self._bulk),
                          EVENT_FN(self._event))

    # --- what tests use -----------------------------------------------------------------------------------------
    def plug(self, slot: int, device: UsbDevice) -> None:
        self.slots[slot] = device

    def unplug(self, slot: int) -> None:
        self.slots.pop(slot, None)

    def mark(self) -> int:
        with self._lock:
            return len(self.trace)

    def since(self, mark: int) -> list[Transfer]:
        with self._lock:
            return list(self.trace[mark:])

    def _record(self, transfer: Transfer) -> None:
        with self._lock:
            self.trace.append(transfer)

    # --- callbacks from C ----------------------------------------------------------------------------------------
    def _device(self, slot, vid, pid, bus, address):  # type: ignore[no-untyped-def]
        device = self.slots.get(slot)
        try:
            if device is None or not device.present():
                return 0
            vid[0], pid[0], bus[0], address[0] = device.vendor_id, device.product_id, 1, device.address
            return 1
        except Exception:  # a callback must never raise into C
            return 0

    def _control(self, slot, request_type, request, value, index, data, length, timeout):  # type: ignore[no-untyped-def]
        device = self.slots.get(slot)
        now = time.monotonic()
        try:
            if device is None:
                raise DeviceAbsent("no device in slot")
            if request_type & 0x80:
                answer = device.control_in(request, value, index, length)[:length]
                ctypes.memmove(data, answer, len(answer))
                self._record(Transfer("IN", request, value, index, bytes(answer), length, len(answer), now, slot))
                return len(answer)
            sent = ctypes.string_at(data, length) if length else b""
            result = device.control_out(request, value, index, sent)
            self._record(Transfer("OUT", request, value, index, sent, length, result, now, slot))
            return length
        except Exception as err:
            code = _error_code(err)
            kind = "IN" if request_type & 0x80 else "OUT"
            sent = b"" if request_type & 0x80 or not length else ctypes.string_at(data, length)
            self._record(Transfer(kind, request, value, index, sent, length, code, now, slot))
            return code

    def _bulk(self, slot, endpoint, data, length, transferred, timeout):  # type: ignore[no-untyped-def]
        device = self.slots.get(slot)
        now = time.monotonic()
        try:
            if device is None:
                raise DeviceAbsent("no device in slot")
            n = device.bulk_in(endpoint, data, length, timeout)
            transferred[0] = n
            self._record(Transfer("BULK", endpoint, 0, 0, b"", length, n, now))
            return 0
        except Exception as err:
            transferred[0] = 0
            code = _error_code(err)
            self._record(Transfer("BULK", endpoint, 0, 0, b"", length, code, now))
            return code

    def _event(self, what, slot, value):  # type: ignore[no-untyped-def]
        name = what.decode()
        self.events.append((name, slot, value))
        if name == "open" and slot in self.slots:
            self.slots[slot].opened()


def _error_code(err: Exception) -> int:
    if isinstance(err, Stall):
        return ERROR_PIPE
    if isinstance(err, DeviceAbsent):
        return ERROR_NO_DEVICE
    if isinstance(err, StreamTimeout):
        return ERROR_TIMEOUT
    return ERROR_IO
