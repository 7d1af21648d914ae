"""USB transport over pyusb: find QHY cameras, control transfers on EP0, bulk reads from EP 0x81.

Knows nothing of what the bytes mean (that is ``protocol``). It turns pyusb's errors into the project's own
types, keeping errno and cause, and reads frames straight into the caller's preallocated buffer: chunk by chunk,
so no transfer exceeds Linux's usbfs memory limit, progress can be reported and a read can be cancelled between
chunks, and with no allocation or copy per transfer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import usb.backend.libusb1
import usb.core
import usb.util

from .. import protocol
from ..errors import UsbError, UsbTimeoutError
from .bulk_queue import BufferWindow, BulkQueue, LibusbBulkQueue, SyncBulkQueue
from .error_mapping import ReadCancelled, wrap_usb_error
from .frame_pipeline import FramePipeline

__all__ = ["BULK_CHUNK", "ReadCancelled", "Transport", "wrap_usb_error"]

#: Bytes per bulk transfer. 4 MiB stays well inside usbfs' default 16 MB limit and keeps abort latency short.
BULK_CHUNK = 4 * 1024 * 1024
CONTROL_TIMEOUT_MS = 1000


class Transport:
    """One opened QHY camera on the bus."""

    def __init__(self, device: usb.core.Device) -> None:
        self.device = device
        self._window = BufferWindow()
        self._control_lock = threading.Lock()
        self._opened = False

    # --- discovery ---------------------------------------------------------------------------------------------
    @staticmethod
    def find(product_ids: Iterable[int], backend: Any = None) -> list[usb.core.Device]:
        """All devices with vendor 0x1618 and one of ``product_ids``, in bus order."""
        wanted = frozenset(product_ids)
        try:
            found = usb.core.find(
                find_all=True,
                backend=backend,
                custom_match=lambda d: d.idVendor == protocol.VENDOR_ID and d.idProduct in wanted,
            )
            return sorted(found, key=lambda d: (d.bus or 0, d.address or 0))
        except usb.core.NoBackendError as err:
            raise UsbError("no libusb backend: install libusb-1.0-0") from err
        except usb.core.USBError as err:
            raise wrap_usb_error(err, "USB enumeration failed") from err

    @property
    def location(self) -> str:
        return f"bus {self.device.bus} address {self.device.address}"

    # --- open / close ------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Configure the device and claim its vendor interface."""
        try:
            try:
                if self.device.is_kernel_driver_active(protocol.INTERFACE):
                    self.device.detach_kernel_driver(protocol.INTERFACE)
            except (NotImplementedError, usb.core.USBError):
                pass  # not supported on this platform/backend, or no kernel driver bound
            self.device.set_configuration()
            usb.util.claim_interface(self.device, protocol.INTERFACE)
        except usb.core.USBError as err:
            raise wrap_usb_error(err, f"cannot open camera at {self.location}") from err
        self._opened = True

    def close(self) -> None:
        """Release the interface and the handle; never raises (the device may already be gone)."""
        with contextlib.suppress(usb.core.USBError, ValueError):
            usb.util.release_interface(self.device, protocol.INTERFACE)
        with contextlib.suppress(usb.core.USBError):
            usb.util.dispose_resources(self.device)
        self._opened = False

    # --- control transfers ------------------------------------------------------------------------------------
    def control_out(self, request: int, data: bytes = b"", value: int = 0, index: int = 0,
                    timeout_ms: int = CONTROL_TIMEOUT_MS) -> int:
        with self._control_lock:
            try:
                return int(self.device.ctrl_transfer(protocol.REQUEST_TYPE_OUT, request, value, index, data,
                                                     timeout_ms))
            except usb.core.USBError as err:
                raise wrap_usb_error(err, f"control write 0x{request:02X} to {self.location} failed") from err

    def control_in(self, request: int, length: int, value: int = 0, index: int = 0,
                   timeout_ms: int = CONTROL_TIMEOUT_MS) -> bytes:
        with self._control_lock:
            try:
                data = self.device.ctrl_transfer(protocol.REQUEST_TYPE_IN, request, value, index, length, timeout_ms)
            except usb.core.USBError as err:
                raise wrap_usb_error(err, f"control read 0x{request:02X} from {self.location} failed") from err
        return bytes(data)

    # --- bulk ----------------------------------------------------------------------------------------------------
    def read_frame(self, buffer: np.ndarray, nbytes: int, timeout_ms: int,
                   cancel: threading.Event | None = None,
                   progress: Callable[[int], None] | None = None,
                   chunk: int = BULK_CHUNK) -> int:
        """Read up to ``nbytes`` from EP 0x81 into ``buffer`` (C-contiguous uint8); return the bytes received.

        Stops early, without error, on a short transfer (the device ended the frame). ``timeout_ms`` applies to
        each chunk. Raises ReadCancelled when ``cancel`` is set, and the project's UsbError types otherwise.
        """
        if buffer.dtype != np.uint8 or not buffer.flags.c_contiguous or buffer.size < nbytes:
            raise ValueError(f"read buffer must be C-contiguous uint8 of at least {nbytes} bytes")
        base = buffer.ctypes.data
        got = 0
        while got < nbytes:
            if cancel is not None and cancel.is_set():
                raise ReadCancelled(f"read cancelled after {got} of {nbytes} bytes")
            want = min(chunk, nbytes - got)
            self._window.point(base + got, want)
            try:
                n = int(self.device.read(protocol.BULK_IN_ENDPOINT, self._window, timeout_ms))
            except usb.core.USBError as err:
                raise wrap_usb_error(err, f"bulk read from {self.location} failed after {got} of {nbytes} bytes") \
                    from err
            got += n
            if progress is not None:
                progress(got)
            if n < want:
                break
        return got

    def frame_pipeline(self, frame_len: int) -> FramePipeline:
        """Frames of ``frame_len`` bytes back to back from EP 0x81, transfers queued ahead (``frame_pipeline``)."""
        return FramePipeline(self._bulk_queue(), frame_len, self.location)

    def _bulk_queue(self) -> BulkQueue:
        """Queued transfers as the backend offers them: its own, libusb-1.0's asynchronous API, or plain reads."""
        resources = self.device._ctx  # pyusb's resource manager: the backend and the open handle (no public API)
        try:
            handle = resources.managed_open()
        except usb.core.USBError as err:
            raise wrap_usb_error(err, f"cannot open {self.location}") from err
        backend = resources.backend
        if hasattr(backend, "open_bulk_queue"):
            return backend.open_bulk_queue(handle, protocol.BULK_IN_ENDPOINT)  # type: ignore[no-any-return]
        if isinstance(backend, usb.backend.libusb1._LibUSB):
            return LibusbBulkQueue(backend.lib, backend.ctx, handle.handle, protocol.BULK_IN_ENDPOINT)
        return SyncBulkQueue(self.device, protocol.BULK_IN_ENDPOINT)

    def drain(self, timeout_ms: int = 50, limit: int = 1 << 30) -> int:
        """Read and discard whatever the device still has queued; return how many bytes that was."""
        scratch = np.empty(BULK_CHUNK, dtype=np.uint8)
        total = 0
        while total < limit:
            try:
                n = self.read_frame(scratch, BULK_CHUNK, timeout_ms)
            except UsbTimeoutError:
                break
            total += n
            if n == 0:
                break
        return total
