"""The CCD device's view of the camera itself: its versions and identity, and its power.

``CAMERA_VERSIONS`` (read-only) says what the camera said of itself at connect: FX3 firmware date, FPGA version,
serial; the model variant (PH, L, Pro) is not among the answers QHY's SDK was seen to use, so it says so.
``POWER_STATUS`` is a light: Ok while the camera's sensor status is good, Alert with a message telling the user to
check the 12 V supply while it reports a power fault (the camera may reboot below 11.5 V when the TEC draws hard).
Frames taken meanwhile carry POWERERR in their header (the camera layer marks them). ``NICKNAME`` is the user's own
name for this camera (``nicknames``): stored at once, the device's name from the driver's next start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import nicknames
from .device import Refused
from .properties import State, Vector

if TYPE_CHECKING:
    from .ccd import QhyCcd

VARIANT_UNKNOWN = "not reported by the camera"


class CcdHealth:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.camera = device.camera

    def sync(self) -> None:
        """On connect: what the camera said of itself."""
        v = self.device.all["CAMERA_VERSIONS"]
        cam = self.camera
        v["FIRMWARE"].value = cam.firmware_date or "not given"
        fpga = cam.fpga_version
        v["FPGA"].value = ".".join(f"{b:02x}" for b in fpga) if fpga else "not given"
        v["SERIAL"].value = cam.info.serial
        v["VARIANT"].value = VARIANT_UNKNOWN

    def _on_nickname(self, v: Vector, values: dict[str, object]) -> None:
        device = self.device
        try:
            others = {nicknames.device_name(n) for i, n in nicknames.load().items() if i != self.camera.id}
            nickname = nicknames.check(str(values.get("nickname", "")), device.names_in_use() - {device.name} | others)
            path = nicknames.store(self.camera.id, nickname)
        except nicknames.NicknameError as err:
            raise Refused(str(err)) from err
        v.apply({"nickname": nickname})
        name = nicknames.device_name(nickname) if nickname else self.camera.id
        when = "now" if name == device.name else "when the driver next starts (restart it, or indiserver)"
        device.update(v, State.OK, f"saved in {path}: {self.camera.id} is device '{name}' {when}")

    def report(self) -> None:
        """The power light, sent when it changes (called by the ticker)."""
        telemetry = self.camera.telemetry
        if telemetry is None or telemetry.sensor_status is None:
            return
        v = self.device.all["POWER_STATUS"]
        state = State.ALERT if telemetry.under_voltage else State.OK
        if v["SUPPLY"].state is state:
            return
        v["SUPPLY"].state = state
        if state is State.ALERT:
            message = (f"the camera reports a power fault (sensor status {telemetry.sensor_status}): check the 12 V "
                       "supply and its cable — below 11.5 V the camera may reboot when the cooler draws hard")
        else:
            message = "the camera's power is good"
        self.device.update(v, state, message)
