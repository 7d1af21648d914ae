"""Find every attached QHY268/QHY600 (real or emulated), boot the ones still in their boot loader, name them.

A camera's stable identifier is ``<model>-<serial>`` (no spaces, so scripts can type it). A boot-loader camera
gets firmware when a firmware directory is given; otherwise discovery says which file it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.core

from . import firmware, protocol
from .errors import DeviceBusyError, FirmwareError, QhyError
from .models import LOADER_PIDS, RUNTIME_PIDS, CameraModel, Family, family_for_pid, resolve_model
from .transport import Transport


@dataclass(frozen=True)
class CameraInfo:
    """One camera found on a bus, in its runtime stage."""

    model: CameraModel
    serial: str
    backend: Any  # the pyusb backend it was found through (None: libusb)

    @property
    def id(self) -> str:
        return f"{self.model.name}-{self.serial}"


def read_status(transport: Transport) -> protocol.Status:
    return protocol.decode_status(transport.control_in(protocol.REQ_STATUS, protocol.STATUS_LEN))


def identify(device: usb.core.Device, backend: Any) -> CameraInfo:
    """Open a runtime-stage device just long enough to read its status block."""
    transport = Transport(device)
    transport.open()
    try:
        status = read_status(transport)
    finally:
        transport.close()
    family = family_for_pid(device.idProduct) or Family.QHY600
    return CameraInfo(resolve_model(family, status.colour, status.variant), status.serial, backend)


def boot_loaders(backend: Any, firmware_dir: Path | None) -> list[str]:
    """Upload firmware to every boot-loader camera, or say what is missing. Returns messages for the user."""
    messages = []
    for device in Transport.find(LOADER_PIDS, backend):
        model = firmware.model_for_loader(device.idProduct)
        where = f"{model.family.value} at bus {device.bus} address {device.address}"
        if firmware_dir is None:
            messages.append(f"{where} is in its boot loader and needs firmware {model.firmware_file}: "
                            "set a firmware directory (INDI_QHY_FIRMWARE_DIR) holding QHY's image")
            continue
        try:
            firmware.load_firmware(device, firmware_dir, backend)
            messages.append(f"{where}: firmware {model.firmware_file} loaded")
        except (FirmwareError, QhyError) as err:
            messages.append(f"{where}: firmware upload failed: {err}")
    return messages


def discover(backends: Sequence[Any] = (None,), firmware_dir: Path | None = None,
             skip: Iterable[str] = ()) -> tuple[list[CameraInfo], list[str]]:
    """All cameras on all ``backends``; ``skip`` lists ids already in use here (they are busy, not missing)."""
    skipped = set(skip)
    found: list[CameraInfo] = []
    messages: list[str] = []
    for backend in backends:
        try:
            messages += boot_loaders(backend, firmware_dir)
            devices = Transport.find(RUNTIME_PIDS, backend)
        except QhyError as err:
            messages.append(f"USB scan failed: {err}")
            continue
        for device in devices:
            try:
                info = identify(device, backend)
            except DeviceBusyError:
                continue  # ours (already open) or another program's
            except QhyError as err:
                messages.append(f"camera at bus {device.bus} address {device.address} did not answer: {err}")
                continue
            if info.id not in skipped:
                found.append(info)
    return found, messages


def find_device(info: CameraInfo) -> usb.core.Device | None:
    """The device carrying ``info``'s serial now (its bus address changes when it re-enumerates)."""
    for device in Transport.find([info.model.runtime_pid], info.backend):
        try:
            if identify(device, info.backend).serial == info.serial:
                return device
        except QhyError:
            continue
    return None
