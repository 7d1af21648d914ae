"""Live video at the camera's rated frame rate, recorded to SER through a real indiserver, side by side with
INDI's own indi_simulator_ccd streaming in the same run.

The driver runs emulated QHY600M and QHY268M cameras with the emulator's rate limit on (the camera streams no
faster than its rated USB throughput), USB_TRAFFIC 0 and the shortest exposure, so the camera is the limit. For
each geometry of the product pages' tables the driver records RECORD_DURATION_ON seconds to a SER file while a
client takes the preview through indiserver; the SER file's own frame count and timestamps give the recorded FPS.

Per geometry: recorded FPS (the slope of the SER frames' arrival times through the least late frame of each block,
as ``_rates`` explains why; the least-squares slope through them all is printed beside it); the emulated
camera's frame rate for the rows the driver asked for (``camera``), the table's figure (``table``); frames lost
(camera frame numbers missing, must be 0); frames left out of the recording; preview FPS delivered to the client;
the driver's CPU (% of one core) and peak RSS. The peer is indi_simulator_ccd recording at the nearest geometry it
offers, 9600 x 1080. ``--soak S`` adds a stream of S seconds (QHY600, preview only; ``--soak-rows``) sampling RSS.
Last line:
``live_ratio=<minimum over geometries of recorded FPS / the table's rated FPS>`` (goal >= 1.0 with 0 lost); the line
before it gives the same minimum unrounded, and against the emulated camera's own rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _rates import MIN_BLOCKS, period_least_squares, period_of_least_late

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera
from indi_qhy_py.indi.client import TcpClient
from indi_qhy_py.models import QHY268M, QHY600M, CameraModel
from indi_qhy_py.output.ser import read_ser

DEVICES = {QHY600M.name: "QHY600M-600M000000000001", QHY268M.name: "QHY268M-268M000000000002"}
SIMULATOR = "CCD Simulator"
END = b"</setBLOBVector>"
#: (model, rows (None: full frame), bits, seconds recorded): 50 frames or more. Longer where the link has no headroom
#: (QHY600 9600x1080, QHY268 full frame 16-bit: only the arrival times can tell a shortfall there) and at QHY600 full
#: frame, whose frames arrived up to 175 ms late in a 30 s recording (the emulator draws 61 Mpx in the reader's thread)
GEOMETRIES = [(QHY600M, 100, 16, 6), (QHY600M, 480, 16, 6), (QHY600M, 1080, 16, 12), (QHY600M, None, 8, 30),
              (QHY600M, None, 16, 20), (QHY268M, 480, 16, 6), (QHY268M, 1080, 16, 8), (QHY268M, None, 16, 15)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PreviewCounter:
    """A client taking one device's BLOBs through indiserver, counting them (nothing parsed, nothing kept)."""

    def __init__(self, port: int, device: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"<getProperties version='1.7'/><enableBLOB device='{device}'>Only</enableBLOB>".encode())
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        tail = b""
        while data := self.sock.recv(1 << 22):
            window = tail + data
            self.count += window.count(END)
            tail = window[-len(END) :]


@dataclass
class Sample:
    cpu_s: float
    rss_mb: float


def driver_pid(server: subprocess.Popen[bytes]) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == server.pid and b"indi_qhy_py_ccd" in cmd:
                return int(entry.name)
    raise RuntimeError("the driver process was not found")


def sample(pid: int) -> Sample:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return Sample(cpu, rss / 1024)


def camera_fps(model: CameraModel, rows: int, bits: int) -> float:
    """The emulated camera's live frame rate for the rows the driver asks for (USB_TRAFFIC 0)."""
    family, full = model.family.value, model.readout_height
    y = model.effective.y
    device = EmulatedCamera(model)
    r = device.registers
    r.rows, r.first_row = protocol.rows_for(family, y, rows, full, 1, live=True)
    r.bits, r.usb_traffic, r.exposure_us = bits, 0, 1
    return 1.0 / device.live_period()


def table_fps(model: CameraModel, rows: int | None, bits: int) -> float:
    """The product page's figure: for a full frame (``rows`` None) the table's full-frame row."""
    return 1.0 / model.frame_time_s(rows or model.full_frame_rate_rows, bits)


def record(control: TcpClient, device: str, seconds: float, folder: str, timeout: float = 120) -> str:
    control.set(device, "RECORD_FILE", "Text", RECORD_FILE_DIR=folder, RECORD_FILE_NAME="bench")
    control.set(device, "RECORD_OPTIONS", "Number", RECORD_DURATION=seconds)
    mark = control.mark()
    started = control.set(device, "RECORD_STREAM", "Switch", RECORD_DURATION_ON="On")
    if started.get("state") != "Busy":
        raise RuntimeError(f"{device}: recording did not start: {started.get('message')}")
    done = control.wait(lambda m: m.get("device") == device and m.get("name") == "RECORD_STREAM"
                        and m.get("state") in ("Ok", "Alert", "Idle"), timeout, mark + 1)
    return done.get("message") or ""


def ser_fps(path: Path) -> tuple[int, float, float, float]:
    """Frames in a SER file and their rate from the frames' arrival times: through the least late frames (see
    ``_rates``), and by least squares through them all with that slope's standard error."""
    got = read_ser(str(path), any_file_id=True)
    stamps = np.array([t.timestamp() for t in got.utc])
    if len(stamps) < 2 * MIN_BLOCKS:
        return got.header.frames, 0.0, 0.0, 0.0
    least_late = period_of_least_late(stamps)
    period, period_error = period_least_squares(stamps)
    return got.header.frames, 1.0 / least_late, 1.0 / period, period_error / period**2


def run_geometry(control: TcpClient, pid: int, counter: PreviewCounter, uploads: Path, model: CameraModel,
                 rows: int | None, bits: int, seconds: float, keep: Path | None) -> dict[str, float]:
    device = DEVICES[model.name]
    height = rows or model.effective.height
    control.set(device, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=model.effective.width, HEIGHT=height)
    control.set(device, "BIT_DEPTH", "Switch", **{f"BITS_{bits}": "On"})
    control.set(device, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=model.exposure_min_s)
    folder = f"bench_{model.name}_{height}_{bits}"
    control.set(device, "CCD_VIDEO_STREAM", "Switch", STREAM_ON="On")
    time.sleep(1.5)  # as a user does: the stream runs, then the recording starts
    before, previews, began = sample(pid), counter.count, time.monotonic()
    peak = [before.rss_mb]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            peak.append(sample(pid).rss_mb)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    message = record(control, device, seconds, folder)
    stop.set()
    watcher.join()
    elapsed, after, shown = time.monotonic() - began, sample(pid), counter.count - previews
    time.sleep(1.2)  # the counters of the stream at the recording's end
    stats = dict(control.values[(device, "STREAM_STATS")])
    mark = control.mark()
    control.send(control.new_vector(device, "CCD_VIDEO_STREAM", "Switch", STREAM_OFF="On"))
    control.wait(lambda m: m.get("device") == device and m.get("name") == "CCD_VIDEO_STREAM"
                 and m.get("state") == "Idle", 20, mark)
    files = sorted((uploads / folder).glob("*.ser"))
    frames, fps, fps_all, fps_error = ser_fps(files[-1]) if files else (0, 0.0, 0.0, 0.0)
    if keep is not None and files:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.move(files[-1], keep / f"{folder}.ser")
    shutil.rmtree(uploads / folder, ignore_errors=True)
    return {"frames": frames, "fps": fps, "fps_all": fps_all, "fps_error": fps_error,
            "camera": camera_fps(model, height, bits),
            "table": table_fps(model, rows, bits), "lost": float(stats.get("LOST", "nan")),
            "dropped": float(stats.get("RECORD_DROPPED", "nan")), "preview": shown / elapsed,
            "cpu": 100 * (after.cpu_s - before.cpu_s) / elapsed, "rss": max(peak), "message": message}  # type: ignore


def run_peer(control: TcpClient, workdir: Path, seconds: float) -> dict[str, float]:
    control.wait(lambda m: m.get("device") == SIMULATOR and m.get("name") == "SIMULATOR_SETTINGS", 30)
    control.set(SIMULATOR, "SIMULATOR_SETTINGS", "Number", SIM_XRES=9600, SIM_YRES=1080)
    control.set(SIMULATOR, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=0.001)
    folder = workdir / "peer"
    began = time.monotonic()
    message = record(control, SIMULATOR, seconds, str(folder))
    elapsed = time.monotonic() - began
    time.sleep(1.0)  # the simulator closes its file after it reports
    files = sorted(folder.glob("*.ser"))
    frames, fps, _, _ = ser_fps(files[-1]) if files else (0, 0.0, 0.0, 0.0)
    return {"frames": frames, "fps": fps, "elapsed": elapsed, "message": message}  # type: ignore[dict-item]


def soak(control: TcpClient, pid: int, seconds: float, rows: int | None) -> tuple[float, float, float, str]:
    """Stream ``seconds`` (preview only) at ``rows`` (None: the whole frame); RSS after 10 s, highest and last, and
    the frames the camera lost meanwhile."""
    device = DEVICES[QHY600M.name]
    control.set(device, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=QHY600M.effective.width,
                HEIGHT=rows or QHY600M.effective.height)
    control.set(device, "BIT_DEPTH", "Switch", BITS_16="On")
    control.set(device, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=QHY600M.exposure_min_s)
    control.set(device, "CCD_VIDEO_STREAM", "Switch", STREAM_ON="On")
    time.sleep(10)  # the buffers, first touched
    first = sample(pid).rss_mb
    highest = first
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(5)
        highest = max(highest, sample(pid).rss_mb)
    last = sample(pid).rss_mb
    time.sleep(1.2)
    lost = control.values[(device, "STREAM_STATS")].get("LOST", "?")
    control.set(device, "CCD_VIDEO_STREAM", "Switch", STREAM_OFF="On")
    return first, highest, last, lost


def chosen_geometries(only: str | None) -> list[tuple[CameraModel, int | None, int, float]]:
    """Every geometry of the tables, or the one ``MODEL:ROWS:BITS`` names (ROWS 0: the whole frame)."""
    if only is None:
        return GEOMETRIES
    name, rows, bits = only.split(":")
    chosen = [g for g in GEOMETRIES if (g[0].name, g[1] or 0, g[2]) == (name, int(rows), int(bits))]
    if not chosen:
        names = [f"{g[0].name}:{g[1] or 0}:{g[2]}" for g in GEOMETRIES]
        raise SystemExit(f"--only {only}: not one of the geometries {names}")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", type=float, default=0.0, help="also stream this many seconds, sampling RSS")
    parser.add_argument("--soak-rows", type=int, default=None, help="rows of the soak stream (default: all)")
    parser.add_argument("--soak-only", action="store_true", help="skip the geometries: only the soak")
    parser.add_argument("--only", default=None, help="one geometry, MODEL:ROWS:BITS (ROWS 0: full frame)")
    parser.add_argument("--seconds", type=float, default=None, help="record this long at every geometry")
    parser.add_argument("--keep", type=Path, default=None, help="move the SER files into this folder")
    args = parser.parse_args()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="live_bench_"))
    uploads = workdir / "uploads"
    env = {**os.environ, "INDI_QHY_EMULATE": "QHY600M,QHY268M", "INDI_QHY_EMULATE_RATE": "on",
           "INDI_QHY_RESCAN_S": "0", "INDI_QHY_CONFIG_DIR": str(workdir), "INDI_QHY_UPLOAD_ROOT": str(uploads),
           "INDICONFIG": str(workdir / "sim_config.xml")}
    with open(workdir / "indiserver.log", "wb") as log:
        server = subprocess.Popen(["indiserver", "-p", str(port), "-u", str(workdir / "sock"), "-m", "1024",
                                   "indi_qhy_py_ccd", "indi_simulator_ccd"], stdout=log, stderr=subprocess.STDOUT,
                                  env=env)
    results: list[tuple[str, dict[str, float]]] = []
    try:
        time.sleep(1)
        control = TcpClient("127.0.0.1", port)
        control.get_properties()
        for device in (*DEVICES.values(), SIMULATOR):
            control.wait(lambda m, d=device: m.get("device") == d and m.get("name") == "CONNECTION", 30)
            control.connect(device)
        for device in DEVICES.values():
            control.wait(lambda m, d=device: m.get("device") == d and m.get("name") == "RECORD_STREAM", 30)
            control.set(device, "USB_TRAFFIC", "Number", TRAFFIC=0)
        pid = driver_pid(server)
        counters = {name: PreviewCounter(port, device) for name, device in DEVICES.items()}
        for model, rows, bits, seconds in [] if args.soak_only else chosen_geometries(args.only):
            label = f"{model.name} {model.effective.width}x{rows or model.effective.height} {bits}-bit"
            result = run_geometry(control, pid, counters[model.name], uploads, model, rows, bits,
                                  args.seconds or seconds, args.keep)
            results.append((label, result))
            print(f"{label}: recorded {result['fps']:.2f} FPS ({result['frames']:.0f} frames), camera "
                  f"{result['camera']:.2f}, table {result['table']:.2f} (ratio {result['fps'] / result['table']:.5f}; "
                  f"all frames' least squares {result['fps_all'] / result['table']:.5f} +- "
                  f"{result['fps_error'] / result['table']:.5f}); "
                  f"lost {result['lost']:.0f}, left out "
                  f"{result['dropped']:.0f}; preview {result['preview']:.1f} FPS; driver CPU {result['cpu']:.0f}% "
                  f"RSS {result['rss']:.0f} MB", flush=True)
        if not args.soak_only:
            peer = run_peer(control, workdir, 4)
            print(f"peer indi_simulator_ccd 9600x1080: recorded {peer['fps']:.2f} FPS ({peer['frames']:.0f} frames)",
                  flush=True)
        if args.soak:
            first, highest, last, lost = soak(control, pid, args.soak, args.soak_rows)
            print(f"soak {args.soak:.0f} s QHY600M {args.soak_rows or 'full-frame'}-row 16-bit stream: RSS {first:.0f} "
                  f"MB after 10 s, highest {highest:.0f} MB, last {last:.0f} MB (growth {last - first:+.0f} MB); "
                  f"frames lost {lost}", flush=True)
        control.close()
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        return 0
    lost = sum(r["lost"] for _, r in results)
    ratio = min(r["fps"] / r["table"] for _, r in results)
    print(f"frames lost in all geometries: {lost:.0f}; recorded / emulated camera's FPS min "
          f"{min(r['fps'] / r['camera'] for _, r in results):.5f}; recorded / table FPS min {ratio:.5f}")
    print(f"live_ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
