"""The driver started as KStars starts it from a local profile: indiserver's FIFO, ``-n``, a bare PATH.

KStars starts ``indiserver -f FIFO`` and writes ``start indi_qhy_py_ccd -n "QHY CCD (Python)"`` into it; the driver
runs with KStars' own PATH, on which only ``install``'s link in /usr/bin makes it findable when pip put it
elsewhere. With no camera attached, the device KStars asked for must appear, and SIMULATION + CONNECT must give
frames.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits

from indi_qhy_py.indi.client import TcpClient, blob_payload
from tests.e2e.conftest import NEEDS_INDISERVER, Server, driver_env, free_port, stop_server
from tests.e2e.kstars_session import NEEDS_KSTARS, PROFILE, KStarsSession, wait_for

pytestmark = [pytest.mark.emulated, NEEDS_INDISERVER]
NAME = "QHY CCD (Python)"


def test_started_through_the_fifo_with_a_bare_path_the_placeholder_appears_and_emulates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    subprocess.run([sys.executable, "-m", "indi_qhy_py.install", "--root", str(root)], check=True,
                   capture_output=True)
    bare_path = f"{root}/usr/bin:/bin"  # a bare PATH: no virtualenv, no ~/.local/bin, not even /usr/local/bin
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    port = free_port()
    env = {"HOME": str(tmp_path), "PATH": bare_path, "INDI_QHY_RESCAN_S": "0", "INDI_QHY_CONFIG_DIR": str(tmp_path)}
    with open(tmp_path / "indiserver.log", "wb") as log:
        proc = subprocess.Popen(["/usr/bin/indiserver", "-v", "-p", str(port), "-u", str(tmp_path / "sock"), "-m",
                                 "1024", "-f", str(fifo)], stdout=log, stderr=subprocess.STDOUT, env=env)
    server = Server(port, proc, tmp_path / "indiserver.log")
    client = TcpClient("127.0.0.1", port)
    try:
        client.get_properties()  # as KStars does on connecting, before the driver starts
        with open(fifo, "w") as f:
            f.write(f'start indi_qhy_py_ccd -n "{NAME}"\n')
        said = client.wait(lambda m: m.tag == "message" and m.get("device") == NAME, 20)
        assert "no QHY268/QHY600 camera is attached" in said.get("message", "")
        client.enable_blobs(NAME)
        assert client.set(NAME, "SIMULATION", "Switch", ENABLE="On").get("state") == "Ok"
        client.connect(NAME)
        client.set(NAME, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=80, HEIGHT=60)
        data, _ = blob_payload(client.expose(NAME, 0.01, timeout=60))
        with fits.open(io.BytesIO(data)) as hdus:
            assert hdus[0].data.shape == (60, 80) and hdus[0].header["INSTRUME"] == "QHY268M"
    finally:
        client.close()
        stop_server(server)
    assert "failed to start" not in (tmp_path / "indiserver.log").read_text()


# --- KStars itself, its local profile, under Xvfb ---------------------------------------------------------------
CAMERA = "QHY600M-600M000000000001"


def _kstars_run(session: KStarsSession, device: str, simulation: bool) -> None:
    """One evening: Ekos starts the profile (KStars starts indiserver and the driver), connect, write at once,
    cool, expose, stop Ekos; KStars must live through every step."""
    _start_profile(session, device)
    ekos, indi = session.ekos, session.indi  # after _start_profile: it may have had to restart KStars
    if simulation:  # the placeholder KStars asked for becomes an emulated camera
        wait_for(lambda: indi.setSwitch(device, "SIMULATION", "ENABLE", "On"), 30, "SIMULATION")
        indi.sendProperty(device, "SIMULATION")
    ekos.connectDevices()
    # the first writes go out the moment the properties exist, racing Ekos' own (it writes CCD_FRAME and
    # CCD_BINNING when a camera appears)
    wait_for(lambda: indi.setNumber(device, "CCD_TEMPERATURE", "CCD_TEMPERATURE_VALUE", -10.0), 60,
             "CCD_TEMPERATURE", interval=0.01)
    indi.sendProperty(device, "CCD_TEMPERATURE")
    for name, element, value in (("CCD_GAIN", "GAIN", 30.0), ("CCD_OFFSET", "OFFSET", 20.0),
                                 ("CCD_FRAME", "WIDTH", 320.0), ("CCD_BINNING", "HOR_BIN", 2.0)):
        assert indi.setNumber(device, name, element, value), name
        indi.sendProperty(device, name)
        assert session.alive(), session.death()
    wait_for(lambda: indi.getSwitch(device, "CCD_COOLER", "COOLER_ON") == "On", 30, "the cooler on")
    wait_for(lambda: indi.getNumber(device, "CCD_COOLER_POWER", "CCD_COOLER_VALUE") > 0, 30, "cooler power")
    assert (indi.getNumber(device, "CCD_GAIN", "GAIN"), indi.getNumber(device, "CCD_OFFSET", "OFFSET")) == (30, 20)
    # a small frame: KStars 3.6.2 itself crashes when Ekos stops while a large BLOB is still arriving (with
    # Debian's indi_simulator_ccd too), so each run lets its frame arrive before stopping
    wait_for(lambda: _small_frame(indi, device), 20, "a 320x200 frame")
    assert indi.setNumber(device, "CCD_EXPOSURE", "CCD_EXPOSURE_VALUE", 0.2)
    indi.sendProperty(device, "CCD_EXPOSURE")
    wait_for(lambda: indi.getPropertyState(device, "CCD_EXPOSURE") == "Busy", 10, "exposure started")
    wait_for(lambda: indi.getPropertyState(device, "CCD_EXPOSURE") == "Ok", 60, "exposure done")
    time.sleep(1.0)  # 128 kB: long delivered to KStars' BLOB connection
    assert session.alive(), session.death()
    ekos.stop()
    wait_for(lambda: device not in indi.getDevices(), 30,
             lambda: f"Ekos stopped (KStars still has {list(indi.getDevices())})")
    time.sleep(1.0)
    assert session.alive(), session.death()


def _start_profile(session: KStarsSession, device: str) -> None:
    """Ekos starts the profile; started again when KStars' own start-up race poisoned it (``refused_since``)."""
    for _ in range(4):
        ekos = session.ekos
        assert ekos.setProfile(PROFILE)
        mark = session.log_mark()
        ekos.start()
        wait_for(lambda: device in session.indi.getDevices(), 60, f"{device} in KStars")
        if not session.refused_since(mark):
            return
        KSTARS_RACES.append(device)  # KStars would die at the first write: not this driver's doing
        session.restart()
    pytest.fail("KStars' first connection to its own indiserver was refused at every start")


KSTARS_RACES: list[str] = []


def _small_frame(indi: Any, device: str) -> bool:
    """Ask for a 320x200 frame unbinned; True once KStars shows the driver took it."""
    if (indi.getNumber(device, "CCD_FRAME", "WIDTH"), indi.getNumber(device, "CCD_FRAME", "HEIGHT"),
            indi.getNumber(device, "CCD_BINNING", "HOR_BIN")) == (320, 200, 1):
        return True
    for name, element, value in (("CCD_BINNING", "HOR_BIN", 1.0), ("CCD_BINNING", "VER_BIN", 1.0)):
        indi.setNumber(device, name, element, value)
    indi.sendProperty(device, "CCD_BINNING")
    for element, value in (("X", 0.0), ("Y", 0.0), ("WIDTH", 320.0), ("HEIGHT", 200.0)):
        indi.setNumber(device, "CCD_FRAME", element, value)
    indi.sendProperty(device, "CCD_FRAME")
    time.sleep(0.5)
    return False


def _evenings(tmp_path: Path, emulate: str, device: str, simulation: bool, runs: int) -> None:
    session = KStarsSession(tmp_path, driver_env(tmp_path, emulate, INDI_QHY_UPLOAD_ROOT=str(tmp_path / "uploads")))
    try:
        session.start()
        for _ in range(runs):
            _kstars_run(session, device, simulation)
    finally:
        session.close()


@NEEDS_KSTARS
def test_kstars_local_profile_connects_writes_cools_and_exposes_run_after_run(tmp_path: Path) -> None:
    _evenings(tmp_path, "QHY600M", CAMERA, simulation=False, runs=3)


@NEEDS_KSTARS
def test_kstars_local_profile_with_no_camera_emulates_through_the_placeholder(tmp_path: Path) -> None:
    _evenings(tmp_path, "", NAME, simulation=True, runs=2)
