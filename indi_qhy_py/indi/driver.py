"""The driver process indiserver starts (``indi_qhy_py_ccd``): INDI on stdin/stdout for every attached camera.

The main thread is the message loop: it reads stdin, splits the stream into messages and dispatches each at once.
Every camera is its own INDI device named ``<model>-<serial>`` (or ``QHY <nickname>``, see ``nicknames``). Cameras
plugged in (or power-cycled into a new address) later are found by a periodic rescan, so indiserver never needs a
restart for them; a camera unplugged while no client has it connected leaves with its device, as INDI 2.x's hot-plug
drivers do (a connected one stays, and is reconnected when it returns).

One driver serves every camera (``mdpd`` in the driver XML). indiserver's ``stop <driver> -n <name>`` (what KStars
and INDI Web Manager send) stops only a driver that has spoken as device ``<name>``, so the driver speaks once as
the name it was started under (``INDIDEV``) when no device of that name exists.

Environment: ``INDI_QHY_EMULATE=QHY600M,QHY268C`` serves emulated cameras as well; ``INDI_QHY_EMULATE_RATE=off``
lets them stream as fast as the host can (for benchmarks); ``INDI_QHY_FIRMWARE_DIR`` is where QHY's firmware images
are for cameras still in their boot loader; ``INDI_QHY_RESCAN_S`` is the hot-plug scan interval (0: off);
``INDI_QHY_CONFIG_DIR`` replaces ``~/.indi`` for saved settings; ``INDI_QHY_UPLOAD_ROOT`` is the directory
frames saved on this machine must stay under.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import stat
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..camera import Camera
from ..usb.discovery import CameraInfo, discover
from ..usb.discovery import backends as discovery_backends
from . import nicknames
from .ccd import QhyCcd
from .ccd_properties import DRIVER_EXEC
from .device import Device
from .placeholder import DEFAULT_NAME, Placeholder
from .properties import message_xml
from .wire import TOP_LEVEL_TAGS, MessageSplitter, WireError, Writer

ENV_EMULATE = "INDI_QHY_EMULATE"
ENV_EMULATE_RATE = "INDI_QHY_EMULATE_RATE"
ENV_FIRMWARE = "INDI_QHY_FIRMWARE_DIR"
ENV_RESCAN = "INDI_QHY_RESCAN_S"
ENV_SHARED = "INDI_QHY_SHARED_BLOBS"
_NEW_TAGS = {t for t in TOP_LEVEL_TAGS if t.startswith("new")}  # a client's request to one of our devices
_SNOOPED_TAGS = {t for t in TOP_LEVEL_TAGS if t.startswith(("def", "set", "del", "message"))}  # another driver's


class Driver:
    """The message loop and the set of devices."""

    def __init__(self, writer: Writer, backends: Sequence[Any] = (None,), firmware_dir: Path | None = None,
                 rescan_s: float = 5.0, placeholder_name: str = DEFAULT_NAME) -> None:
        self.writer = writer
        self.backends = list(backends)
        self.firmware_dir = firmware_dir
        self.rescan_s = rescan_s
        self.placeholder_name = placeholder_name
        self.devices: dict[str, Device] = {}  # by device name: cameras, placeholders, cameras' filter wheels
        self._served: set[str] = set()  # ids (<model>-<serial>) of the cameras behind the devices
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._announced = False  # indiserver has asked for properties: new devices define themselves at once
        self.nicknames: dict[str, str] = {}  # camera id -> nickname, read once at start (names cannot change)

    def message(self, text: str, device: str | None = None) -> None:
        self.writer.send(message_xml(text, device))

    # --- devices ----------------------------------------------------------------------------------------------
    def load_nicknames(self) -> None:
        try:
            self.nicknames = nicknames.load()
        except nicknames.NicknameError as err:
            self.message(f"[WARNING] nicknames not used: {err}")

    def scan(self) -> None:
        """Serve every camera not yet served, forget unplugged ones no client uses; with none at all, define the
        placeholder KStars asked for."""
        infos, notes = discover(self.backends, self.firmware_dir)  # cameras in use here are busy: not listed
        self._forget_unplugged({info.id for info in infos})
        for note in notes:
            self.message(f"[WARNING] {note}")
        for info in infos:
            if info.id in self._served:
                continue
            placeholder = self.devices.get(self.placeholder_name)
            if isinstance(placeholder, Placeholder):  # a camera plugged in since: it takes the name KStars knows
                self._attach(placeholder, info)
                continue
            with self._lock:
                if info.id in self._served:
                    continue
                name = self._name_for(info)
                self._add(QhyCcd(Camera(info, firmware_dir=self.firmware_dir), self.writer, stand_in=info.stand_in,
                                 name=name, nickname=self.nicknames.get(info.id, "")), info.id)
            kind = "emulated" if info.stand_in is not None else "attached"
            self.message(f"[INFO] {kind} camera {info.id} is available as device {name}", name)
        if not self.devices:
            with self._lock:
                self._add(Placeholder(self.placeholder_name, self.writer, self._attach_from_placeholder), None)

    def _name_for(self, info: CameraInfo) -> str:
        """``QHY <nickname>`` when the user gave the camera one (and no other device has that name), else its id."""
        nickname = self.nicknames.get(info.id)
        if nickname:
            name = nicknames.device_name(nickname)
            if name not in self.devices:
                return name
            self.message(f"[WARNING] {info.id}: its nickname would name it {name!r}, which another device has; "
                         f"named {info.id} instead")
        return info.id

    def _forget_unplugged(self, present: set[str]) -> None:
        """A camera gone from the bus while no client has it connected goes with its device (INDI 2.x hot-plug):
        clients see it leave, and it returns as new when plugged in again. ``present``: the ids found now."""
        with self._lock:
            gone = [d for d in self.devices.values() if isinstance(d, QhyCcd) and d.release is None
                    and d.camera.state == "disconnected" and d.camera.id not in present]
        for device in gone:
            with self._lock:
                if self.devices.get(device.name) is not device or device.camera.state != "disconnected":
                    continue
                self.devices.pop(device.name)
                self._served.discard(device.camera.id)
            device.close()  # outside the lock: closing may unregister a companion device, which takes it
            device.remove()
            self.message(f"[INFO] camera {device.camera.id} was unplugged: device {device.name} removed")

    def announce_label(self) -> None:
        """Speak once as the name indiserver started us under, unless a device of that name exists: indiserver
        then knows this driver by it, and ``stop indi_qhy_py_ccd -n "<name>"`` stops it."""
        with self._lock:
            if self.placeholder_name in self.devices:
                return
            served = ", ".join(self.devices) or "no camera yet"
        self.message(f"[INFO] {DRIVER_EXEC} started as '{self.placeholder_name}' serves: {served}",
                     self.placeholder_name)

    def _add(self, device: QhyCcd | Placeholder, camera_id: str | None) -> None:
        """Registered before its definitions go out (a client may answer them at once), under the lock, so a
        getProperties sees the device whole or not at all."""
        self.devices[device.name] = device
        if camera_id is not None:
            self._served.add(camera_id)
        if isinstance(device, QhyCcd):
            device.on_companion, device.on_companion_gone = self._add_companion, self._remove_companion
            device.names_in_use = lambda: set(self.devices)
        device.start(announce=self._announced)

    def _add_companion(self, device: Device) -> None:
        """A device a camera brings with it (the filter wheel on its port), registered before it defines itself."""
        with self._lock:
            self.devices[device.name] = device

    def _remove_companion(self, name: str) -> None:
        with self._lock:
            self.devices.pop(name, None)

    def _attach_from_placeholder(self, placeholder: Placeholder, model: str | None) -> str | None:
        """CONNECT on the placeholder: an emulated ``model``, or a camera attached since. A problem, or None."""
        if model is not None:
            infos, _ = discover(discovery_backends(model)[1:])
        else:
            infos, _ = discover(self.backends, self.firmware_dir, skip=self._served)
        if not infos:
            return ("no QHY268/QHY600 camera is attached; turn SIMULATION on (model in SIMULATE_MODEL) to connect "
                    "an emulated one")
        self._attach(placeholder, infos[0], connect=True)
        return None

    def _attach(self, placeholder: Placeholder, info: CameraInfo, connect: bool = False) -> None:
        name = placeholder.name
        camera = Camera(info, firmware_dir=self.firmware_dir)
        device = QhyCcd(camera, self.writer, stand_in=info.stand_in, name=name,
                        release=lambda: self._release(name, info.id), nickname=self.nicknames.get(info.id, ""))
        with self._lock:
            placeholder.delete(["SIMULATE_MODEL"])  # the camera's own properties replace the rest
            self._add(device, info.id)
        kind = "an emulated" if info.stand_in is not None else "the attached"
        device.log("INFO", f"{name} is {kind} {info.id}")
        if connect:
            request = ET.Element("newSwitchVector", {"device": name, "name": "CONNECTION"})
            ET.SubElement(request, "oneSwitch", {"name": "CONNECT"}).text = "On"
            device.handle_new(request)

    def _release(self, name: str, camera_id: str) -> None:
        """A camera behind the placeholder's name gives it back (SIMULATION turned off while disconnected)."""
        with self._lock:
            device = self.devices.pop(name, None)
            self._served.discard(camera_id)
            if device is not None:
                device.close()
            self._add(Placeholder(name, self.writer, self._attach_from_placeholder), None)

    def _rescan_loop(self) -> None:
        while not self._stop.wait(self.rescan_s):
            try:
                self.scan()
            except Exception as err:  # the scan must never take the driver down
                self.message(f"[ERROR] camera scan failed: {err!r}")

    # --- the message loop ---------------------------------------------------------------------------------------
    def dispatch(self, item: ET.Element | WireError) -> None:
        if isinstance(item, WireError):
            self.message(f"[ERROR] ignored input: {item.text} (starts {item.sample!r})")
            return
        tag, device_name = item.tag, item.get("device")
        if tag == "getProperties":
            self._get_properties(device_name, item.get("name"))
        elif tag in _NEW_TAGS:
            device = self.devices.get(device_name or "")
            if device is None:
                self.message(f"[ERROR] {tag} for unknown device {device_name!r}; devices here: "
                             f"{', '.join(self.devices) or 'none'}")
            else:
                device.handle_new(item)
        elif tag in _SNOOPED_TAGS:
            for device in list(self.devices.values()):
                device.snoop(item)
        elif tag == "pingRequest":
            self.writer.send(ET.Element("pingReply", {"uid": item.get("uid", "")}))
        # enableBLOB and pingReply: indiserver handles BLOB routing itself; nothing to do

    def _get_properties(self, device_name: str | None, name: str | None) -> None:
        if device_name is None:
            with self._lock:
                self._announced = True
                for device in self.devices.values():
                    device.get_properties(name)
            return
        device = self.devices.get(device_name)
        if device is None:
            return  # another driver's device (indiserver forwards some requests to everyone)
        if not device.get_properties(name):
            self.message(f"[ERROR] getProperties: {device_name} has no property {name!r}", device_name)

    def serve(self, fd: int) -> int:
        """Run until stdin closes (indiserver stopped or dropped us)."""
        self.load_nicknames()
        self.scan()
        self.announce_label()
        if self.rescan_s > 0:
            threading.Thread(target=self._rescan_loop, name="rescan", daemon=True).start()
        splitter = MessageSplitter()
        try:
            while True:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                for item in splitter.feed(data):
                    try:
                        self.dispatch(item)
                    except Exception as err:  # the loop itself must survive anything
                        self.message(f"[ERROR] internal error on {getattr(item, 'tag', 'input')}: {err!r}")
        finally:
            self.close()
        return 0

    def close(self) -> None:
        self._stop.set()
        for device in list(self.devices.values()):
            with contextlib.suppress(Exception):  # shutting down: one stuck camera must not keep others open
                device.close()
        self.writer.close()


def shared_memory_channel(fd: int) -> socket.socket | None:
    """Our stdout as a Unix socket when indiserver gave us one (it then accepts BLOBs as shared memory).

    ``INDI_QHY_SHARED_BLOBS=0`` turns this off (BLOBs then go inline as base64, as through a pipe).
    """
    if os.environ.get(ENV_SHARED, "1") == "0" or not stat.S_ISSOCK(os.fstat(fd).st_mode):
        return None
    channel = socket.socket(fileno=os.dup(fd))
    if channel.family != socket.AF_UNIX:
        channel.close()
        return None
    return channel


USAGE_ENVIRONMENT = """\
indi_qhy_py_ccd is an INDI driver: indiserver starts it and speaks INDI XML on its stdin and stdout, e.g.
    indiserver -m 1024 indi_qhy_py_ccd
Every attached QHY268/QHY600 becomes a device named <model>-<serial>. With none attached, it defines one device
named as indiserver's -n asks (INDIDEV; default "QHY CCD (Python)"): turn its SIMULATION on and connect for an
emulated camera, or plug a camera in.

environment:
  INDI_QHY_EMULATE=QHY600M,QHY268C  also serve emulated cameras of these models (QHY600M+CFW: with a 7-slot
                                    filter wheel on its port; +CFW5, +CFW9: other sizes; QHY268C@30: plugged
                                    in 30 s after the start, to rehearse hot-plug)
  INDI_QHY_EMULATE_RATE=off         emulated cameras stream as fast as the host can (default: their rated speed)
  INDI_QHY_FIRMWARE_DIR=DIR         QHY's firmware images (QHY600.img, QHY268.img) for boot-loader cameras
  INDI_QHY_RESCAN_S=5               seconds between scans for cameras plugged in later (0: no rescans)
  INDI_QHY_CONFIG_DIR=DIR           where saved settings and Nicknames.xml go (default ~/.indi)
  INDI_QHY_UPLOAD_ROOT=DIR          the only directory tree frames saved locally may go to
                                    (default: the service's state directory, else ~/indi_qhy_py)
  INDI_QHY_LOG_DIR=DIR              where LOG_OUTPUT's file goes (default: the config directory)
  INDI_QHY_SHARED_BLOBS=0           send BLOBs inline even when indiserver could take them as shared memory
  INDIDEV=NAME                      the name for the device defined when no camera is attached (set by -n)
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="indi_qhy_py_ccd", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="INDI driver for QHYCCD QHY268 and QHY600 cameras (Python).", epilog=USAGE_ENVIRONMENT)
    parser.add_argument("--version", action="version", version=f"indi_qhy_py_ccd {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point ``indi_qhy_py_ccd``; indiserver runs it with no arguments."""
    parse_args(sys.argv[1:] if argv is None else argv)  # --help and --version print and exit here
    if sys.stdin.isatty():
        print("indi_qhy_py_ccd speaks INDI on stdin/stdout: run it under indiserver (indi_qhy_py_ccd --help)",
              file=sys.stderr)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
    writer = Writer(out, shared_memory_channel(sys.stdout.fileno()))
    sys.stdout = sys.stderr  # nothing else may write INDI's channel; stray prints go to indiserver's log
    try:
        backends = discovery_backends(os.environ.get(ENV_EMULATE, ""),
                                      rate_limit=os.environ.get(ENV_EMULATE_RATE, "on").lower() != "off")
    except KeyError as err:
        writer.send(message_xml(f"[ERROR] {ENV_EMULATE}: {err}"))
        backends = discovery_backends("")
    firmware = os.environ.get(ENV_FIRMWARE)
    try:
        rescan = float(os.environ.get(ENV_RESCAN, "5"))
    except ValueError:
        rescan = 5.0
    name = os.environ.get("INDIDEV", "").strip() or DEFAULT_NAME
    driver = Driver(writer, backends, Path(firmware) if firmware else None, rescan, placeholder_name=name)
    return driver.serve(sys.stdin.fileno())


if __name__ == "__main__":
    raise SystemExit(main())
