"""The project's exceptions for pyusb's errors: one place that reads an errno, for the transport and the frame
pipeline alike."""

from __future__ import annotations

import errno

import usb.core

from ..errors import DeviceBusyError, DeviceGoneError, PermissionDeniedError, UsbError, UsbTimeoutError, errno_name

_GONE_ERRNOS = {errno.ENODEV, errno.ENOENT, errno.ESHUTDOWN, errno.EPROTO}


def wrap_usb_error(err: usb.core.USBError, what: str) -> UsbError:
    """The project's exception for a pyusb error; the caller raises it ``from err``."""
    number = err.errno
    if isinstance(err, usb.core.USBTimeoutError) or number == errno.ETIMEDOUT:
        cls: type[UsbError] = UsbTimeoutError
    elif number in _GONE_ERRNOS:
        cls = DeviceGoneError
    elif number == errno.EBUSY:
        cls = DeviceBusyError
    elif number == errno.EACCES:
        cls = PermissionDeniedError
    else:
        cls = UsbError
    return cls(f"{what}: {err.strerror or err} ({errno_name(number)})", number)


class ReadCancelled(Exception):
    """Raised by ``Transport.read_frame`` and ``FramePipeline.next_frame`` when the cancel event was set between
    transfers."""
