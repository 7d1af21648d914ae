"""Find every attached QHY268/QHY600 (real or emulated), boot the ones still in their boot loader, name them.

A camera's stable identifier is ``<model>-<serial>`` (no spaces, so scripts can type it). A boot-loader camera
gets firmware when a firmware directory is given; otherwise discovery says which file it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import usb.core

from ..emulator import emulated_backend
from ..errors import DeviceBusyError, FirmwareError, QhyError
from ..models import LOADER_PIDS, RUNTIME_PIDS, CameraModel, Family, family_for_pid, main_model
from . import firmware
from .link import CameraLink
from .transport import Transport


class StandIn(Protocol):
    """What an emulated camera offers its driver beyond USB (real cameras have none)."""

    def set_frame_type(self, frame_type: str) -> None:
        """"light", "dark", "bias" or "flat": what the camera is looking at."""

    def inject(self, fault: str, frames: int = 1, down_s: float = 3.0) -> None:
        """Arm one of the emulator's faults (``indi_qhy_py.emulator.FAULTS``)."""


@dataclass(frozen=True)
class CameraInfo:
    """One camera found on a bus, in its runtime stage."""

    model: CameraModel
    serial: str
    backend: Any  # the pyusb backend it was found through (None: libusb)
    stand_in: StandIn | None = field(default=None, compare=False)  # set for emulated cameras only

    @property
    def id(self) -> str:
        return f"{self.model.name}-{self.serial}"


def identify(device: usb.core.Device, backend: Any) -> CameraInfo:
    """Open a runtime-stage device just long enough to read its serial and colour (the 0xCA answers QHY's SDK
    names a camera from). The family comes from the USB product ID; the variant (PH, L, Pro) is not among the
    answers the SDK was seen to use, so every camera is taken for its family's main version."""
    with CameraLink.open(device) as link:
        serial, colour = link.serial(), link.is_colour()
    family = family_for_pid(device.idProduct) or Family.QHY600
    stand_in = getattr(backend, "stand_in", None)  # an emulator backend offers one per camera
    return CameraInfo(main_model(family, colour), serial, backend,
                      stand_in(serial) if stand_in is not None else None)


def backends(emulate: str = "", rate_limit: bool = True) -> list[Any]:
    """The buses to search: libusb, plus emulated cameras of the models in ``emulate`` ("QHY600M,QHY268C").

    KeyError names a model that does not exist.
    """
    return [None, emulated_backend(emulate, rate_limit)] if emulate.strip() else [None]


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
