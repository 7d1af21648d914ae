"""The FX3 boot loader's RAM in the emulated camera: firmware chunks written and read back, in 4 KiB pages.

QHY's cameras start in Cypress's FX3 boot loader; the host writes the firmware image into RAM in chunks of at
most ``protocol.FIRMWARE_CHUNK`` bytes, reads each back to verify it, and jumps to the entry point.
"""

from __future__ import annotations

from .. import protocol
from .control import Stall

PAGE = 4096


class BootLoaderRam:
    """Sparse RAM: only the pages written exist; unwritten bytes read as zero."""

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}

    def __bool__(self) -> bool:
        return bool(self.pages)

    def clear(self) -> None:
        self.pages.clear()

    def write(self, address: int, data: bytes) -> int:
        if len(data) > protocol.FIRMWARE_CHUNK:
            raise Stall(f"firmware chunk larger than {protocol.FIRMWARE_CHUNK} bytes")
        for i, byte_index in enumerate(range(address, address + len(data))):
            page = self.pages.setdefault(byte_index & ~(PAGE - 1), bytearray(PAGE))
            page[byte_index & (PAGE - 1)] = data[i]
        return len(data)

    def read(self, address: int, length: int) -> bytes:
        out = bytearray(length)
        for i in range(length):
            page = self.pages.get((address + i) & ~(PAGE - 1))
            if page is not None:
                out[i] = page[(address + i) & (PAGE - 1)]
        return bytes(out)

    def request_out(self, request: int, value: int, index: int, data: bytes) -> tuple[int, bool]:
        """A boot-loader OUT request: (bytes taken, True for the jump: no data, to the firmware now in RAM)."""
        if request != protocol.REQ_FIRMWARE:
            raise Stall(f"boot loader does not answer request 0x{request:02X}")
        if data:
            return self.write(value | (index << 16), data), False
        if not self:
            raise Stall("jump requested but no firmware was loaded")
        return 0, True

    def request_in(self, request: int, value: int, index: int, length: int) -> bytes:
        if request != protocol.REQ_FIRMWARE:
            raise Stall(f"boot loader does not answer request 0x{request:02X}")
        return self.read(value | (index << 16), length)
