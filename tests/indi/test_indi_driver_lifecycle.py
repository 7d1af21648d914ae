"""The driver's life: ground truth of the pixels, abort in the download, faults, config across restarts, no camera.

The ground-truth and fault tests run the driver's own serve loop in this process over real pipes (the same XML on
the same file descriptors), so the emulated camera can be reached to compare pixels and inject faults.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator import EmulatedCamera, EmulatorBackend, emulated_backend
from indi_qhy_py.models import QHY600M as QHY600M_MODEL
from tests.indi.conftest import DriverProcess, InProcess, blob_fits, image_hdu, served_in_process

pytestmark = pytest.mark.emulated

QHY600M = "QHY600M-600M000000000001"


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    backend = emulated_backend("QHY600M", rate_limit=False)
    with served_in_process(backend, tmp_path) as (_, client):
        client.connect(QHY600M)
        yield InProcess(client, backend.cameras[0])


def sent_pixels(camera: EmulatedCamera) -> np.ndarray:
    """The image rows the emulated camera put on the wire for its last frame (full readout width), from the
    first row the driver asked for (a QHY600 reads at least 300 rows: the rest follow)."""
    record = camera.last_frame
    assert record is not None
    return record.image.astype(np.uint32)


def test_pixels_equal_what_the_camera_sent(in_process: InProcess) -> None:
    c, cam = in_process.client, in_process.camera
    x, y, w, h = 1001, 2002, 300, 200
    c.set(QHY600M, "CCD_FRAME", "Number", X=x, Y=y, WIDTH=w, HEIGHT=h)
    with blob_fits(c.expose(QHY600M, 0.05)) as hdus:
        data = image_hdu(hdus).data
        header = image_hdu(hdus).header
    ox = cam.model.effective.x
    expected = sent_pixels(cam)[:h, ox + x : ox + x + w]
    assert data.shape == (h, w) and np.array_equal(data, expected)
    assert header["FRAMESEQ"] == cam.last_frame.sequence
    # 2x2 binned 32-bit sums: exactly the sum of the four pixels the camera sent
    c.set(QHY600M, "BIT_DEPTH", "Switch", BITS_32="On")
    c.set(QHY600M, "CCD_BINNING", "Number", HOR_BIN=2, VER_BIN=2)
    with blob_fits(c.expose(QHY600M, 0.05)) as hdus:
        binned = image_hdu(hdus).data
    block = sent_pixels(cam)[:h, ox + x : ox + x + w]
    sums = block.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3))
    assert binned.dtype == np.uint32 and np.array_equal(binned, sums)


def test_a_full_qhy600_frame_arrives_whole(in_process: InProcess) -> None:
    c, cam = in_process.client, in_process.camera
    with blob_fits(c.expose(QHY600M, 0.01)) as hdus:
        data = image_hdu(hdus).data
    eff = cam.model.effective
    assert data.shape == (eff.height, eff.width)
    assert np.array_equal(data[::97], sent_pixels(cam)[::97, eff.x : eff.x_end])  # the camera read rows of eff only


def test_unplug_mid_exposure_is_reported_and_the_camera_comes_back(in_process: InProcess) -> None:
    c, cam = in_process.client, in_process.camera
    c.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=200, HEIGHT=100)
    c.set(QHY600M, "CCD_GAIN", "Number", GAIN=44)
    cam.faults.inject("unplug", when="exposure", down_s=0.5)
    failed = c.expose(QHY600M, 0.4)
    assert failed.get("name") == "CCD_EXPOSURE" and failed.get("state") == "Alert"
    assert "vanished" in failed.get("message", "")
    c.wait(lambda m: m.tag == "message" and "is back" in m.get("message", ""), 15, c.mark() - 20)
    assert cam.registers.gain == protocol.gain_registers("QHY600", 0, 44)  # re-applied after the power cycle
    assert c.expose(QHY600M, 0.01).tag == "setBLOBVector"
    assert c.values[(QHY600M, "FRAME_STATS")]["RECONNECTS"] == "1"


def test_damaged_frames_are_retried_and_counted(in_process: InProcess) -> None:
    c, cam = in_process.client, in_process.camera
    c.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=200, HEIGHT=100)
    cam.faults.inject("short")
    with blob_fits(c.expose(QHY600M, 0.01)) as hdus:
        assert image_hdu(hdus).header["ATTEMPTS"] == 2
    assert c.values[(QHY600M, "FRAME_STATS")]["FRAMES_RETRIED"] == "1"
    cam.faults.inject("zero_fill", frames=3)
    failed = c.expose(QHY600M, 0.01)
    assert failed.get("state") == "Alert" and "zero" in failed.get("message", "")
    assert c.values[(QHY600M, "FRAME_INTEGRITY")]["VERDICT"] == "failed"
    assert c.expose(QHY600M, 0.01).tag == "setBLOBVector"


def test_disconnect_deletes_the_camera_properties(in_process: InProcess) -> None:
    c = in_process.client
    mark = c.mark()
    c.send(f"<newSwitchVector device='{QHY600M}' name='CONNECTION'><oneSwitch name='DISCONNECT'>On</oneSwitch>"
           "</newSwitchVector>")
    c.wait(lambda m: m.get("name") == "CONNECTION" and m.get("state") == "Idle", 10, mark)
    deleted = {m.get("name") for m in c.messages[mark:] if m.tag == "delProperty"}
    assert {"CCD_EXPOSURE", "CCD1", "READ_MODE", "FRAME_STATS"} <= deleted and "CONNECTION" not in deleted
    assert (QHY600M, "CCD_EXPOSURE") not in c.defined and (QHY600M, "CONNECTION") in c.defined


# --- the real process ------------------------------------------------------------------------------------------
def test_abort_during_the_download(tmp_path: Path) -> None:
    with DriverProcess("QHY600M", tmp_path, rate="on") as proc:
        proc.send("<getProperties version='1.7'/>")
        proc.connect(QHY600M)
        proc.set(QHY600M, "POLLING_PERIOD", "Number", PERIOD_MS=20)
        proc.set(QHY600M, "USB_TRAFFIC", "Number", TRAFFIC=60)  # slowest link: about 0.8 s of download
        mark = proc.mark()
        proc.send(f"<newNumberVector device='{QHY600M}' name='CCD_EXPOSURE'><oneNumber name='CCD_EXPOSURE_VALUE'>"
                  "0.01</oneNumber></newNumberVector>")
        # once bytes flow (the emulator renders the frame before its first bulk packet, as no camera would)
        proc.wait(lambda m: (m.get("message") or "").startswith("downloading") and m.get("message") != "downloading 0%",
                  20, mark)
        started = time.monotonic()
        proc.send(f"<newSwitchVector device='{QHY600M}' name='CCD_ABORT_EXPOSURE'><oneSwitch name='ABORT'>On"
                  "</oneSwitch></newSwitchVector>")
        idle = proc.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Idle", 5, mark)
        assert time.monotonic() - started < 0.5
        end = proc.fence()
        assert not any(m.tag == "setBLOBVector" for m in proc.messages[mark:end]), "aborted frame was delivered"
        assert idle is not None
        assert proc.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=100, HEIGHT=100).get("state") == "Ok"
        assert proc.expose(QHY600M, 0.01).tag == "setBLOBVector"
        # abort and expose again at once, as Ekos does: the new exposure starts once the old one has stopped
        proc.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=9576, HEIGHT=6388)
        mark = proc.mark()
        proc.send(f"<newNumberVector device='{QHY600M}' name='CCD_EXPOSURE'><oneNumber name='CCD_EXPOSURE_VALUE'>"
                  "0.01</oneNumber></newNumberVector>")
        proc.wait(lambda m: (m.get("message") or "").startswith("downloading"), 20, mark)
        proc.send(f"<newSwitchVector device='{QHY600M}' name='CCD_ABORT_EXPOSURE'><oneSwitch name='ABORT'>On"
                  "</oneSwitch></newSwitchVector>"
                  f"<newNumberVector device='{QHY600M}' name='CCD_EXPOSURE'><oneNumber name='CCD_EXPOSURE_VALUE'>"
                  "0.01</oneNumber></newNumberVector>")
        blob = proc.wait(lambda m: m.tag == "setBLOBVector" or m.get("state") == "Alert", 30, mark)
        assert blob.tag == "setBLOBVector"
        assert sum(m.tag == "setBLOBVector" for m in proc.messages[mark:]) == 1


def test_config_save_load_default_and_purge_across_restarts(tmp_path: Path) -> None:
    with DriverProcess("QHY600M", tmp_path) as proc:
        proc.send("<getProperties version='1.7'/>")
        proc.connect(QHY600M)
        proc.set(QHY600M, "READ_MODE", "Switch", HIGH_GAIN="On")
        proc.set(QHY600M, "CCD_GAIN", "Number", GAIN=56)
        proc.set(QHY600M, "CCD_OFFSET", "Number", OFFSET=17)
        proc.set(QHY600M, "CCD_FRAME", "Number", X=10, Y=20, WIDTH=300, HEIGHT=200)
        proc.set(QHY600M, "UPLOAD_SETTINGS", "Text", UPLOAD_PREFIX="NGC7000_XXX")
        saved = proc.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_SAVE="On")
        assert saved.get("state") == "Ok" and (tmp_path / f"{QHY600M}_config.xml").exists()
    with DriverProcess("QHY600M", tmp_path) as proc:
        proc.send("<getProperties version='1.7'/>")
        proc.connect(QHY600M)
        proc.fence()
        values = proc.values
        assert values[(QHY600M, "READ_MODE")]["HIGH_GAIN"] == "On"
        assert (values[(QHY600M, "CCD_GAIN")]["GAIN"], values[(QHY600M, "CCD_OFFSET")]["OFFSET"]) == ("56", "17")
        assert values[(QHY600M, "CCD_FRAME")] == {"X": "10", "Y": "20", "WIDTH": "300", "HEIGHT": "200"}
        assert values[(QHY600M, "UPLOAD_SETTINGS")]["UPLOAD_PREFIX"] == "NGC7000_XXX"
        with blob_fits(proc.expose(QHY600M)) as hdus:
            header = image_hdu(hdus).header
            assert (header["GAIN"], header["OFFSET"], header["RDMDNAME"]) == (56, 17, "High Gain")
        reply = proc.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_DEFAULT="On")
        proc.fence()
        assert reply.get("state") == "Ok" and values[(QHY600M, "CCD_GAIN")]["GAIN"] == "0"
        assert values[(QHY600M, "READ_MODE")]["PHOTOGRAPHIC"] == "On"
        assert proc.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_LOAD="On").get("state") == "Ok"
        proc.fence()
        assert values[(QHY600M, "CCD_GAIN")]["GAIN"] == "56"
        assert proc.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_PURGE="On").get("state") == "Ok"
        assert not (tmp_path / f"{QHY600M}_config.xml").exists()
        reply = proc.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_LOAD="On")
        assert reply.get("state") == "Alert" and "no saved configuration" in reply.get("message", "")


def test_a_corrupt_config_file_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / f"{QHY600M}_config.xml").write_text("<INDIDriver><newNumberVector device=")
    with DriverProcess("QHY600M", tmp_path) as proc:
        proc.send("<getProperties version='1.7'/>")
        mark = proc.mark()
        proc.connect(QHY600M)
        warning = proc.wait(lambda m: m.tag == "message" and "cannot read" in m.get("message", ""), 10, mark)
        assert "_config.xml" in warning.get("message", "")
        assert proc.alive()


def test_with_no_camera_the_device_kstars_asked_for_appears_and_emulates_on_request(tmp_path: Path) -> None:
    name = "QHY CCD (Python)"
    with DriverProcess("", tmp_path, extra_env={"INDIDEV": name}) as proc:
        said = proc.wait(lambda m: m.tag == "message" and "no QHY268/QHY600 camera is attached" in m.get("message", ""))
        assert said.get("device") == name
        proc.send("<getProperties version='1.7'/>")
        proc.fence()
        defined = {p for d, p in proc.defined if d == name}
        assert defined >= {"CONNECTION", "DRIVER_INFO", "SIMULATION", "SIMULATE_MODEL"}
        refused = proc.set(name, "CONNECTION", "Switch", CONNECT="On")
        assert refused.get("state") == "Alert" and "SIMULATION" in refused.get("message", "")
        assert proc.set(name, "SIMULATE_MODEL", "Switch", QHY268C="On").get("state") == "Ok"
        assert proc.set(name, "SIMULATION", "Switch", ENABLE="On").get("state") == "Ok"
        proc.connect(name)
        proc.set(name, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
        with blob_fits(proc.expose(name)) as hdus:
            assert image_hdu(hdus).header["INSTRUME"] == "QHY268C" and image_hdu(hdus).data.shape == (48, 64)
        mark = proc.mark()
        assert proc.set(name, "CONNECTION", "Switch", DISCONNECT="On").get("state") in ("Busy", "Idle")
        proc.wait(lambda m: m.get("device") == name and m.get("name") == "CONNECTION" and m.get("state") == "Idle",
                  20, mark)
        mark = proc.mark()
        assert proc.set(name, "SIMULATION", "Switch", DISABLE="On").get("state") == "Ok"
        proc.wait(lambda m: m.tag == "defSwitchVector" and m.get("device") == name
                  and m.get("name") == "SIMULATE_MODEL", 20, mark)  # the placeholder is back
        assert proc.alive()


def test_a_camera_plugged_in_later_attaches_to_the_placeholder(tmp_path: Path) -> None:
    backend = EmulatorBackend([])
    with served_in_process(backend, tmp_path, rescan_s=0.2) as (_, client):
        client.wait(lambda m: m.get("device") == "QHY CCD (Python)" and m.get("name") == "SIMULATION")
        backend.add(EmulatedCamera(QHY600M_MODEL, seed=4, rate_limit=False))
        client.wait(lambda m: m.tag == "message" and "QHY CCD (Python) is an emulated QHY600M-" in m.get("message", ""),
                    10)
        client.connect("QHY CCD (Python)")
        client.set("QHY CCD (Python)", "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=64)
        with blob_fits(client.expose("QHY CCD (Python)")) as hdus:
            assert image_hdu(hdus).header["INSTRUME"] == "QHY600M"


def test_a_bad_emulate_list_is_reported(tmp_path: Path) -> None:
    with DriverProcess("QHY999X", tmp_path) as proc:
        said = proc.wait(lambda m: m.tag == "message" and "INDI_QHY_EMULATE" in m.get("message", ""))
        assert "QHY999X" in said.get("message", "") and "QHY600M" in said.get("message", "")


def test_a_camera_plugged_in_later_is_served_without_a_restart(tmp_path: Path) -> None:
    backend = emulated_backend("QHY268M", rate_limit=False)
    with served_in_process(backend, tmp_path, rescan_s=0.2) as (_, client):
        client.wait(lambda m: m.get("device") == "QHY268M-268M000000000001" and m.get("name") == "CONNECTION")
        late = EmulatedCamera(QHY600M_MODEL, seed=9, rate_limit=False)
        backend.add(late)
        defined = client.wait(lambda m: m.tag == "defSwitchVector" and m.get("device") == late_id(late), 10)
        assert defined.get("name") == "CONNECTION"
        client.connect(late_id(late))
        client.set(late_id(late), "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=64)
        assert client.expose(late_id(late)).tag == "setBLOBVector"


def late_id(camera: EmulatedCamera) -> str:
    return f"{camera.model.name}-{camera.serial}"


def test_debug_records_reach_the_client_and_a_rotated_log_file(tmp_path: Path) -> None:
    with DriverProcess("QHY268M", tmp_path, extra_env={"INDI_QHY_LOG_MAX_MB": "0.0005"}) as proc:
        device = "QHY268M-268M000000000001"
        proc.send("<getProperties version='1.7'/>")
        proc.connect(device)
        proc.set(device, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
        mark = proc.mark()
        proc.expose(device)
        assert not [m for m in proc.messages[mark:] if "[DEBUG]" in m.get("message", "")]  # off by default
        assert proc.set(device, "DEBUG", "Switch", ENABLE="On").get("state") == "Ok"
        assert {"DEBUG_LEVEL", "LOGGING_LEVEL", "LOG_OUTPUT"} <= {p for d, p in proc.defined if d == device}
        assert proc.set(device, "DEBUG_LEVEL", "Switch", DBG_DEBUG="On").get("state") == "Ok"
        reply = proc.set(device, "LOG_OUTPUT", "Switch", CLIENT_DEBUG="On", FILE_DEBUG="On")
        log = tmp_path / "logs" / f"{device}.log"
        assert reply.get("state") == "Ok" and str(log) in reply.get("message", "")
        mark = proc.mark()
        for _ in range(3):
            proc.expose(device)
        debug = [m.get("message", "") for m in proc.messages[mark:] if "[DEBUG]" in m.get("message", "")]
        assert any("download:" in t for t in debug) and any("started" in t for t in debug)
        assert any("FITS plain" in t for t in debug) and any("BLOB to clients" in t for t in debug)
        proc.set(device, "READ_MODE", "Switch", HIGH_GAIN="On")  # a re-initialisation: recorded with its time
        proc.fence()
        assert log.exists() and (log.parent / f"{log.name}.1").exists(), sorted(log.parent.iterdir())
        assert len(list(log.parent.glob(f"{log.name}*"))) <= 6  # rotated: at most 5 old files
        assert "settings re-applied in" in "".join(p.read_text() for p in log.parent.glob(f"{log.name}*"))
        assert proc.set(device, "DEBUG", "Switch", DISABLE="On").get("state") == "Ok"
        assert not {"DEBUG_LEVEL", "LOGGING_LEVEL", "LOG_OUTPUT"} & {p for d, p in proc.defined if d == device}
