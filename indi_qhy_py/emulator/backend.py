"""A pyusb backend (``usb.backend.IBackend``) that presents emulated cameras as USB devices.

``usb.core.find(backend=EmulatorBackend([...]))`` finds them, and the project's real transport, firmware loader
and protocol code run unchanged on top. Errors come out as pyusb raises them for libusb-1.0 (same error codes
and errno values), so the transport's error mapping is exercised exactly as on hardware.
"""

from __future__ import annotations

import errno
import functools
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from .. import protocol
from .control import Stall
from .device import DeviceAbsent, EmulatedCamera, StreamTimeout
from .queued_transfers import EmulatedBulkQueue
from .stand_in import StandIn

log = logging.getLogger(__name__)

# libusb-1.0 error codes, as pyusb's libusb1 backend reports them
_LIBUSB_ERROR_NO_DEVICE = -4
_LIBUSB_ERROR_BUSY = -6
_LIBUSB_ERROR_TIMEOUT = -7
_LIBUSB_ERROR_PIPE = -9
_SPEED_SUPER = 4  # libusb_speed: LIBUSB_SPEED_SUPER

# USB 2.0/3.x chapter 9: descriptor types, standard requests, bmRequestType fields
DT_DEVICE, DT_CONFIG, DT_STRING, DT_INTERFACE, DT_ENDPOINT = 1, 2, 3, 4, 5
REQ_GET_DESCRIPTOR = 0x06
TYPE_MASK, TYPE_STANDARD = 0x60, 0x00
DIR_IN = 0x80
CONFIG_BUS_POWERED = 0x80  # bmAttributes: bit 7 is always set
EP_BULK = 0x02
CLASS_VENDOR = 0xFF
LANGID_EN_US = b"\x09\x04"
DESCRIPTOR_LEN = {DT_DEVICE: 18, DT_CONFIG: 9, DT_INTERFACE: 9, DT_ENDPOINT: 7}


@dataclass
class _Descriptor:
    """Plain attribute bag; pyusb copies the fields it knows."""

    fields: dict[str, Any]
    extra_descriptors: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError as err:
            raise AttributeError(name) from err


@dataclass(frozen=True)
class _DeviceRef:
    camera: EmulatedCamera
    generation: int
    address: int


@dataclass
class _Handle:
    ref: _DeviceRef
    claimed: set[int] = field(default_factory=set)


def _gone(err: Exception) -> usb.core.USBError:
    return usb.core.USBError(f"No such device (it may have been disconnected): {err}", _LIBUSB_ERROR_NO_DEVICE,
                             errno.ENODEV)


class EmulatorBackend(usb.backend.IBackend):  # type: ignore[misc]
    """Emulated cameras on one virtual bus."""

    BUS = 1

    def __init__(self, cameras: Iterable[EmulatedCamera] = ()) -> None:
        super().__init__()
        self.cameras: list[EmulatedCamera] = list(cameras)
        self._claims: dict[int, _Handle] = {}  # id(camera) -> handle holding interface 0
        self._lock = threading.Lock()

    def add(self, camera: EmulatedCamera) -> EmulatedCamera:
        self.cameras.append(camera)
        return camera

    def stand_in(self, serial: str) -> StandIn | None:
        """The scene and fault controls of the camera with ``serial`` (discovery hands them on)."""
        return next((c.stand_in for c in self.cameras if c.serial == serial), None)

    # --- enumeration and descriptors ----------------------------------------------------------------------------
    def enumerate_devices(self) -> Iterator[_DeviceRef]:
        for camera in list(self.cameras):
            if camera.present():
                yield _DeviceRef(camera, camera.generation, camera.address)

    def get_device_descriptor(self, dev: _DeviceRef) -> _Descriptor:
        cam = dev.camera
        return _Descriptor({
            "bLength": DESCRIPTOR_LEN[DT_DEVICE], "bDescriptorType": DT_DEVICE, "bcdUSB": 0x0300, "bDeviceClass": 0,
            "bDeviceSubClass": 0,
            "bDeviceProtocol": 0, "bMaxPacketSize0": 9, "idVendor": protocol.VENDOR_ID,
            "idProduct": cam.model.loader_pid if cam.in_loader else cam.model.runtime_pid,
            "bcdDevice": 0x0100, "iManufacturer": 1, "iProduct": 2, "iSerialNumber": 3, "bNumConfigurations": 1,
            "address": dev.address, "bus": self.BUS, "port_number": 1 + self.cameras.index(cam),
            "port_numbers": (1 + self.cameras.index(cam),), "speed": _SPEED_SUPER,
        })

    def get_configuration_descriptor(self, dev: _DeviceRef, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError(config)
        total = DESCRIPTOR_LEN[DT_CONFIG] + DESCRIPTOR_LEN[DT_INTERFACE] + 2 * DESCRIPTOR_LEN[DT_ENDPOINT]
        return _Descriptor({"bLength": DESCRIPTOR_LEN[DT_CONFIG], "bDescriptorType": DT_CONFIG, "wTotalLength": total,
                            "bNumInterfaces": 1, "bConfigurationValue": 1, "iConfiguration": 0,
                            "bmAttributes": CONFIG_BUS_POWERED, "bMaxPower": 50})

    def get_interface_descriptor(self, dev: _DeviceRef, intf: int, alt: int, config: int) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(intf)
        return _Descriptor({"bLength": DESCRIPTOR_LEN[DT_INTERFACE], "bDescriptorType": DT_INTERFACE,
                            "bInterfaceNumber": 0, "bAlternateSetting": 0,
                            "bNumEndpoints": 0 if dev.camera.in_loader else 1, "bInterfaceClass": CLASS_VENDOR,
                            "bInterfaceSubClass": 0, "bInterfaceProtocol": 0, "iInterface": 0})

    def get_endpoint_descriptor(self, dev: _DeviceRef, ep: int, intf: int, alt: int, config: int) -> _Descriptor:
        if ep != 0 or dev.camera.in_loader:
            raise IndexError(ep)
        return _Descriptor({"bLength": DESCRIPTOR_LEN[DT_ENDPOINT], "bDescriptorType": DT_ENDPOINT,
                            "bEndpointAddress": protocol.BULK_IN_ENDPOINT, "bmAttributes": EP_BULK,
                            "wMaxPacketSize": protocol.MAX_PACKET_SUPERSPEED, "bInterval": 0,
                            "bRefresh": 0, "bSynchAddress": 0})

    def _strings(self, cam: EmulatedCamera) -> dict[int, str]:
        product = f"{cam.model.family.value}-BOOT" if cam.in_loader else f"{cam.model.name}-EMULATED"
        return {1: "QHYCCD (emulated)", 2: product, 3: cam.serial}

    # --- handles -----------------------------------------------------------------------------------------------------
    def _check(self, handle: _Handle) -> EmulatedCamera:
        cam = handle.ref.camera
        try:
            cam.check(handle.ref.generation)
        except DeviceAbsent as err:
            raise _gone(err) from err
        return cam

    def open_device(self, dev: _DeviceRef) -> _Handle:
        handle = _Handle(dev)
        self._check(handle)
        return handle

    def close_device(self, dev_handle: _Handle) -> None:
        with self._lock:
            if self._claims.get(id(dev_handle.ref.camera)) is dev_handle:
                del self._claims[id(dev_handle.ref.camera)]

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._check(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._check(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._check(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        cam = self._check(dev_handle)
        with self._lock:
            owner = self._claims.get(id(cam))
            if owner is not None and owner is not dev_handle and owner.ref.generation == cam.generation:
                raise usb.core.USBError("Resource busy", _LIBUSB_ERROR_BUSY, errno.EBUSY)
            self._claims[id(cam)] = dev_handle
            dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        self.close_device(dev_handle)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        return None

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._check(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        self._check(dev_handle)

    # --- transfers -----------------------------------------------------------------------------------------------
    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        address, length = buff.buffer_info()
        return self._serve_bulk(dev_handle, ep, address, length * buff.itemsize, timeout)

    def open_bulk_queue(self, dev_handle: _Handle, ep: int) -> EmulatedBulkQueue:
        """Queued transfers on ``ep``, as libusb's asynchronous API gives them (the transport asks for this)."""
        return EmulatedBulkQueue(functools.partial(self._serve_bulk, dev_handle, ep), dev_handle.ref.camera.link)

    def _serve_bulk(self, dev_handle: _Handle, ep: int, address: int, nbytes: int, timeout: int,
                    queued_at: float | None = None) -> int:
        cam = dev_handle.ref.camera
        try:
            n = cam.bulk_read(dev_handle.ref.generation, ep, address, nbytes, timeout, queued_at)
            log.debug("%s bulk IN 0x%02X: %d of %d bytes", cam.serial, ep, n, nbytes)
            return n
        except DeviceAbsent as err:
            raise _gone(err) from err
        except StreamTimeout as err:
            raise usb.core.USBTimeoutError("Operation timed out", _LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT) from err
        except Stall as err:
            raise usb.core.USBError(f"Pipe error: {err}", _LIBUSB_ERROR_PIPE, errno.EPIPE) from err

    def ctrl_transfer(self, dev_handle: _Handle, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: Any, timeout: int) -> int:
        cam = dev_handle.ref.camera
        generation = dev_handle.ref.generation
        try:
            if bmRequestType & TYPE_MASK == TYPE_STANDARD and bRequest == REQ_GET_DESCRIPTOR:
                reply = self._get_descriptor(cam, generation, wValue)
            elif bmRequestType & DIR_IN:
                reply = cam.control_in(generation, bRequest, wValue, wIndex, len(data) * data.itemsize)
            else:
                log.debug("%s control OUT 0x%02X value 0x%04X index 0x%04X: %s", cam.serial, bRequest, wValue,
                          wIndex, data.tobytes().hex())
                return cam.control_out(generation, bRequest, wValue, wIndex, data.tobytes())
        except DeviceAbsent as err:
            raise _gone(err) from err
        except Stall as err:
            raise usb.core.USBError(f"Pipe error: {err}", _LIBUSB_ERROR_PIPE, errno.EPIPE) from err
        n = min(len(reply), len(data) * data.itemsize)
        data[:n] = type(data)(data.typecode, reply[:n])
        log.debug("%s control IN 0x%02X value 0x%04X index 0x%04X: %s", cam.serial, bRequest, wValue, wIndex,
                  bytes(reply[:n]).hex())
        return n

    def _get_descriptor(self, cam: EmulatedCamera, generation: int, wValue: int) -> bytes:
        cam.check(generation)
        kind, index = wValue >> 8, wValue & 0xFF
        if kind != DT_STRING:
            raise Stall(f"descriptor type {kind} is read through the backend, not EP0")
        if index == 0:
            return bytes([2 + len(LANGID_EN_US), DT_STRING]) + LANGID_EN_US
        text = self._strings(cam).get(index)
        if text is None:
            raise Stall(f"no string descriptor {index}")
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), DT_STRING]) + encoded
