"""A BLOB message as a stream: head, base64 produced chunk by chunk while it is written, tail.

The 164 MB of base64 of a QHY600 frame is never held in memory at once; each chunk is encoded just before it is
written, while the previous one is still warm in cache. Chunks are a multiple of 3 bytes, so the concatenated
base64 is exactly that of the whole (no padding inside).
"""

from __future__ import annotations

import binascii
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from .properties import State, format_number, timestamp
from .wire import AttachedFd

CHUNK = 3 << 20  # 3 MiB of data -> 4 MiB of base64 per write
_MARK = "@@BLOB@@"  # placeholder where the base64 goes


def _vector(device: str, name: str, state: State) -> ET.Element:
    return ET.Element("setBLOBVector", {"device": device, "name": name, "state": state.value, "timeout": "60",
                                        "timestamp": timestamp()})


def blob_message(device: str, name: str, element: str, data: memoryview | bytes, fmt: str,
                 state: State = State.OK) -> Iterator[bytes | memoryview]:
    """The chunks of ``<setBLOBVector>`` carrying ``data`` (``size`` is the decoded size, as INDI defines it)."""
    root = _vector(device, name, state)
    ET.SubElement(root, "oneBLOB", {"name": element, "size": format_number(len(data)), "format": fmt}).text = _MARK
    head, tail = ET.tostring(root, encoding="utf-8").split(_MARK.encode())
    yield head
    view = memoryview(data).cast("B")
    for start in range(0, len(view), CHUNK):
        yield binascii.b2a_base64(view[start : start + CHUNK], newline=False)
    yield tail + b"\n"


def attached_blob_message(device: str, name: str, element: str, data: memoryview | bytes, fmt: str,
                          state: State = State.OK) -> list[AttachedFd]:
    """``<setBLOBVector>`` with the data in a shared-memory file passed alongside (indiserver's local fast path).

    indiserver (1.9.7 and later) maps the buffer and hands it to local clients as it is, or base64-encodes it
    itself for network clients: the driver neither encodes nor pushes 164 MB through the socket.
    """
    fd = os.memfd_create(f"indi-{element}", os.MFD_CLOEXEC)
    try:
        view = memoryview(data).cast("B")
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
    except OSError:
        os.close(fd)
        raise
    root = _vector(device, name, state)
    size = format_number(len(view))
    ET.SubElement(root, "oneBLOB", {"name": element, "size": size, "format": fmt, "len": size, "attached": "true"})
    return [AttachedFd(ET.tostring(root, encoding="utf-8") + b"\n", fd)]
