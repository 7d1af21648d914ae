"""One frame as the emulated camera puts it on EP 0x81, in the single-frame or the live format of ``protocol``.

Single frame: the marker, the frame number, the rows the A2 block asked for (the hidden ones first), zero padding
to whole DDR units. Live: the rows (the frame number in their first 4 bytes, ASSUMED), then the marker. The rows
are the sensor's (``sensor``) with the physics the gain registers select (``response``). The buffer is allocated
once for the largest frame and reused, so emulating a QHY600 at its rated frame rate does not allocate 123 MB per
frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import protocol
from ..models import CameraModel
from .control import CameraRegisters
from .response import sensor_response
from .scene import Scene
from .sensor import Integration, SensorSimulator, Truth


@dataclass
class BuiltFrame:
    data: np.ndarray  # the bytes to send, a view of the builder's buffer
    layout: protocol.FrameLayout
    truth: Truth
    image: np.ndarray  # the image rows within ``data``, as the camera streamed them


class FrameBuilder:
    def __init__(self, model: CameraModel, sensor: SensorSimulator) -> None:
        self.model = model
        self.sensor = sensor
        self.family = model.family.value
        self._buffer: np.ndarray | None = None

    def readout(self, registers: CameraRegisters) -> protocol.Readout:
        """What the A2 registers ask the camera to stream."""
        return protocol.readout_for(self.family, registers.rows, registers.first_row, self.model.readout_height)

    def link_time(self, registers: CameraRegisters, usb_traffic: int = 0) -> float:
        """Seconds to stream one frame. ASSUMED: the published frame rates are for the rows a user asks QHY's SDK for,
        which streams 34 more (``protocol.rows_for``): a full frame (QHY600 6456 rows, QHY268 4244) and a QHY600 ROI
        then take exactly the published time; a QHY268 ROI, streamed with 34 rows more above it, a little longer."""
        rows = self.readout(registers).streamed_rows
        return self.model.frame_time_s(max(1, rows - protocol.ROW_MARGIN), registers.bits, usb_traffic)

    def length(self, registers: CameraRegisters) -> int:
        """Bytes the next frame will take on the wire."""
        readout = self.readout(registers)
        if registers.single:
            return protocol.single_frame_length(self.model.readout_width, readout.streamed_rows, registers.bits)
        return protocol.live_frame_length(self.model.readout_width, readout.streamed_rows, registers.bits)

    def _buffer_of(self, size: int) -> np.ndarray:
        if self._buffer is None or len(self._buffer) < size:
            rows = self.model.readout_height + 2 * protocol.ROW_MARGIN
            self._buffer = np.zeros(max(size, protocol.single_frame_length(self.model.readout_width, rows, 16)),
                                    dtype=np.uint8)
        return self._buffer

    def build(self, registers: CameraRegisters, scene: Scene, sequence: int, exposure_s: float,
              temperature_c: float) -> BuiltFrame:
        width, bits, live = self.model.readout_width, registers.bits, not registers.single
        readout = self.readout(registers)
        row_bytes = width * (2 if bits == 16 else 1)
        integration = Integration(exposure_s, sensor_response(self.model, registers.gain), registers.offset, bits,
                                  readout.first_row, readout.rendered_rows, temperature_c)
        layout = protocol.frame_layout(width, readout, bits, live)
        buf = self._buffer_of(layout.total_len)
        head = 0 if live else len(protocol.FRAME_MARKER)
        rendered_at = head + readout.blank_rows * row_bytes
        buf[:rendered_at] = 0
        truth = self.sensor.render(buf[rendered_at:], integration, scene)
        end = rendered_at + readout.rendered_rows * row_bytes
        number = np.frombuffer((sequence & 0xFFFFFFFF).to_bytes(4, "big"), dtype=np.uint8)
        marker = np.frombuffer(protocol.FRAME_MARKER, dtype=np.uint8)
        if live:
            buf[:4] = number  # ASSUMED: in the first 4 bytes of the (hidden) rows
            buf[end : end + len(marker)] = marker
        else:
            buf[: len(marker)] = marker
            buf[len(marker) : len(marker) + 4] = number
            buf[end : layout.total_len] = 0
        image = buf[layout.image_offset : layout.image_offset + layout.pixel_bytes]
        image = image.view(">u2" if bits == 16 else np.uint8).reshape(layout.height, width)
        return BuiltFrame(buf[: layout.total_len], layout, truth, image)
