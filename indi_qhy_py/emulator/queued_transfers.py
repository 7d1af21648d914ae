"""Transfers a host has queued on the emulated camera's EP 0x81, as libusb's asynchronous ones are queued.

Each transfer is served when the host reaps it, but its bytes are timed as on a real endpoint: they started to
move as soon as the transfer was queued and the link was free (``LinkClock.queued_from``), so a host that comes
late to collect them cost the link nothing. The time the emulator spent serving transfers (rendering a frame in
the host's process, copying bytes a DMA engine would write) since the host last waited for bytes is taken off the
host's next submissions: a real camera costs its host none of it, while the host's own delays still count. The
transport finds this through the backend's ``open_bulk_queue``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import usb.core

if TYPE_CHECKING:
    from .stream import LinkClock

CANCEL_REACH_MS = 1  # a queued transfer with no bytes to take within this is cancelled empty

#: Serves one transfer: (address, length, timeout_ms, queued_at real time) -> bytes, raising pyusb's errors.
Serve = Callable[[int, int, int, float], int]


class EmulatedBulkQueue:
    """The transport's ``BulkQueue`` on an emulated camera."""

    def __init__(self, serve: Serve, link: LinkClock) -> None:
        self._serve = serve
        self._link = link  # the emulator's own time in the transfer it served last, and whether the host waited
        self._credit = 0.0  # the emulator's own time since the host last waited for bytes
        self._queued: deque[tuple[int, int, float]] = deque()

    @property
    def pending(self) -> int:
        return len(self._queued)

    def submit(self, address: int, length: int) -> bool:
        self._queued.append((address, length, time.monotonic() - self._credit))
        return True

    def reap(self, timeout_ms: int) -> int | None:
        address, length, queued_at = self._queued[0]
        try:
            n = self._serve(address, length, timeout_ms, queued_at)
        except usb.core.USBTimeoutError:
            return None  # nothing moved: the transfer stays queued
        except usb.core.USBError:
            self._queued.popleft()
            raise
        self._queued.popleft()
        link = self._link  # a host that waited for the bytes to cross is on the link's time again
        self._credit = 0.0 if link.host_waited else self._credit + link.own_s
        return n

    def cancel_all(self) -> None:
        """As on a streaming camera: transfers the link has bytes for complete before the cancel reaches them
        (their bytes are gone with them); the first with nothing to take ends it."""
        while self._queued:
            address, length, queued_at = self._queued.popleft()
            try:
                self._serve(address, length, CANCEL_REACH_MS, queued_at)
            except usb.core.USBError:
                break
        self._queued.clear()
