"""Live video end to end through Debian's indiserver: the streaming properties are INDI's own (compared with
indi_simulator_ccd under the same server), the preview arrives raw and as JPEG at the preview limit, a stop is
quick and the next exposure clean, a recording made with indi_setprop is complete while another client stalls,
and an unplug mid-stream is reported and recovered from."""

from __future__ import annotations

import io
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from indi_qhy_py.indi.client import TcpClient, blob_payload
from indi_qhy_py.output.ser import read_ser

from .conftest import NEEDS_INDISERVER, Server, driver_env, eventually, getprop, setprop, start_server, stop_server
from .pyindi_session import pyindi_session

pytestmark = [pytest.mark.emulated, NEEDS_INDISERVER]

CAMERA = "QHY600M-600M000000000001"
SIMULATOR = "CCD Simulator"
STREAMING = ("CCD_VIDEO_STREAM", "STREAMING_EXPOSURE", "FPS", "RECORD_STREAM", "RECORD_FILE", "RECORD_OPTIONS",
             "CCD_STREAM_FRAME", "CCD_STREAM_ENCODER", "CCD_STREAM_RECORDER", "LIMITS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("indiserver")
    env = driver_env(tmp, "QHY600M", rate="on", INDI_QHY_UPLOAD_ROOT=str(tmp / "uploads"))
    running = start_server(tmp, "indi_qhy_py_ccd", "indi_simulator_ccd", env=env)
    assert eventually(lambda: getprop(running.port, f"{CAMERA}.CONNECTION.CONNECT"), 20)
    setprop(running.port, f"{CAMERA}.CONNECTION.CONNECT=On", f"{SIMULATOR}.CONNECTION.CONNECT=On")
    assert eventually(lambda: getprop(running.port, f"{CAMERA}.CCD_VIDEO_STREAM.STREAM_ON"), 20)
    setprop(running.port, f"{CAMERA}.CCD_FRAME.X;Y;WIDTH;HEIGHT=0;0;640;100")
    running.uploads = tmp / "uploads"  # type: ignore[attr-defined]
    yield running
    stop_server(running)


@pytest.fixture
def client(server: Server) -> Iterator[TcpClient]:
    c = TcpClient(port=server.port)
    c.get_properties()
    c.enable_blobs(CAMERA)
    c.wait(lambda m: m.get("device") == CAMERA and m.get("name") == "CCD_VIDEO_STREAM", 20)
    yield c
    c.close()


def shape(definition: ET.Element) -> tuple[object, ...]:
    return (definition.tag, definition.get("perm"), definition.get("rule"), definition.get("group"),
            [child.get("name") for child in definition])


def test_the_streaming_properties_are_indis_own(client: TcpClient) -> None:
    for device in (SIMULATOR, CAMERA):  # every definition in (they come one message at a time)
        for name in STREAMING:
            client.wait(lambda m, d=device, n=name: m.tag.startswith("def") and m.get("device") == d
                        and m.get("name") == n, 20)
    defined = client.definitions()
    for name in STREAMING:
        ours, theirs = defined[(CAMERA, name)], defined[(SIMULATOR, name)]
        assert shape(ours) == shape(theirs), name
        assert [c.get("label") for c in ours] == [c.get("label") for c in theirs], name


def wait_state(client: TcpClient, name: str, states: tuple[str, ...], start: int, timeout: float = 20) -> ET.Element:
    return client.wait(lambda m: m.get("device") == CAMERA and m.get("name") == name and m.get("state") in states,
                       timeout, start)


def test_preview_at_the_limit_raw_then_jpeg_a_quick_stop_and_a_clean_exposure(client: TcpClient) -> None:
    client.set(CAMERA, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=0.005)
    client.set(CAMERA, "LIMITS", "Number", LIMITS_PREVIEW_FPS=5)
    client.set(CAMERA, "CCD_STREAM_ENCODER", "Switch", RAW="On")
    mark = client.mark()
    assert client.set(CAMERA, "CCD_VIDEO_STREAM", "Switch", STREAM_ON="On").get("state") == "Busy"
    time.sleep(2.0)
    previews = [m for m in client.messages[mark:] if m.tag == "setBLOBVector"]
    data, fmt = blob_payload(previews[0])
    assert fmt == ".stream" and len(data) == 640 * 100  # 8 bits a pixel, CCD_STREAM_FRAME's size
    assert 5 <= len(previews) <= 12  # 5 a second for 2 s, not the camera's rate
    fps = float(client.values[(CAMERA, "FPS")]["AVG_FPS"])
    assert fps > 20  # the camera's own rate, measured
    mark = client.mark()
    client.set(CAMERA, "CCD_STREAM_ENCODER", "Switch", MJPEG="On")
    jpeg = client.wait(lambda m: m.tag == "setBLOBVector" and m.find("oneBLOB").get("format") == ".stream_jpg",
                       10, mark)
    assert blob_payload(jpeg)[0][:2] == b"\xff\xd8"
    stopping = time.monotonic()
    mark = client.mark()
    client.send(client.new_vector(CAMERA, "CCD_VIDEO_STREAM", "Switch", STREAM_OFF="On"))
    wait_state(client, "CCD_VIDEO_STREAM", ("Idle",), mark)
    assert time.monotonic() - stopping < 1.0  # the camera back in single-frame mode, told through indiserver
    reply = client.expose(CAMERA, 0.01)
    assert reply.tag == "setBLOBVector" and blob_payload(reply)[1] == ".fits"
    assert client.set(CAMERA, "CCD_STREAM_ENCODER", "Switch", RAW="On").get("state") == "Ok"


def test_a_recording_made_with_indi_setprop_is_complete_while_another_client_stalls(server: Server) -> None:
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.sendall(f'<getProperties version="1.7"/><enableBLOB device="{CAMERA}">Also</enableBLOB>'.encode())
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never reads a byte
    try:
        setprop(server.port, f"{CAMERA}.STREAMING_EXPOSURE.STREAMING_EXPOSURE_VALUE=0.01",
                f"{CAMERA}.LIMITS.LIMITS_PREVIEW_FPS=30",
                f"{CAMERA}.RECORD_FILE.RECORD_FILE_DIR;RECORD_FILE_NAME=e2e;take__F_",
                f"{CAMERA}.RECORD_OPTIONS.RECORD_FRAME_TOTAL=60")
        setprop(server.port, f"{CAMERA}.RECORD_STREAM.RECORD_FRAME_ON=On")
        assert eventually(lambda: getprop(server.port, f"{CAMERA}.RECORD_STREAM._STATE").get(
            f"{CAMERA}.RECORD_STREAM._STATE") in ("Ok", "Alert"), 30)
        assert getprop(server.port, f"{CAMERA}.RECORD_STREAM._STATE")[f"{CAMERA}.RECORD_STREAM._STATE"] == "Ok"
    finally:
        stalled.close()
    files = list((Path(server.uploads) / "e2e").glob("take_NoFilter*.ser"))  # type: ignore[attr-defined]
    assert len(files) == 1
    got = read_ser(str(files[0]))
    assert (got.header.width, got.header.height, got.header.frames) == (640, 100, 60)
    stamps = [t.timestamp() for t in got.utc]
    assert stamps == sorted(stamps) and len(set(stamps)) == 60
    stats = getprop(server.port, f"{CAMERA}.STREAM_STATS.*")
    assert stats[f"{CAMERA}.STREAM_STATS.LOST"] == "0" and stats[f"{CAMERA}.STREAM_STATS.RECORD_DROPPED"] == "0"


def test_an_unplug_mid_stream_is_reported_and_the_stream_comes_back(client: TcpClient) -> None:
    client.set(CAMERA, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=0.01)
    client.set(CAMERA, "SIMULATE_FAULT_SETTINGS", "Number", DOWN_S=2)
    mark = client.mark()
    client.set(CAMERA, "CCD_VIDEO_STREAM", "Switch", STREAM_ON="On")
    client.wait(lambda m: m.tag == "setBLOBVector", 10, mark)
    client.set(CAMERA, "SIMULATE_FAULT", "Switch", UNPLUG="On")
    alert = wait_state(client, "CCD_VIDEO_STREAM", ("Alert",), mark)
    assert "vanished" in alert.get("message", "")
    back = wait_state(client, "CCD_VIDEO_STREAM", ("Busy",), client.mark() - 1, timeout=30)
    assert "streaming again" in back.get("message", "")
    mark = client.mark()
    client.wait(lambda m: m.tag == "setBLOBVector", 10, mark)  # frames flow again
    client.send(client.new_vector(CAMERA, "CCD_VIDEO_STREAM", "Switch", STREAM_OFF="On"))
    wait_state(client, "CCD_VIDEO_STREAM", ("Idle",), mark)
    assert client.expose(CAMERA, 0.01).tag == "setBLOBVector"


def test_ekos_video_through_libindis_client_then_a_clean_exposure(server: Server) -> None:
    """What Ekos's video window does, through pyindi-client (libindi's BaseClient, as KStars uses): stream raw at
    the preview limit, read the frames by CCD_STREAM_FRAME's size, stop, and expose once."""
    with pyindi_session(server.port, CAMERA) as session:
        session.connect()
        session.number("STREAMING_EXPOSURE", STREAMING_EXPOSURE_VALUE=0.01)
        session.number("LIMITS", check_values=False, LIMITS_PREVIEW_FPS=10)
        session.switch("CCD_STREAM_ENCODER", "RAW")
        frame = session.device.getNumber("CCD_STREAM_FRAME")
        width, height = (int(frame.findWidgetByName(k).getValue()) for k in ("WIDTH", "HEIGHT"))
        session.switch("CCD_VIDEO_STREAM", "STREAM_ON")
        assert eventually(lambda: session.state("CCD_VIDEO_STREAM") == "Busy")
        frames = [session.blobs.get(timeout=10) for _ in range(8)]
        assert {fmt for _, fmt in frames} == {".stream"}
        assert {len(data) for data, _ in frames} == {width * height}  # 8 bits a pixel, the stream frame's size
        assert all(np.frombuffer(data, np.uint8).std() > 0 for data, _ in frames)  # never a black frame
        fps = session.device.getNumber("FPS").findWidgetByName("AVG_FPS")
        assert eventually(lambda: fps.getValue() > 20, 5)  # the camera's own rate, measured over a second
        session.switch("CCD_VIDEO_STREAM", "STREAM_OFF")
        assert eventually(lambda: session.state("CCD_VIDEO_STREAM") == "Idle", 1.0)
        while not session.blobs.empty():  # what was on its way before the stop
            session.blobs.get()
        session.expose(0.01)
        data, fmt = session.blobs.get(timeout=30)
        assert fmt == ".fits"  # no stream frame after the stop, and the exposure's frame is whole
        with fits.open(io.BytesIO(data)) as hdus:
            assert hdus[0].header["INTEGRTY"] == "good"


def test_full_depth_streams_the_cameras_16_bit_values_and_8_bit_is_stretched(client: TcpClient) -> None:
    """INDI 2.x's STREAM_FULL_DEPTH: raw frames at 16 bits carry the camera's values (two bytes a pixel,
    little-endian), where the default 8 bits are stretched for the eye."""
    client.set(CAMERA, "STREAMING_EXPOSURE", "Number", STREAMING_EXPOSURE_VALUE=0.01)
    client.set(CAMERA, "LIMITS", "Number", LIMITS_PREVIEW_FPS=10)
    client.set(CAMERA, "CCD_STREAM_ENCODER", "Switch", RAW="On")
    assert client.set(CAMERA, "STREAM_FULL_DEPTH", "Switch", FULL_DEPTH_16BIT="On").get("state") == "Ok"
    mark = client.mark()
    client.set(CAMERA, "CCD_VIDEO_STREAM", "Switch", STREAM_ON="On")
    deep, fmt = blob_payload(client.wait(lambda m: m.tag == "setBLOBVector", 10, mark))
    assert fmt == ".stream" and len(deep) == 640 * 100 * 2
    values = np.frombuffer(deep, dtype="<u2")
    assert values.max() > 255 and values.std() > 0  # the camera's ADU, not an 8-bit stretch
    assert client.set(CAMERA, "STREAM_FULL_DEPTH", "Switch", FULL_DEPTH_8BIT="On").get("state") == "Ok"
    time.sleep(0.3)  # a frame already on its way when the switch came goes as it was converted
    shallow, _ = blob_payload(client.wait(lambda m: m.tag == "setBLOBVector", 10, client.mark()))
    assert len(shallow) == 640 * 100
    mark = client.mark()
    client.send(client.new_vector(CAMERA, "CCD_VIDEO_STREAM", "Switch", STREAM_OFF="On"))
    wait_state(client, "CCD_VIDEO_STREAM", ("Idle",), mark)
