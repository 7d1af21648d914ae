"""QHY's SDK drives the emulated cameras end to end, and what it returns equals the emulator's ground truth.

Each assertion is on what the SDK returned (image, temperature, geometry), compared with what the emulated
camera rendered or holds: if the emulator's dialect drifted from what the SDK expects, these fail.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.emulator.scene import FlatField

from .conftest import binned_sum
from .sdk import Control

pytestmark = pytest.mark.emulated
MODELS = ["QHY600M", "QHY268M"]


def image_of(raw: bytes, w: int, h: int, bits: int) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint16 if bits == 16 else np.uint8).reshape(h, w)


def truth_of(emu) -> np.ndarray:  # type: ignore[no-untyped-def]
    frame = emu.camera.last_frame
    assert frame is not None
    return frame.image.astype(np.uint16 if frame.image.dtype.itemsize == 2 else np.uint8)


@pytest.mark.parametrize("model", ["QHY600M", "QHY600C", "QHY268M", "QHY268C"])
def test_sdk_full_frame_16_bit_equals_the_emulators_pixels(emulated, model: str) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(2000.0)
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and bits == 16
    assert (w, h) == (emu.camera.model.readout_width, emu.camera.model.readout_height)
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))


def test_sdk_8_bit_frame_equals_the_emulators_pixels(emulated) -> None:
    emu = emulated("QHY268M")
    emu.camera.scene = FlatField(3000.0)
    assert emu.cam.SetQHYCCDParam(Control.TRANSFERBIT, 8.0) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and bits == 8
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))


@pytest.mark.parametrize(("model", "n"), [("QHY600M", 2), ("QHY600M", 4), ("QHY268M", 2)])
def test_sdk_bins_on_the_host_by_summing_the_full_frame_the_camera_sends(emulated, model: str, n: int) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(500.0)
    assert emu.cam.SetQHYCCDBinMode(n, n) == 0
    width, height = emu.camera.model.readout_width, emu.camera.model.readout_height
    assert emu.cam.SetQHYCCDResolution(0, 0, width // n, height // n) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (width // n, height // n)
    np.testing.assert_array_equal(image_of(raw, w, h, bits), binned_sum(truth_of(emu), n)[:h, :w])


@pytest.mark.parametrize("model", MODELS)
def test_sdk_roi_reads_the_rows_it_asks_for_and_crops_columns(emulated, model: str) -> None:
    emu = emulated(model)
    emu.camera.scene = FlatField(800.0)
    x, y, w_roi, h_roi = 1000, 500, 2000, 1000
    assert emu.cam.SetQHYCCDResolution(x, y, w_roi, h_roi) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (w_roi, h_roi)
    truth = truth_of(emu)
    assert truth.shape[0] >= h_roi
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth[:h_roi, x : x + w_roi])


def test_sdk_reads_the_emulators_sensor_temperature(emulated, monkeypatch) -> None:
    emu = emulated("QHY600M")
    monkeypatch.setattr(emu.camera.thermal, "update", lambda now: None)  # hold the value while the SDK reads it
    for celsius in (21.3, -9.8):
        emu.camera.thermal.sensor_c = celsius
        assert emu.cam.GetQHYCCDParam(Control.CURTEMP) == pytest.approx(celsius, abs=0.05)


def test_sdk_cooler_commands_reach_the_emulated_tec(emulated) -> None:
    emu = emulated("QHY600M")
    assert emu.cam.ControlQHYCCDTemp(-10.0) == 0
    assert emu.camera.thermal.auto and emu.camera.thermal.target_c == pytest.approx(-10.0)
    assert emu.cam.SetQHYCCDParam(Control.MANULPWM, 128.0) == 0
    assert not emu.camera.thermal.auto and emu.camera.thermal.pwm == pytest.approx(128, abs=1)


def test_sdk_settings_reach_the_emulated_camera(emulated) -> None:
    emu = emulated("QHY600M")
    for control, value in ((Control.OFFSET, 60.0), (Control.USBTRAFFIC, 30.0), (Control.GAIN, 56.0)):
        assert emu.cam.SetQHYCCDParam(control, value) == 0
    assert emu.camera.registers.offset == 60
    assert emu.camera.registers.usb_traffic == 30
    assert emu.camera.registers.gain == protocol.gain_registers("QHY600", 0, 56)


def test_sdk_exposes_again_cleanly_after_a_cancel(emulated) -> None:
    emu = emulated("QHY600M")
    emu.camera.scene = FlatField(1500.0)
    emu.cam.SetQHYCCDParam(Control.EXPOSURE, 5_000_000.0)
    assert emu.cam.ExpQHYCCDSingleFrame() == 0
    assert emu.cam.CancelQHYCCDExposingAndReadout() == 0
    emu.cam.SetQHYCCDParam(Control.EXPOSURE, 2000.0)
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (9600, 6422)
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu))
    assert emu.camera.last_frame.registers.exposure_us == 2000


def test_sdk_reads_the_emulators_chamber_humidity(emulated, monkeypatch) -> None:
    emu = emulated("QHY268M")
    assert emu.camera.model.humidity_sensor
    emu.cam.InitQHYCCD()
    emu.cam.SetQHYCCDStreamMode(0)
    monkeypatch.setattr(emu.camera.thermal, "update", lambda now: None)
    value = ctypes.c_double()
    assert emu.cam.GetQHYCCDHumidity(ctypes.byref(value)) == 0
    assert value.value == pytest.approx(emu.camera.thermal.humidity_percent, abs=0.01)


def test_sdk_reads_the_emulated_tec_power_while_regulating(emulated, monkeypatch) -> None:
    emu = emulated("QHY600M")
    assert emu.cam.ControlQHYCCDTemp(-10.0) == 0
    monkeypatch.setattr(emu.camera.thermal, "update", lambda now: None)
    emu.camera.thermal.pwm = 200.0
    emu.cam.GetQHYCCDParam(Control.CURTEMP)  # the SDK reads temperature and PWM in one request
    assert emu.cam.GetQHYCCDParam(Control.CURPWM) == 200


def _window(streamed: dict[int, np.ndarray], frame: np.ndarray) -> tuple[int, int] | None:
    """(frame number, byte offset in its image) of the streamed frame that ``frame`` is a window of, or None."""
    h, w = frame.shape
    for number, image in streamed.items():
        raw = image.tobytes()
        at = raw.find(frame[0].tobytes())
        stride = image.shape[1] * image.itemsize
        if at >= 0 and all(raw[at + r * stride : at + r * stride + w] == frame[r].tobytes() for r in range(h)):
            return number, at
    return None


#: Where the SDK's live image starts in the rows the camera streamed (OBSERVED, 8-bit, ROI at 0,0): the QHY600's at
#: the first image row; the QHY268's (its live ROI is in effective-area coordinates) 34 rows down and 24 columns
#: plus 4 bytes in.
LIVE_IMAGE_AT = {"QHY600M": 0, "QHY268M": 34 * 6280 + 24 + 4}


@pytest.mark.parametrize("model", MODELS)
def test_sdk_live_mode_delivers_20_frames_each_one_the_emulator_streamed(emulated, monkeypatch, model: str) -> None:
    """Live: A0 00 at InitQHYCCD, BeginQHYCCDLive's asynchronous reads; each frame the rows then the marker, ending
    a short transfer. Every frame the SDK hands out is one the emulated camera streamed, in order, none twice."""
    emu = emulated(model)
    cam, camera = emu.cam, emu.camera
    camera.scene = FlatField(900.0)
    streamed: dict[int, np.ndarray] = {}
    materialize = camera._materialize

    def keep(*args: object) -> object:
        stream = materialize(*args)
        streamed[camera.last_frame.sequence] = camera.last_frame.image.copy()
        return stream

    monkeypatch.setattr(camera, "_materialize", keep)
    try:
        assert cam.SetQHYCCDStreamMode(1) == 0 and cam.InitQHYCCD() == 0
        assert not camera.registers.single
        cam.SetQHYCCDParam(Control.TRANSFERBIT, 8.0)
        cam.SetQHYCCDBinMode(1, 1)
        assert cam.SetQHYCCDResolution(0, 0, 1000, 100) == 0
        cam.SetQHYCCDParam(Control.EXPOSURE, 20_000.0)
        assert cam.BeginQHYCCDLive() == 0
        buffer = ctypes.create_string_buffer(cam.GetQHYCCDMemLength())
        got: list[np.ndarray] = []
        deadline = time.monotonic() + 30
        while len(got) < 20 and time.monotonic() < deadline:
            rc, w, h, bits, _ = cam.live_frame(buffer)
            if rc == 0:
                assert (w, h, bits) == (1000, 100, 8)
                got.append(np.frombuffer(buffer.raw[: w * h], dtype=np.uint8).reshape(h, w).copy())
            time.sleep(0.002)
        assert cam.StopQHYCCDLive() == 0
    finally:
        cam.SetQHYCCDStreamMode(0)
        cam.InitQHYCCD()
    assert len(got) == 20
    windows = [_window(streamed, frame) for frame in got]
    assert None not in windows, windows
    numbers = [w[0] for w in windows]  # type: ignore[index]
    assert numbers == sorted(numbers) and len(set(numbers)) == 20
    assert {w[1] for w in windows} == {LIVE_IMAGE_AT[model]}  # type: ignore[index]
    assert camera.registers.single  # back in single-frame mode


def test_live_mode_keeps_the_sdks_reads_queued(sdk, emulated) -> None:
    """BeginQHYCCDLive queues asynchronous 16 KiB reads and resubmits each as it completes, so the camera's link
    always has SDK_LIVE_QUEUED_READS of them waiting (what the driver's frame pipeline does with fewer, larger
    transfers: usb/frame_pipeline.py). Here, with the live test, while the session's emulated cameras are still
    in their slots (later oracle tests plug scripted devices in over them)."""
    emu = emulated("QHY600M")
    cam, bridge = emu.cam, sdk.bridge
    assert cam.SetQHYCCDStreamMode(1) == 0 and cam.InitQHYCCD() == 0
    try:
        cam.SetQHYCCDParam(Control.TRANSFERBIT, 8.0)
        assert cam.SetQHYCCDResolution(0, 0, 1000, 100) == 0
        cam.SetQHYCCDParam(Control.EXPOSURE, 20_000.0)
        events, mark = len(bridge.events), bridge.mark()
        assert cam.BeginQHYCCDLive() == 0
        buffer = ctypes.create_string_buffer(cam.GetQHYCCDMemLength())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # until every read queued at the start was resubmitted once
            cam.live_frame(buffer)
            if sum(e[0] == "submit" for e in bridge.events[events:]) > 2 * protocol.SDK_LIVE_QUEUED_READS:
                break
            time.sleep(0.002)
        submits = [e[2] for e in bridge.events[events:] if e[0] == "submit"]
        completed = [t for t in bridge.since(mark) if t.kind == "BULK"]
        assert cam.StopQHYCCDLive() == 0
    finally:
        cam.SetQHYCCDStreamMode(0)
        cam.InitQHYCCD()
    assert set(submits) == {protocol.SDK_BULK_READ}
    assert completed  # the camera streamed: reads completed and were queued again
    # one submitted again for each one completed: always 512 waiting
    assert abs(len(submits) - len(completed) - protocol.SDK_LIVE_QUEUED_READS) <= 1


def test_sdk_exposure_time_left_follows_the_emulated_exposure(emulated) -> None:
    """GetQHYCCDExposureRemaining (percent left; the SDK times it, sending nothing) agrees with the exposure the
    emulated camera is running."""
    emu = emulated("QHY600M")
    emu.cam.SetQHYCCDParam(Control.EXPOSURE, 3_000_000.0)
    assert emu.cam.ExpQHYCCDSingleFrame() == 0
    try:
        for _ in range(3):
            time.sleep(0.5)
            exposure = emu.camera._exposure
            assert exposure is not None
            left = (exposure.started + exposure.duration - emu.camera.clock.now()) / exposure.duration
            assert emu.cam.GetQHYCCDExposureRemaining() == pytest.approx(100 * left, abs=5)
    finally:
        emu.cam.CancelQHYCCDExposingAndReadout()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_sdk_frames_in_every_read_mode_carry_that_modes_registers(emulated, model: str, mode: int) -> None:
    """SetQHYCCDReadMode, InitQHYCCD, a gain: the camera holds the registers the mode's curve gives that gain, and
    the frame the SDK returns equals the emulator's."""
    emu = emulated(model)
    emu.camera.scene = FlatField(700.0)
    family = emu.camera.model.family.value
    try:
        assert emu.cam.SetQHYCCDReadMode(mode) == 0 and emu.cam.InitQHYCCD() == 0
        assert emu.cam.SetQHYCCDParam(Control.GAIN, 30.0) == 0
        assert emu.camera.registers.gain == protocol.gain_registers(family, mode, 30)
        x, y, w_roi, h_roi = 0, 100, 1200, 200
        assert emu.cam.SetQHYCCDResolution(x, y, w_roi, h_roi) == 0
        rc, w, h, bits, raw = emu.single_frame()
        assert rc == 0 and (w, h) == (w_roi, h_roi)
        np.testing.assert_array_equal(image_of(raw, w, h, bits), truth_of(emu)[:h_roi, x : x + w_roi])
    finally:
        emu.cam.SetQHYCCDReadMode(0)
        emu.cam.InitQHYCCD()


@pytest.mark.parametrize("model", MODELS)
def test_sdk_effective_area_without_the_overscan(emulated, model: str) -> None:
    """The effective area (no optical black, no overscan rows) as a ROI: the SDK's image is the emulator's there."""
    emu = emulated(model)
    emu.camera.scene = FlatField(1100.0)
    eff = emu.camera.model.effective
    assert emu.cam.SetQHYCCDResolution(eff.x, eff.y, eff.width, eff.height) == 0
    rc, w, h, bits, raw = emu.single_frame()
    assert rc == 0 and (w, h) == (eff.width, eff.height)
    truth = truth_of(emu)
    offset = emu.camera.frames.readout(emu.camera.registers).image_y
    np.testing.assert_array_equal(image_of(raw, w, h, bits), truth[eff.y - offset : eff.y - offset + h,
                                                                     eff.x : eff.x_end])


def test_sdk_drives_the_emulated_filter_wheel(sdk) -> None:
    """IsQHYCCDCFWPlugged, the slot count, an order and the status the SDK reads: the emulated CFW3 as the SDK
    sees it (on a camera of its own: its wheel is part of it)."""
    from indi_qhy_py.emulator.filter_port import EmulatedWheel

    from .conftest import open_emulated

    wheel = EmulatedWheel(slots=7, seconds_per_slot=0.2)
    emu = open_emulated(sdk, "QHY600M", filter_wheel=wheel)
    cam = emu.cam
    assert cam.IsQHYCCDCFWPlugged() == 0
    assert cam.GetQHYCCDParam(Control.CFWSLOTSNUM) == 7
    assert cam.SendOrder2QHYCCDCFW(ctypes.create_string_buffer(b"3"), 1) == 0
    status = ctypes.create_string_buffer(64)
    cam.GetQHYCCDCFWStatus(status)
    assert status.value == protocol.CFW_MOVING and wheel.moves == 1
    time.sleep(0.7)  # 3 slots at 0.2 s, on the camera's clock
    cam.GetQHYCCDCFWStatus(status)
    assert status.value == b"3" and wheel.position == 3
