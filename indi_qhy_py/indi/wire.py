"""INDI on the wire: split the byte stream from indiserver into messages, and write messages out.

indiserver sends a stream of top-level XML elements with no enclosing root, and a read may hold half a message or
several. ``MessageSplitter`` finds each complete top-level element and parses it on its own, so one malformed
message is reported and skipped without losing the ones around it. ``Writer`` is the single writer of stdout:
messages are built with ElementTree (so every value is escaped) and written whole under a lock, so threads never
interleave their output.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import BinaryIO

#: Messages a client (through indiserver) may send a driver, and those a snooped driver sends.
TOP_LEVEL_TAGS = (
    "getProperties", "enableBLOB", "newTextVector", "newNumberVector", "newSwitchVector", "newBLOBVector",
    "defTextVector", "defNumberVector", "defSwitchVector", "defLightVector", "defBLOBVector",
    "setTextVector", "setNumberVector", "setSwitchVector", "setLightVector", "setBLOBVector",
    "delProperty", "message", "pingRequest", "pingReply",
)
_START = re.compile(rb"<([A-Za-z][A-Za-z0-9_]*)")
_TOP_START = re.compile(rb"<(?:" + b"|".join(t.encode() for t in TOP_LEVEL_TAGS) + rb")[\s/>]")
MAX_MESSAGE_BYTES = 64 << 20  # a message larger than this is refused (the buffer is not allowed to grow forever)


@dataclass(frozen=True)
class WireError:
    """A message that could not be used; ``text`` says why, ``sample`` shows its start."""

    text: str
    sample: str


class MessageSplitter:
    """Incremental: ``feed`` bytes as they arrive, get back the complete messages (or errors) they finish."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes

    def feed(self, data: bytes) -> list[ET.Element | WireError]:
        self._buffer += data
        out: list[ET.Element | WireError] = []
        while True:
            item = self._next()
            if item is None:
                break
            out.append(item)
        if len(self._buffer) > self._max:
            sample = bytes(self._buffer[:80]).decode("utf-8", "replace")
            self._buffer.clear()
            out.append(WireError(f"message longer than {self._max} bytes without an end: discarded", sample))
        return out

    def _next(self) -> ET.Element | WireError | None:
        buf = self._buffer
        match = _START.search(buf)
        if match is None:
            junk = bytes(buf).strip()
            keep = buf.rfind(b"<")  # a tag may be starting at the very end
            del buf[: keep if keep >= 0 else len(buf)]
            return WireError("text outside any message: ignored", junk[:80].decode("utf-8", "replace")) \
                if junk and keep < 0 else None
        tag = match.group(1).decode("ascii")  # before the buffer shifts: the match reads it lazily
        if match.start() > 0 and bytes(buf[: match.start()]).strip():
            junk = bytes(buf[: match.start()]).strip()
            del buf[: match.start()]
            return WireError("text outside any message: ignored", junk[:80].decode("utf-8", "replace"))
        del buf[: match.start()]
        end = self._element_end(tag)
        if end is None:
            return None  # incomplete: wait for more bytes
        raw = bytes(buf[:end])
        del buf[:end]
        if tag not in TOP_LEVEL_TAGS:
            return WireError(f"unknown message <{tag}>: ignored", raw[:80].decode("utf-8", "replace"))
        try:
            return ET.fromstring(raw)
        except ET.ParseError as err:
            return WireError(f"malformed XML in <{tag}>: {err}", raw[:80].decode("utf-8", "replace"))

    def _element_end(self, tag: str) -> int | None:
        """Index just past the element starting at 0, or None if it has not all arrived.

        Top-level INDI elements never nest, so a new top-level start tag before our close tag means ours was cut
        off: it ends there (and fails to parse), and the next message is kept.
        """
        buf = self._buffer
        gt = buf.find(b">")
        if gt < 0:
            return None
        if buf[gt - 1 : gt] == b"/":
            return gt + 1  # <tag .../>
        close = buf.find(f"</{tag}>".encode(), gt)
        nxt = _TOP_START.search(buf, gt)
        if close >= 0 and (nxt is None or close < nxt.start()):
            return close + len(tag) + 3
        return nxt.start() if nxt is not None else None


class Writer:
    """The one writer of INDI messages to the driver's stdout."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, element: ET.Element) -> None:
        self.send_bytes(ET.tostring(element, encoding="utf-8", xml_declaration=False) + b"\n")

    def send_bytes(self, data: bytes | memoryview) -> None:
        with self._lock:
            self._stream.write(data)
            self._stream.flush()

    def send_parts(self, parts: list[bytes | memoryview]) -> None:
        """Write a message assembled from several buffers (a BLOB's head, payload and tail) as one."""
        with self._lock:
            for part in parts:
                self._stream.write(part)
            self._stream.flush()
