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

    def frame_time(self, registers: CameraRegisters, usb_traffic: int = 0) -> float:
        """Seconds the camera takes for one frame. ASSUMED: the published rates are what QHY's SDK gets for the ROI a
        user asks for, so a frame takes the table's time for its image rows, whatever rows the SDK streams with
        them (34 more on a QHY600, 68 around a QHY268 ROI), and a full frame the table's full-frame time."""
        streamed = self.readout(registers).streamed_rows
        full = streamed >= self.model.readout_height
        rows = self.model.full_frame_rate_rows if full else streamed - self._rows_around_roi()
        return self.model.frame_time_s(max(1, rows), registers.bits, usb_traffic)

    def _rows_around_roi(self) -> int:
        """Rows the SDK streams besides a ROI's own (``protocol.rows_for``): 34 on a QHY600; 34 above and 34 below a
        QHY268 ROI in the effective area (y >= 34)."""
        return protocol.ROW_MARGIN * (1 if self.family == "QHY600" else 2)

    def ddr_frames(self, registers: CameraRegisters) -> int:
        """Frames of this geometry the camera's DDR holds."""
        return max(1, self.model.ddr_mb * 2**20 // self.length(registers))

    def wire_rate(self, registers: CameraRegisters, nbytes: int) -> float:
        """Bytes per second a frame of ``nbytes`` crosses the link at: a single frame at its rated throughput, a
        live one at the link's speed (never slower than the camera makes the frames)."""
        rate = nbytes / self.frame_time(registers, registers.usb_traffic)
        return rate if registers.single else max(rate, self.live_link_rate(registers.usb_traffic))

    def live_link_rate(self, usb_traffic: int = 0) -> float:
        """Bytes per second the camera's USB link carries a live stream at. ASSUMED: the link's speed does not
        depend on the ROI, so it is the fastest stream the model's published table implies on the wire (QHY600:
        9600x1080 at 22.5 FPS, 481 MB/s; QHY268: full frame 16-bit at 6 FPS, 320 MB/s); at every other geometry
        the camera makes frames slower than the link carries them, and a backlog in the DDR after a host pause
        drains. USB_TRAFFIC slows the link as it slows the frames."""
        width = self.model.readout_width
        return max(protocol.live_frame_length(width, self.streamed_rows_of(p.rows), bits)
                   / self.model.frame_time_s(p.rows, bits, usb_traffic)
                   for p in self.model.frame_rates for bits in (8, 16))

    def streamed_rows_of(self, table_rows: int) -> int:
        """The rows the SDK streams for a geometry of the published table (the inverse of ``frame_time``)."""
        if table_rows >= self.model.full_frame_rate_rows:
            return self.model.readout_height + (protocol.ROW_MARGIN if self.family == "QHY600" else 0)
        return table_rows + self._rows_around_roi()

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
