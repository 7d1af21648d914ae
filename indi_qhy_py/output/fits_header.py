"""The FITS header of a captured frame: what the camera did, what the decoder measured, what other devices said.

Keywords follow INDI's conventions (clients such as KStars, Siril and PixInsight read them) plus this driver's
own: READMODE/RDMDNAME, USBTRAFF, FRAMESEQ, the optical-black and overscan statistics and the integrity verdict.
Mount coordinates arrive in JNow (EQUATORIAL_EOD_COORD) and are precessed to J2000 as INDI does.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from astropy.io import fits

from ..camera.settings import CameraFacts, CameraSettings, CapturedFrame
from ..models import CameraModel

J2000_JD = 2451545.0
#: Greek letters as astronomers write them in ASCII ("Hα" -> "Ha", "µm" -> "um").
_GREEK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψω",
                  ("a", "b", "g", "d", "e", "z", "e", "th", "i", "k", "l", "u", "n", "x", "o", "p", "r", "s", "s",
                   "t", "u", "ph", "ch", "ps", "o"), strict=True))
ProblemHook = Callable[[str], None]


def fits_ascii(text: str) -> str:
    """``text`` as FITS allows it (printable ASCII): accents dropped, Greek transliterated, the rest escaped."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if " " <= char <= "~":
            out.append(char)
        elif char.isspace():
            out.append(" ")
        elif unicodedata.combining(char):
            continue
        elif char.lower() in _GREEK:
            latin = _GREEK[char.lower()]
            out.append(latin if char.islower() else latin.capitalize())
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


@dataclass
class Snooped:
    """Values snooped from other INDI devices; None when that device has not reported."""

    telescope: str | None = None
    ra_hours: float | None = None  # JNow
    dec_deg: float | None = None  # JNow
    latitude: float | None = None
    longitude: float | None = None  # degrees east, 0..360 as INDI sends it
    elevation: float | None = None
    pier_side: str | None = None  # "WEST" / "EAST"
    focal_length_mm: float | None = None
    aperture_mm: float | None = None
    focus_position: float | None = None
    focus_temperature: float | None = None
    filter_name: str | None = None
    rotator_angle: float | None = None
    sky_quality: float | None = None


@dataclass
class HeaderContext:
    frame_type: str  # "Light", "Bias", "Dark", "Flat"
    read_mode_name: str
    snooped: Snooped = field(default_factory=Snooped)
    scope_focal_length_mm: float = 0.0  # SCOPE_INFO, when no mount reports TELESCOPE_INFO
    scope_aperture_mm: float = 0.0
    user_cards: list[tuple[str, str, str]] = field(default_factory=list)


def julian_date(when: datetime) -> float:
    return when.timestamp() / 86400.0 + 2440587.5


def precess_to_j2000(ra_hours: float, dec_deg: float, when: datetime) -> tuple[float, float]:
    """JNow -> J2000 (rigorous IAU 1976 precession; nutation and aberration, < 20", are not removed)."""
    big_t = (julian_date(when) - J2000_JD) / 36525.0
    t = -big_t  # from the epoch of date back to J2000
    arcsec = math.pi / (180 * 3600)
    base = 2306.2181 + 1.39656 * big_t - 0.000139 * big_t**2
    zeta = (base * t + (0.30188 - 0.000344 * big_t) * t**2 + 0.017998 * t**3) * arcsec
    z = (base * t + (1.09468 + 0.000066 * big_t) * t**2 + 0.018203 * t**3) * arcsec
    theta = ((2004.3109 - 0.85330 * big_t - 0.000217 * big_t**2) * t - (0.42665 + 0.000217 * big_t) * t**2
             - 0.041833 * t**3) * arcsec
    ra0, dec0 = math.radians(ra_hours * 15.0), math.radians(dec_deg)
    a = math.cos(dec0) * math.sin(ra0 + zeta)
    b = math.cos(theta) * math.cos(dec0) * math.cos(ra0 + zeta) - math.sin(theta) * math.sin(dec0)
    c = math.sin(theta) * math.cos(dec0) * math.cos(ra0 + zeta) + math.cos(theta) * math.sin(dec0)
    ra = (math.degrees(math.atan2(a, b) + z) / 15.0) % 24.0
    return ra, math.degrees(math.asin(max(-1.0, min(1.0, c))))


def airmass(ra_hours: float, dec_deg: float, lat_deg: float, lon_deg: float, when: datetime) -> float | None:
    """Airmass of a JNow position by Kasten & Young (1989), or None below the horizon.

    Kasten & Young holds to the horizon (about 38 there); Hardie's polynomial, used before, turns negative below
    about 3 degrees of altitude and wrote AIRMASS = -209 for a target 0.6 degrees up.
    """
    days = julian_date(when) - J2000_JD
    lst_hours = (18.697374558 + 24.06570982441908 * days + lon_deg / 15.0) % 24.0
    hour_angle = math.radians((lst_hours - ra_hours) * 15.0)
    lat, dec = math.radians(lat_deg), math.radians(dec_deg)
    sin_alt = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(hour_angle)
    if sin_alt <= 0.0:
        return None
    altitude_deg = math.degrees(math.asin(sin_alt))
    return 1.0 / (sin_alt + 0.50572 * (altitude_deg + 6.07995) ** -1.6364)


def sexagesimal(value: float, signed: bool) -> str:
    sign = "-" if value < 0 else ("+" if signed else "")
    total = round(abs(value) * 3600.0, 2)
    d, rest = divmod(total, 3600.0)
    m, s = divmod(rest, 60.0)
    return f"{sign}{int(d):02d} {int(m):02d} {s:05.2f}"


def bayer_offsets(model: CameraModel, s: CameraSettings) -> tuple[int, int] | None:
    """Where the mosaic starts in an image taken with ``s``, or None when no mosaic is left (mono, or binned)."""
    if model.bayer_pattern is None or s.binning > 1:
        return None
    origin_x, origin_y = (0, 0) if s.include_overscan else (model.effective.x, model.effective.y)
    roi_x, roi_y = (s.roi.x, s.roi.y) if s.roi is not None else (0, 0)
    # the pattern is published for the effective area's top-left pixel
    return (origin_x + roi_x - model.effective.x) % 2, (origin_y + roi_y - model.effective.y) % 2


def frame_cards(model: CameraModel, device: str, frame: CapturedFrame, ctx: HeaderContext,
                on_problem: ProblemHook | None = None) -> fits.Header:
    """Every card after the structural ones, for one frame.

    What other devices and users supplied goes in group by group; a group that cannot be written is left out and
    reported through ``on_problem`` instead of failing the frame.
    """
    s, meta = frame.settings, frame.meta
    h = fits.Header()
    h["ROWORDER"] = ("TOP-DOWN", "row order of the image data")
    h["INSTRUME"] = (model.name, "camera model")
    h["CAMERAID"] = (device, "INDI device (model-serial)")
    h["EXPTIME"] = (frame.exposure_s, "exposure time [s]")
    h["DARKTIME"] = (frame.exposure_s, "dark current integration time [s]")
    h["DATE-OBS"] = (frame.started_utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3], "UTC start of exposure (camera ack)")
    h["CCD-TEMP"] = (round(frame.temperature_c, 2), "sensor temperature at readout [C]")
    h["PIXSIZE1"] = (model.pixel_um, "pixel width [um]")
    h["PIXSIZE2"] = (model.pixel_um, "pixel height [um]")
    h["XPIXSZ"] = (model.pixel_um * s.binning, "binned pixel width [um]")
    h["YPIXSZ"] = (model.pixel_um * s.binning, "binned pixel height [um]")
    h["XBINNING"] = (s.binning, "horizontal binning")
    h["YBINNING"] = (s.binning, "vertical binning")
    h["BINMODE"] = ("AVERAGE" if s.average_binning or s.binning == 1 else "SUM", "how binned pixels combine")
    h["FRAME"] = (ctx.frame_type, "frame type")
    h["IMAGETYP"] = (f"{ctx.frame_type} Frame", "frame type")
    h["GAIN"] = (s.gain, "camera gain setting")
    h["OFFSET"] = (s.offset, "camera offset setting")
    h["READMODE"] = (s.read_mode, ctx.read_mode_name)
    h["RDMDNAME"] = (ctx.read_mode_name, "read mode name")
    h["USBTRAFF"] = (s.usb_traffic, "USB traffic setting")
    h["BITDEPTH"] = (s.bits, "bits per pixel on the USB link")
    h["OVERSCAN"] = (s.include_overscan, "optical black and overscan included")
    if meta.sequence is not None:
        h["FRAMESEQ"] = (meta.sequence, "camera frame sequence number")
    h["INTEGRTY"] = (meta.verdict.value, "frame integrity verdict")
    h["ATTEMPTS"] = (frame.attempts, "downloads needed for an intact frame")
    for key, value, comment in (("OBMEAN", meta.ob_mean, "optical black mean [ADU]"),
                                ("OBMEDIAN", meta.ob_median, "optical black median [ADU]"),
                                ("OBSTD", meta.ob_std, "optical black std dev [ADU]"),
                                ("OSMEAN", meta.overscan_mean, "overscan mean [ADU]"),
                                ("OSSTD", meta.overscan_std, "overscan std dev [ADU]")):
        if value is not None and math.isfinite(value):
            h[key] = (round(float(value), 3), comment)
    h["SATURATD"] = (meta.saturated, "saturated pixels in the image")
    offsets = bayer_offsets(model, s)
    if offsets is not None:
        h["BAYERPAT"] = (model.bayer_pattern, "Bayer colour pattern")
        h["XBAYROFF"] = (offsets[0], "X offset of Bayer array")
        h["YBAYROFF"] = (offsets[1], "Y offset of Bayer array")
    for what, add in (("camera identity and health", lambda: _add_camera_facts(h, frame.facts)),
                      ("optics and focuser", lambda: _add_optics(h, ctx)),
                      ("site and pointing", lambda: _add_site_and_pointing(h, ctx.snooped, frame.started_utc)),
                      ("user keywords", lambda: _add_user_cards(h, ctx.user_cards))):
        try:
            add()
        except Exception as err:  # metadata from elsewhere must never cost the frame
            if on_problem is not None:
                on_problem(f"{what} left out of the FITS header: {err}")
    return h


def _add_camera_facts(h: fits.Header, facts: CameraFacts | None) -> None:
    """What the camera said of itself (its answers are not ours to trust blindly: added under a guard)."""
    if facts is None:
        return
    text_card(h, "SERIALNO", facts.serial, "camera serial number")
    if facts.firmware_date is not None:
        h["FIRMWARE"] = (facts.firmware_date, "camera FX3 firmware date")
    h["FPGAVER"] = (facts.fpga_version, "camera FPGA version (hex)")
    if facts.humidity_percent is not None:
        h["HUMIDITY"] = (round(facts.humidity_percent, 1), "chamber relative humidity [%]")
    if facts.power_fault:
        h["POWERERR"] = (True, "12 V supply fault during the frame")


def camera_only(ctx: HeaderContext) -> HeaderContext:
    """The same frame's context without anything other devices or users said: the header of last resort."""
    return replace(ctx, snooped=Snooped(), user_cards=[])


def text_card(h: fits.Header, key: str, text: str, comment: str) -> None:
    """A string card whose value FITS accepts; a changed value keeps the original in ``HIERARCH <key> UTF8``."""
    value = fits_ascii(text)
    h[key] = (value, comment)
    if value != text:
        h[f"HIERARCH {key} UTF8"] = (text.encode("unicode_escape").decode("ascii"), f"{key} as sent (escaped)")


def _add_user_cards(h: fits.Header, cards: list[tuple[str, str, str]]) -> None:
    for key, value, comment in cards:
        h[key] = (typed_value(value), comment)


def _add_optics(h: fits.Header, ctx: HeaderContext) -> None:
    sn = ctx.snooped
    if sn.telescope:
        text_card(h, "TELESCOP", sn.telescope, "telescope")
    focal = sn.focal_length_mm or ctx.scope_focal_length_mm
    aperture = sn.aperture_mm or ctx.scope_aperture_mm
    if focal:
        h["FOCALLEN"] = (round(focal, 2), "focal length [mm]")
    if aperture:
        h["APTDIA"] = (round(aperture, 2), "aperture diameter [mm]")
    if sn.filter_name:
        text_card(h, "FILTER", sn.filter_name, "filter")
    if sn.focus_position is not None:
        h["FOCUSPOS"] = (round(sn.focus_position), "focuser position [steps]")
    if sn.focus_temperature is not None:
        h["FOCUSTEM"] = (round(sn.focus_temperature, 2), "focuser temperature [C]")
    if sn.rotator_angle is not None:
        h["ROTATANG"] = (round(sn.rotator_angle, 3), "rotator angle [deg]")
    if sn.sky_quality is not None:
        h["MPSAS"] = (round(sn.sky_quality, 2), "sky quality [mag/arcsec^2]")


def _add_site_and_pointing(h: fits.Header, sn: Snooped, when: datetime) -> None:
    if sn.latitude is not None and sn.longitude is not None:
        h["SITELAT"] = (sexagesimal(sn.latitude, True), "site latitude [deg]")
        h["SITELONG"] = (sexagesimal(sn.longitude, True), "site longitude [deg east]")
    if sn.pier_side:
        h["PIERSIDE"] = (sn.pier_side, "mount pier side")
    if sn.ra_hours is None or sn.dec_deg is None:
        return
    ra, dec = precess_to_j2000(sn.ra_hours, sn.dec_deg, when)
    h["OBJCTRA"] = (sexagesimal(ra, False), "object J2000 RA [h m s]")
    h["OBJCTDEC"] = (sexagesimal(dec, True), "object J2000 Dec [d m s]")
    h["RA"] = (round(ra * 15.0, 6), "object J2000 RA [deg]")
    h["DEC"] = (round(dec, 6), "object J2000 Dec [deg]")
    h["EQUINOX"] = (2000, "equinox of RA/DEC")
    if sn.latitude is not None and sn.longitude is not None:
        mass = airmass(sn.ra_hours, sn.dec_deg, sn.latitude, sn.longitude, when)
        if mass is not None:
            h["AIRMASS"] = (round(mass, 4), "airmass at exposure start")


def typed_value(text: str) -> object:
    """A user keyword's value as a number when it reads as one (FITS keeps types)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text
