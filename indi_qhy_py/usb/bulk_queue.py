"""Bulk IN transfers kept queued on an endpoint, so the camera's link never waits for the host between them.

A synchronous read leaves the endpoint without a transfer from the moment one ends until the host's thread wakes
up and asks again: on a loaded machine that is milliseconds, lost for good when the camera streams at the link's
top rate. QHY's SDK reads live frames with asynchronous libusb transfers, 512 of 16 KiB kept queued
(``protocol.SDK_LIVE_QUEUED_READS``, OBSERVED through the stand-in libusb), which go on while its threads are
away. ``LibusbBulkQueue`` does the same through libusb-1.0's asynchronous API, on the library and handle pyusb
opened; a backend that queues transfers itself (the emulated camera's) offers ``open_bulk_queue``; any other
backend gets ``SyncBulkQueue``, which reads each transfer when it is reaped, as a plain pyusb read does.

Every queue completes transfers in the order they were submitted (as an endpoint does) and raises pyusb's
``usb.core.USBError`` with errno, so the transport maps its errors as it maps pyusb's.
"""

from __future__ import annotations

import array
import ctypes
import errno
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import usb.core


class BulkQueue(Protocol):
    """Transfers on one bulk IN endpoint, completed in submission order."""

    @property
    def pending(self) -> int: ...

    def submit(self, address: int, length: int) -> bool:
        """Queue a read of ``length`` bytes to ``address``; False when the system takes no more in flight now."""

    def reap(self, timeout_ms: int) -> int | None:
        """Bytes the oldest transfer received once it completes; None if it has not within ``timeout_ms`` (it
        stays queued). Raises ``usb.core.USBError`` for a transfer that failed (it is gone from the queue)."""

    def cancel_all(self) -> None:
        """Cancel every queued transfer and wait until the endpoint has let go of their buffers."""


class BufferWindow(array.array):  # type: ignore[type-arg]
    """A window onto part of a larger buffer, shaped the way pyusb's backends accept a read buffer.

    pyusb takes only ``array.array`` read buffers and its backends use nothing of them but ``buffer_info()``
    and ``itemsize``. Overriding ``buffer_info`` lets one frame buffer be filled chunk by chunk in place.
    """

    def __new__(cls) -> BufferWindow:
        return super().__new__(cls, "B")

    def point(self, address: int, length: int) -> BufferWindow:
        self._address = address
        self._length = length
        return self

    def buffer_info(self) -> tuple[int, int]:
        return self._address, self._length

    def __len__(self) -> int:
        return self._length


class SyncBulkQueue:
    """For a backend without queued transfers: each transfer is a synchronous pyusb read, made when reaped."""

    def __init__(self, device: usb.core.Device, endpoint: int) -> None:
        self.device = device
        self.endpoint = endpoint
        self._queued: deque[tuple[int, int]] = deque()
        self._window = BufferWindow()

    @property
    def pending(self) -> int:
        return len(self._queued)

    def submit(self, address: int, length: int) -> bool:
        self._queued.append((address, length))
        return True

    def reap(self, timeout_ms: int) -> int | None:
        address, length = self._queued[0]
        try:
            n = int(self.device.read(self.endpoint, self._window.point(address, length), timeout_ms))
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError:
            self._queued.popleft()
            raise
        self._queued.popleft()
        return n

    def cancel_all(self) -> None:
        self._queued.clear()


# --- libusb-1.0's asynchronous API (libusb.h: struct libusb_transfer and its enums) ----------------------------
_TYPE_BULK = 2
_STATUS_COMPLETED = 0
#: libusb_transfer_status -> (errno, text)
_STATUS = {1: (errno.EIO, "transfer error"), 2: (errno.ETIMEDOUT, "timed out"),
           3: (errno.ECANCELED, "cancelled"), 4: (errno.EPIPE, "endpoint stalled"),
           5: (errno.ENODEV, "no such device (it may have been disconnected)"), 6: (errno.EOVERFLOW, "overflow")}
#: libusb_error -> errno
_ERRNO = {-1: errno.EIO, -2: errno.EINVAL, -3: errno.EACCES, -4: errno.ENODEV, -5: errno.ENOENT, -6: errno.EBUSY,
          -7: errno.ETIMEDOUT, -8: errno.EOVERFLOW, -9: errno.EPIPE, -10: errno.EINTR, -11: errno.ENOMEM,
          -12: errno.ENOSYS}
_ERROR_NOT_FOUND, _ERROR_INTERRUPTED, _ERROR_NO_MEM = -5, -10, -11
CANCEL_WAIT_S = 2.0


class _Transfer(ctypes.Structure):
    pass


_Callback = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Transfer))
_Transfer._fields_ = [("dev_handle", ctypes.c_void_p), ("flags", ctypes.c_uint8), ("endpoint", ctypes.c_ubyte),
                      ("type", ctypes.c_ubyte), ("timeout", ctypes.c_uint), ("status", ctypes.c_int),
                      ("length", ctypes.c_int), ("actual_length", ctypes.c_int), ("callback", _Callback),
                      ("user_data", ctypes.c_void_p), ("buffer", ctypes.c_void_p), ("num_iso_packets", ctypes.c_int)]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


def _libusb_error(code: int, what: str) -> usb.core.USBError:
    number = _ERRNO.get(code, errno.EIO)
    return usb.core.USBError(f"{what}: {errno.errorcode.get(number, number)} (libusb {code})", code, number)


@dataclass
class _InFlight:
    transfer: Any  # POINTER(_Transfer)
    completed: ctypes.c_int = field(default_factory=ctypes.c_int)


class _Libusb:
    """The five asynchronous calls, as foreign functions of their own: pyusb's prototypes on the same library
    are left as pyusb set them."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        pointer = ctypes.POINTER(_Transfer)
        self.alloc = ctypes.CFUNCTYPE(pointer, ctypes.c_int)(("libusb_alloc_transfer", lib))
        self.free = ctypes.CFUNCTYPE(None, pointer)(("libusb_free_transfer", lib))
        self.submit = ctypes.CFUNCTYPE(ctypes.c_int, pointer)(("libusb_submit_transfer", lib))
        self.cancel = ctypes.CFUNCTYPE(ctypes.c_int, pointer)(("libusb_cancel_transfer", lib))
        self.handle_events = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_Timeval),
                                              ctypes.POINTER(ctypes.c_int))(
            ("libusb_handle_events_timeout_completed", lib))


class LibusbBulkQueue:
    """Bulk IN transfers through libusb-1.0's asynchronous API (``lib`` the library, ``context`` and ``handle``
    the libusb_context and libusb_device_handle pointers). Events are handled by whoever reaps, with libusb's
    ``completed`` flag, so another thread's synchronous control transfer may complete ours meanwhile."""

    def __init__(self, lib: ctypes.CDLL, context: int | None, handle: int, endpoint: int) -> None:
        self._calls = _Libusb(lib)
        self._context = context
        self._handle = handle
        self.endpoint = endpoint
        self._queued: deque[_InFlight] = deque()
        self._by_address: dict[int, _InFlight] = {}
        self._on_complete = _Callback(self._completed)  # kept alive as long as transfers may call it

    @property
    def pending(self) -> int:
        return len(self._queued)

    def _completed(self, transfer: Any) -> None:
        entry = self._by_address.get(ctypes.addressof(transfer.contents))
        if entry is not None:
            entry.completed.value = 1

    def submit(self, address: int, length: int) -> bool:
        transfer = self._calls.alloc(0)
        if not transfer:
            raise usb.core.USBError("cannot allocate a libusb transfer", _ERROR_NO_MEM, errno.ENOMEM)
        t = transfer.contents
        t.dev_handle, t.flags, t.endpoint, t.type, t.timeout = self._handle, 0, self.endpoint, _TYPE_BULK, 0
        t.length, t.buffer, t.num_iso_packets, t.callback = length, address, 0, self._on_complete
        entry = _InFlight(transfer)
        self._by_address[ctypes.addressof(t)] = entry
        rc = self._calls.submit(transfer)
        if rc < 0:
            del self._by_address[ctypes.addressof(t)]
            self._calls.free(transfer)
            if rc == _ERROR_NO_MEM and self._queued:
                return False  # usbfs' memory limit: this many in flight is what the system allows
            raise _libusb_error(rc, "cannot submit a bulk transfer")
        self._queued.append(entry)
        return True

    def _wait(self, entry: _InFlight, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not entry.completed.value:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            tv = _Timeval(int(left), int((left % 1) * 1e6))
            rc = self._calls.handle_events(self._context, ctypes.byref(tv), ctypes.byref(entry.completed))
            if rc < 0 and rc != _ERROR_INTERRUPTED:
                raise _libusb_error(rc, "libusb event handling failed")
        return True

    def _release(self, entry: _InFlight) -> tuple[int, int]:
        t = entry.transfer.contents
        status, n = t.status, t.actual_length
        del self._by_address[ctypes.addressof(t)]
        self._calls.free(entry.transfer)
        return status, n

    def reap(self, timeout_ms: int) -> int | None:
        entry = self._queued[0]
        if not self._wait(entry, timeout_ms / 1000):
            return None
        self._queued.popleft()
        status, n = self._release(entry)
        if status == _STATUS_COMPLETED:
            return n
        number, text = _STATUS.get(status, (errno.EIO, f"status {status}"))
        raise usb.core.USBError(f"bulk transfer failed: {text} after {n} bytes", None, number)

    def cancel_all(self) -> None:
        for entry in self._queued:
            if not entry.completed.value:
                rc = self._calls.cancel(entry.transfer)
                if rc < 0 and rc != _ERROR_NOT_FOUND:
                    raise _libusb_error(rc, "cannot cancel a bulk transfer")
        deadline = time.monotonic() + CANCEL_WAIT_S
        while self._queued:
            entry = self._queued[0]
            if not self._wait(entry, max(0.0, deadline - time.monotonic())):
                self._queued.clear()  # the endpoint kept them: leaking them is safer than freeing live memory
                raise usb.core.USBError("cancelled transfers did not complete", None, errno.ETIMEDOUT)
            self._queued.popleft()
            self._release(entry)
