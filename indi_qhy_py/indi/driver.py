"""The driver process indiserver starts (``indi_qhy_py_ccd``): INDI on stdin/stdout for every attached camera.

The main thread is the message loop: it reads stdin, splits the stream into messages and dispatches each at once.
Every camera is its own INDI device named ``<model>-<serial>``. Cameras plugged in (or power-cycled into a new
address) later are found by a periodic rescan, so indiserver never needs a restart for them.

Environment: ``INDI_QHY_EMULATE=QHY600M,QHY268C`` serves emulated cameras as well; ``INDI_QHY_EMULATE_RATE=off``
lets them stream as fast as the host can (for benchmarks); ``INDI_QHY_FIRMWARE_DIR`` is where QHY's firmware images
are for cameras still in their boot loader; ``INDI_QHY_RESCAN_S`` is the hot-plug scan interval (0: off);
``INDI_QHY_CONFIG_DIR`` replaces ``~/.indi`` for saved settings; ``INDI_QHY_UPLOAD_ROOT`` is the directory
frames saved on this machine must stay under.
"""

from __future__ import annotations

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

from ..camera import Camera
from ..usb.discovery import backends as discovery_backends
from ..usb.discovery import discover
from .ccd import QhyCcd
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
                 rescan_s: float = 5.0) -> None:
        self.writer = writer
        self.backends = list(backends)
        self.firmware_dir = firmware_dir
        self.rescan_s = rescan_s
        self.devices: dict[str, QhyCcd] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._said_none = False
        self._announced = False  # indiserver has asked for properties: new devices define themselves at once

    def message(self, text: str, device: str | None = None) -> None:
        self.writer.send(message_xml(text, device))

    # --- devices ----------------------------------------------------------------------------------------------
    def scan(self) -> None:
        """Add every camera not yet served; say so when there are none at all."""
        infos, notes = discover(self.backends, self.firmware_dir, skip=self.devices)
        for note in notes:
            self.message(f"[WARNING] {note}")
        for info in infos:
            with self._lock:
                if info.id in self.devices:
                    continue
                camera = Camera(info, firmware_dir=self.firmware_dir)
                device = QhyCcd(camera, self.writer, stand_in=info.stand_in)
                # registered before its definitions go out (a client may answer them at once), and both under the
                # lock, so a getProperties sees the device whole or not at all
                self.devices[info.id] = device
                device.start(announce=self._announced)
            kind = "emulated" if info.stand_in is not None else "attached"
            self.message(f"[INFO] {kind} camera {info.id} is available", info.id)
        if not self.devices and not self._said_none:
            self._said_none = True
            self.message("[WARNING] no QHY268/QHY600 camera found (and none emulated: set INDI_QHY_EMULATE=QHY600M "
                         "to try the driver without one); still watching for cameras being plugged in")

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
        self.scan()
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


def main(argv: list[str] | None = None) -> int:
    """Entry point ``indi_qhy_py_ccd``; indiserver runs it with no arguments."""
    del argv
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
    driver = Driver(writer, backends, Path(firmware) if firmware else None, rescan)
    return driver.serve(sys.stdin.fileno())


if __name__ == "__main__":
    raise SystemExit(main())
