"""One camera of ``indi_qhy_py_ccd`` as a command-line tool sees it through indiserver.

It fails fast and says why in one line: nothing listening, an unknown host, a device the server does not have
(with the list of those it has), a value the driver refused (with the driver's own reason, which INDI's
command-line tools do not show), an exposure that failed. ``CaptureError`` carries that line.
"""

from __future__ import annotations

import socket
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from ..indi.ccd_properties import DRIVER_EXEC
from ..indi.client import TcpClient

SETTLE_S = 0.5  # indiserver sends every definition at once: this long without a new one means all have arrived


class CaptureError(Exception):
    """What went wrong, in one line for the user."""


def one_line(tool: str, run: Callable[[], int], statuses: dict[type[Exception], int],
             interrupted: str = "interrupted") -> int:
    """A command-line tool's run, with every failure as one line on stderr and its exit status, never a traceback:
    ``statuses`` maps the expected errors to their status; Ctrl-C is 130, anything else (a bug) 1."""
    try:
        return run()
    except KeyboardInterrupt:
        print(f"{tool}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as err:
        status = next((code for kind, code in statuses.items() if isinstance(err, kind)), None)
        print(f"{tool}: {err}" if status is not None else f"{tool}: internal error: {err!r}", file=sys.stderr)
        return 1 if status is None else status


def open_server(host: str, port: int, timeout: float = 2.0) -> TcpClient:
    """A client of indiserver, or CaptureError at once when there is none (no retries)."""
    try:
        socket.getaddrinfo(host, port)
    except socket.gaierror as err:
        raise CaptureError(f"unknown host {host!r}: {err.strerror}") from err
    try:
        return TcpClient(host, port, timeout=0.0, connect_timeout=timeout)
    except OSError as err:
        raise CaptureError(f"nothing is listening on {host}:{port} ({err.strerror or err}); is indiserver running "
                           f"there? (indiserver -p {port} indi_qhy_py_ccd)") from err


class RemoteCamera:
    """A device of indi_qhy_py_ccd, reached through an open client."""

    def __init__(self, client: TcpClient, wanted: str | None, timeout: float) -> None:
        self.client = client
        self.name = self._find(wanted, timeout)

    # --- finding the device -----------------------------------------------------------------------------------
    def _devices(self) -> dict[str, str]:
        """Device -> its DRIVER_EXEC, for every device defined so far."""
        found: dict[str, str] = {}
        for device, prop in self.client.definitions():
            found.setdefault(device, "")
            if prop == "DRIVER_INFO":
                found[device] = self.client.values.get((device, prop), {}).get("DRIVER_EXEC", "")
        return found

    def _find(self, wanted: str | None, timeout: float) -> str:
        client = self.client
        client.get_properties()
        deadline = time.monotonic() + timeout
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            devices = self._devices()
            ours = [d for d, exe in devices.items() if exe == DRIVER_EXEC]
            if wanted in devices or (wanted is None and ours):
                return wanted or ours[0]
            if len(client.messages) != seen:
                seen, quiet_since = len(client.messages), time.monotonic()
            elif time.monotonic() - quiet_since > SETTLE_S and seen > 0:
                break  # everything the server has was sent, and the device is not among it
            if client.closed:
                raise CaptureError("indiserver closed the connection")
            time.sleep(0.02)
        devices = self._devices()
        listing = ", ".join(sorted(devices)) or "none"
        if wanted is None:
            raise CaptureError(f"the server has no camera of {DRIVER_EXEC}; devices there: {listing}")
        raise CaptureError(f"the server has no device {wanted!r}; devices there: {listing}")

    # --- what the driver defines ----------------------------------------------------------------------------------
    def definition(self, prop: str, timeout: float = 10.0) -> ET.Element:
        key = (self.name, prop)
        deadline = time.monotonic() + timeout
        while (found := self.client.definitions().get(key)) is None:
            if time.monotonic() > deadline:
                raise CaptureError(f"{self.name} has no property {prop}")
            time.sleep(0.02)
        return found

    def limits(self, prop: str, element: str) -> tuple[float, float]:
        one = next((c for c in self.definition(prop) if c.get("name") == element), None)
        if one is None:
            raise CaptureError(f"{self.name}.{prop} has no element {element}")
        return float(one.get("min", "0")), float(one.get("max", "0"))

    def switches(self, prop: str) -> dict[str, str]:
        """Element name -> label of a switch property."""
        return {c.get("name", ""): c.get("label", "") for c in self.definition(prop)}

    def value(self, prop: str, element: str) -> str:
        return self.client.values.get((self.name, prop), {}).get(element, "")

    @property
    def connected(self) -> bool:
        return self.value("CONNECTION", "CONNECT") == "On" and self.client.states.get(
            (self.name, "CONNECTION")) == "Ok"

    # --- changing things --------------------------------------------------------------------------------------
    def connect(self, timeout: float) -> None:
        try:
            self.client.connect(self.name, timeout)
        except ConnectionError as err:
            raise CaptureError(str(err)) from err
        except TimeoutError as err:
            raise CaptureError(f"{self.name} did not connect within {timeout:.0f} s") from err

    def set(self, prop: str, kind: str, timeout: float = 30.0, **values: object) -> ET.Element:
        """Send a new value; CaptureError with the driver's reason when it refuses."""
        try:
            reply = self.client.set(self.name, prop, kind, timeout, **values)
        except TimeoutError as err:
            raise CaptureError(f"{self.name}.{prop}: no answer within {timeout:.0f} s") from err
        if reply.get("state") == "Alert":
            raise CaptureError(f"{self.name} refused {prop} {values}: {reply.get('message') or 'no reason given'}")
        return reply

    def expose(self, seconds: float, timeout: float, on_update: Callable[[ET.Element], None]) -> ET.Element:
        """Start an exposure; return its BLOB message, calling ``on_update`` with each CCD_EXPOSURE report."""
        try:
            message = self.client.expose(self.name, seconds, timeout, on_update)
        except TimeoutError as err:
            if self.client.closed:
                raise CaptureError("indiserver closed the connection during the exposure") from err
            raise CaptureError(f"{self.name}: no frame within {timeout:.0f} s") from err
        if message.tag != "setBLOBVector":
            raise CaptureError(f"{self.name}: {message.get('message') or 'exposure failed'}")
        return message
