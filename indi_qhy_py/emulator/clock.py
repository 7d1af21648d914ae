"""The emulator's clock: real time scaled by a speed factor, which tests raise to run hours in seconds."""

from __future__ import annotations

import threading
import time


class EmulatedClock:
    """Monotonic emulated seconds. ``speed`` 60 makes a 60 s exposure take 1 s of real time."""

    def __init__(self, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._real0 = time.monotonic()
        self._emu0 = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError("clock speed must be positive")
        with self._lock:
            now = self.now()
            self._real0, self._emu0, self._speed = time.monotonic(), now, float(value)

    def now(self) -> float:
        return self._emu0 + (time.monotonic() - self._real0) * self._speed

    def advance(self, seconds: float) -> None:
        """Jump forward (a test skipping a long wait); waits in progress notice at their next poll."""
        with self._lock:
            self._emu0 += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self._speed)

    def real_seconds(self, emulated: float) -> float:
        return emulated / self._speed
