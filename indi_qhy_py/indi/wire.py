"""INDI on the wire: split the byte stream from indiserver into messages, and write messages out.

indiserver sends a stream of top-level XML elements with no enclosing root, and a read may hold half a message or
several. ``MessageSplitter`` finds each complete top-level element and parses it on its own, so one malformed
message is reported and skipped without losing the ones around it. ``Writer`` is the single writer of stdout:
messages are built with ElementTree (so every value is escaped) and written whole under a lock, so threads never
interleave their output.
"""

from __future__ import annotations

import array
import contextlib
import os
import queue
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
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
        self._scanned = 0  # how far the current incomplete element has been searched

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
            self._scanned = 0
            out.append(WireError(f"message longer than {self._max} bytes without an end: discarded", sample))
        return out

    def _next(self) -> ET.Element | WireError | None:
        buf = self._buffer
        match = _START.search(buf)
        if match is None:
            junk = bytes(buf).strip()
            keep = buf.rfind(b"<")  # a tag may be starting at the very end
            del buf[: keep if keep >= 0 else len(buf)]
            self._scanned = 0
            return WireError("text outside any message: ignored", junk[:80].decode("utf-8", "replace")) \
                if junk and keep < 0 else None
        tag = match.group(1).decode("ascii")  # before the buffer shifts: the match reads it lazily
        if match.start() > 0 and bytes(buf[: match.start()]).strip():
            junk = bytes(buf[: match.start()]).strip()
            del buf[: match.start()]
            self._scanned = 0
            return WireError("text outside any message: ignored", junk[:80].decode("utf-8", "replace"))
        if match.start():
            del buf[: match.start()]
            self._scanned = 0
        end = self._element_end(tag)
        if end is None:
            return None  # incomplete: wait for more bytes
        raw = bytes(buf[:end])
        del buf[:end]
        if b">" not in raw:
            return WireError(f"message cut off inside its start tag <{tag}: ignored",
                             raw[:80].decode("utf-8", "replace"))
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
        lt = buf.find(b"<", 1, gt if gt >= 0 else len(buf))
        if lt >= 0:
            return lt  # cut off inside its start tag: it ends where the next message begins (and fails to parse)
        if gt < 0:
            return None
        if buf[gt - 1 : gt] == b"/":
            return gt + 1  # <tag .../>
        # resume where the last search of this element stopped (a 160 MB BLOB arrives in many reads)
        start = max(gt, self._scanned - 64)
        close = buf.find(f"</{tag}>".encode(), start)
        nxt = _TOP_START.search(buf, start)
        if close >= 0 and (nxt is None or close < nxt.start()):
            self._scanned = 0
            return close + len(tag) + 3
        if nxt is not None:
            self._scanned = 0
            return nxt.start()
        self._scanned = len(buf)
        return None


@dataclass(frozen=True)
class AttachedFd:
    """Message bytes to send together with a file descriptor (SCM_RIGHTS); the writer closes ``fd`` after."""

    data: bytes
    fd: int


class Writer:
    """The one writer of INDI messages to the driver's stdout.

    Callers only queue: one output thread writes each message whole, in order, so threads never interleave their
    output and nobody (least of all the message loop) waits while a 160 MB BLOB drains into indiserver. A message
    may be a stream of chunks produced while it is written (a BLOB's base64, encoded chunk by chunk).
    """

    def __init__(self, stream: BinaryIO, fd_socket: socket.socket | None = None) -> None:
        self._stream = stream
        self._fd_socket = fd_socket  # the same channel as a Unix socket, for passing shared buffers
        self._queue: queue.Queue[tuple[Iterable[bytes | memoryview], threading.Event] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="indi-writer", daemon=True)
        self._thread.start()

    @property
    def passes_fds(self) -> bool:
        """True when the reader (indiserver) is on a Unix socket and can take BLOBs as shared memory."""
        return self._fd_socket is not None

    @property
    def error(self) -> BaseException | None:
        """Why output stopped (indiserver went away), or None."""
        return self._error

    def send(self, element: ET.Element) -> threading.Event:
        return self.send_bytes(ET.tostring(element, encoding="utf-8", xml_declaration=False) + b"\n")

    def send_bytes(self, data: bytes | memoryview) -> threading.Event:
        return self.send_stream([data])

    def send_parts(self, parts: list[bytes | memoryview]) -> threading.Event:
        """A message assembled from several buffers (a BLOB's head, payload and tail), written as one."""
        return self.send_stream(parts)

    def send_stream(self, chunks: Iterable[bytes | memoryview | AttachedFd]) -> threading.Event:
        """Queue one message given as chunks; the event is set once its last byte is written (or output failed)."""
        done = threading.Event()
        if self._error is not None:
            done.set()
        else:
            self._queue.put((chunks, done))
        return done

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written."""
        return self.send_bytes(b"").wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            chunks, done = item
            try:
                if self._error is None:
                    for chunk in chunks:
                        if isinstance(chunk, AttachedFd):
                            self._send_with_fd(chunk)
                        else:
                            self._stream.write(chunk)
                    self._stream.flush()
            except (OSError, ValueError) as err:  # the reader is gone: keep draining so nobody waits forever
                self._error = err
            finally:
                for chunk in chunks if isinstance(chunks, list) else ():
                    if isinstance(chunk, AttachedFd):
                        with contextlib.suppress(OSError):
                            os.close(chunk.fd)
                done.set()

    def _send_with_fd(self, chunk: AttachedFd) -> None:
        if self._fd_socket is None:
            raise ValueError("this output cannot carry file descriptors")
        self._stream.flush()
        sent = self._fd_socket.sendmsg([chunk.data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                        array.array("i", [chunk.fd]))])
        if sent < len(chunk.data):
            self._fd_socket.sendall(chunk.data[sent:])
