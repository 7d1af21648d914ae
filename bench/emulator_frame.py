"""How long the emulator takes to synthesise one QHY600 full 16-bit frame (budget: 300 ms).

Baseline in the same run: numpy drawing the same number of standard-normal float32 samples, the cost of the naive
per-pixel approach before any physics. Last line: qhy600_frame_ms=<value>.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of

from indi_qhy_py import protocol
from indi_qhy_py.emulator.response import sensor_response
from indi_qhy_py.emulator.scene import StarField
from indi_qhy_py.emulator.sensor import Integration, SensorSimulator, noise_bank
from indi_qhy_py.models import QHY600M


def main() -> None:
    model = QHY600M
    pixels = model.readout_width * model.readout_height
    noise_bank()
    sensor = SensorSimulator(model, seed=3)
    out = np.empty(pixels * 2, dtype=np.uint8)
    response = sensor_response(model, protocol.gain_registers(model.family.value, 1, 0))
    exposure = Integration(30.0, response, 30, 16, 0, model.readout_height, -10.0)
    scene = StarField()
    frame_ms = best_of(lambda: sensor.render(out, exposure, scene), repeats=5) * 1000
    rng = np.random.default_rng(1)
    baseline_ms = best_of(lambda: rng.standard_normal(pixels, dtype=np.float32), repeats=3) * 1000
    print(f"baseline: numpy standard_normal for {pixels / 1e6:.2f} Mpx: {baseline_ms:.1f} ms")
    print(f"emulated QHY600 16-bit full frame (star field, physics): {frame_ms:.1f} ms "
          f"({frame_ms / baseline_ms:.2f}x the baseline)")
    print(f"qhy600_frame_ms={frame_ms:.1f}")


if __name__ == "__main__":
    main()
