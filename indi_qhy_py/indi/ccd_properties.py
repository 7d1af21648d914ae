"""The properties of a QHY camera as an INDI CCD: the standard names clients look for, and QHY's own.

Only data here: which vectors exist, their elements, limits and defaults for a given model. What a change does is
in ``ccd``. ``BASE`` are defined while disconnected, the rest on connect.
"""

from __future__ import annotations

import re

from .. import __version__
from ..models import SETPOINT_MAX_C, SETPOINT_MIN_C, CameraModel
from .ccd_offset import offset_vectors
from .properties import Blob, Light, Number, Rule, Switch, Text, Vector, blobs, lights, numbers, switches, texts
from .snoop import DEFAULT_ACTIVE
from .stream_properties import STREAM_CONFIG, stream_vectors

MAIN, OPTIONS, INFO, COOLING, QHY, STATS = "Main Control", "Options", "Image Info", "Cooler", "QHY", "Statistics"
GENERAL = "General Info"
DRIVER_EXEC = "indi_qhy_py_ccd"
CCD_INTERFACE = 2

BASE = ("CONNECTION", "DRIVER_INFO", "NICKNAME", "DEBUG", "SIMULATION", "CONFIG_PROCESS", "POLLING_PERIOD",
        "ACTIVE_DEVICES", "SIMULATE_FAULT", "SIMULATE_FAULT_SETTINGS")  # the last two on emulated cameras only
FAULTS_GROUP = "Fault Injection"
#: Faults an emulated camera can be told to have, so users rehearse how their automation copes (as INDI's
#: simulators offer CCD_SIMULATE_CRASH). The emulator models a pulled cable and a 12 V cut alike: the camera
#: leaves the bus and returns, after the down time, at its power-on defaults.
SIMULATED_FAULTS = {  # element -> (label, the emulator's name for it)
    "UNPLUG": ("Unplug the cable now", "unplug"),
    "POWER_CYCLE": ("12 V power cycle now", "power_cycle"),
    "POWER_CYCLE_IN_EXPOSURE": ("12 V cut midway through the next exposure", "power_cycle_in_exposure"),
    "POWER_CYCLE_IN_DOWNLOAD": ("12 V cut midway through the next download", "power_cycle_in_download"),
    "DROP_PACKETS": ("Lose USB packets in the next frame(s)", "drop"),
    "ZERO_ROWS": ("Zero-filled rows in the next frame(s)", "zero_fill"),
    "SHORT_FRAME": ("End the next frame(s) early", "short"),
    "STALL_TRANSFER": ("Stall the next frame's transfer", "stall"),
    "MISALIGN_FRAME": ("Stale bytes before the next frame(s)", "misalign"),
    "SUPPLY_SAG": ("12 V sags below 11.5 V for the down time", "supply_sag"),
    "CFW_SILENT": ("Filter wheel stops answering for the down time", "cfw_silent"),
}
FRAME_TYPES = ("FRAME_LIGHT", "FRAME_BIAS", "FRAME_DARK", "FRAME_FLAT")
BIT_DEPTHS = {"BITS_8": "8-bit", "BITS_16": "16-bit", "BITS_32": "32-bit binned sums"}


def mode_element(name: str) -> str:
    """A read mode's switch name: "High Gain" -> "HIGH_GAIN" (typeable in scripts)."""
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def build(device: str, model: CameraModel, emulated: bool, upload_dir: str, nickname: str = "") -> dict[str, Vector]:
    d = device
    eff = model.effective
    onoff = [Switch("INDI_ENABLED", "On"), Switch("INDI_DISABLED", "Off", True)]
    vectors = [
        switches(d, "CONNECTION", "Connection", MAIN,
                 [Switch("CONNECT", "Connect"), Switch("DISCONNECT", "Disconnect", True)], saved=False),
        texts(d, "DRIVER_INFO", "Driver Info", OPTIONS,
              [Text("DRIVER_NAME", "Name", "QHY CCD (Python)"), Text("DRIVER_EXEC", "Exec", DRIVER_EXEC),
               Text("DRIVER_VERSION", "Version", __version__),
               Text("DRIVER_INTERFACE", "Interface", str(CCD_INTERFACE))], perm="ro", saved=False),
        # INDI 2.x drivers' name for the user's own name of a camera (element "nickname", as theirs)
        texts(d, "NICKNAME", "Nickname", GENERAL, [Text("nickname", "nickname", nickname)], saved=False),
        switches(d, "DEBUG", "Debug", OPTIONS, [Switch("ENABLE", "Enable"), Switch("DISABLE", "Disable", True)],
                 saved=False),
        switches(d, "SIMULATION", "Simulation", OPTIONS,
                 [Switch("ENABLE", "Enable", emulated), Switch("DISABLE", "Disable", not emulated)], saved=False),
        switches(d, "CONFIG_PROCESS", "Configuration", OPTIONS,
                 [Switch("CONFIG_LOAD", "Load"), Switch("CONFIG_SAVE", "Save"), Switch("CONFIG_DEFAULT", "Default"),
                  Switch("CONFIG_PURGE", "Purge")], rule=Rule.AT_MOST_ONE, saved=False),
        numbers(d, "POLLING_PERIOD", "Polling", OPTIONS, [Number("PERIOD_MS", "Period (ms)", 1000, 10, 60000, 10,
                                                                 "%.f")]),
        texts(d, "ACTIVE_DEVICES", "Snoop devices", OPTIONS,
              [Text(k, k.removeprefix("ACTIVE_").title(), v) for k, v in DEFAULT_ACTIVE.items()]),
        # --- defined on connect ------------------------------------------------------------------------------
        numbers(d, "CCD_EXPOSURE", "Expose", MAIN,
                [Number("CCD_EXPOSURE_VALUE", "Duration (s)", 1, model.exposure_min_s, model.exposure_max_s, 1,
                        "%.5f")], saved=False),
        switches(d, "CCD_ABORT_EXPOSURE", "Abort", MAIN, [Switch("ABORT", "Abort")], rule=Rule.AT_MOST_ONE,
                 saved=False),
        numbers(d, "CCD_FRAME", "Frame", INFO,
                [Number("X", "Left", 0, 0, eff.width - 1, 1, "%.f"), Number("Y", "Top", 0, 0, eff.height - 1, 1, "%.f"),
                 Number("WIDTH", "Width", eff.width, 1, eff.width, 1, "%.f"),
                 Number("HEIGHT", "Height", eff.height, 1, eff.height, 1, "%.f")]),
        switches(d, "CCD_FRAME_RESET", "Frame Values", INFO, [Switch("RESET", "Reset")], rule=Rule.AT_MOST_ONE,
                 saved=False),
        numbers(d, "CCD_BINNING", "Binning", INFO,
                [Number("HOR_BIN", "X", 1, 1, max(model.binnings), 1, "%.f"),
                 Number("VER_BIN", "Y", 1, 1, max(model.binnings), 1, "%.f")]),
        numbers(d, "CCD_INFO", "CCD Information", INFO,
                [Number("CCD_MAX_X", "Max. Width", eff.width, 1, 20000, 1, "%.f"),
                 Number("CCD_MAX_Y", "Max. Height", eff.height, 1, 20000, 1, "%.f"),
                 Number("CCD_PIXEL_SIZE", "Pixel size (um)", model.pixel_um, 0, 100, 0, "%.2f"),
                 Number("CCD_PIXEL_SIZE_X", "Pixel size X", model.pixel_um, 0, 100, 0, "%.2f"),
                 Number("CCD_PIXEL_SIZE_Y", "Pixel size Y", model.pixel_um, 0, 100, 0, "%.2f"),
                 Number("CCD_BITSPERPIXEL", "Bits per pixel", 16, 8, 32, 0, "%.f")], perm="ro", saved=False),
        switches(d, "CCD_FRAME_TYPE", "Frame Type", MAIN,
                 [Switch(name, name.removeprefix("FRAME_").title(), name == "FRAME_LIGHT") for name in FRAME_TYPES],
                 saved=False),
        switches(d, "CCD_CAPTURE_FORMAT", "Format", INFO,
                 [Switch("INDI_RAW" if model.colour else "INDI_MONO", "Raw" if model.colour else "Mono", True)]),
        # no FORMAT_NATIVE: these cameras have no file format of their own (Ekos also turns binning and ROIs off
        # for a format labelled Native)
        switches(d, "CCD_TRANSFER_FORMAT", "Encode", OPTIONS,
                 [Switch("FORMAT_FITS", "FITS", True), Switch("FORMAT_XISF", "XISF")]),
        switches(d, "CCD_COMPRESSION", "Compression", OPTIONS,
                 [Switch("INDI_ENABLED", "Enabled"), Switch("INDI_DISABLED", "Disabled", True)]),
        blobs(d, "CCD1", "Image Data", "Image", [Blob("CCD1", "Image")]),
        numbers(d, "CCD_TEMPERATURE", "Temperature", MAIN,
                [Number("CCD_TEMPERATURE_VALUE", "Temperature (C)", 20, SETPOINT_MIN_C, SETPOINT_MAX_C, 0.1,
                        "%.2f")], saved=False),
        numbers(d, "CCD_TEMP_RAMP", "Temp. Ramp", COOLING,
                [Number("RAMP_SLOPE", "Max. dT (C/min)", 3, 0, 30, 0.5, "%.1f"),
                 Number("RAMP_THRESHOLD", "Threshold (C)", 0.2, 0.1, 2, 0.1, "%.1f")]),
        switches(d, "CCD_COOLER", "Cooler", MAIN, [Switch("COOLER_ON", "On"), Switch("COOLER_OFF", "Off", True)],
                 saved=False),
        switches(d, "CCD_COOLER_MODE", "Cooler Mode", COOLING,
                 [Switch("COOLER_AUTOMATIC", "Auto"), Switch("COOLER_MANUAL", "Manual", True)], perm="ro",
                 saved=False),
        numbers(d, "CCD_COOLER_POWER", "Cooling Power", MAIN,
                [Number("CCD_COOLER_VALUE", "Power (%)", 0, 0, 100, 1, "%.1f")], saved=False),
        numbers(d, "CCD_GAIN", "Gain", MAIN, [Number("GAIN", "Gain", 0, 0, model.read_modes[0].gain_max, 1, "%.f")]),
        numbers(d, "CCD_OFFSET", "Offset", MAIN, [Number("OFFSET", "Offset", 30, 0, model.offset_max, 1, "%.f")]),
        switches(d, "UPLOAD_MODE", "Upload", OPTIONS,
                 [Switch("UPLOAD_CLIENT", "Client", True), Switch("UPLOAD_LOCAL", "Local"),
                  Switch("UPLOAD_BOTH", "Both")]),
        texts(d, "UPLOAD_SETTINGS", "Upload Settings", OPTIONS,
              [Text("UPLOAD_DIR", "Dir", upload_dir), Text("UPLOAD_PREFIX", "Prefix", "IMAGE_XXX")]),
        texts(d, "CCD_FILE_PATH", "Filename", OPTIONS, [Text("FILE_PATH", "Path")], perm="ro", saved=False),
        texts(d, "FITS_HEADER", "FITS Header", OPTIONS,
              [Text("KEYWORD_NAME", "Name"), Text("KEYWORD_VALUE", "Value"), Text("KEYWORD_COMMENT", "Comment")],
              saved=False),
        numbers(d, "SCOPE_INFO", "Scope", OPTIONS,
                [Number("FOCAL_LENGTH", "Focal Length (mm)", 0, 0, 10000, 1, "%.2f"),
                 Number("APERTURE", "Aperture (mm)", 0, 0, 3000, 1, "%.2f")]),
        switches(d, "CCD_FAST_TOGGLE", "Fast Exposure", OPTIONS, [s for s in onoff], saved=False),
        numbers(d, "CCD_FAST_COUNT", "Fast Count", OPTIONS, [Number("FRAMES", "Frames", 1, 0, 100000, 1, "%.f")],
                saved=False),
        # --- QHY's own ------------------------------------------------------------------------------------------
        switches(d, "READ_MODE", "Read Mode", QHY,
                 [Switch(mode_element(m.name), m.name, m.index == 0) for m in model.read_modes]),
        numbers(d, "USB_TRAFFIC", "USB Traffic", QHY, [Number("TRAFFIC", "Traffic", 30, 0, model.usb_traffic_max, 1,
                                                              "%.f")]),
        switches(d, "OVERSCAN_MODE", "Overscan", QHY,
                 [Switch("INDI_ENABLED", "Include"), Switch("INDI_DISABLED", "Ignore", True)]),
        switches(d, "BIT_DEPTH", "Bit Depth", QHY,
                 [Switch(name, label, name == "BITS_16") for name, label in BIT_DEPTHS.items()]),
        numbers(d, "FRAME_STATS", "Frame Statistics", STATS,
                [Number(n, label, 0, 0, 0, 0, fmt) for n, label, fmt in (
                    ("FRAME_SEQUENCE", "Sequence", "%.f"), ("OB_MEAN", "OB mean (ADU)", "%.2f"),
                    ("OB_MEDIAN", "OB median (ADU)", "%.2f"), ("OB_STD", "OB std (ADU)", "%.2f"),
                    ("OVERSCAN_MEAN", "Overscan mean (ADU)", "%.2f"), ("OVERSCAN_STD", "Overscan std (ADU)", "%.2f"),
                    ("SATURATED", "Saturated pixels", "%.f"), ("ATTEMPTS", "Downloads", "%.f"),
                    ("FRAMES_CAPTURED", "Frames captured", "%.f"), ("FRAMES_RETRIED", "Frames retried", "%.f"),
                    ("FRAMES_FAILED", "Frames failed", "%.f"), ("FRAMES_LOST", "Frames lost", "%.f"),
                    ("USB_ERRORS", "USB errors", "%.f"), ("RECONNECTS", "Reconnects", "%.f"))],
                perm="ro", saved=False),
        texts(d, "FRAME_INTEGRITY", "Frame Integrity", STATS,
              [Text("VERDICT", "Verdict"), Text("DAMAGE", "Damage")], perm="ro", saved=False),
        texts(d, "CAMERA_VERSIONS", "Camera", INFO,
              [Text("FIRMWARE", "FX3 firmware"), Text("FPGA", "FPGA version"), Text("SERIAL", "Serial"),
               Text("VARIANT", "Variant")], perm="ro", saved=False),
        lights(d, "POWER_STATUS", "Power", MAIN, [Light("SUPPLY", "12 V supply")]),
    ]
    vectors += stream_vectors(d, model, upload_dir)
    vectors += offset_vectors(d)
    if emulated:
        vectors.append(switches(d, "SIMULATE_FAULT", "Inject fault", FAULTS_GROUP,
                                [Switch(name, label) for name, (label, _) in SIMULATED_FAULTS.items()],
                                rule=Rule.AT_MOST_ONE, saved=False))
        vectors.append(numbers(d, "SIMULATE_FAULT_SETTINGS", "Fault settings", FAULTS_GROUP,
                               [Number("DOWN_S", "Off the bus for (s)", 3, 0.1, 3600, 0.1, "%.1f"),
                                Number("FRAMES", "Frames affected", 1, 1, 100, 1, "%.f")], saved=False))
    if model.colour:
        vectors.append(texts(d, "CCD_CFA", "Bayer Info", INFO,
                             [Text("CFA_OFFSET_X", "X Offset", "0"), Text("CFA_OFFSET_Y", "Y Offset", "0"),
                              Text("CFA_TYPE", "Filter", model.bayer_pattern or "")], perm="ro", saved=False))
    if model.humidity_sensor:
        vectors.append(numbers(d, "CCD_HUMIDITY", "Humidity", MAIN,
                               [Number("HUMIDITY", "Humidity (%)", 0, 0, 100, 0, "%.1f")], perm="ro", saved=False))
    return {v.name: v for v in vectors}


#: The order in which saved values are replayed: modes that change ranges come before the values they limit.
CONFIG_ORDER = ("POLLING_PERIOD", "ACTIVE_DEVICES", "READ_MODE", "BIT_DEPTH", "OVERSCAN_MODE",
                "USB_TRAFFIC", "CCD_GAIN", "CCD_OFFSET", "CCD_BINNING", "CCD_FRAME",
                "CCD_CAPTURE_FORMAT", "CCD_TRANSFER_FORMAT", "CCD_COMPRESSION", "CCD_TEMP_RAMP", "UPLOAD_MODE",
                "UPLOAD_SETTINGS", "SCOPE_INFO", *STREAM_CONFIG)
