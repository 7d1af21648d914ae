"""indiserver for end-to-end tests: Debian's real server on a free loopback port with its own ``-u`` socket.

Contract, what it provides: ``driver_env`` (the emulated driver's environment), ``start_server`` (returns once
the port accepts connections, or fails with indiserver's log), ``stop_server``, ``driver_pids`` (the driver
processes indiserver runs, to prove a driver was not restarted; ``child_pids`` for any parent), and the
command-line clients ``getprop``/``setprop`` as a script would use them. ``NEEDS_INDISERVER`` skips a module
when Debian's indi-bin or the installed driver is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

NEEDS_INDISERVER = pytest.mark.skipif(shutil.which("indiserver") is None or shutil.which("indi_qhy_py_ccd") is None,
                                      reason="needs indiserver (apt install indi-bin) and the installed driver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def driver_env(tmp: Path, emulate: str, rate: str = "off", **extra: str) -> dict[str, str]:
    """The driver's environment in a test: the emulated cameras (their USB rate limit ``rate``), no rescans, its
    config under ``tmp``; ``extra`` adds more (an upload root)."""
    return {"INDI_QHY_EMULATE": emulate, "INDI_QHY_EMULATE_RATE": rate, "INDI_QHY_RESCAN_S": "0",
            "INDI_QHY_CONFIG_DIR": str(tmp / "config"), **extra}


def start_server(tmp: Path, *drivers: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log = tmp / f"indiserver-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["indiserver", "-v", "-p", str(port), "-u", str(tmp / f"sock{port}"), "-m", "1024",
                                 *drivers], stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Server(port, proc, log)
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def driver_pids(server: Server) -> list[int]:
    """The processes indiserver started (its drivers), from /proc."""
    return child_pids(server.proc.pid)


def child_pids(parent: int) -> list[int]:
    """The live processes whose parent is ``parent``, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


def getprop(port: int, *paths: str) -> dict[str, str]:
    out = subprocess.run(["indi_getprop", "-h", "127.0.0.1", "-p", str(port), "-t", "3", *paths],
                         capture_output=True, text=True, timeout=30).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def setprop(port: int, *assignments: str) -> None:
    subprocess.run(["indi_setprop", "-h", "127.0.0.1", "-p", str(port), *assignments], check=True, timeout=30)


def eventually(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)
