"""End of readout -> last byte of the CCD1 BLOB on the driver's stdout, for a QHY600 16-bit full frame.

The driver path (decode, FITS header and packing, base64 chunk by chunk, write) runs in a real QhyCcd device whose
stdout is a pipe drained by ``cat > /dev/null`` (as indiserver drains a driver). The baseline, in the same run and
into the same kind of pipe: base64-encode the very same FITS bytes in one call and write them. Five runs each;
medians are compared. Last line: ``ratio=<driver/bare>`` (goal <= 1.5).
"""

from __future__ import annotations

import binascii
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from indi_qhy_py.camera import Camera
from indi_qhy_py.emulator import emulated_backend
from indi_qhy_py.indi.ccd import QhyCcd
from indi_qhy_py.indi.wire import Writer
from indi_qhy_py.usb.discovery import discover

RUNS = 5


def sink() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def new(device: str, name: str, kind: str, element: str, value: str) -> ET.Element:
    return ET.fromstring(f"<new{kind}Vector device='{device}' name='{name}'><one{kind} name='{element}'>{value}"
                         f"</one{kind}></new{kind}Vector>")


def main() -> int:
    infos, _ = discover([emulated_backend("QHY600M", rate_limit=False)])
    driver_sink = sink()
    assert driver_sink.stdin is not None
    writer = Writer(driver_sink.stdin)
    device = QhyCcd(Camera(infos[0]), writer, stand_in=infos[0].stand_in)
    device.start()
    device.handle_new(new(device.name, "CONNECTION", "Switch", "CONNECT", "On"))
    deadline = time.monotonic() + 30
    while "CCD_EXPOSURE" not in device.props:
        assert time.monotonic() < deadline, "camera did not connect"
        time.sleep(0.01)

    driver_times = []
    for run in range(RUNS + 1):  # the first run is a warm-up (first touch of the 123 MB buffers)
        device.delivery.last_delivery_s = float("nan")
        device.handle_new(new(device.name, "CCD_EXPOSURE", "Number", "CCD_EXPOSURE_VALUE", "0.001"))
        while device.delivery.last_delivery_s != device.delivery.last_delivery_s:
            assert time.monotonic() < deadline + 60 * (run + 1), "no BLOB"
            time.sleep(0.002)
        if run:
            driver_times.append(device.delivery.last_delivery_s)
    fits_bytes = bytes(device.delivery.encoder._buffer[: device.delivery.encoder._buffer.size])
    device.close()
    writer.close()
    driver_sink.stdin.close()
    driver_sink.wait()

    bare_sink = sink()
    assert bare_sink.stdin is not None
    bare_times = []
    for _ in range(RUNS):
        start = time.monotonic()
        bare_sink.stdin.write(binascii.b2a_base64(fits_bytes, newline=False))
        bare_sink.stdin.flush()
        bare_times.append(time.monotonic() - start)
    bare_sink.stdin.close()
    bare_sink.wait()

    driver_ms, bare_ms = statistics.median(driver_times) * 1e3, statistics.median(bare_times) * 1e3
    print(f"QHY600M 16-bit full frame, FITS {len(fits_bytes) / 1e6:.1f} MB, {RUNS} runs each")
    print(f"driver readout end -> last BLOB byte: median {driver_ms:.0f} ms "
          f"(min {min(driver_times) * 1e3:.0f}, max {max(driver_times) * 1e3:.0f})")
    print(f"bare base64 + write of the same bytes: median {bare_ms:.0f} ms "
          f"(min {min(bare_times) * 1e3:.0f}, max {max(bare_times) * 1e3:.0f})")
    print(f"ratio={driver_ms / bare_ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
