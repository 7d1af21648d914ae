"""One frame as the emulated camera puts it on EP 0x81: Pro header, pixels, trailer with checksum, padding.

The buffer is allocated once for the largest frame and reused, so emulating a QHY600 at its rated frame rate does
not allocate 123 MB per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import protocol
from ..models import CameraModel
from .scene import Scene
from .sensor import Integration, SensorSimulator, Truth


@dataclass
class BuiltFrame:
    data: np.ndarray  # the bytes to send, a view of the builder's buffer
    layout: protocol.FrameLayout
    truth: Truth
    checksum: int


class FrameBuilder:
    def __init__(self, model: CameraModel, sensor: SensorSimulator) -> None:
        self.model = model
        self.sensor = sensor
        self.buffer: np.ndarray | None = None

    def buffer_of(self, size: int) -> np.ndarray:
        """The reused frame buffer, at least ``size`` bytes (both dialects' frames are built in it)."""
        if self.buffer is None or len(self.buffer) < size:
            full = protocol.frame_layout(self.model.readout_width, self.model.readout_height, 16,
                                         self.model.variant.frame_header).total_len
            self.buffer = np.zeros(max(size, full), dtype=np.uint8)
        return self.buffer

    def build(self, integration: Integration, scene: Scene, sequence: int) -> BuiltFrame:
        width, rows, bits = self.model.readout_width, integration.roi_height, integration.bits
        layout = protocol.frame_layout(width, rows, bits, self.model.variant.frame_header)
        buf = self.buffer_of(layout.total_len)
        truth = self.sensor.render(buf[layout.pixel_offset :], integration, scene)
        if layout.header_len:
            buf[: layout.header_len] = np.frombuffer(protocol.encode_pro_header(sequence, width, rows), dtype=np.uint8)
        checksum = protocol.frame_checksum(buf[: layout.header_len], bits, *truth.pixel_sums)
        trailer = protocol.encode_trailer(protocol.Trailer(sequence, checksum, width, rows, bits))
        buf[layout.trailer_offset : layout.payload_len] = np.frombuffer(trailer, dtype=np.uint8)
        buf[layout.payload_len : layout.total_len] = 0
        return BuiltFrame(buf[: layout.total_len], layout, truth, checksum)
