"""The emulated camera's 4-pin filter-wheel port: ASCII orders out (0xC1), answers in (0xC3).

With no wheel on the port every read answers zeros, which QHY's SDK takes as "no wheel" (OBSERVED: cfw.txt).
"""

from __future__ import annotations

import threading


class FilterPort:
    """The port, with nothing plugged in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.orders: list[bytes] = []

    def write(self, order: bytes) -> None:
        with self._lock:
            self.orders.append(order)

    def read(self, length: int) -> bytes:
        return bytes(length)
