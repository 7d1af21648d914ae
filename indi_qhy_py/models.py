"""The camera table: what each supported QHY model is, as data.

Every number comes from ``shared/reference/camera-specs.md`` (the QHY product pages and the independent QHY268M
bench test in them). Numbers that are not published are marked ``ASSUMED`` or ``FITTED`` where they are defined,
so nobody mistakes a modelling choice for a vendor fact. Nothing in this module talks to hardware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

VENDOR_ID = 0x1618


@dataclass(frozen=True)
class Rect:
    """A rectangle in full-readout pixel coordinates (origin top-left)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def x_end(self) -> int:
        return self.x + self.width

    @property
    def y_end(self) -> int:
        return self.y + self.height


@dataclass(frozen=True)
class GainPoint:
    """One point of a read mode's response: at ``gain``, ``e_per_adu``, ``read_noise_e``."""

    gain: int
    e_per_adu: float
    read_noise_e: float


@dataclass(frozen=True)
class ReadMode:
    """A sensor read mode: conversion gain and read noise as a function of the gain setting.

    Between points the conversion gain is interpolated geometrically (QHY's gain setting is close to linear in
    dB) and read noise linearly. A jump (HGC switch, mode 0's noise step) is two points one gain apart.
    """

    index: int
    name: str
    gain_max: int
    points: tuple[GainPoint, ...]
    well_e: float  # the pixel's own full well; the ADC clips first at low gain
    provenance: str

    def _bracket(self, gain: float) -> tuple[GainPoint, GainPoint, float]:
        pts = self.points
        if gain <= pts[0].gain:
            lo, hi = pts[0], pts[1]
        elif gain >= pts[-1].gain:
            lo, hi = pts[-2], pts[-1]
        else:
            i = max(i for i, p in enumerate(pts) if p.gain <= gain)
            lo, hi = pts[i], pts[min(i + 1, len(pts) - 1)]
        span = hi.gain - lo.gain
        frac = (gain - lo.gain) / span if span else 0.0
        return lo, hi, frac

    def e_per_adu(self, gain: float) -> float:
        lo, hi, frac = self._bracket(gain)
        return lo.e_per_adu * (hi.e_per_adu / lo.e_per_adu) ** frac

    def read_noise_e(self, gain: float) -> float:
        lo, hi, frac = self._bracket(gain)
        return max(0.5, lo.read_noise_e + (hi.read_noise_e - lo.read_noise_e) * frac)

    def full_well_e(self, gain: float) -> float:
        """Usable full well: the pixel's well or the 16-bit ADC's range, whichever is smaller."""
        return min(self.well_e, self.e_per_adu(gain) * 65535.0)


class Family(Enum):
    QHY268 = "QHY268"
    QHY600 = "QHY600"


@dataclass(frozen=True)
class Variant:
    """A hardware version within a family (PH, L, Pro) and what a driver notices of it."""

    name: str
    ddr_mb: int
    gps: bool = False  # the Pro's GPS box (its time stamps in the frame: not observed yet)
    colour_available: bool = True


@dataclass(frozen=True)
class FrameRatePoint:
    """Rated frames per second over USB 3.0 at a given ROI height (full-width rows)."""

    rows: int
    fps_16bit: float
    fps_8bit: float


#: The set points the driver accepts for the TEC (C). ASSUMED: QHY's SDK range for these cameras; the sensor
#: reaches only ambient minus ``cooling_delta_single_c`` whatever is asked.
SETPOINT_MIN_C = -50.0
SETPOINT_MAX_C = 40.0


@dataclass(frozen=True)
class CameraModel:
    """One orderable camera: family + mono/colour + variant."""

    name: str  # e.g. "QHY600M", the name users see and scripts type (no spaces)
    family: Family
    variant: Variant
    colour: bool
    sensor: str
    loader_pid: int
    runtime_pid: int
    firmware_file: str
    readout_width: int
    readout_height: int
    effective: Rect
    optical_black: Rect
    overscan: Rect
    geometry_note: str
    pixel_um: float
    bit_depths: tuple[int, ...]
    binnings: tuple[int, ...]
    exposure_min_s: float
    exposure_max_s: float
    humidity_sensor: bool
    frame_counter: bool
    cooling_delta_single_c: float
    cooling_delta_continuous_c: float
    dark_e_per_s_at_minus10: float
    dark_doubling_c: float  # FITTED from the two published dark-current points
    frame_rates: tuple[FrameRatePoint, ...]
    read_modes: tuple[ReadMode, ...]
    offset_max: int = 255
    usb_traffic_max: int = 60
    bayer_pattern: str | None = None
    unity_gain_extended: int = 0

    @property
    def ddr_mb(self) -> int:
        return self.variant.ddr_mb

    @property
    def full_frame_rate_rows(self) -> int:
        """The row count of the rate table's full-frame line (the product page's own count)."""
        return max(p.rows for p in self.frame_rates)

    def dark_current(self, temperature_c: float) -> float:
        """Dark current in e-/px/s at a sensor temperature, doubling every ``dark_doubling_c`` degrees."""
        return self.dark_e_per_s_at_minus10 * 2.0 ** ((temperature_c + 10.0) / self.dark_doubling_c)

    def read_mode(self, key: int | str) -> ReadMode:
        """A read mode by index or by (case-insensitive) name."""
        for mode in self.read_modes:
            if mode.index == key or (isinstance(key, str) and mode.name.lower() == key.lower()):
                return mode
        names = ", ".join(f"{m.index}={m.name}" for m in self.read_modes)
        raise KeyError(f"{self.name} has no read mode {key!r}; modes are {names}")

    def frame_time_s(self, rows: int, bits: int, usb_traffic: int = 0) -> float:
        """Time to stream one frame of ``rows`` full-width rows at the rated throughput.

        Interpolates 1/fps linearly in the row count between the published points; USB_TRAFFIC stretches the
        time by up to 1.89x at 60 (FITTED to the third-party 450 ms / 850 ms per frame at traffic 0 / 60).
        """
        pts = sorted(self.frame_rates, key=lambda p: p.rows)

        def period(p: FrameRatePoint) -> float:
            return 1.0 / (p.fps_8bit if bits == 8 else p.fps_16bit)

        upper = next((i for i, p in enumerate(pts) if p.rows > rows), len(pts) - 1)
        lo, hi = pts[max(upper - 1, 0)], pts[max(upper, 1)]
        slope = (period(hi) - period(lo)) / (hi.rows - lo.rows)
        base = max(period(lo) + slope * (rows - lo.rows), 0.002)
        return base * (1.0 + 0.89 * usb_traffic / 60.0)

    def bytes_per_second(self, rows: int, bits: int, usb_traffic: int = 0) -> float:
        """USB payload rate the camera sustains for frames of ``rows`` rows."""
        frame_bytes = self.readout_width * rows * (2 if bits == 16 else 1)
        return frame_bytes / self.frame_time_s(rows, bits, usb_traffic)


# --- Read modes ------------------------------------------------------------------------------------------------
# FITTED: mode 1 from the QHY268M bench test (gain 0, 52, 56, 58, 60, 64 measured; 56-100 HGC). Above gain 64
# the HGC curve is extrapolated to reach the published 1.1 e- "high gain" read noise at 100 (ASSUMED).
_MODE1_POINTS = (
    GainPoint(0, 0.77, 3.56),
    GainPoint(52, 0.39, 3.58),
    GainPoint(55, 0.372, 3.58),
    GainPoint(56, 0.33, 1.66),
    GainPoint(58, 0.32, 1.59),
    GainPoint(60, 0.31, 1.67),
    GainPoint(64, 0.28, 1.69),
    GainPoint(100, 0.13, 1.10),
)
# FITTED: mode 3 from the bench test (gain 0 and 40); ASSUMED: the same slope continues to gain 60 and on.
_MODE3_POINTS = (
    GainPoint(0, 1.28, 5.82),
    GainPoint(40, 0.82, 5.54),
    GainPoint(60, 0.655, 5.40),
)
# Published note: mode 2 has mode 3's full well and system gain, with 1.3x the read noise.
_MODE2_POINTS = tuple(GainPoint(p.gain, p.e_per_adu, round(p.read_noise_e * 1.3, 3)) for p in _MODE3_POINTS)


def _mode1_at(gain: int) -> GainPoint:
    """Mode 1's curve at ``gain`` (above 64: the ASSUMED extrapolation to 1.1 e- at 100)."""
    mode = ReadMode(1, "", 0, _MODE1_POINTS, 0.0, "")
    return GainPoint(gain, round(mode.e_per_adu(gain), 4), round(mode.read_noise_e(gain), 3))


# Published note: mode 0's noise drops between gain 25 and 26; at 26 full well 27 ke- (27000/65535 = 0.412
# e-/ADU) and read noise 2.7 e-. OBSERVED (QHY's SDK): below 26 mode 0 sends Extended Full Well's gain registers
# (low conversion gain, analog 2400 + 40 g: mode 2 at gain 2.5 g), so the emulator gives it mode 2's response
# there; at 45 and 65 it sends exactly what mode 1 sends at 91 and 100, so its curve passes through mode 1's
# values there (ASSUMED between those points, as mode 1 is above 64).
_MODE0_POINTS = (
    GainPoint(26, 0.412, 2.70),
    GainPoint(45, _mode1_at(91).e_per_adu, _mode1_at(91).read_noise_e),
    GainPoint(65, _mode1_at(100).e_per_adu, _mode1_at(100).read_noise_e),
)
#: The gain settings QHY's SDK offers, the same in every read mode (OBSERVED: GetQHYCCDParamMinMaxStep; the
#: registers of each are in data/sdk_gain.json).
GAIN_MAX = {"QHY600": 200, "QHY268": 339}


def _read_modes(ext_well_e: float, gain_max: int) -> tuple[ReadMode, ...]:
    return (
        ReadMode(0, "Photographic", gain_max, _MODE0_POINTS, 51000.0,
                 "gain 26 point published; below 26 mode 2's response (same registers); above, ASSUMED"),
        ReadMode(1, "High Gain", gain_max, _MODE1_POINTS, 51000.0,
                 "FITTED to the QHY268M bench test, gains 0-64"),
        ReadMode(2, "Extended Full Well", gain_max, _MODE2_POINTS, ext_well_e,
                 "mode 3 curve with 1.3x read noise (published relation)"),
        ReadMode(3, "Extended Full Well 2CMS", gain_max, _MODE3_POINTS, ext_well_e,
                 "FITTED to the QHY268M bench test, gains 0 and 40"),
    )


# ASSUMED: both families share the bench-tested QHY268M curves (same 3.76 um pixel generation); the QHY600's
# published read noise range 1.0-3.7 e- is consistent with them. Extended-mode pixel wells are set above the
# ADC limit at gain 0 because the bench figure (83,886 e- = 1.28 x 65535) is ADC-limited. Above the gain where
# the analog register reaches its maximum (65 in mode 0, 100 in the others) the SDK raises the digital gain,
# which the emulator applies as a multiplier (emulator/response.py): the curves are not used beyond it.
_MODES_268 = _read_modes(ext_well_e=86000.0, gain_max=GAIN_MAX["QHY268"])
_MODES_600 = _read_modes(ext_well_e=86000.0, gain_max=GAIN_MAX["QHY600"])

_RATES_268 = (
    FrameRatePoint(4210, 6.0, 6.8),
    FrameRatePoint(2048, 11.5, 13.6),
    FrameRatePoint(1080, 19.5, 25.4),
    FrameRatePoint(768, 25.0, 35.0),
    FrameRatePoint(480, 34.0, 50.0),
)
# Published for 16-bit except the full-frame 8-bit figure (4.0). ASSUMED: 8-bit ROI rates scale as 4.0/2.5.
_RATES_600 = tuple(
    FrameRatePoint(rows, fps, round(fps * 4.0 / 2.5, 2))
    for rows, fps in ((6422, 2.5), (3194, 7.2), (1080, 22.5), (768, 28.0), (480, 47.0), (100, 160.0))
)

_STANDARD_268 = Variant("standard", 1024)
_PH_600 = Variant("PH", 2048)
_LITE_600 = Variant("L", 1024, colour_available=False)
_PRO_600 = Variant("Pro", 2048, gps=True)


def _qhy268(colour: bool) -> CameraModel:
    return CameraModel(
        name="QHY268C" if colour else "QHY268M",
        family=Family.QHY268,
        variant=_STANDARD_268,
        colour=colour,
        sensor="Sony IMX571 BSI APS-C",
        loader_pid=0xC268,
        runtime_pid=0xC269,
        firmware_file="QHY268.img",
        readout_width=6280,
        readout_height=4244,
        # OBSERVED (QHY's SDK, GetQHYCCDChipInfo / GetQHYCCDEffectiveArea): a 6280 x 4244 image whose effective area
        # is 6248 x 4176 at (24, 34): 24 optical-black columns left, 34 rows above and 34 below it.
        effective=Rect(24, 34, 6248, 4176),
        optical_black=Rect(0, 34, 24, 4176),
        overscan=Rect(0, 0, 6280, 34),
        geometry_note="as QHY's SDK reports it: 24 optical-black columns left, 34 overscan rows top (34 more below)",
        pixel_um=3.76,
        bit_depths=(8, 16),
        binnings=(1, 2, 3, 4),
        exposure_min_s=30e-6,
        exposure_max_s=3600.0,
        humidity_sensor=not colour,
        frame_counter=False,
        cooling_delta_single_c=35.0,
        cooling_delta_continuous_c=30.0,
        dark_e_per_s_at_minus10=0.001,
        dark_doubling_c=10.0,  # 0.0005 at -20 C, 0.001 at -10 C
        frame_rates=_RATES_268,
        read_modes=_MODES_268,
        bayer_pattern="RGGB" if colour else None,
        unity_gain_extended=30,
    )


def _qhy600(colour: bool, variant: Variant) -> CameraModel:
    suffix = "C" if colour else "M"
    name = f"QHY600{suffix}" if variant is _PH_600 else f"QHY600{suffix}-{variant.name}"
    return CameraModel(
        name=name,
        family=Family.QHY600,
        variant=variant,
        colour=colour,
        sensor="Sony IMX455 BSI full frame",
        loader_pid=0xC600,
        runtime_pid=0xC601,
        firmware_file="QHY600.img",
        readout_width=9600,
        readout_height=6422,
        # OBSERVED (QHY's SDK): the effective area sits at (24, 34) of the 9600 x 6422 image: the product page's
        # "34 overscan rows at the bottom" are at the top of the image as read out (FITS shows it bottom-up)
        effective=Rect(24, 34, 9576, 6388),
        optical_black=Rect(0, 34, 24, 6388),
        overscan=Rect(0, 0, 9600, 34),
        geometry_note="as QHY's SDK reports it: 24 optical-black columns left, 34 overscan rows top",
        pixel_um=3.76,
        bit_depths=(8, 16),
        binnings=(1, 2, 3, 4),
        exposure_min_s=40e-6,
        exposure_max_s=3600.0,
        humidity_sensor=False,
        frame_counter=True,
        cooling_delta_single_c=35.0,
        cooling_delta_continuous_c=30.0,
        dark_e_per_s_at_minus10=0.0046,
        dark_doubling_c=10.0 * math.log(2) / math.log(0.0046 / 0.0022),  # 9.4 C from the two published points
        frame_rates=_RATES_600,
        read_modes=_MODES_600,
        bayer_pattern="RGGB" if colour else None,
        unity_gain_extended=25,
    )


#: The four cameras of the product, in their PH / standard version.
QHY268M = _qhy268(False)
QHY268C = _qhy268(True)
QHY600M = _qhy600(False, _PH_600)
QHY600C = _qhy600(True, _PH_600)
#: Variants a driver meets: the Lite's smaller DDR, the Pro's frame header.
QHY600M_L = _qhy600(False, _LITE_600)
QHY600M_PRO = _qhy600(False, _PRO_600)
QHY600C_PRO = _qhy600(True, _PRO_600)

MAIN_MODELS: tuple[CameraModel, ...] = (QHY268M, QHY268C, QHY600M, QHY600C)
ALL_MODELS: tuple[CameraModel, ...] = (*MAIN_MODELS, QHY600M_L, QHY600M_PRO, QHY600C_PRO)

#: Other published USB IDs that are not these cameras' own but that a user may meet. ASSUMED, third-party list.
EXTRA_RUNTIME_PIDS = {0xC603: Family.QHY600}

LOADER_PIDS: frozenset[int] = frozenset(m.loader_pid for m in ALL_MODELS)
RUNTIME_PIDS: frozenset[int] = frozenset(m.runtime_pid for m in ALL_MODELS) | frozenset(EXTRA_RUNTIME_PIDS)


def model_by_name(name: str) -> CameraModel:
    """A model by its name, case-insensitive (``QHY600M``, ``qhy268c``, ``QHY600M-Pro``)."""
    for model in ALL_MODELS:
        if model.name.lower() == name.strip().lower():
            return model
    known = ", ".join(m.name for m in ALL_MODELS)
    raise KeyError(f"unknown camera model {name!r}; known models: {known}")


def family_for_pid(pid: int) -> Family | None:
    """The family a USB product ID belongs to, in either the loader or the runtime stage."""
    for model in ALL_MODELS:
        if pid in (model.loader_pid, model.runtime_pid):
            return model.family
    return EXTRA_RUNTIME_PIDS.get(pid)


def main_model(family: Family, colour: bool) -> CameraModel:
    """The family's main version (PH / standard), mono or colour."""
    return next(m for m in MAIN_MODELS if m.family is family and m.colour == colour)
