"""How fast abort takes effect, during an exposure and during a QHY600 full-frame download at rated USB speed.

Baseline measured in the same run: the time one bulk chunk (4 MiB) takes at the rated rate, the granularity at
which a download can be interrupted. Last line: abort_ms=<worst case over both phases> (goal < 100).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from indi_qhy_py.camera import Camera, Exposure
from indi_qhy_py.emulator import EmulatedCamera, EmulatorBackend
from indi_qhy_py.models import QHY600M
from indi_qhy_py.usb.discovery import discover
from indi_qhy_py.usb.link import CameraLink
from indi_qhy_py.usb.transport import BULK_CHUNK

RUNS = 5


def started_download(camera: Camera) -> Exposure:
    """An exposure of the shortest time, returned once its download is under way."""
    exposure = camera.start_exposure(QHY600M.exposure_min_s)
    while exposure.phase != "reading" or exposure.download_fraction == 0:
        time.sleep(0.001)
    return exposure


def main() -> None:
    infos, _ = discover([EmulatorBackend([EmulatedCamera(QHY600M, rate_limit=True)])])
    camera = Camera(infos[0], poll_s=0.5)
    camera.connect()
    during_exposure, during_download = [], []
    for _ in range(RUNS):
        exposure = camera.start_exposure(60.0)
        time.sleep(0.2)
        start = time.perf_counter()
        exposure.abort(1.0)
        during_exposure.append(time.perf_counter() - start)
        exposure = started_download(camera)
        start = time.perf_counter()
        exposure.abort(1.0)
        during_download.append(time.perf_counter() - start)
    # baseline: one chunk at the rated rate, through the same transport
    started_download(camera).abort(1.0)
    camera.io(CameraLink.start_exposure)
    while camera.io(CameraLink.ddr_bytes) < BULK_CHUNK:
        time.sleep(0.001)
    scratch = np.empty(BULK_CHUNK, dtype=np.uint8)
    camera.read_frame(scratch, BULK_CHUNK, 5000)  # first chunk includes waiting for the stream
    start = time.perf_counter()
    camera.read_frame(scratch, BULK_CHUNK, 5000)
    chunk_ms = (time.perf_counter() - start) * 1000
    camera.disconnect()
    exp_ms = [t * 1000 for t in during_exposure]
    dl_ms = [t * 1000 for t in during_download]
    print(f"baseline: one {BULK_CHUNK >> 20} MiB bulk chunk at the rated rate: {chunk_ms:.1f} ms")
    print(f"abort during exposure: median {statistics.median(exp_ms):.1f} ms, max {max(exp_ms):.1f} ms")
    print(f"abort during download: median {statistics.median(dl_ms):.1f} ms, max {max(dl_ms):.1f} ms")
    print(f"abort_ms={max(exp_ms + dl_ms):.1f}")


if __name__ == "__main__":
    main()
