"""QHY's SDK, loaded through ctypes over the libusb stand-in: the test oracle.

``load_sdk()`` finds the ``qhyccd`` wheel's libraries (installed as a test dependency), copies libqhyccd and
its libudev into a private folder, builds ``libusb_standin.c`` there under the soname libqhyccd asks for, and
loads both, so every USB call of the SDK reaches ``bridge.UsbBridge``. The SDK is loaded once per process
(it keeps threads and global state); tests plug and unplug devices in the bridge between scans.

Nothing here (or anywhere in the repository) contains any part of the SDK: it is found on disk at test time.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .bridge import UsbBridge

SDK_WHEEL = "qhyccd==0.1.3"
HERE = Path(__file__).resolve().parent
STANDIN_SOURCE = HERE / "libusb_standin.c"
QHYCCD_SUCCESS = 0
QHYCCD_ERROR = 0xFFFFFFFF
HOTPLUG_ARRIVED, HOTPLUG_LEFT = 1, 2


class Control:
    """CONTROL_ID numbers of the SDK's public header (qhyccdstruct.h)."""

    GAIN = 6
    OFFSET = 7
    EXPOSURE = 8
    SPEED = 9
    TRANSFERBIT = 10
    USBTRAFFIC = 12
    CURTEMP = 14
    CURPWM = 15
    MANULPWM = 16
    CFWPORT = 17
    COOLER = 18
    CAM_COLOR = 20
    CAM_BIN1X1 = 21
    CAM_BIN2X2 = 22
    CAM_BIN3X3 = 23
    CAM_BIN4X4 = 24
    CAM_8BITS = 34
    CAM_16BITS = 35
    CAM_GPS = 36
    CAM_IGNOREOVERSCAN = 37
    AMPV = 41
    CFWSLOTSNUM = 44
    DDR = 48
    CAM_SINGLEFRAMEMODE = 57
    CAM_LIVEVIDEOMODE = 58
    CAM_IS_COLOR = 59
    HAS_FRAME_COUNTER = 60
    CAM_HUMIDITY = 62
    CAM_PRESSURE = 63
    SENSOR_ULVO_STATUS = 67
    WATCH_DOG_FPGA = 74


def unavailable_reason() -> str | None:
    """Why the oracle cannot run here, or None when it can."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"QHY's SDK wheel ({SDK_WHEEL}) is built for x86_64 Linux only, not {sys.platform}/{platform.machine()}"
    if importlib.util.find_spec("qhyccd") is None:
        return f"the SDK wheel is not installed (pip install '{SDK_WHEEL}', part of the [test] extra)"
    if shutil.which(os.environ.get("CC", "gcc")) is None:
        return "no C compiler to build the libusb stand-in"
    return None


def wheel_libs() -> Path:
    spec = importlib.util.find_spec("qhyccd")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))).parent / "qhyccd.libs"


def build_folder() -> Path:
    """A private folder holding copies of the SDK's libraries and the stand-in built under libusb's soname."""
    libs = wheel_libs()
    source = STANDIN_SOURCE.read_bytes()
    key = hashlib.sha256(source + str(sorted(p.name for p in libs.iterdir())).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"indi_qhy_py-sdk-oracle-{os.getuid()}-{key}"
    done = folder / ".built"
    if done.exists():
        return folder
    staging = Path(tempfile.mkdtemp(prefix="sdk-oracle-"))
    for lib in libs.iterdir():
        if lib.name.startswith("libusb-"):
            soname = lib.name
        else:
            shutil.copy2(lib, staging / lib.name)
    subprocess.run([os.environ.get("CC", "gcc"), "-shared", "-fPIC", "-O2", "-Wall", "-Werror",
                    f"-Wl,-soname,{soname}", "-o", str(staging / soname), str(STANDIN_SOURCE), "-lpthread"],
                   check=True)
    (staging / ".built").write_text(soname)
    try:
        staging.rename(folder)
    except OSError:  # another process built it first
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@dataclass
class ChipInfo:
    chip_width_mm: float
    chip_height_mm: float
    width: int
    height: int
    pixel_width_um: float
    pixel_height_um: float
    bits: int


class Sdk:
    """The SDK's C API, typed; one per process (see ``oracle()``)."""

    def __init__(self, folder: Path, bridge: UsbBridge) -> None:
        soname = (folder / ".built").read_text()
        self.standin = ctypes.CDLL(str(folder / soname), mode=ctypes.RTLD_GLOBAL)
        self.bridge = bridge
        self.standin.standin_set_callbacks(*bridge.callbacks)
        self.standin.standin_raise_hotplug.argtypes = [ctypes.c_int, ctypes.c_int]
        self.lib = ctypes.CDLL(str(next(folder.glob("libqhyccd-*"))))
        self._types()

    def _types(self) -> None:
        lib, h, u32, d = self.lib, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_double
        p = ctypes.POINTER
        sig = {
            "OpenQHYCCD": (h, [ctypes.c_char_p]),
            "CloseQHYCCD": (u32, [h]),
            "InitQHYCCD": (u32, [h]),
            "SetQHYCCDStreamMode": (u32, [h, ctypes.c_uint8]),
            "SetQHYCCDParam": (u32, [h, ctypes.c_int, d]),
            "GetQHYCCDParam": (d, [h, ctypes.c_int]),
            "IsQHYCCDControlAvailable": (u32, [h, ctypes.c_int]),
            "GetQHYCCDParamMinMaxStep": (u32, [h, ctypes.c_int, p(d), p(d), p(d)]),
            "GetQHYCCDChipInfo": (u32, [h, p(d), p(d), p(u32), p(u32), p(d), p(d), p(u32)]),
            "GetQHYCCDEffectiveArea": (u32, [h, p(u32), p(u32), p(u32), p(u32)]),
            "GetQHYCCDOverScanArea": (u32, [h, p(u32), p(u32), p(u32), p(u32)]),
            "GetQHYCCDMemLength": (u32, [h]),
            "SetQHYCCDBinMode": (u32, [h, u32, u32]),
            "SetQHYCCDResolution": (u32, [h, u32, u32, u32, u32]),
            "SetQHYCCDBitsMode": (u32, [h, u32]),
            "GetQHYCCDNumberOfReadModes": (u32, [h, p(u32)]),
            "GetQHYCCDReadModeName": (u32, [h, u32, ctypes.c_char_p]),
            "GetQHYCCDReadModeResolution": (u32, [h, u32, p(u32), p(u32)]),
            "SetQHYCCDReadMode": (u32, [h, u32]),
            "GetQHYCCDReadMode": (u32, [h, p(u32)]),
            "ExpQHYCCDSingleFrame": (u32, [h]),
            "GetQHYCCDSingleFrame": (u32, [h, p(u32), p(u32), p(u32), p(u32), ctypes.c_void_p]),
            "CancelQHYCCDExposingAndReadout": (u32, [h]),
            "CancelQHYCCDExposing": (u32, [h]),
            "BeginQHYCCDLive": (u32, [h]),
            "GetQHYCCDLiveFrame": (u32, [h, p(u32), p(u32), p(u32), p(u32), ctypes.c_void_p]),
            "StopQHYCCDLive": (u32, [h]),
            "ControlQHYCCDTemp": (u32, [h, d]),
            "GetQHYCCDHumidity": (u32, [h, p(d)]),
            "GetQHYCCDPressure": (u32, [h, p(d)]),
            "GetQHYCCDFWVersion": (u32, [h, ctypes.c_char_p]),
            "GetQHYCCDFPGAVersion": (u32, [h, ctypes.c_uint8, ctypes.c_char_p]),
            "GetQHYCCDExposureRemaining": (u32, [h]),
            "GetQHYCCDModel": (u32, [ctypes.c_char_p, ctypes.c_char_p]),
            "GetQHYCCDId": (u32, [u32, ctypes.c_char_p]),
            "IsQHYCCDCFWPlugged": (u32, [h]),
            "SendOrder2QHYCCDCFW": (u32, [h, ctypes.c_char_p, u32]),
            "GetQHYCCDCFWStatus": (u32, [h, ctypes.c_char_p]),
            "GetQHYCCDReadingProgress": (d, [h]),
            "SetQHYCCDDebayerOnOff": (u32, [h, ctypes.c_bool]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        lib.EnableQHYCCDMessage.argtypes = [ctypes.c_bool]
        lib.EnableQHYCCDLogFile.argtypes = [ctypes.c_bool]
        lib.SetQHYCCDLogLevel.argtypes = [ctypes.c_uint8]
        lib.EnableQHYCCDMessage(False)
        lib.EnableQHYCCDLogFile(False)

    # --- resource and scan ---------------------------------------------------------------------------------------
    def init_resource(self) -> int:
        return self.lib.InitQHYCCDResource()

    def scan(self) -> list[str]:
        n = self.lib.ScanQHYCCD()
        if n == QHYCCD_ERROR or n > 16:
            return []
        ids = []
        for i in range(n):
            buf = ctypes.create_string_buffer(64)
            if self.lib.GetQHYCCDId(i, buf) == QHYCCD_SUCCESS:
                ids.append(buf.value.decode())
        return ids

    def plug(self, slot: int, device: object, timeout_s: float = 10.0) -> str:
        """Put ``device`` on the bus and wait until the SDK lists it (it rescans on the hot-plug event)."""
        before = set(self.scan())
        self.bridge.plug(slot, device)  # type: ignore[arg-type]
        self.standin.standin_raise_hotplug(slot, HOTPLUG_ARRIVED)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            new = set(self.scan()) - before
            if new:
                return new.pop()
            time.sleep(0.05)
        raise RuntimeError(f"the SDK did not list the device plugged into slot {slot}")

    def unplug(self, slot: int) -> None:
        """Take the device off the bus (the SDK keeps listing a camera it holds open; nothing waits for it)."""
        self.bridge.unplug(slot)
        self.standin.standin_raise_hotplug(slot, HOTPLUG_LEFT)

    def model_of(self, camera_id: str) -> str:
        buf = ctypes.create_string_buffer(64)
        self.lib.GetQHYCCDModel(camera_id.encode(), buf)
        return buf.value.decode()

    def open(self, camera_id: str) -> SdkCamera:
        handle = self.lib.OpenQHYCCD(camera_id.encode())
        if not handle:
            raise RuntimeError(f"the SDK could not open {camera_id}")
        return SdkCamera(self.lib, ctypes.c_void_p(handle), camera_id)


class SdkCamera:
    """One camera opened by the SDK."""

    def __init__(self, lib: ctypes.CDLL, handle: ctypes.c_void_p, camera_id: str) -> None:
        self.lib, self.handle, self.id = lib, handle, camera_id

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        """``cam.SetQHYCCDParam(6, 30.0)``: any SDK call, with the handle first."""
        fn = getattr(self.lib, name)
        return lambda *args: fn(self.handle, *args)

    def chip_info(self) -> ChipInfo:
        d = [ctypes.c_double() for _ in range(4)]
        u = [ctypes.c_uint32() for _ in range(3)]
        rc = self.lib.GetQHYCCDChipInfo(self.handle, ctypes.byref(d[0]), ctypes.byref(d[1]), ctypes.byref(u[0]),
                                        ctypes.byref(u[1]), ctypes.byref(d[2]), ctypes.byref(d[3]),
                                        ctypes.byref(u[2]))
        assert rc == QHYCCD_SUCCESS, rc
        return ChipInfo(d[0].value, d[1].value, u[0].value, u[1].value, d[2].value, d[3].value, u[2].value)

    def area(self, which: str) -> tuple[int, int, int, int]:
        v = [ctypes.c_uint32() for _ in range(4)]
        fn = self.lib.GetQHYCCDEffectiveArea if which == "effective" else self.lib.GetQHYCCDOverScanArea
        fn(self.handle, *(ctypes.byref(x) for x in v))
        return tuple(x.value for x in v)  # type: ignore[return-value]

    def read_modes(self) -> list[str]:
        n = ctypes.c_uint32()
        self.lib.GetQHYCCDNumberOfReadModes(self.handle, ctypes.byref(n))
        names = []
        for i in range(n.value):
            buf = ctypes.create_string_buffer(128)
            self.lib.GetQHYCCDReadModeName(self.handle, i, buf)
            names.append(buf.value.decode())
        return names

    def single_frame(self, buffer: ctypes.Array) -> tuple[int, int, int, int, int]:
        """GetQHYCCDSingleFrame: (return code, width, height, bits, channels)."""
        w, h, b, c = (ctypes.c_uint32() for _ in range(4))
        rc = self.lib.GetQHYCCDSingleFrame(self.handle, ctypes.byref(w), ctypes.byref(h), ctypes.byref(b),
                                           ctypes.byref(c), buffer)
        return rc, w.value, h.value, b.value, c.value

    def live_frame(self, buffer: ctypes.Array) -> tuple[int, int, int, int, int]:
        w, h, b, c = (ctypes.c_uint32() for _ in range(4))
        rc = self.lib.GetQHYCCDLiveFrame(self.handle, ctypes.byref(w), ctypes.byref(h), ctypes.byref(b),
                                         ctypes.byref(c), buffer)
        return rc, w.value, h.value, b.value, c.value

    def text(self, name: str, *args: object) -> tuple[int, str]:
        buf = ctypes.create_string_buffer(256)
        rc = getattr(self.lib, name)(self.handle, *args, buf)
        return rc, buf.value.decode("latin-1")

    def close(self) -> int:
        return self.lib.CloseQHYCCD(self.handle)


_ORACLE: Sdk | None = None


def oracle() -> Sdk:
    """The process's one SDK, loaded and initialised on first use."""
    global _ORACLE
    if _ORACLE is None:
        bridge = UsbBridge()
        sdk = Sdk(build_folder(), bridge)
        rc = sdk.init_resource()
        if rc != QHYCCD_SUCCESS:
            raise RuntimeError(f"InitQHYCCDResource returned {rc:#x}")
        _ORACLE = sdk
    return _ORACLE
