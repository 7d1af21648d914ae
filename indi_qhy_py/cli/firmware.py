"""``indi_qhy_py_firmware``: upload QHY's firmware to cameras in their boot loader (run by the udev rule).

The firmware directory comes from ``--firmware-dir``, else ``INDI_QHY_FIRMWARE_DIR``, else that line in
``/etc/default/indi-qhy-py``. With none configured it says so and exits 0: the camera simply stays in its boot
loader, as without this project. ``--bus``/``--address`` pick the one device udev saw; without them every
boot-loader camera is booted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import QhyError
from ..models import LOADER_PIDS
from ..usb import firmware
from ..usb.transport import Transport

DEFAULTS_FILE = Path("/etc/default/indi-qhy-py")
KEY = "INDI_QHY_FIRMWARE_DIR"


def configured_directory(explicit: Path | None, defaults: Path = DEFAULTS_FILE) -> Path | None:
    if explicit is not None:
        return explicit
    if os.environ.get(KEY):
        return Path(os.environ[KEY])
    try:
        lines = defaults.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == KEY and value.strip().strip("'\""):
            return Path(value.strip().strip("'\""))
    return None


def boot(directory: Path, bus: int | None, address: int | None, backend: Any = None) -> tuple[int, list[str]]:
    """Boot the matching loader-stage cameras; (failures, messages)."""
    failures, messages = 0, []
    for device in Transport.find(LOADER_PIDS, backend):
        if (bus is not None and device.bus != bus) or (address is not None and device.address != address):
            continue
        where = f"bus {device.bus} address {device.address}"
        try:
            runtime = firmware.load_firmware(device, directory, backend)
            messages.append(f"{where}: firmware loaded; the camera is now bus {runtime.bus} address "
                            f"{runtime.address}")
        except QhyError as err:
            failures += 1
            messages.append(f"{where}: firmware upload failed: {err}")
    if not messages:
        messages.append("no QHY268/QHY600 boot-loader camera found" + (f" at bus {bus} address {address}"
                                                                        if bus is not None else ""))
    return failures, messages


def main(argv: list[str] | None = None, backend: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firmware-dir", type=Path)
    parser.add_argument("--bus", type=int)
    parser.add_argument("--address", type=int)
    args = parser.parse_args(argv)
    directory = configured_directory(args.firmware_dir)
    if directory is None:
        print(f"no firmware directory configured ({KEY} in {DEFAULTS_FILE}): the camera stays in its boot loader")
        return 0
    failures, messages = boot(directory, args.bus, args.address, backend)
    for message in messages:
        print(message, file=sys.stderr if failures else sys.stdout)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
