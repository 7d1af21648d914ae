"""A small INDI client: talk to indiserver (or straight to a driver's pipes), remember what was said, wait for replies.

Used by the capture command, the benchmarks and the tests. ``Conversation`` is the protocol side over any byte
channel; ``TcpClient`` opens one to indiserver.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from .wire import MessageSplitter, WireError

Predicate = Callable[[ET.Element], bool]


class Conversation:
    """Everything the other side sent, in order, with the latest values and state of each property."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self.messages: list[ET.Element] = []
        self.errors: list[WireError] = []
        self.values: dict[tuple[str, str], dict[str, str]] = {}
        self.states: dict[tuple[str, str], str] = {}
        self.defined: dict[tuple[str, str], ET.Element] = {}
        self.closed = False
        self._cond = threading.Condition()
        self._pings = 0
        self._reader: threading.Thread | None = None

    def start_reader(self, read: Callable[[], bytes]) -> None:
        self._reader = threading.Thread(target=self._read, args=(read,), name="indi-client-reader", daemon=True)
        self._reader.start()

    # --- what comes in ----------------------------------------------------------------------------------------
    def _read(self, read: Callable[[], bytes]) -> None:
        splitter = MessageSplitter(max_message_bytes=1 << 30)
        while True:
            try:
                data = read()
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self.closed = True
                    self._cond.notify_all()
                    return
                for item in splitter.feed(data):
                    if isinstance(item, WireError):
                        self.errors.append(item)
                        continue
                    self._track(item)
                    self.messages.append(item)
                self._cond.notify_all()

    def _track(self, m: ET.Element) -> None:
        key = (m.get("device", ""), m.get("name", ""))
        if m.tag.startswith("def"):
            self.defined[key] = m
            self.values[key] = {}
        if m.tag.startswith(("def", "set")) and m.tag.endswith("Vector"):
            if m.tag != "setBLOBVector":  # keep no copies of image data
                self.values.setdefault(key, {}).update({c.get("name", ""): (c.text or "").strip() for c in m})
            self.states[key] = m.get("state", "")
        if m.tag == "delProperty":
            self.defined.pop(key, None)

    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    def wait(self, predicate: Predicate, timeout: float = 20.0, start: int = 0) -> ET.Element:
        """The first message from index ``start`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.messages):
                    if predicate(self.messages[i]):
                        return self.messages[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    tail = [f"{m.tag} {m.get('name')} {m.get('state')} {m.get('message')}" for m in self.messages[-8:]]
                    why = "the connection closed" if self.closed else f"nothing matched within {timeout} s"
                    raise TimeoutError(f"{why}; last messages: {tail}")
                self._cond.wait(min(left, 0.5))

    def definitions(self) -> dict[tuple[str, str], ET.Element]:
        """A copy of what is defined now, by (device, property), taken while the reader cannot change it."""
        with self._cond:
            return dict(self.defined)

    def since(self, index: int, timeout: float) -> list[ET.Element]:
        """The messages after ``index``, waiting up to ``timeout`` for the first (empty when none came)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while index >= len(self.messages) and not self.closed and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return self.messages[index:]

    # --- what goes out --------------------------------------------------------------------------------------------
    def send(self, text: str | bytes) -> None:
        self._write(text.encode() if isinstance(text, str) else text)

    def new_vector(self, device: str, name: str, kind: str, **elements: object) -> str:
        body = "".join(f"<one{kind} name={quoteattr(k)}>{escape(str(v))}</one{kind}>" for k, v in elements.items())
        return f"<new{kind}Vector device={quoteattr(device)} name={quoteattr(name)}>{body}</new{kind}Vector>"

    def set(self, device: str, name: str, kind: str, timeout: float = 20.0, **elements: object) -> ET.Element:
        """Send new<kind>Vector and return the reply for that property."""
        mark = self.mark()
        self.send(self.new_vector(device, name, kind, **elements))
        return self.wait(lambda m: m.tag == f"set{kind}Vector" and m.get("device") == device
                         and m.get("name") == name, timeout, mark)

    def connect(self, device: str, timeout: float = 30.0) -> None:
        mark = self.mark()
        self.send(self.new_vector(device, "CONNECTION", "Switch", CONNECT="On"))
        reply = self.wait(lambda m: m.get("device") == device and m.get("name") == "CONNECTION"
                          and m.get("state") in ("Ok", "Alert"), timeout, mark)
        if reply.get("state") != "Ok":
            raise ConnectionError(f"{device} did not connect: {reply.get('message')}")

    def expose(self, device: str, seconds: float = 0.01, timeout: float = 120.0,
               on_update: Callable[[ET.Element], object] | None = None) -> ET.Element:
        """Start an exposure; the CCD1 BLOB message, or the CCD_EXPOSURE Alert that says why there is none.

        ``on_update`` sees each other CCD_EXPOSURE report on the way (the countdown, the download percentage).
        """
        mark = self.mark()
        self.send(self.new_vector(device, "CCD_EXPOSURE", "Number", CCD_EXPOSURE_VALUE=seconds))

        def ends(m: ET.Element) -> bool:
            if m.get("device") != device:
                return False
            if m.tag == "setBLOBVector" and m.find("oneBLOB") is not None:
                return True
            if m.get("name") != "CCD_EXPOSURE":
                return False
            if m.get("state") != "Alert" and on_update is not None:
                on_update(m)
            return m.get("state") == "Alert"
        return self.wait(ends, timeout, mark)

    def fence(self, timeout: float = 10.0) -> int:
        """Wait until the peer has answered everything sent so far (pings are answered in order)."""
        self._pings += 1
        uid = f"fence{self._pings}"
        mark = self.mark()
        self.send(f"<pingRequest uid='{uid}'/>")
        return self.messages.index(self.wait(lambda m: m.tag == "pingReply" and m.get("uid") == uid, timeout, mark))


class TcpClient(Conversation):
    """A client of indiserver over TCP."""

    def __init__(self, host: str = "127.0.0.1", port: int = 7624, timeout: float = 10.0,
                 connect_timeout: float = 2.0) -> None:
        """Connect, retrying for ``timeout`` seconds (0: one attempt) while the server starts."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=connect_timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(None)
        super().__init__(self.sock.sendall)
        self.start_reader(lambda: self.sock.recv(1 << 20))

    def get_properties(self) -> None:
        self.send("<getProperties version='1.7'/>")

    def enable_blobs(self, device: str) -> None:
        self.send(f"<enableBLOB device={quoteattr(device)}>Also</enableBLOB>")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already closed by the server
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._reader is not None:
            self._reader.join(5)


def read_fd(fd: int) -> Callable[[], bytes]:
    return lambda: os.read(fd, 1 << 20)


def blob_payload(message: ET.Element) -> tuple[bytes, str]:
    """The decoded bytes and format of a setBLOBVector's first BLOB; checks the announced size."""
    one = message.find("oneBLOB")
    if one is None:
        raise ValueError(f"{message.tag} {message.get('name')} carries no BLOB: {message.get('message')}")
    data = base64.b64decode(one.text or "")
    if len(data) != int(one.get("size", "-1")):
        raise ValueError(f"BLOB size attribute {one.get('size')} differs from the {len(data)} bytes it carries")
    return data, one.get("format", "")
