"""The camera layer's contract, run against the emulator for all four models (and real cameras with --hardware).

Tests marked ``emulated`` need to see inside the camera (its clock, its settings, injected faults) and are skipped
on hardware; the rest hold for any QHY268/QHY600.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indi_qhy_py import protocol
from indi_qhy_py.camera import Camera, CameraBusyError, ExposureAborted, ExposureFailed
from indi_qhy_py.camera.cooling import CoolerMode
from indi_qhy_py.camera.settings import rows_request
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatorBackend, FlatField
from indi_qhy_py.models import QHY268C, QHY268M, QHY600M, CameraModel, Rect
from indi_qhy_py.usb import firmware
from indi_qhy_py.usb.discovery import discover
from tests.camera.conftest import SPEED, Bench, needs_emulator


def small(camera: Camera) -> None:
    """A 64-row band: fast frames for tests that are not about the frame."""
    width, _ = camera.image_size()
    camera.configure(roi=Rect(0, 100, width, 64))


def test_discovery_gives_stable_ids_for_several_cameras() -> None:
    clock = EmulatedClock()
    devices = [EmulatedCamera(m, clock=clock, seed=i + 1) for i, m in enumerate((QHY600M, QHY268C, QHY268C))]
    infos, messages = discover([EmulatorBackend(devices)])
    assert [i.id for i in infos] == [f"{d.model.name}-{d.serial}" for d in devices]
    assert all(" " not in i.id for i in infos) and messages == []
    assert [i.id for i in discover([EmulatorBackend(devices)])[0]] == [i.id for i in infos]  # stable


def test_boot_loader_camera_needs_a_firmware_directory(tmp_path: Path) -> None:
    device = EmulatedCamera(QHY268M, boot_loader=True, clock=EmulatedClock(10))
    backend = EmulatorBackend([device])
    infos, messages = discover([backend])
    assert infos == [] and "needs firmware QHY268.img" in messages[0]
    (tmp_path / "QHY268.img").write_bytes(firmware.build_image([firmware.Section(0x40000000, bytes(64))],
                                                               0x40000000))
    infos, messages = discover([backend], firmware_dir=tmp_path)
    assert [i.model for i in infos] == [QHY268M] and "loaded" in messages[0]


@pytest.mark.emulated
def test_exposure_timing_on_the_emulated_clock(bench: Bench) -> None:
    needs_emulator(bench)
    small(bench.camera)
    before = datetime.now(UTC)
    exposure = bench.camera.start_exposure(20.0)
    time.sleep(0.05)
    assert exposure.phase == "exposing" and 0 < exposure.time_left() <= 20.0
    frame = exposure.result(timeout=10)
    record = bench.device.last_frame
    assert record is not None and record.registers.exposure_us == 20_000_000
    assert before <= frame.started_utc <= datetime.now(UTC)
    assert frame.meta.good and frame.exposure_s == 20.0 and frame.attempts == 1
    assert bench.camera.stats.frames_captured == 1


def test_exposure_range_is_enforced(bench: Bench) -> None:
    model = bench.camera.model
    with pytest.raises(ValueError, match="out of range"):
        bench.camera.start_exposure(model.exposure_min_s / 2)
    with pytest.raises(ValueError, match="3600"):
        bench.camera.start_exposure(3601)
    small(bench.camera)
    assert bench.camera.start_exposure(model.exposure_min_s).result(10).meta.good


def assert_quick_abort(exposure) -> None:
    """Abort returns within 100 ms with the worker finished, and the exposure reports it was aborted."""
    start = time.monotonic()
    assert exposure.abort(wait_s=0.1)
    assert time.monotonic() - start < 0.1
    with pytest.raises(ExposureAborted):
        exposure.result(1)


def test_abort_during_the_exposure_is_quick(bench: Bench) -> None:
    exposure = bench.camera.start_exposure(600.0)
    time.sleep(0.1)
    assert_quick_abort(exposure)
    small(bench.camera)  # the camera is usable straight away
    assert bench.camera.start_exposure(0.01).result(10).meta.good


@pytest.mark.parametrize("model", [QHY600M, QHY268M], ids=lambda m: m.name)
def test_abort_during_the_download_is_quick(model: CameraModel) -> None:
    bench = Bench(model, rate_limit=True)  # a real-speed download: several hundred ms
    try:
        bench.clock.speed = 1.0
        exposure = bench.camera.start_exposure(0.001)
        while exposure.phase != "reading" or exposure.download_fraction == 0:
            time.sleep(0.001)
        assert_quick_abort(exposure)
    finally:
        bench.close()


def test_settings_are_validated_with_their_range(bench: Bench) -> None:
    cam = bench.camera
    top = protocol.gain_max(cam.model.family.value)
    with pytest.raises(ValueError, match=rf"gain {top + 1} is out of range 0\.\.{top} in read mode Extended Full"):
        cam.configure(read_mode=2, gain=top + 1)
    with pytest.raises(ValueError, match=r"offset 300 is out of range 0\.\.255"):
        cam.configure(offset=300)
    with pytest.raises(ValueError, match="ROI"):
        cam.configure(roi=Rect(0, 0, 100_000, 10))
    with pytest.raises(ValueError, match="bit depth"):
        cam.configure(bits=12)
    assert cam.settings.gain == 0  # nothing half-applied


def _device_matches(bench: Bench) -> None:
    """The camera holds every setting, as the registers QHY's SDK would have sent for them."""
    s, d = bench.camera.settings, bench.device.registers
    family = bench.camera.model.family.value
    assert (d.gain, d.offset, d.usb_traffic, d.bits, (d.rows, d.first_row)) == \
        (protocol.gain_registers(family, s.read_mode, s.gain), s.offset, s.usb_traffic, s.bits,
         rows_request(bench.camera.model, s))


@pytest.mark.emulated
def test_settings_survive_read_mode_and_bit_depth_changes(bench: Bench) -> None:
    needs_emulator(bench)
    cam = bench.camera
    cam.configure(gain=45, offset=40, usb_traffic=10, roi=Rect(100, 200, 1000, 300))
    _device_matches(bench)
    cam.configure(read_mode="Extended Full Well 2CMS")  # A0 re-initialises the camera: it forgets
    _device_matches(bench)
    cam.configure(bits=8)
    _device_matches(bench)
    frame = cam.start_exposure(0.01).result(10)
    assert frame.pixels.shape == (300, 1000) and frame.pixels.dtype == np.uint8


@pytest.mark.emulated
def test_settings_survive_a_power_cycle_and_the_exposure_is_reported(bench: Bench) -> None:
    needs_emulator(bench)
    cam = bench.camera
    cam.configure(gain=33, offset=44, usb_traffic=5, roi=Rect(0, 10, 500, 64))
    cam.tec.set_temperature(-5)
    bench.device.faults.inject("unplug", when="exposure", down_s=20.0)
    exposure = cam.start_exposure(30.0)
    with pytest.raises(ExposureFailed, match="vanished"):
        exposure.result(10)
    deadline = time.monotonic() + 10
    while cam.stats.reconnects == 0:
        assert time.monotonic() < deadline, "camera not reconnected"
        time.sleep(0.02)
    assert cam.state == "connected"
    _device_matches(bench)
    assert bench.device.thermal.auto  # cooling resumed
    assert cam.start_exposure(0.01).result(10).meta.good
    assert any("vanished" in text for _, text in bench.events) and any("back" in text for _, text in bench.events)


@pytest.mark.emulated
def test_damaged_frames_are_retried_then_reported(bench: Bench) -> None:
    needs_emulator(bench)
    cam = bench.camera
    small(cam)
    bench.device.faults.inject("zero_fill")
    frame = cam.start_exposure(0.01).result(10)
    assert frame.meta.good and frame.attempts == 2 and cam.stats.frames_retried == 1
    bench.device.faults.inject("misalign", frames=cam.retries + 1)
    with pytest.raises(ExposureFailed, match="misaligned"):
        cam.start_exposure(0.01).result(10)
    assert cam.stats.frames_failed == 1
    assert cam.start_exposure(0.01).result(10).meta.good


@pytest.mark.emulated
def test_cooling_ramp_is_respected_and_regulation_holds(bench: Bench) -> None:
    needs_emulator(bench)
    cam = bench.camera
    cam.tec.ramp.slope_c_per_min = 4.0
    cam.tec.set_temperature(-10.0)
    samples = []
    deadline = time.monotonic() + 30
    while True:
        reading = cam.tec.reading()
        samples.append((bench.clock.now(), reading.setpoint_c, reading.temperature_c))
        if reading.setpoint_c == -10.0 and len(samples) > 5 and abs(reading.temperature_c + 10) < 0.3:
            break
        assert time.monotonic() < deadline, "did not reach -10 C"
        time.sleep(0.05)
    # a reading shows the set point of the last monitor tick, up to one poll older than the reading itself
    stale_s = cam.poll_s * bench.clock.speed
    for (t0, s0, _), (t1, s1, _) in itertools.pairwise(samples):
        if t1 - t0 > 1.0:
            assert abs(s1 - s0) <= 4.0 * (t1 - t0 + stale_s) / 60 + 0.15  # never faster than the ramp
    held = []
    for _ in range(40):
        time.sleep(0.05)
        held.append(cam.tec.reading().temperature_c)
    assert all(abs(t + 10.0) <= 0.5 for t in held)
    assert cam.tec.reading().mode is CoolerMode.AUTO


@pytest.mark.emulated
def test_warm_up_before_disconnect(bench: Bench) -> None:
    needs_emulator(bench)
    cam = bench.camera
    cam.tec.ramp.slope_c_per_min = 10.0
    bench.clock.speed = 200.0
    cam.tec.set_temperature(-5.0)
    deadline = time.monotonic() + 20
    while cam.tec.reading().temperature_c > -4.0:
        assert time.monotonic() < deadline, "did not cool"
        time.sleep(0.02)
    assert cam.tec.warm_up(timeout_s=30)
    assert cam.tec.reading().mode is CoolerMode.OFF and bench.device.thermal.pwm == 0


@pytest.mark.emulated
def test_manual_power_is_ramped(bench: Bench) -> None:
    needs_emulator(bench)
    cam = bench.camera
    cam.tec.ramp.power_slope_pct_per_min = 30.0
    cam.tec.set_power(80)
    time.sleep(0.3)  # about 15 emulated seconds: at most 7.5 % so far
    assert 0 < bench.device.thermal.pwm <= 255 * 0.09
    deadline = time.monotonic() + 10
    while bench.device.thermal.pwm < 203:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_binning_overscan_and_eight_bits_through_the_camera(bench: Bench) -> None:
    cam = bench.camera
    model = cam.model
    cam.configure(include_overscan=True, roi=Rect(0, 0, model.readout_width, 64))  # the overscan rows are on top
    full = cam.start_exposure(0.01).result(10)
    assert full.pixels.shape == (64, model.readout_width) and full.meta.overscan_mean is not None
    cam.configure(include_overscan=False, roi=Rect(0, 0, 1200, 120), binning=3)
    binned = cam.start_exposure(0.01).result(10)
    assert binned.pixels.shape == (40, 400) and binned.pixels.dtype == np.uint32
    cam.configure(average_binning=True)
    assert cam.start_exposure(0.01).result(10).pixels.dtype == np.uint16


def test_busy_camera_refuses_setting_changes(bench: Bench) -> None:
    exposure = bench.camera.start_exposure(600.0)
    with pytest.raises(CameraBusyError):
        bench.camera.configure(gain=10)
    with pytest.raises(CameraBusyError):
        bench.camera.start_exposure(1.0)
    exposure.abort()


def test_two_cameras_at_once() -> None:
    clock = EmulatedClock(SPEED)
    devices = [EmulatedCamera(QHY600M, clock=clock, seed=1), EmulatedCamera(QHY268C, clock=clock, seed=2)]
    devices[0].scene = FlatField(1000)
    infos, _ = discover([EmulatorBackend(devices)])
    cameras = [Camera(info, clock=clock.now, poll_s=0.05) for info in infos]
    for cam in cameras:
        cam.connect()
        small(cam)
    try:
        exposures = [cam.start_exposure(10.0) for cam in cameras]
        frames = [e.result(10) for e in exposures]
        assert all(f.meta.good for f in frames)
        assert frames[0].pixels.mean() > frames[1].pixels.mean() + 100  # each frame is its own camera's
    finally:
        for cam in cameras:
            cam.disconnect()




@pytest.mark.emulated
def test_the_watchdog_is_fed_while_connected(bench: Bench) -> None:
    """The camera layer feeds the FPGA watchdog (at QHY's SDK's 10 s; here sped up), so a camera whose watchdog
    resets it when not fed (here within 0.5 s) never resets while connected — and does once the feeding stops."""
    needs_emulator(bench)
    assert bench.camera.housekeeping.watchdog_period_s == protocol.WATCHDOG_PERIOD_S == 10.0
    bench.camera.housekeeping.watchdog_period_s = 0.1
    bench.device.watchdog.timeout_s = 0.5
    fed: list[float] = []
    original = bench.device.watchdog.feed
    bench.device.watchdog.feed = lambda: (fed.append(time.monotonic()), original())[1]  # type: ignore[method-assign]
    time.sleep(1.5)
    assert bench.device.watchdog.resets == 0 and bench.camera.state == "connected" and len(fed) >= 8
    assert max(b - a for a, b in itertools.pairwise(fed)) < 0.5
    bench.camera.housekeeping.stop()
    time.sleep(0.7)
    bench.device.present()
    assert bench.device.watchdog.resets == 1
