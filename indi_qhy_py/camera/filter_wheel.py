"""The filter wheel on the camera's 4-pin port: found (after its slow start), turned, watched — with the requests
QHY's SDK uses (``protocol``: "VRS", "MXP", "NOW", one digit per slot).

A CFW3 can take up to a minute after power-on before it answers (users report it), so after every connect the
camera's housekeeping asks for it every 2 s for a minute. A move runs in its own thread and watches the position
until the wheel is there; a wheel that stops answering fails the move after a time that grows with the slots,
never hangs it. Slots are numbered from 1, as INDI's FILTER_SLOT counts them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import protocol
from ..errors import CameraBusyError, QhyError

if TYPE_CHECKING:
    from .camera import Camera

DETECT_WINDOW_S = 60.0
DETECT_EVERY_S = 2.0
POLL_S = 0.05
MOVE_TIMEOUT_BASE_S, MOVE_TIMEOUT_PER_SLOT_S = 5.0, 3.0  # ASSUMED: a CFW3 turns a slot in well under 3 s


@dataclass(frozen=True)
class WheelState:
    slots: int | None  # None: no wheel found (yet)
    position: int | None  # 1-based; None while unknown or turning
    target: int | None  # the slot a move is heading for
    error: str = ""  # why the last move failed

    @property
    def moving(self) -> bool:
        return self.target is not None


class CameraWheel:
    """The wheel of one ``Camera``; ``on_change`` is told of every change of state (found, moved, failed)."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.on_change: Callable[[WheelState], None] = lambda state: None
        self._state = WheelState(None, None, None)
        self._search_until = 0.0
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def state(self) -> WheelState:
        return self._state

    def _set(self, state: WheelState) -> None:
        with self._lock:
            self._state = state
        self.on_change(state)

    def reset(self) -> None:
        """On every (re)connect: the wheel is looked for again, for a minute of the camera's clock."""
        now = self.camera.clock()
        self._search_until, self._next_try = now + DETECT_WINDOW_S, now
        if self._state.slots is not None:
            self._set(WheelState(None, None, None))

    def search(self) -> None:
        """One try, when one is due (housekeeping calls this every tick)."""
        now = self.camera.clock()
        if self._state.slots is not None or now > self._search_until or now < self._next_try:
            return
        self._next_try = now + DETECT_EVERY_S
        self.detect()

    def detect(self) -> bool:
        """Ask the port for a wheel; True when one answered (its slot count and position then known)."""
        version = self.camera.io(lambda link: link.cfw_query(protocol.CFW_VERSION_QUERY))
        if not protocol.cfw_plugged(version):
            return False
        slots = protocol.decode_cfw_digit(self.camera.io(lambda link: link.cfw_query(protocol.CFW_SLOTS_QUERY)))
        if slots is None or slots < 2:
            return False
        self.camera.event("INFO", f"filter wheel found on the camera port: {slots} slots "
                                  f"(version {version.rstrip(bytes(1)).decode('ascii', 'replace')})")
        self._set(WheelState(slots, self.read_position(), None))
        return True

    def read_position(self) -> int | None:
        digit = protocol.decode_cfw_digit(self.camera.io(lambda link: link.cfw_query(protocol.CFW_POSITION_QUERY)))
        return None if digit is None else digit + 1

    def move(self, slot: int, on_done: Callable[[WheelState], None] | None = None) -> None:
        """Start turning to ``slot`` (1-based); returns at once. ValueError for a slot the wheel lacks,
        CameraBusyError while an exposure runs or the wheel is already turning."""
        state = self._state
        if state.slots is None:
            raise ValueError("no filter wheel on the camera port")
        if not 1 <= slot <= state.slots:
            raise ValueError(f"filter slot {slot} is out of range 1..{state.slots}")
        if self.camera.exposing:
            raise CameraBusyError("the filter wheel cannot turn during an exposure")
        if state.moving:
            raise CameraBusyError(f"the filter wheel is already turning to slot {state.target}")
        self.camera.io(lambda link: link.cfw_order(slot - 1))
        self._set(WheelState(state.slots, None, slot))
        threading.Thread(target=self._watch, args=(slot, on_done), name=f"{self.camera.id}-wheel",
                         daemon=True).start()

    def _watch(self, slot: int, on_done: Callable[[WheelState], None] | None) -> None:
        slots = self._state.slots or slot
        allowed = MOVE_TIMEOUT_BASE_S + MOVE_TIMEOUT_PER_SLOT_S * slots
        deadline = self.camera.clock() + allowed
        position: int | None = None
        error = ""
        while True:
            time.sleep(POLL_S)
            try:
                position = self.read_position()
            except QhyError as err:
                error = f"the camera stopped answering while the filter wheel turned ({err})"
                break
            if position == slot:
                break
            if self.camera.clock() > deadline:
                error = (f"the filter wheel did not reach slot {slot} within {allowed:.0f} s (it answers "
                         f"{'nothing' if position is None else f'slot {position}'}): check its cable and power")
                break
        state = WheelState(slots, position, None, error)
        self._set(state)
        if error:
            self.camera.event("ERROR", error)
        if on_done is not None:
            on_done(state)

