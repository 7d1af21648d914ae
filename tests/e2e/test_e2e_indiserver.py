"""End to end: Debian's indiserver starts indi_qhy_py_ccd on emulated cameras; real clients drive it.

indiserver runs on loopback ports and its own ``-u`` socket; clients are indi_getprop/indi_setprop, pyindi-client
and this project's raw-socket client. A second, chained indiserver reaches the first the way an observatory runs
the camera on the telescope computer and the client elsewhere.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from indi_qhy_py import __version__
from indi_qhy_py.indi.client import TcpClient, blob_payload
from tests.e2e.conftest import (
    NEEDS_INDISERVER,
    Server,
    driver_env,
    eventually,
    free_port,
    getprop,
    setprop,
    start_server,
    stop_server,
)
from tests.e2e.pyindi_session import pyindi_session

pytestmark = [pytest.mark.emulated, NEEDS_INDISERVER]
QHY600M = "QHY600M-600M000000000001"
QHY268C = "QHY268C-268C000000000002"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("indiserver")
    running = start_server(tmp, "indi_qhy_py_ccd", env=driver_env(tmp, "QHY600M,QHY268C"))
    yield running
    stop_server(running)


# --- scripting with indi_getprop / indi_setprop -----------------------------------------------------------------
def test_getprop_sees_every_camera_by_its_scriptable_name(server: Server) -> None:
    got = getprop(server.port, "*.DRIVER_INFO.DRIVER_EXEC")
    assert got == {f"{QHY600M}.DRIVER_INFO.DRIVER_EXEC": "indi_qhy_py_ccd",
                   f"{QHY268C}.DRIVER_INFO.DRIVER_EXEC": "indi_qhy_py_ccd"}


def test_setprop_scripting_and_refusals(server: Server) -> None:
    setprop(server.port, f"{QHY268C}.CONNECTION.CONNECT=On")
    assert eventually(lambda: getprop(server.port, f"{QHY268C}.CONNECTION._STATE").get(
        f"{QHY268C}.CONNECTION._STATE") == "Ok")
    setprop(server.port, f"{QHY268C}.READ_MODE.HIGH_GAIN=On", f"{QHY268C}.CCD_GAIN.GAIN=56",
            f"{QHY268C}.CCD_OFFSET.OFFSET=25")
    got = eventually(lambda: (lambda g: g if g.get(f"{QHY268C}.CCD_OFFSET.OFFSET") == "25" else None)(
        getprop(server.port, f"{QHY268C}.CCD_GAIN.GAIN", f"{QHY268C}.CCD_OFFSET.OFFSET", f"{QHY268C}.READ_MODE.*",
                f"{QHY268C}.CCD_GAIN._STATE")))
    assert got and got[f"{QHY268C}.CCD_GAIN.GAIN"] == "56" and got[f"{QHY268C}.READ_MODE.HIGH_GAIN"] == "On"
    assert got[f"{QHY268C}.CCD_GAIN._STATE"] == "Ok"
    setprop(server.port, f"{QHY268C}.CCD_GAIN.GAIN=500")  # exits 0 although refused: check the state
    refused = eventually(lambda: getprop(server.port, f"{QHY268C}.CCD_GAIN._STATE", f"{QHY268C}.CCD_GAIN.GAIN").get(
        f"{QHY268C}.CCD_GAIN._STATE") == "Alert")
    assert refused
    assert getprop(server.port, f"{QHY268C}.CCD_GAIN.GAIN")[f"{QHY268C}.CCD_GAIN.GAIN"] == "56"


def test_image_geometry_reaches_clients_through_indiserver(server: Server) -> None:
    """The geometry QHY's SDK reports (QHY268: 6248 x 4176 effective, 6280 x 4244 with overscan), as clients see it."""
    setprop(server.port, f"{QHY268C}.CONNECTION.CONNECT=On")
    info = eventually(lambda: (lambda g: g if g.get(f"{QHY268C}.CCD_INFO.CCD_MAX_X") else None)(
        getprop(server.port, f"{QHY268C}.CCD_INFO.*")))
    assert info and info[f"{QHY268C}.CCD_INFO.CCD_MAX_X"] == "6248"
    assert info[f"{QHY268C}.CCD_INFO.CCD_MAX_Y"] == "4176"

    def max_xy() -> tuple[str | None, str | None]:
        got = getprop(server.port, f"{QHY268C}.CCD_INFO.CCD_MAX_X", f"{QHY268C}.CCD_INFO.CCD_MAX_Y")
        return got.get(f"{QHY268C}.CCD_INFO.CCD_MAX_X"), got.get(f"{QHY268C}.CCD_INFO.CCD_MAX_Y")

    setprop(server.port, f"{QHY268C}.OVERSCAN_MODE.INDI_ENABLED=On")
    with_overscan = eventually(lambda: max_xy() == ("6280", "4244"))
    setprop(server.port, f"{QHY268C}.OVERSCAN_MODE.INDI_DISABLED=On")  # leave it as the other tests expect
    assert with_overscan
    assert eventually(lambda: max_xy() == ("6248", "4176"))


# --- a full session with pyindi-client ---------------------------------------------------------------------------
def test_pyindi_client_session(server: Server) -> None:
    with pyindi_session(server.port, QHY600M) as session:
        session.connect()
        session.number("CCD_TEMPERATURE", check_values=False, CCD_TEMPERATURE_VALUE=-5)  # shows the sensor's
        assert eventually(lambda: session.switch_state("CCD_COOLER", "COOLER_ON") == "On")
        session.switch("READ_MODE", "HIGH_GAIN")
        session.number("CCD_GAIN", GAIN=56)
        session.number("CCD_OFFSET", OFFSET=20)
        session.number("CCD_FRAME", X=400, Y=300, WIDTH=240, HEIGHT=160)
        session.number("CCD_BINNING", HOR_BIN=2, VER_BIN=2)
        for frame_type in ("FRAME_LIGHT", "FRAME_BIAS", "FRAME_DARK", "FRAME_FLAT"):
            session.switch("CCD_FRAME_TYPE", frame_type)
            session.expose(0.05)
            data, fmt = session.blobs.get(timeout=60)
            assert fmt == ".fits"
            with fits.open(io.BytesIO(data)) as hdus:
                h, pixels = hdus[0].header, hdus[0].data
                assert pixels.shape == (80, 120) and pixels.dtype == np.uint16
                assert h["FRAME"] == frame_type.removeprefix("FRAME_").title()
                assert (h["GAIN"], h["OFFSET"], h["RDMDNAME"], h["XBINNING"]) == (56, 20, "High Gain", 2)
                assert h["INTEGRTY"] == "good" and h["INSTRUME"] == "QHY600M"
        session.client.disconnectDevice(QHY600M)


# --- the README's capture command --------------------------------------------------------------------------------
def test_capture_command_writes_fits_and_a_png_preview(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "frame.fits"
    setprop(server.port, f"{QHY268C}.CONNECTION.CONNECT=On")
    assert eventually(lambda: getprop(server.port, f"{QHY268C}.CCD_TRANSFER_FORMAT.FORMAT_XISF"), 20)
    setprop(server.port, f"{QHY268C}.CCD_TRANSFER_FORMAT.FORMAT_XISF=On")  # a saved XISF choice: FITS regardless
    result = subprocess.run([sys.executable, "-m", "indi_qhy_py.capture", "--port", str(server.port), "--device",
                             QHY268C, "--exposure", "0.1", "--out", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    with fits.open(out) as hdus:
        assert hdus[0].header["INSTRUME"] == "QHY268C" and hdus[0].header["BAYERPAT"] == "RGGB"
    png = out.with_suffix(".png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in png[-12:]


# --- chained servers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chain", ["@127.0.0.1:{port}", f"{QHY600M}@127.0.0.1:{{port}}"])
def test_a_chained_indiserver_reaches_the_camera(server: Server, tmp_path: Path, chain: str) -> None:
    remote = start_server(tmp_path, chain.format(port=server.port))
    client = TcpClient("127.0.0.1", remote.port)
    try:
        client.get_properties()
        client.wait(lambda m: m.get("device") == QHY600M and m.get("name") == "CONNECTION")
        client.enable_blobs(QHY600M)
        client.connect(QHY600M)
        assert client.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=128, HEIGHT=96).get("state") == "Ok"
        assert client.set(QHY600M, "CCD_BINNING", "Number", HOR_BIN=1, VER_BIN=1).get("state") == "Ok"
        data, fmt = blob_payload(client.expose(QHY600M, 0.01, timeout=60))
        with fits.open(io.BytesIO(data)) as hdus:
            assert fmt == ".fits" and hdus[0].data.shape == (96, 128)
    finally:
        client.close()
        stop_server(remote)


# --- the capture tool as a user meets it -------------------------------------------------------------------------
def capture(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "indi_qhy_py.capture", *args], capture_output=True, text=True,
                          timeout=timeout)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_capture_with_nothing_listening_says_so_at_once() -> None:
    start = time.monotonic()
    result = capture("--port", str(free_port()))
    assert time.monotonic() - start < 2.0
    assert result.returncode == 1 and "nothing is listening" in one_line(result)


def test_capture_names_the_devices_there_when_one_is_misspelt(server: Server) -> None:
    result = capture("--port", str(server.port), "--device", "QHY600M-600M00000000001")
    line = one_line(result)
    assert result.returncode == 1 and "no device 'QHY600M-600M00000000001'" in line
    assert QHY600M in line and QHY268C in line


def test_capture_checks_values_before_sending_and_shows_the_drivers_reason(server: Server) -> None:
    before = getprop(server.port, f"{QHY268C}.CCD_GAIN.GAIN")
    result = capture("--port", str(server.port), "--device", QHY268C, "--gain", "500")
    assert result.returncode == 2 and "gain 500 is out of range 0..339" in one_line(result)
    assert getprop(server.port, f"{QHY268C}.CCD_GAIN.GAIN") == before  # nothing was sent
    refused = capture("--port", str(server.port), "--device", QHY268C, "--overscan", "--roi", "0", "0", "99999",
                      "10")  # the image size after the overscan change is the driver's to know: its reason shown
    assert refused.returncode == 1 and "CCD_FRAME.WIDTH 99999 is out of range 1..6280" in one_line(refused)
    setprop(server.port, f"{QHY268C}.OVERSCAN_MODE.INDI_DISABLED=On")


def test_a_sequence_with_binning_and_roi_leaves_the_camera_connected_with_its_settings(server: Server,
                                                                                       tmp_path: Path) -> None:
    setprop(server.port, f"{QHY600M}.POLLING_PERIOD.PERIOD_MS=100")
    result = capture("--port", str(server.port), "--device", QHY600M, "--count", "3", "--bin", "2", "--roi", "100",
                     "200", "640", "480", "--exposure", "1.2", "--out", str(tmp_path / "m31.fits"))
    assert result.returncode == 0, result.stderr
    for index in (1, 2, 3):
        with fits.open(tmp_path / f"m31_{index:03d}.fits") as hdus:
            assert hdus[0].data.shape == (240, 320) and hdus[0].header["XBINNING"] == 2
        assert (tmp_path / f"m31_{index:03d}.png").exists()
    assert "exposing" in result.stderr and "s left" in result.stderr  # progress lines (not a terminal)
    got = getprop(server.port, f"{QHY600M}.CONNECTION.CONNECT", f"{QHY600M}.CCD_BINNING.HOR_BIN",
                  f"{QHY600M}.CCD_FRAME.WIDTH")
    assert got == {f"{QHY600M}.CONNECTION.CONNECT": "On", f"{QHY600M}.CCD_BINNING.HOR_BIN": "2",
                   f"{QHY600M}.CCD_FRAME.WIDTH": "640"}
    quiet = capture("--port", str(server.port), "--device", QHY600M, "--quiet", "--no-preview", "--out",
                    str(tmp_path / "q.fits"))
    assert quiet.returncode == 0 and quiet.stderr == ""
    setprop(server.port, f"{QHY600M}.CCD_FRAME_RESET.RESET=On", f"{QHY600M}.POLLING_PERIOD.PERIOD_MS=1000")


def test_the_driver_prints_help_and_version_instead_of_starting() -> None:
    help_text = subprocess.run(["indi_qhy_py_ccd", "--help"], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
    assert help_text.returncode == 0 and "INDI_QHY_EMULATE" in help_text.stdout and "INDIDEV" in help_text.stdout
    version = subprocess.run(["indi_qhy_py_ccd", "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    assert version.returncode == 0 and version.stdout.strip() == f"indi_qhy_py_ccd {__version__}"


def test_capture_reports_a_camera_that_vanished_mid_exposure_in_one_line(server: Server, tmp_path: Path) -> None:
    setprop(server.port, f"{QHY268C}.CONNECTION.CONNECT=On", f"{QHY268C}.SIMULATE_FAULT_SETTINGS.DOWN_S=1")
    job = subprocess.Popen([sys.executable, "-m", "indi_qhy_py.capture", "--port", str(server.port), "--device",
                            QHY268C, "--exposure", "3", "--quiet", "--out", str(tmp_path / "lost.fits")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    setprop(server.port, f"{QHY268C}.SIMULATE_FAULT.POWER_CYCLE=On")
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 1 and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and "vanished" in stderr, stderr
    assert not (tmp_path / "lost.fits").exists()
    assert eventually(lambda: capture("--port", str(server.port), "--device", QHY268C, "--exposure", "0.01",
                                      "--quiet", "--out", str(tmp_path / "back.fits")).returncode == 0, 30)


def test_capture_cools_to_the_set_point_first_or_says_it_could_not(server: Server, tmp_path: Path) -> None:
    setprop(server.port, f"{QHY268C}.CONNECTION.CONNECT=On", f"{QHY268C}.CCD_TEMP_RAMP.RAMP_SLOPE=0",
            f"{QHY268C}.POLLING_PERIOD.PERIOD_MS=200")
    now = float(eventually(lambda: getprop(server.port, f"{QHY268C}.CCD_TEMPERATURE.CCD_TEMPERATURE_VALUE").get(
        f"{QHY268C}.CCD_TEMPERATURE.CCD_TEMPERATURE_VALUE")))  # type: ignore[arg-type]
    cooled = capture("--port", str(server.port), "--device", QHY268C, "--temperature", f"{now - 2:.1f}",
                     "--tolerance", "1", "--exposure", "0.01", "--no-preview", "--out", str(tmp_path / "cold.fits"))
    assert cooled.returncode == 0 and "cooling, sensor at" in cooled.stderr, cooled.stderr
    with fits.open(tmp_path / "cold.fits") as hdus:
        assert hdus[0].header["CCD-TEMP"] <= now - 1 + 0.2
    too_cold = capture("--port", str(server.port), "--device", QHY268C, "--temperature", "-45", "--cool-timeout",
                       "1", "--quiet", "--out", str(tmp_path / "never.fits"))
    assert too_cold.returncode == 1 and "not within 0.5 C of -45 C" in one_line(too_cold)
    assert not (tmp_path / "never.fits").exists()
    setprop(server.port, f"{QHY268C}.CCD_COOLER.COOLER_OFF=On", f"{QHY268C}.CCD_TEMP_RAMP.RAMP_SLOPE=3",
            f"{QHY268C}.POLLING_PERIOD.PERIOD_MS=1000")


def test_debug_records_reach_a_client_through_indiserver(server: Server) -> None:
    client = TcpClient("127.0.0.1", server.port)
    try:
        client.get_properties()
        client.wait(lambda m: m.get("device") == QHY268C and m.get("name") == "CONNECTION")
        client.enable_blobs(QHY268C)
        client.connect(QHY268C)
        assert client.set(QHY268C, "CCD_BINNING", "Number", HOR_BIN=1, VER_BIN=1).get("state") == "Ok"
        assert client.set(QHY268C, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48).get("state") == "Ok"
        mark = client.mark()
        assert client.set(QHY268C, "DEBUG", "Switch", ENABLE="On").get("state") == "Ok"
        client.wait(lambda m: m.tag == "defSwitchVector" and m.get("device") == QHY268C
                    and m.get("name") == "DEBUG_LEVEL", 10, mark)
        assert client.set(QHY268C, "DEBUG_LEVEL", "Switch", DBG_DEBUG="On").get("state") == "Ok"
        mark = client.mark()
        assert client.expose(QHY268C, 0.01, timeout=60).tag == "setBLOBVector"
        client.wait(lambda m: m.tag == "message" and m.get("device") == QHY268C
                    and "[DEBUG] BLOB to clients" in m.get("message", ""), 10, mark)
        debug = [m.get("message", "") for m in client.messages[mark:] if "[DEBUG]" in m.get("message", "")]
        assert any("download:" in t for t in debug) and any("started" in t for t in debug)
        mark = client.mark()
        assert client.set(QHY268C, "DEBUG", "Switch", DISABLE="On").get("state") == "Ok"
        client.wait(lambda m: m.tag == "delProperty" and m.get("name") == "DEBUG_LEVEL", 10, mark)
        setprop(server.port, f"{QHY268C}.CCD_FRAME_RESET.RESET=On")
    finally:
        client.close()
