"""The camera's FPGA watchdog, which QHY's SDK feeds every 10 s (OBSERVED in its traces)."""

from __future__ import annotations

import time


class FpgaWatchdog:
    """ASSUMED, as QHY's SDK feeds it: armed by the first feed, it fires when not fed for ``timeout_s`` real
    seconds (the camera then resets and comes back with it disarmed). ``timeout_s`` None: never fires."""

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self.resets = 0
        self._fed_at: float | None = None  # real time of the last feed; None: not armed

    def feed(self) -> None:
        self._fed_at = time.monotonic()

    def disarm(self) -> None:
        self._fed_at = None

    def fired(self) -> bool:
        """True once when the feeds stopped for longer than the timeout (it is disarmed then)."""
        if self._fed_at is None or self.timeout_s is None or time.monotonic() - self._fed_at <= self.timeout_s:
            return False
        self.resets += 1
        self._fed_at = None
        return True
