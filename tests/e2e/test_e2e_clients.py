"""The programs rigs run, against the driver through Debian's indiserver: a client's stray BLOB, indiserver's own
start/stop by name (what KStars and INDI Web Manager send to its FIFO), INDI Web Manager itself through its REST
API, a camera plugged in while another exposes, and INDI 2.x's XISF transfer format.
"""

from __future__ import annotations

import array
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from indi_qhy_py.indi.client import Conversation, TcpClient, blob_payload
from tests.e2e.conftest import (
    NEEDS_INDISERVER,
    Server,
    child_pids,
    driver_env,
    driver_pids,
    eventually,
    free_port,
    getprop,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.emulated, NEEDS_INDISERVER]
LABEL = "QHY CCD (Python)"
QHY268C = "QHY268C-268C000000000001"
QHY600M = "QHY600M-600M000000000001"
STRAY_BLOB = (f"<newBLOBVector device='{QHY268C}' name='CCD1'><oneBLOB name='CCD1' size='4' format='.fits'>"
              "QUJDRA==</oneBLOB></newBLOBVector>")


class UnixClient(Conversation):
    """A client on indiserver's local socket (``-u``), the way libindi's clients on the same machine connect: BLOBs
    come as shared memory, a file descriptor passed beside each ``attached='true'`` element, in order."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("\0" + str(path))  # indiserver listens in the abstract namespace
        self.fds: list[int] = []
        super().__init__(self.sock.sendall)
        self.start_reader(self._receive)

    def _receive(self) -> bytes:
        data, ancillary, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(64 * 4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                self.fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
        return data

    def blob(self, message: ET.Element) -> tuple[bytes, str]:
        """A BLOB's bytes and format, from its shared memory when attached."""
        one = message.find("oneBLOB")
        if one is None or one.get("attached") != "true":
            return blob_payload(message)
        fd = self.fds.pop(0)
        try:
            return os.pread(fd, int(one.get("size", "0")), 0), one.get("format", "")
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("clients")
    running = start_server(tmp, "indi_qhy_py_ccd", env=driver_env(tmp, "QHY268C", INDI_QHY_UPLOAD_ROOT=str(tmp / "up")))
    running.tmp = tmp  # type: ignore[attr-defined]
    yield running
    stop_server(running)


def ready(client: Conversation) -> Conversation:
    client.send("<getProperties version='1.7'/>")
    client.wait(lambda m: m.get("device") == QHY268C and m.get("name") == "CONNECTION")
    client.send(f"<enableBLOB device='{QHY268C}'>Also</enableBLOB>")
    client.connect(QHY268C)
    assert client.set(QHY268C, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48).get("state") == "Ok"
    return client


# --- a client's stray BLOB ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_a_client_that_writes_a_blob_keeps_its_connection_and_so_do_others(server: Server, transport: str) -> None:
    make = {"tcp": lambda: TcpClient(port=server.port),
            "unix": lambda: UnixClient(server.tmp / f"sock{server.port}")}[transport]  # type: ignore[attr-defined]
    writer, other = ready(make()), ready(TcpClient(port=server.port))
    try:
        mark = writer.mark()
        writer.send(STRAY_BLOB)
        said = writer.wait(lambda m: m.tag == "message" and "CCD1 not changed" in m.get("message", ""), 10, mark)
        assert "read-only" in said.get("message", "")
        # the same connection: its next getProperties is answered, its next frame arrives
        mark = writer.mark()
        writer.send(f"<getProperties version='1.7' device='{QHY268C}' name='CCD_EXPOSURE'/>")
        writer.wait(lambda m: m.tag == "defNumberVector" and m.get("name") == "CCD_EXPOSURE", 10, mark)
        for client in (writer, other):
            reply = client.expose(QHY268C, 0.01, timeout=60)
            data, fmt = client.blob(reply) if isinstance(client, UnixClient) else blob_payload(reply)
            with fits.open(io.BytesIO(data)) as hdus:
                assert fmt == ".fits" and hdus[0].data.shape == (48, 64)
        assert not [m for m in writer.messages[mark:] if m.tag == "setBLOBVector" and m.find("oneBLOB") is None]
    finally:
        writer.close()
        other.close()


# --- indiserver's start/stop by name, as KStars and INDI Web Manager use its FIFO ------------------------------------
def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


class FifoServer:
    def __init__(self, tmp: Path, emulate: str) -> None:
        self.fifo = tmp / "fifo"
        os.mkfifo(self.fifo)
        port = free_port()
        env = {**os.environ, **driver_env(tmp, emulate)}
        with open(tmp / "indiserver.log", "wb") as log:
            proc = subprocess.Popen(["indiserver", "-v", "-p", str(port), "-u", str(tmp / "sock"), "-m", "1024", "-f",
                                     str(self.fifo)], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.server = Server(port, proc, tmp / "indiserver.log")
        assert eventually(lambda: listening(port)), self.server.log.read_text()

    def command(self, line: str) -> None:
        with open(self.fifo, "w") as fifo:
            fifo.write(line + "\n")

    def drivers(self) -> list[int]:
        return driver_pids(self.server)

    def start(self) -> None:
        before = self.drivers()
        self.command(f'start indi_qhy_py_ccd -n "{LABEL}"')
        assert eventually(lambda: len(self.drivers()) == len(before) + 1, 10), self.server.log.read_text()[-2000:]
        assert eventually(lambda: getprop(self.server.port, "*.CONNECTION.CONNECT"), 20)

    def close(self) -> None:
        stop_server(self.server)


@pytest.mark.parametrize("emulate", ["QHY600M", "QHY600M,QHY268C"], ids=["one camera", "two cameras"])
def test_stop_by_label_or_device_name_stops_the_driver(tmp_path: Path, emulate: str) -> None:
    fifo = FifoServer(tmp_path, emulate)
    try:
        names = [f"{m}-{m[3:7]}{i:012X}" for i, m in enumerate(emulate.split(","), start=1)]
        for name in (LABEL, *names):  # the label KStars and indiweb started it under, and each device's own name
            fifo.start()
            devices = {key.split(".")[0] for key in getprop(fifo.server.port, "*.CONNECTION.CONNECT")}
            assert devices == set(names)  # the cameras keep their names; the label is not a device of its own
            fifo.command(f'stop indi_qhy_py_ccd -n "{name}"')
            assert eventually(lambda: not fifo.drivers(), 10), f"stop -n {name!r} left the driver running"
        fifo.start()
        fifo.command("stop indi_qhy_py_ccd")
        assert eventually(lambda: not fifo.drivers(), 10)
    finally:
        fifo.close()


# --- INDI Web Manager --------------------------------------------------------------------------------------------
def indiweb_call(port: int, method: str, path: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{urllib.parse.quote(path)}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


def indiserver_on(port: int) -> list[int]:
    """indiserver processes listening on ``port`` (indiweb starts them through a shell)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"indiserver") and str(port).encode() in argv:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(shutil.which("indi-web") is None, reason="needs INDI Web Manager (pip install indiweb)")
def test_indi_web_manager_lists_starts_stops_and_restarts_the_driver(tmp_path: Path) -> None:
    xml_dir, conf = tmp_path / "xml", tmp_path / "conf"
    xml_dir.mkdir()
    conf.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "xml" / "indi_qhy_py.xml", xml_dir)
    web, indi_port = free_port(), free_port()
    env = {**os.environ, **driver_env(tmp_path, "QHY600M")}
    with open(tmp_path / "indiweb.log", "wb") as log:
        web_proc = subprocess.Popen([sys.executable, "-m", "indiweb.main", "--host", "127.0.0.1", "--port", str(web),
                                     "--indi-port", str(indi_port), "--fifo", str(tmp_path / "fifo"), "--conf",
                                     str(conf), "--xmldir", str(xml_dir)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        assert eventually(lambda: listening(web), 30), (tmp_path / "indiweb.log").read_text()[-2000:]
        listed = [d for d in indiweb_call(web, "GET", "/api/drivers") if d["label"] == LABEL]  # type: ignore[union-attr]
        assert len(listed) == 1 and listed[0]["binary"] == "indi_qhy_py_ccd" and listed[0]["mdpd"] is True
        indiweb_call(web, "POST", "/api/profiles/rig")
        indiweb_call(web, "PUT", "/api/profiles/rig", {"port": indi_port, "autostart": 0, "autoconnect": 0})
        indiweb_call(web, "POST", "/api/profiles/rig/drivers", [{"label": LABEL}])
        indiweb_call(web, "POST", "/api/server/start/rig")
        assert eventually(lambda: indiserver_on(indi_port), 20)
        server_pid = indiserver_on(indi_port)[0]
        assert eventually(lambda: getprop(indi_port, f"{QHY600M}.CONNECTION.CONNECT"), 30)
        first = child_pids(server_pid)
        indiweb_call(web, "POST", f"/api/drivers/stop/{LABEL}")  # the web page's per-driver stop
        assert eventually(lambda: not child_pids(server_pid), 10), "indiweb's driver stop left the driver running"
        indiweb_call(web, "POST", f"/api/drivers/start/{LABEL}")
        assert eventually(lambda: getprop(indi_port, f"{QHY600M}.CONNECTION.CONNECT"), 30)
        started = child_pids(server_pid)
        indiweb_call(web, "POST", f"/api/drivers/restart/{LABEL}")
        assert eventually(lambda: child_pids(server_pid) and child_pids(server_pid) != started, 10)
        assert eventually(lambda: getprop(indi_port, f"{QHY600M}.CONNECTION.CONNECT"), 30)
        assert first != started
        indiweb_call(web, "POST", "/api/server/stop")
        assert eventually(lambda: not indiserver_on(indi_port), 10)
    finally:
        for pid in indiserver_on(indi_port):
            os.kill(pid, 15)
        web_proc.terminate()
        web_proc.wait(10)


# --- hot-plug through indiserver -------------------------------------------------------------------------------
def test_a_camera_plugged_in_while_another_exposes_appears_to_clients(tmp_path: Path) -> None:
    env = driver_env(tmp_path, "QHY600M,QHY268C@4", INDI_QHY_RESCAN_S="0.5")
    server = start_server(tmp_path, "indi_qhy_py_ccd", env=env)
    client = TcpClient(port=server.port)
    try:
        client.get_properties()
        client.wait(lambda m: m.get("device") == QHY600M and m.get("name") == "CONNECTION")
        assert not any(m.get("device", "").startswith("QHY268C") for m in client.messages)
        client.enable_blobs(QHY600M)
        client.connect(QHY600M)
        client.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
        mark = client.mark()
        client.send(client.new_vector(QHY600M, "CCD_EXPOSURE", "Number", CCD_EXPOSURE_VALUE=6))
        late = "QHY268C-268C000000000002"
        arrived = client.wait(lambda m: m.tag == "defSwitchVector" and m.get("device") == late, 20, mark)
        blob = client.wait(lambda m: m.tag == "setBLOBVector" and m.get("device") == QHY600M, 30, mark)
        assert client.messages.index(arrived) < client.messages.index(blob)
        with fits.open(io.BytesIO(blob_payload(blob)[0])) as hdus:
            assert hdus[0].header["INTEGRTY"] == "good" and hdus[0].header["EXPTIME"] == 6
        assert {k.split(".")[0] for k in getprop(server.port, "*.CONNECTION.CONNECT")} == {QHY600M, late}
    finally:
        client.close()
        stop_server(server)


# --- INDI 2.x: XISF ----------------------------------------------------------------------------------------------
def test_xisf_goes_to_clients_and_to_the_local_file(server: Server) -> None:
    xisf = pytest.importorskip("xisf")
    client = ready(TcpClient(port=server.port))
    try:
        assert client.set(QHY268C, "CCD_TRANSFER_FORMAT", "Switch", FORMAT_XISF="On").get("state") == "Ok"
        client.set(QHY268C, "UPLOAD_SETTINGS", "Text", UPLOAD_DIR="xisf", UPLOAD_PREFIX="M31_XXX")
        client.set(QHY268C, "UPLOAD_MODE", "Switch", UPLOAD_BOTH="On")
        data, fmt = blob_payload(client.expose(QHY268C, 0.01, timeout=60))
        assert fmt == ".xisf" and data[:8] == b"XISF0100"
        saved = server.tmp / "up" / "xisf" / "M31_001.xisf"  # type: ignore[attr-defined]
        assert eventually(saved.exists, 5) and saved.read_bytes() == data
        reader = xisf.XISF(str(saved))
        image, meta = reader.read_image(0), reader.get_images_metadata()[0]
        assert image.shape == (48, 64, 1) and image.dtype == np.uint16
        assert meta["FITSKeywords"]["INSTRUME"][0]["value"] == "QHY268C"
        assert meta["FITSKeywords"]["INTEGRTY"][0]["value"] == "good"
        client.set(QHY268C, "CCD_TRANSFER_FORMAT", "Switch", FORMAT_FITS="On")
        client.set(QHY268C, "UPLOAD_MODE", "Switch", UPLOAD_CLIENT="On")
        assert blob_payload(client.expose(QHY268C, 0.01, timeout=60))[1] == ".fits"
    finally:
        client.close()


def test_the_upload_dir_tilde_is_the_home_or_refused_naming_the_root(server: Server) -> None:
    client = ready(TcpClient(port=server.port))
    try:
        reply = client.set(QHY268C, "UPLOAD_SETTINGS", "Text", UPLOAD_DIR="~/x", UPLOAD_PREFIX="IMAGE_XXX")
        root = server.tmp / "up"  # type: ignore[attr-defined]
        assert reply.get("state") == "Alert" and f"outside the upload root {root}" in reply.get("message", "")
        assert not (root / "~").exists() and not (Path.cwd() / "~").exists()
    finally:
        client.close()

