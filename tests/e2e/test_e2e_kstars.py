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
from pathlib import Path

import pytest
from astropy.io import fits

from indi_qhy_py.indi.client import TcpClient, blob_payload
from tests.e2e.conftest import NEEDS_INDISERVER, Server, free_port, stop_server

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
