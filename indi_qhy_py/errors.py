"""The project's exception types.

Callers must tell apart "the camera is busy" (another program holds it), "the camera is gone" (unplugged or
12 V power cycled) and "the camera did not answer in time", because each has a different recovery. Every
USB-level error keeps the errno it came with and is raised ``from`` the original pyusb exception.
"""

from __future__ import annotations

import errno as _errno


class QhyError(Exception):
    """Base of every error this package raises on purpose."""


class UsbError(QhyError):
    """A USB transfer failed; ``errno`` is the operating-system error number when one was given."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class DeviceBusyError(UsbError):
    """The device or its interface is claimed by another process (EBUSY)."""


class DeviceGoneError(UsbError):
    """The device vanished: unplugged, power cycled, or re-enumerating (ENODEV)."""


class UsbTimeoutError(UsbError):
    """The device did not complete a transfer within the timeout (ETIMEDOUT)."""


class PermissionDeniedError(UsbError):
    """The process may not open the device (EACCES): the udev rules are missing or the user is not in plugdev."""


class ProtocolError(QhyError):
    """Bytes that do not fit the protocol (a block too long for its command, a frame of no bit depth it has)."""


class FirmwareError(QhyError):
    """A firmware image is malformed, or uploading it failed."""


class CameraBusyError(QhyError):
    """The request needs the camera idle (an exposure or download is running)."""


class ExposureFailed(QhyError):
    """The exposure produced no usable frame; the message says why."""


class ExposureAborted(QhyError):
    """The exposure was aborted on request."""


class UnsupportedError(QhyError):
    """The request is valid in general but not for this model (e.g. humidity on a QHY268C)."""


def errno_name(number: int | None) -> str:
    """Symbolic name of an errno value for messages, e.g. ``ENODEV``."""
    if number is None:
        return "no errno"
    return _errno.errorcode.get(number, str(number))
