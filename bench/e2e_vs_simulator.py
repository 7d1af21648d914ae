"""Exposure command (0.01 s) -> complete CCD1 BLOB at the client, through one indiserver, side by side:
this driver on an emulated QHY600M (16-bit full readout with overscan, 9600 x 6422 = 61.65 Mpx, rate limit off)
against Debian's C++ indi_simulator_ccd at 8192 x 7526 (the same 61.65 Mpx), POLLING_PERIOD 10 ms for both.

One raw-socket client connection receives the BLOBs (enableBLOB Only) and stops the clock when the closing tag of
the setBLOBVector has arrived; a second connection sends the commands. Five runs each, alternating; medians
printed. Last line: ``ratio=<ours/simulator>`` (goal <= 0.5).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from indi_qhy_py.indi.client import TcpClient

OURS = "QHY600M-600M000000000001"
SIMULATOR = "CCD Simulator"
RUNS = 5
END = b"</setBLOBVector>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BlobReceiver:
    """A raw socket that only receives BLOBs and notices when one is complete (no XML parsing in the timing)."""

    def __init__(self, port: int, devices: list[str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"<getProperties version='1.7'/>"
                          + b"".join(f"<enableBLOB device='{d}'>Only</enableBLOB>".encode() for d in devices))
        self.tail = b""

    def wait_blob(self, timeout: float = 120.0) -> int:
        """Block until the next BLOB message has arrived whole; its size in bytes on the wire."""
        self.sock.settimeout(timeout)
        received = 0
        while True:
            data = self.sock.recv(1 << 22)
            if not data:
                raise ConnectionError("indiserver closed the BLOB connection")
            received += len(data)
            window = self.tail + data
            if END in window:
                self.tail = window[window.index(END) + len(END) :]
                return received
            self.tail = window[-len(END) :]


def timed_exposure(control: TcpClient, receiver: BlobReceiver, device: str) -> tuple[float, int]:
    start = time.monotonic()
    control.send(control.new_vector(device, "CCD_EXPOSURE", "Number", CCD_EXPOSURE_VALUE=0.01))
    size = receiver.wait_blob()
    return time.monotonic() - start, size


def main() -> int:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="e2e_bench_")
    env = {**os.environ, "INDI_QHY_EMULATE": "QHY600M", "INDI_QHY_EMULATE_RATE": "off", "INDI_QHY_RESCAN_S": "0",
           "INDI_QHY_CONFIG_DIR": workdir, "INDICONFIG": os.path.join(workdir, "sim_config.xml")}
    with open(os.path.join(workdir, "indiserver.log"), "wb") as log:
        server = subprocess.Popen(["indiserver", "-p", str(port), "-u", os.path.join(workdir, "sock"), "-m", "1024",
                                   "indi_qhy_py_ccd", "indi_simulator_ccd"], stdout=log, stderr=subprocess.STDOUT,
                                  env=env)
    try:
        control = TcpClient("127.0.0.1", port)
        control.get_properties()
        for device in (OURS, SIMULATOR):
            control.wait(lambda m, d=device: m.get("device") == d and m.get("name") == "CONNECTION", 30)
            control.connect(device)
            control.wait(lambda m, d=device: m.get("device") == d and m.get("name") == "CCD_EXPOSURE", 30)
            control.set(device, "POLLING_PERIOD", "Number", PERIOD_MS=10)
        control.set(OURS, "OVERSCAN_MODE", "Switch", INDI_ENABLED="On")  # the whole 9600 x 6422 readout
        control.wait(lambda m: m.get("device") == SIMULATOR and m.get("name") == "SIMULATOR_SETTINGS", 30)
        control.set(SIMULATOR, "SIMULATOR_SETTINGS", "Number", SIM_XRES=8192, SIM_YRES=7526)
        control.set(SIMULATOR, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=8192, HEIGHT=7526)
        receiver = BlobReceiver(port, [OURS, SIMULATOR])
        time.sleep(0.5)
        for device in (OURS, SIMULATOR):  # warm-up: first-touch allocations on both sides
            timed_exposure(control, receiver, device)
        times: dict[str, list[float]] = {OURS: [], SIMULATOR: []}
        sizes: dict[str, int] = {}
        for _ in range(RUNS):
            for device in (OURS, SIMULATOR):
                seconds, sizes[device] = timed_exposure(control, receiver, device)
                times[device].append(seconds)
                time.sleep(0.2)  # let the finishing set messages drain
        control.close()
    finally:
        server.terminate()
        server.wait(10)
    medians = {d: statistics.median(t) for d, t in times.items()}
    for device, label in ((OURS, "indi_qhy_py_ccd, emulated QHY600M 9600x6422 16-bit"),
                          (SIMULATOR, "indi_simulator_ccd 8192x7526 16-bit")):
        t = times[device]
        print(f"{label}: {sizes[device] / 1e6:.1f} MB on the wire, min/median/max "
              f"{min(t):.2f} / {medians[device]:.2f} / {max(t):.2f} s")
    print(f"ratio={medians[OURS] / medians[SIMULATOR]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
