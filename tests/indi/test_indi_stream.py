"""Live video through the driver's own serve loop (real pipes, this process), where the emulated camera can be
reached: a SER recording equals, frame by frame, what the camera streamed; the stream frame follows CCD_FRAME and
CCD_BINNING; bad values are refused and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indi_qhy_py.emulator import emulated_backend
from indi_qhy_py.output import ser
from indi_qhy_py.output.ser import read_ser
from tests.indi.conftest import InProcess, served_in_process

pytestmark = pytest.mark.emulated

QHY600M = "QHY600M-600M000000000001"


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("INDI_QHY_UPLOAD_ROOT", str(tmp_path / "uploads"))
    backend = emulated_backend("QHY600M", rate_limit=True)
    with served_in_process(backend, tmp_path) as (_, client):
        client.connect(QHY600M)
        yield InProcess(client, backend.cameras[0])


def record(client, frames: int, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
    """Record ``frames`` frames; the SER file's path."""
    client.set(QHY600M, "RECORD_FILE", "Text", RECORD_FILE_DIR="rec", RECORD_FILE_NAME="test__T_")
    client.set(QHY600M, "RECORD_OPTIONS", "Number", RECORD_FRAME_TOTAL=frames)
    mark = client.mark()
    started = client.set(QHY600M, "RECORD_STREAM", "Switch", RECORD_FRAME_ON="On")
    assert started.get("state") == "Busy", started.get("message")
    done = client.wait(lambda m: m.get("name") == "RECORD_STREAM" and m.get("state") in ("Ok", "Alert"), timeout,
                       mark + 1)
    assert done.get("state") == "Ok" and f"recorded {frames} frames" in done.get("message", ""), done.get("message")
    return done.get("message", "").split(" to ", 1)[1]


def test_a_recording_equals_what_the_camera_streamed_frame_by_frame(in_process: InProcess,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    c, cam = in_process.client, in_process.camera
    streamed: dict[int, np.ndarray] = {}
    materialize = cam._materialize

    def keep(*args: object) -> object:
        stream = materialize(*args)
        if not cam.last_frame.registers.single:
            streamed[cam.last_frame.sequence] = cam.last_frame.image.copy()
        return stream

    monkeypatch.setattr(cam, "_materialize", keep)
    x, y, w, h = 1001, 2002, 300, 200
    c.set(QHY600M, "CCD_FRAME", "Number", X=x, Y=y, WIDTH=w, HEIGHT=h)
    c.set(QHY600M, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=0.02)
    path = record(c, 20)
    got = read_ser(path)
    assert (got.header.width, got.header.height, got.header.bits, got.header.frames) == (w, h, 16, 20)
    ox = cam.model.effective.x
    windows = {seq: image[:h, ox + x : ox + x + w] for seq, image in streamed.items()}
    first = next(seq for seq, window in windows.items() if np.array_equal(window, got.frames[0]))
    for i, frame in enumerate(got.frames):  # every frame, in order, none missing, none twice
        assert np.array_equal(frame, windows[first + i]), f"SER frame {i} is not camera frame {first + i}"
    gaps = np.diff([t.timestamp() for t in got.utc])
    assert (gaps > 0).all() and abs(float(np.median(gaps)) - 0.02) < 0.01  # the frame period, 20 ms exposures
    stats = c.values[(QHY600M, "STREAM_STATS")]
    assert stats["LOST"] == "0" and stats["RECORD_DROPPED"] == "0" and int(stats["RECORDED"]) == 20
    assert c.states[(QHY600M, "CCD_VIDEO_STREAM")] in ("Idle", "Busy")  # the recording's own stream ends with it


def test_the_stream_frame_follows_ccd_frame_and_binning_and_records_binned(in_process: InProcess) -> None:
    c = in_process.client
    c.set(QHY600M, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=800, HEIGHT=400)
    c.set(QHY600M, "CCD_BINNING", "Number", HOR_BIN=2, VER_BIN=2)
    c.fence()
    frame = c.values[(QHY600M, "CCD_STREAM_FRAME")]
    assert (frame["X"], frame["Y"], frame["WIDTH"], frame["HEIGHT"]) == ("0", "0", "400", "200")
    reply = c.set(QHY600M, "CCD_STREAM_FRAME", "Number", X=300, Y=0, WIDTH=200, HEIGHT=100)
    assert reply.get("state") == "Alert" and "within the frame" in reply.get("message", "")
    assert c.values[(QHY600M, "CCD_STREAM_FRAME")]["WIDTH"] == "400"  # unchanged
    assert c.set(QHY600M, "CCD_STREAM_FRAME", "Number", X=100, Y=50, WIDTH=200, HEIGHT=100).get("state") == "Ok"
    got = read_ser(record(c, 5))
    assert (got.header.width, got.header.height, got.header.frames) == (200, 100, 5)


def test_streaming_settings_are_checked(in_process: InProcess) -> None:
    c = in_process.client
    bad = c.set(QHY600M, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=600)
    assert bad.get("state") == "Alert"
    bad = c.set(QHY600M, "RECORD_FILE", "Text", RECORD_FILE_DIR="/etc", RECORD_FILE_NAME="x")
    assert bad.get("state") == "Alert" and "upload root" in bad.get("message", "")
    bad = c.set(QHY600M, "RECORD_FILE", "Text", RECORD_FILE_DIR="rec", RECORD_FILE_NAME="../x")
    assert bad.get("state") == "Alert"
    assert c.alive()


def test_every_streaming_property_round_trips_and_is_saved_with_the_configuration(in_process: InProcess) -> None:
    c = in_process.client
    wanted = {
        ("STREAMING_EXPOSURE", "Number"): {"STREAMING_EXPOSURE_VALUE": "0.25", "STREAMING_DIVISOR_VALUE": "3"},
        ("LIMITS", "Number"): {"LIMITS_BUFFER_MAX": "256", "LIMITS_PREVIEW_FPS": "7"},
        ("RECORD_OPTIONS", "Number"): {"RECORD_DURATION": "12.5", "RECORD_FRAME_TOTAL": "250"},
        ("RECORD_FILE", "Text"): {"RECORD_FILE_DIR": "video/night__D_", "RECORD_FILE_NAME": "jupiter__T_"},
        ("CCD_STREAM_ENCODER", "Switch"): {"RAW": "Off", "MJPEG": "On"},
        ("CCD_STREAM_RECORDER", "Switch"): {"SER": "On"},
        ("CCD_STREAM_FRAME", "Number"): {"X": "10", "Y": "20", "WIDTH": "300", "HEIGHT": "200"},
    }
    for (name, kind), values in wanted.items():
        reply = c.set(QHY600M, name, kind, **values)
        assert reply.get("state") == "Ok", (name, reply.get("message"))
        got = {e.get("name"): (e.text or "").strip() for e in reply}
        assert all(float(got[k]) == float(v) if kind == "Number" else got[k] == v for k, v in values.items()), name
    assert c.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_SAVE="On").get("state") == "Ok"
    c.set(QHY600M, "LIMITS", "Number", LIMITS_PREVIEW_FPS=20)
    c.set(QHY600M, "CCD_STREAM_ENCODER", "Switch", RAW="On")
    assert c.set(QHY600M, "CONFIG_PROCESS", "Switch", CONFIG_LOAD="On").get("state") == "Ok"
    c.fence()
    assert c.values[(QHY600M, "LIMITS")]["LIMITS_PREVIEW_FPS"] == "7"
    assert c.values[(QHY600M, "CCD_STREAM_ENCODER")]["MJPEG"] == "On"
    assert c.values[(QHY600M, "RECORD_FILE")]["RECORD_FILE_NAME"] == "jupiter__T_"


def test_a_colour_recording_carries_the_bayer_pattern_of_its_stream_frame(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDI_QHY_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("INDI_QHY_UPLOAD_ROOT", str(tmp_path / "uploads"))
    device = "QHY268C-268C000000000001"
    with served_in_process(emulated_backend("QHY268C", rate_limit=True), tmp_path) as (_, c):
        c.connect(device)
        c.set(device, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=400, HEIGHT=200)
        c.set(device, "RECORD_FILE", "Text", RECORD_FILE_DIR="rec", RECORD_FILE_NAME="colour")
        for x, y, pattern in ((0, 0, "RGGB"), (1, 0, "GRBG"), (0, 1, "GBRG"), (1, 1, "BGGR")):
            c.set(device, "CCD_STREAM_FRAME", "Number", X=x, Y=y, WIDTH=200, HEIGHT=100)
            c.set(device, "RECORD_OPTIONS", "Number", RECORD_FRAME_TOTAL=3)
            mark = c.mark()
            c.set(device, "RECORD_STREAM", "Switch", RECORD_FRAME_ON="On")
            done = c.wait(lambda m: m.get("name") == "RECORD_STREAM" and m.get("state") in ("Ok", "Alert"), 30,
                          mark + 1)
            got = read_ser(done.get("message", "").split(" to ", 1)[1])
            assert got.header.colour == ser.BAYER[pattern] and got.header.frames == 3, (x, y, pattern)
        c.set(device, "CCD_BINNING", "Number", HOR_BIN=2, VER_BIN=2)  # binning leaves no mosaic
        mark = c.mark()
        c.set(device, "RECORD_STREAM", "Switch", RECORD_FRAME_ON="On")
        done = c.wait(lambda m: m.get("name") == "RECORD_STREAM" and m.get("state") in ("Ok", "Alert"), 30, mark + 1)
        assert read_ser(done.get("message", "").split(" to ", 1)[1]).header.colour == ser.MONO
