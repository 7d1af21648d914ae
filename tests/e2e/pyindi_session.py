"""A pyindi-client session on an indiserver: libindi's own client code (the BaseClient KStars/Ekos is built on)
with the few moves the tests make through it — set a number, turn a switch on, take the BLOBs as they come.

Contract: ``pyindi_session(port, device)`` skips the test when PyIndi is not installed, connects, waits for the
device's CONNECTION and yields a ``PyIndiSession``; on leaving it disconnects from the server. PyIndi's listener
thread may still call into the Python object as it winds down, and freeing the object under it aborts the whole
test process, so every client lives as long as the process (``_KEPT``).
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import eventually

_KEPT: list[object] = []


class PyIndiSession:
    """One device seen through a PyIndi client; every check waits for the driver's own reply."""

    def __init__(self, pyindi: Any, client: Any, device_name: str) -> None:
        self.pyindi, self.client, self.name = pyindi, client, device_name
        self.device = eventually(lambda: client.getDevice(device_name), 20)
        assert self.device and eventually(lambda: self.device.getSwitch("CONNECTION").isValid(), 20)

    @property
    def blobs(self) -> queue.Queue[tuple[bytes, str]]:
        """(data, format) of every BLOB the driver sent, in order."""
        return self.client.blobs

    def connect(self, blob_property: str = "CCD1") -> None:
        self.client.connectDevice(self.name)
        assert eventually(lambda: self.device.getNumber("CCD_GAIN").isValid(), 20)
        self.client.setBLOBMode(self.pyindi.B_ALSO, self.name, blob_property)

    def number(self, name: str, check_values: bool = True, **values: float) -> None:
        prop = self.device.getNumber(name)
        for key, value in values.items():
            prop.findWidgetByName(key).setValue(value)
        # setValue changed pyindi's local copy already: mark it Alert so only the driver's reply can clear it
        prop.setState(self.pyindi.IPS_ALERT)
        self.client.sendNewNumber(prop)
        assert eventually(lambda: self.device.getNumber(name).getStateAsString() in ("Ok", "Busy")), name
        if check_values:
            assert all(abs(self.device.getNumber(name).findWidgetByName(k).getValue() - v) < 1e-6
                       for k, v in values.items()), name

    def switch(self, name: str, on: str) -> None:
        """Turn ``on`` on in switch vector ``name`` and wait until the driver says it is."""
        prop = self.device.getSwitch(name)
        prop.reset()
        prop.findWidgetByName(on).setState(self.pyindi.ISS_ON)
        self.client.sendNewSwitch(prop)
        assert eventually(lambda: self.switch_state(name, on) == "On"), name

    def switch_state(self, name: str, element: str) -> str:
        return self.device.getSwitch(name).findWidgetByName(element).getStateAsString()

    def state(self, name: str) -> str:
        """The state ("Idle", "Ok", "Busy", "Alert") the driver last gave property ``name``."""
        return self.device.getProperty(name).getStateAsString()

    def expose(self, seconds: float) -> None:
        exposure = self.device.getNumber("CCD_EXPOSURE")
        exposure[0].setValue(seconds)
        self.client.sendNewNumber(exposure)


def _client_class(pyindi: Any) -> type:
    class Client(pyindi.BaseClient):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.blobs: queue.Queue[tuple[bytes, str]] = queue.Queue()

        def updateProperty(self, prop) -> None:  # type: ignore[no-untyped-def]  # PyIndi's callback name
            if prop.getType() == pyindi.INDI_BLOB:
                for blob in pyindi.PropertyBlob(prop):
                    self.blobs.put((bytes(blob.getblobdata()), blob.getFormat()))

    return Client


@contextlib.contextmanager
def pyindi_session(port: int, device_name: str) -> Iterator[PyIndiSession]:
    pyindi = pytest.importorskip("PyIndi")
    client = _client_class(pyindi)()
    _KEPT.append(client)
    client.setServer("127.0.0.1", port)
    assert client.connectServer()
    try:
        yield PyIndiSession(pyindi, client, device_name)
    finally:
        client.disconnectServer()
        eventually(lambda: not client.isServerConnected())
