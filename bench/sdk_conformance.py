"""How far the emulated cameras and the driver agree with QHY's own SDK (the black-box oracle of tests/sdk_oracle).

Per model: the SDK operations exercised against the emulated camera and how many round-trip exactly (what the SDK
returns equals the emulator's ground truth or state); then, for the same user operations, the driver's transfers
against the SDK's, field by field, with every difference listed with its reason (the SDK's own transfers are the
baseline, measured in the same run).

Last line: ``sdk_conformance=<passed>/<total>``: the emulator's round trips and the driver's fields that equal the
SDK's, over both models.
Run: ``python3 bench/sdk_conformance.py`` (needs the test extra: the qhyccd wheel, gcc).
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indi_qhy_py import protocol
from indi_qhy_py.emulator.scene import FlatField
from tests.sdk_oracle.compare import OPERATIONS, DriverRecorder, compare, sdk_run
from tests.sdk_oracle.conftest import SdkOnEmulator, binned_sum, open_emulated, reset
from tests.sdk_oracle.probe import open_scripted
from tests.sdk_oracle.sdk import Control, oracle, unavailable_reason


def frame_check(bits: int = 16, binning: int = 1, roi: tuple[int, int, int, int] | None = None
                ) -> Callable[[SdkOnEmulator], bool]:
    def check(emu: SdkOnEmulator) -> bool:
        reset(emu.cam)
        emu.camera.scene = FlatField(1200.0)
        emu.cam.SetQHYCCDParam(Control.TRANSFERBIT, float(bits))
        width, height = emu.camera.model.readout_width, emu.camera.model.readout_height
        if binning > 1:
            emu.cam.SetQHYCCDBinMode(binning, binning)
            emu.cam.SetQHYCCDResolution(0, 0, width // binning, height // binning)
        if roi:
            emu.cam.SetQHYCCDResolution(*roi)
        rc, w, h, got_bits, raw = emu.single_frame()
        frame = emu.camera.last_frame
        if rc != 0 or frame is None:
            return False
        image = np.frombuffer(raw, dtype=np.uint16 if got_bits == 16 else np.uint8).reshape(h, w)
        truth = binned_sum(frame.image, binning) if binning > 1 else frame.image
        if roi:
            truth = truth[: roi[3], roi[0] : roi[0] + roi[2]]
        return bool(np.array_equal(image, truth[:h, :w]))
    return check


def temperature_check(emu: SdkOnEmulator) -> bool:
    emu.camera.thermal.update(emu.camera.clock.now())
    return abs(emu.cam.GetQHYCCDParam(Control.CURTEMP) - emu.camera.thermal.sensor_c) < 0.15


def cooler_check(emu: SdkOnEmulator) -> bool:
    emu.cam.ControlQHYCCDTemp(-10.0)
    auto = emu.camera.thermal.auto and abs(emu.camera.thermal.target_c + 10.0) < 0.05
    emu.cam.SetQHYCCDParam(Control.MANULPWM, 128.0)
    return auto and not emu.camera.thermal.auto and abs(emu.camera.thermal.pwm - 128) <= 1


def tec_power_check(emu: SdkOnEmulator) -> bool:
    emu.cam.ControlQHYCCDTemp(-10.0)
    emu.camera.thermal.update(emu.camera.clock.now())
    emu.cam.GetQHYCCDParam(Control.CURTEMP)  # temperature and PWM come in one answer
    return abs(emu.cam.GetQHYCCDParam(Control.CURPWM) - round(emu.camera.thermal.pwm)) <= 1


def settings_check(emu: SdkOnEmulator) -> bool:
    for control, value in ((Control.OFFSET, 60.0), (Control.USBTRAFFIC, 30.0), (Control.GAIN, 56.0)):
        emu.cam.SetQHYCCDParam(control, value)
    r = emu.camera.registers
    return r.offset == 60 and r.usb_traffic == 30 and r.gain == protocol.gain_registers(
        emu.camera.model.family.value, 0, 56)


def humidity_check(emu: SdkOnEmulator) -> bool:
    value = ctypes.c_double()
    emu.cam.InitQHYCCD()
    emu.cam.SetQHYCCDStreamMode(0)
    if emu.cam.GetQHYCCDHumidity(ctypes.byref(value)) != 0:
        return False
    return abs(value.value - emu.camera.thermal.humidity_percent) < 0.05


def live_check(emu: SdkOnEmulator) -> bool:
    """20 live frames, each one the emulated camera streamed (the test suite checks the pixels too)."""
    cam = emu.cam
    try:
        cam.SetQHYCCDStreamMode(1)
        cam.InitQHYCCD()
        cam.SetQHYCCDParam(Control.TRANSFERBIT, 8.0)
        cam.SetQHYCCDBinMode(1, 1)
        cam.SetQHYCCDResolution(0, 0, 1000, 100)
        cam.SetQHYCCDParam(Control.EXPOSURE, 20_000.0)
        first = emu.camera.frame_counter
        cam.BeginQHYCCDLive()
        buffer, got = ctypes.create_string_buffer(cam.GetQHYCCDMemLength()), 0
        deadline = time.monotonic() + 30
        while got < 20 and time.monotonic() < deadline:
            got += cam.live_frame(buffer)[0] == 0
            time.sleep(0.002)
        cam.StopQHYCCDLive()
        return got == 20 and emu.camera.frame_counter - first >= 20
    finally:
        cam.SetQHYCCDStreamMode(0)
        cam.InitQHYCCD()


def cancel_check(emu: SdkOnEmulator) -> bool:
    reset(emu.cam)
    emu.cam.SetQHYCCDParam(Control.EXPOSURE, 5_000_000.0)
    emu.cam.ExpQHYCCDSingleFrame()
    emu.cam.CancelQHYCCDExposingAndReadout()
    return frame_check()(emu)


CHECKS: dict[str, list[tuple[str, Callable[[SdkOnEmulator], bool]]]] = {
    "QHY600M": [("16-bit full frame", frame_check()), ("8-bit full frame", frame_check(8)),
                ("2x2 bin", frame_check(binning=2)), ("4x4 bin", frame_check(binning=4)),
                ("ROI 2000x1000 at (1000,500)", frame_check(roi=(1000, 500, 2000, 1000))),
                ("temperature", temperature_check), ("TEC power while regulating", tec_power_check),
                ("cooler target and manual PWM", cooler_check), ("gain, offset, USB traffic", settings_check),
                ("cancel, then expose again", cancel_check), ("live: 20 frames", live_check)],
    "QHY268M": [("16-bit full frame", frame_check()), ("8-bit full frame", frame_check(8)),
                ("2x2 bin", frame_check(binning=2)),
                ("ROI 2000x1000 at (1000,500)", frame_check(roi=(1000, 500, 2000, 1000))),
                ("temperature", temperature_check), ("TEC power while regulating", tec_power_check),
                ("humidity", humidity_check),
                ("cooler target and manual PWM", cooler_check), ("gain, offset, USB traffic", settings_check),
                ("live: 20 frames", live_check)],
}


def main() -> None:
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        print("sdk_conformance=0/0")
        return
    sdk = oracle()
    passed = total = 0
    for model, checks in CHECKS.items():
        emu = open_emulated(sdk, model)
        ok = 0
        for name, check in checks:
            try:
                result = check(emu)
            except Exception as err:
                result, name = False, f"{name} ({err})"
            ok += result
            print(f"  {model} {'ok  ' if result else 'FAIL'} {name}")
        print(f"{model}: {ok}/{len(checks)} SDK operations round-trip on the emulated camera")
        passed, total = passed + ok, total + len(checks)

    round_trips = f"{passed}/{total}"
    for model in CHECKS:
        cam, device = open_scripted(sdk, 0xC601 if model == "QHY600M" else 0xC269)
        driver = DriverRecorder(model)
        matched = fields = 0
        for name, sdk_call, driver_call in OPERATIONS:
            got, differences = compare(name, sdk_run(sdk, cam, device, sdk_call), driver.run(driver_call))
            matched, fields = matched + got, fields + got + len(differences)
            for d in differences:
                print(f"  {model} {name}: SDK sends {d.sdk[0]} = {d.sdk[1]}; {d.reason}")
        driver.close()
        print(f"{model}: driver matches {matched}/{fields} SDK fields over {len(OPERATIONS)} operations")
        passed, total = passed + matched, total + fields
    print(f"emulator round trips {round_trips}; with the driver's fields:")
    print(f"sdk_conformance={passed}/{total}")


if __name__ == "__main__":
    main()
