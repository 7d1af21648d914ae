"""The driver process, driven through stdin/stdout with real INDI XML, on emulated cameras."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from indi_qhy_py.models import QHY268M
from indi_qhy_py.output.fits_header import airmass
from tests.indi.conftest import DriverProcess, blob_fits, image_hdu

pytestmark = pytest.mark.emulated

MONO = "QHY268M-268M000000000001"  # QHY268M: humidity sensor, no Bayer
COLOUR = "QHY600C-600C000000000002"  # QHY600C: Bayer, frame counter

STANDARD = {
    "CONNECTION": {"CONNECT", "DISCONNECT"},
    "DRIVER_INFO": {"DRIVER_NAME", "DRIVER_EXEC", "DRIVER_VERSION", "DRIVER_INTERFACE"},
    "DEBUG": {"ENABLE", "DISABLE"},
    "SIMULATION": {"ENABLE", "DISABLE"},
    "CONFIG_PROCESS": {"CONFIG_LOAD", "CONFIG_SAVE", "CONFIG_DEFAULT", "CONFIG_PURGE"},
    "POLLING_PERIOD": {"PERIOD_MS"},
    "ACTIVE_DEVICES": {"ACTIVE_TELESCOPE", "ACTIVE_ROTATOR", "ACTIVE_FOCUSER", "ACTIVE_FILTER", "ACTIVE_SKYQUALITY"},
}
CONNECTED = {
    "CCD_EXPOSURE": {"CCD_EXPOSURE_VALUE"},
    "CCD_ABORT_EXPOSURE": {"ABORT"},
    "CCD_FRAME": {"X", "Y", "WIDTH", "HEIGHT"},
    "CCD_FRAME_RESET": {"RESET"},
    "CCD_BINNING": {"HOR_BIN", "VER_BIN"},
    "CCD_INFO": {"CCD_MAX_X", "CCD_MAX_Y", "CCD_PIXEL_SIZE", "CCD_PIXEL_SIZE_X", "CCD_PIXEL_SIZE_Y",
                 "CCD_BITSPERPIXEL"},
    "CCD_FRAME_TYPE": {"FRAME_LIGHT", "FRAME_BIAS", "FRAME_DARK", "FRAME_FLAT"},
    "CCD_CAPTURE_FORMAT": None,
    "CCD_TRANSFER_FORMAT": {"FORMAT_FITS", "FORMAT_XISF"},
    "CCD_COMPRESSION": {"INDI_ENABLED", "INDI_DISABLED"},
    "CCD1": {"CCD1"},
    "CCD_TEMPERATURE": {"CCD_TEMPERATURE_VALUE"},
    "CCD_TEMP_RAMP": {"RAMP_SLOPE", "RAMP_THRESHOLD"},
    "CCD_COOLER": {"COOLER_ON", "COOLER_OFF"},
    "CCD_COOLER_POWER": {"CCD_COOLER_VALUE"},
    "CCD_COOLER_MODE": {"COOLER_AUTOMATIC", "COOLER_MANUAL"},
    "CCD_GAIN": {"GAIN"},
    "CCD_OFFSET": {"OFFSET"},
    "UPLOAD_MODE": {"UPLOAD_CLIENT", "UPLOAD_LOCAL", "UPLOAD_BOTH"},
    "UPLOAD_SETTINGS": {"UPLOAD_DIR", "UPLOAD_PREFIX"},
    "CCD_FILE_PATH": {"FILE_PATH"},
    "FITS_HEADER": {"KEYWORD_NAME", "KEYWORD_VALUE", "KEYWORD_COMMENT"},
    "SCOPE_INFO": {"FOCAL_LENGTH", "APERTURE"},
    "CCD_FAST_TOGGLE": {"INDI_ENABLED", "INDI_DISABLED"},
    "CCD_FAST_COUNT": {"FRAMES"},
    "READ_MODE": {"PHOTOGRAPHIC", "HIGH_GAIN", "EXTENDED_FULL_WELL", "EXTENDED_FULL_WELL_2CMS"},
    "USB_TRAFFIC": {"TRAFFIC"},
    "OVERSCAN_MODE": {"INDI_ENABLED", "INDI_DISABLED"},
    "BIT_DEPTH": {"BITS_8", "BITS_16", "BITS_32"},
    "FRAME_STATS": None,
    "FRAME_INTEGRITY": {"VERDICT", "DAMAGE"},
}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriverProcess]:
    proc = DriverProcess("QHY268M,QHY600C", tmp_path_factory.mktemp("config"))
    proc.send("<getProperties version='1.7'/>")
    proc.wait(lambda m: m.get("name") == "ACTIVE_DEVICES" and m.get("device") == COLOUR)
    proc.connect(MONO)
    proc.connect(COLOUR)
    yield proc
    proc.close()


def small_frame(driver: DriverProcess, device: str, width: int = 64, height: int = 48, x: int = 100,
                y: int = 200) -> None:
    for name, kind, values in (("BIT_DEPTH", "Switch", {"BITS_16": "On"}),
                               ("CCD_BINNING", "Number", {"HOR_BIN": 1, "VER_BIN": 1}),
                               ("CCD_FRAME", "Number", {"X": x, "Y": y, "WIDTH": width, "HEIGHT": height}),
                               ("CCD_FRAME_TYPE", "Switch", {"FRAME_LIGHT": "On"}),
                               ("CCD_COMPRESSION", "Switch", {"INDI_DISABLED": "On"}),
                               ("UPLOAD_MODE", "Switch", {"UPLOAD_CLIENT": "On"})):
        assert driver.set(device, name, kind, **values).get("state") == "Ok"


# --- properties ----------------------------------------------------------------------------------------------------
def test_every_standard_property_and_element_is_named_exactly(driver: DriverProcess) -> None:
    for device in (MONO, COLOUR):
        for name, elements in {**STANDARD, **CONNECTED}.items():
            assert (device, name) in driver.defined, f"{device} lacks {name}"
            if elements is not None:
                assert set(driver.values[(device, name)]) == elements, name
    assert (COLOUR, "CCD_CFA") in driver.defined and (MONO, "CCD_CFA") not in driver.defined
    assert set(driver.values[(COLOUR, "CCD_CFA")]) == {"CFA_OFFSET_X", "CFA_OFFSET_Y", "CFA_TYPE"}
    assert (MONO, "CCD_HUMIDITY") in driver.defined and (COLOUR, "CCD_HUMIDITY") not in driver.defined
    assert driver.values[(COLOUR, "CCD_CAPTURE_FORMAT")] == {"INDI_RAW": "On"}
    assert driver.values[(MONO, "CCD_CAPTURE_FORMAT")] == {"INDI_MONO": "On"}
    assert driver.values[(MONO, "DRIVER_INFO")]["DRIVER_EXEC"] == "indi_qhy_py_ccd"
    assert driver.values[(MONO, "DRIVER_INFO")]["DRIVER_INTERFACE"] == "2"
    assert driver.values[(MONO, "SIMULATION")]["ENABLE"] == "On"
    assert driver.defined[(MONO, "CCD_INFO")].get("perm") == "ro"
    assert driver.defined[(MONO, "CCD_TEMPERATURE")].get("perm") == "rw"  # Ekos: ro means "cannot cool"
    assert " " not in MONO and " " not in COLOUR


def test_get_properties_for_one_device_and_one_property(driver: DriverProcess) -> None:
    mark = driver.mark()
    driver.send(f"<getProperties version='1.7' device='{MONO}' name='CCD_GAIN'/>")
    reply = driver.wait(lambda m: m.tag.startswith("def"), 5, mark)
    time.sleep(0.3)
    answered = [m for m in driver.messages[mark:] if m.tag.startswith("def")]
    assert reply.get("name") == "CCD_GAIN" and len(answered) == 1
    mark = driver.mark()
    driver.send(f"<getProperties version='1.7' device='{COLOUR}'/>")
    driver.wait(lambda m: m.tag.startswith("def") and m.get("name") == "FRAME_INTEGRITY", 5, mark)
    assert {m.get("device") for m in driver.messages[mark:] if m.tag.startswith("def")} == {COLOUR}
    mark = driver.mark()
    driver.send(f"<getProperties version='1.7' device='{MONO}' name='NO_SUCH'/>")
    assert "NO_SUCH" in driver.wait(lambda m: m.tag == "message", 5, mark).get("message", "")


# --- settings round trips ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "kind", "values", "check"), [
    ("CCD_GAIN", "Number", {"GAIN": 56}, {"GAIN": "56"}),
    ("CCD_OFFSET", "Number", {"OFFSET": 12}, {"OFFSET": "12"}),
    ("USB_TRAFFIC", "Number", {"TRAFFIC": 5}, {"TRAFFIC": "5"}),
    ("CCD_TEMP_RAMP", "Number", {"RAMP_SLOPE": 2.5}, {"RAMP_SLOPE": "2.5"}),
    ("POLLING_PERIOD", "Number", {"PERIOD_MS": 500}, {"PERIOD_MS": "500"}),
    ("SCOPE_INFO", "Number", {"FOCAL_LENGTH": 530, "APERTURE": 106}, {"FOCAL_LENGTH": "530"}),
    ("CCD_FRAME_TYPE", "Switch", {"FRAME_DARK": "On"}, {"FRAME_DARK": "On", "FRAME_LIGHT": "Off"}),
])
def test_setting_round_trip(driver: DriverProcess, name: str, kind: str, values: dict, check: dict) -> None:
    reply = driver.set(MONO, name, kind, **values)
    assert reply.get("state") == "Ok", reply.get("message")
    got = driver.values[(MONO, name)]
    assert {k: got[k] for k in check} == check
    mark = driver.mark()
    driver.send(f"<getProperties version='1.7' device='{MONO}' name='{name}'/>")
    again = driver.wait(lambda m: m.tag.startswith("def") and m.get("name") == name, 5, mark)
    assert {c.get("name"): (c.text or "").strip() for c in again if c.get("name") in check} == check


def test_out_of_range_values_are_refused_with_the_range(driver: DriverProcess) -> None:
    for name, kind, values, expected in (
        ("CCD_GAIN", "Number", {"GAIN": 1e30}, "0..339"),
        ("CCD_OFFSET", "Number", {"OFFSET": -1}, "0..255"),
        ("CCD_EXPOSURE", "Number", {"CCD_EXPOSURE_VALUE": 7200}, "3600"),
        ("CCD_BINNING", "Number", {"HOR_BIN": 2, "VER_BIN": 3}, "same both ways"),
        ("CCD_FRAME", "Number", {"X": 6000, "WIDTH": 1000}, "within"),
        ("CCD_GAIN", "Number", {"GAIN": "lots"}, "not a number"),
        ("CCD_GAIN", "Number", {"GAIN": "nan"}, "not a number"),
        ("CCD_GAIN", "Number", {"NOPE": 1}, "no element"),
        ("CCD_FRAME_TYPE", "Switch", {"FRAME_DARK": "Maybe"}, "On or Off"),
        ("CCD_FRAME_TYPE", "Switch", {"FRAME_DARK": "On", "FRAME_FLAT": "On"}, "one switch"),
        ("SIMULATION", "Switch", {"DISABLE": "On"}, "emulated"),
        ("UPLOAD_SETTINGS", "Text", {"UPLOAD_DIR": "/etc"}, "outside the upload root"),
        ("UPLOAD_SETTINGS", "Text", {"UPLOAD_DIR": "night/../../.."}, "'..'"),
        ("CCD_GAIN", "Number", {"GAIN": "١٢"}, "not a number"),
        ("CCD_GAIN", "Number", {"GAIN": "1_0"}, "not a number"),
        ("CCD_GAIN", "Number", {"GAIN": "1e-400"}, "too small"),
        ("UPLOAD_SETTINGS", "Text", {"UPLOAD_PREFIX": "../../etc/x"}, "not a path"),
        ("FITS_HEADER", "Text", {"KEYWORD_NAME": "BITPIX", "KEYWORD_VALUE": "8"}, "cannot be set"),
        ("FITS_HEADER", "Text", {"KEYWORD_NAME": "WAY_TOO_LONG", "KEYWORD_VALUE": "1"}, "1-8 characters"),
        ("CCD_INFO", "Number", {"CCD_MAX_X": 5}, "read-only"),
    ):
        before = dict(driver.values[(MONO, name)])
        reply = driver.set(MONO, name, kind, **values)
        assert reply.get("state") == "Alert", (name, values)
        assert expected in reply.get("message", ""), (name, reply.get("message"))
        assert driver.values[(MONO, name)] == before, f"{name} changed although refused"
    assert driver.alive()


def test_read_mode_change_keeps_gain_and_other_settings(driver: DriverProcess) -> None:
    """Every read mode takes QHY's SDK's whole gain range (0-339 on a QHY268), so a mode change keeps the gain."""
    driver.set(MONO, "READ_MODE", "Switch", PHOTOGRAPHIC="On")
    assert driver.set(MONO, "CCD_GAIN", "Number", GAIN=280).get("state") == "Ok"
    assert driver.set(MONO, "CCD_OFFSET", "Number", OFFSET=21).get("state") == "Ok"
    reply = driver.set(MONO, "READ_MODE", "Switch", EXTENDED_FULL_WELL="On")
    assert reply.get("state") == "Ok" and "Extended Full Well" in reply.get("message", "")
    assert driver.values[(MONO, "CCD_GAIN")]["GAIN"] == "280" and driver.values[(MONO, "CCD_OFFSET")]["OFFSET"] == "21"
    assert driver.set(MONO, "CCD_GAIN", "Number", GAIN=340).get("state") == "Alert"
    driver.set(MONO, "READ_MODE", "Switch", PHOTOGRAPHIC="On")
    driver.set(MONO, "CCD_GAIN", "Number", GAIN=0)


def test_overscan_mode_changes_the_image_size(driver: DriverProcess) -> None:
    driver.set(MONO, "OVERSCAN_MODE", "Switch", INDI_ENABLED="On")
    assert driver.values[(MONO, "CCD_INFO")]["CCD_MAX_X"] == "6280"
    assert driver.values[(MONO, "CCD_FRAME")]["WIDTH"] == "6280"
    driver.set(MONO, "OVERSCAN_MODE", "Switch", INDI_DISABLED="On")
    assert driver.values[(MONO, "CCD_INFO")]["CCD_MAX_X"] == "6248"
    assert driver.values[(MONO, "CCD_INFO")]["CCD_MAX_Y"] == "4176"


# --- exposures -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame_type", ["FRAME_LIGHT", "FRAME_BIAS", "FRAME_DARK", "FRAME_FLAT"])
def test_each_frame_type_arrives_as_fits_with_its_headers(driver: DriverProcess, frame_type: str) -> None:
    small_frame(driver, MONO)
    driver.set(MONO, "CCD_FRAME_TYPE", "Switch", **{frame_type: "On"})
    driver.set(MONO, "CCD_GAIN", "Number", GAIN=30)
    driver.set(MONO, "CCD_OFFSET", "Number", OFFSET=40)
    driver.set(MONO, "USB_TRAFFIC", "Number", TRAFFIC=10)
    before = time.time()
    message = driver.expose(MONO, 0.2)
    assert message.tag == "setBLOBVector" and message.find("oneBLOB").get("format") == ".fits"
    with blob_fits(message) as hdus:
        hdu = image_hdu(hdus)
        h = hdu.header
        assert hdu.data.shape == (48, 64) and hdu.data.dtype == np.uint16
        kind = frame_type.removeprefix("FRAME_").title()
        assert h["FRAME"] == kind and h["IMAGETYP"] == f"{kind} Frame"
        assert h["EXPTIME"] == pytest.approx(QHY268M.exposure_min_s if kind == "Bias" else 0.2)
        for key in ("ROWORDER", "INSTRUME", "DARKTIME", "PIXSIZE1", "PIXSIZE2", "XPIXSZ", "YPIXSZ", "XBINNING",
                    "YBINNING", "DATE-OBS", "CCD-TEMP", "OBMEAN", "OBMEDIAN", "OBSTD", "INTEGRTY"):
            assert key in h, key
        assert h["INSTRUME"] == "QHY268M" and h["ROWORDER"] == "TOP-DOWN" and h["INTEGRTY"] == "good"
        assert (h["GAIN"], h["OFFSET"], h["USBTRAFF"], h["READMODE"], h["RDMDNAME"]) == (30, 40, 10, 0,
                                                                                          "Photographic")
        assert "BAYERPAT" not in h
        started = time.mktime(time.strptime(h["DATE-OBS"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert before - 1.5 <= started <= time.time()
        assert 300 < h["OBMEAN"] < 2000  # the emulated optical black sits at the bias pedestal
        if kind == "Flat":
            assert float(np.median(hdu.data)) > h["OBMEAN"] + 1000
        else:
            assert float(np.median(hdu.data)) < h["OBMEAN"] + 200
    assert driver.values[(MONO, "FRAME_INTEGRITY")]["VERDICT"] == "good"
    driver.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Ok", 5,
                driver.messages.index(message))


def test_colour_bayer_keys_follow_the_roi_and_vanish_when_binned(driver: DriverProcess) -> None:
    small_frame(driver, COLOUR, x=101, y=200)
    with blob_fits(driver.expose(COLOUR)) as hdus:
        h = image_hdu(hdus).header
        assert (h["BAYERPAT"], h["XBAYROFF"], h["YBAYROFF"]) == ("RGGB", 1, 0)
        assert isinstance(h["FRAMESEQ"], int)
    assert driver.values[(COLOUR, "CCD_CFA")]["CFA_OFFSET_X"] == "1"
    small_frame(driver, COLOUR, x=100, y=201)
    with blob_fits(driver.expose(COLOUR)) as hdus:
        h = image_hdu(hdus).header
        assert (h["XBAYROFF"], h["YBAYROFF"]) == (0, 1)
    driver.set(COLOUR, "CCD_BINNING", "Number", HOR_BIN=2, VER_BIN=2)
    with blob_fits(driver.expose(COLOUR)) as hdus:
        h = image_hdu(hdus).header
        assert "BAYERPAT" not in h and "XBAYROFF" not in h and h["XBINNING"] == 2
    assert driver.values[(COLOUR, "CCD_CFA")]["CFA_TYPE"] == ""


def test_bit_depths_8_16_and_32_bit_binned_sums(driver: DriverProcess) -> None:
    small_frame(driver, MONO, width=80, height=60)
    driver.set(MONO, "CCD_BINNING", "Number", HOR_BIN=2, VER_BIN=2)
    for choice, dtype, bits in (("BITS_8", np.uint8, 8), ("BITS_16", np.uint16, 16), ("BITS_32", np.uint32, 32)):
        assert driver.set(MONO, "BIT_DEPTH", "Switch", **{choice: "On"}).get("state") == "Ok"
        assert driver.values[(MONO, "CCD_INFO")]["CCD_BITSPERPIXEL"] == str(bits)
        with blob_fits(driver.expose(MONO)) as hdus:
            hdu = image_hdu(hdus)
            assert hdu.data.dtype == dtype and hdu.data.shape == (30, 40)
            if choice == "BITS_32":
                assert hdu.header["BINMODE"] == "SUM" and hdu.header["BITPIX"] == 32
                assert int(hdu.data.min()) > 4 * 300  # four pedestals summed: nothing clipped to 16 bits
    driver.set(MONO, "BIT_DEPTH", "Switch", BITS_16="On")


def test_compressed_frames_are_fpack_fits(driver: DriverProcess) -> None:
    small_frame(driver, MONO)
    driver.set(MONO, "CCD_COMPRESSION", "Switch", INDI_ENABLED="On")
    message = driver.expose(MONO)
    assert message.find("oneBLOB").get("format") == ".fits.fz"
    with blob_fits(message) as hdus:
        assert isinstance(hdus[1], fits.CompImageHDU) and hdus[1].compression_type == "RICE_1"
        assert image_hdu(hdus).data.shape == (48, 64) and image_hdu(hdus).header["INSTRUME"] == "QHY268M"
    driver.set(MONO, "CCD_COMPRESSION", "Switch", INDI_DISABLED="On")


def test_user_fits_keywords_are_added_and_removed(driver: DriverProcess) -> None:
    small_frame(driver, MONO)
    assert driver.set(MONO, "FITS_HEADER", "Text", KEYWORD_NAME="OBSERVER", KEYWORD_VALUE="Ada <&>",
                      KEYWORD_COMMENT="who").get("state") == "Ok"
    with blob_fits(driver.expose(MONO)) as hdus:
        assert image_hdu(hdus).header["OBSERVER"] == "Ada <&>"
    driver.set(MONO, "FITS_HEADER", "Text", KEYWORD_NAME="OBSERVER", KEYWORD_VALUE="")
    with blob_fits(driver.expose(MONO)) as hdus:
        assert "OBSERVER" not in image_hdu(hdus).header


def test_local_upload_expands_xxx_and_iso8601(driver: DriverProcess, tmp_path: Path) -> None:
    small_frame(driver, MONO)
    target = driver.upload_root / "night"
    assert driver.set(MONO, "UPLOAD_SETTINGS", "Text", UPLOAD_DIR="night",
                      UPLOAD_PREFIX="M42_XXX").get("state") == "Ok"
    assert driver.set(MONO, "UPLOAD_MODE", "Switch", UPLOAD_LOCAL="On").get("state") == "Ok"
    for _ in range(2):
        mark = driver.mark()
        driver.send(f"<newNumberVector device='{MONO}' name='CCD_EXPOSURE'><oneNumber name='CCD_EXPOSURE_VALUE'>"
                    "0.01</oneNumber></newNumberVector>")
        driver.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Ok", 30, mark)
    assert sorted(p.name for p in target.iterdir()) == ["M42_001.fits", "M42_002.fits"]
    assert driver.values[(MONO, "CCD_FILE_PATH")]["FILE_PATH"] == str(target / "M42_002.fits")
    assert driver.values[(MONO, "UPLOAD_SETTINGS")]["UPLOAD_DIR"] == str(target)  # relative: under the root
    driver.set(MONO, "UPLOAD_SETTINGS", "Text", UPLOAD_PREFIX="ISO8601_XXX")
    driver.set(MONO, "UPLOAD_MODE", "Switch", UPLOAD_BOTH="On")
    message = driver.expose(MONO)
    assert message.tag == "setBLOBVector"
    stamped = [p.name for p in target.iterdir() if not p.name.startswith("M42")]
    assert len(stamped) == 1 and stamped[0].startswith(time.strftime("%Y-", time.gmtime()))
    assert stamped[0].endswith("_001.fits")
    driver.set(MONO, "UPLOAD_MODE", "Switch", UPLOAD_CLIENT="On")


def test_fast_exposure_takes_the_counted_frames(driver: DriverProcess) -> None:
    small_frame(driver, MONO)
    driver.set(MONO, "CCD_FAST_TOGGLE", "Switch", INDI_ENABLED="On")
    driver.set(MONO, "CCD_FAST_COUNT", "Number", FRAMES=3)
    mark = driver.mark()
    driver.expose(MONO)
    for _ in range(2):
        driver.wait(lambda m: m.tag == "setBLOBVector", 30, driver.mark())
    blobs = [m for m in driver.messages[mark:] if m.tag == "setBLOBVector"]
    assert len(blobs) == 3
    driver.set(MONO, "CCD_FAST_TOGGLE", "Switch", INDI_DISABLED="On")


def test_abort_during_exposure_is_immediate_and_get_properties_is_answered(driver: DriverProcess) -> None:
    small_frame(driver, MONO)
    driver.set(MONO, "POLLING_PERIOD", "Number", PERIOD_MS=100)
    mark = driver.mark()
    driver.send(f"<newNumberVector device='{MONO}' name='CCD_EXPOSURE'><oneNumber name='CCD_EXPOSURE_VALUE'>30"
                "</oneNumber></newNumberVector>")
    driver.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Busy", 5, mark)
    time.sleep(0.5)
    counts = [float(m.find("oneNumber").text) for m in driver.messages[mark:]
              if m.get("name") == "CCD_EXPOSURE" and m.get("device") == MONO and m.get("state") == "Busy"]
    # counting down while Busy (the first tick may come before the camera's first status report)
    assert len(counts) >= 3 and counts[-1] < 30 and counts == sorted(counts, reverse=True), counts
    driver.set(MONO, "POLLING_PERIOD", "Number", PERIOD_MS=1000)
    started = time.monotonic()
    mark = driver.mark()
    driver.send(f"<getProperties version='1.7' device='{MONO}' name='CCD_INFO'/>")
    driver.wait(lambda m: m.tag == "defNumberVector" and m.get("name") == "CCD_INFO", 2, mark)
    assert time.monotonic() - started < 0.5
    refused = driver.set(MONO, "CCD_GAIN", "Number", GAIN=3)
    assert refused.get("state") == "Alert" and "exposure" in refused.get("message", "")
    again = driver.set(MONO, "CCD_EXPOSURE", "Number", CCD_EXPOSURE_VALUE=1)
    assert again.get("state") == "Busy" and "already running" in again.get("message", "")
    started = time.monotonic()
    mark = driver.mark()
    driver.send(f"<newSwitchVector device='{MONO}' name='CCD_ABORT_EXPOSURE'><oneSwitch name='ABORT'>On</oneSwitch>"
                "</newSwitchVector>")
    driver.wait(lambda m: m.get("name") == "CCD_EXPOSURE" and m.get("state") == "Idle", 2, mark)
    assert time.monotonic() - started < 0.5
    time.sleep(0.3)
    assert not any(m.tag == "setBLOBVector" for m in driver.messages[mark:])
    assert driver.expose(MONO).tag == "setBLOBVector"  # and the camera works afterwards


def test_snooped_mount_focuser_and_filter_reach_the_header(driver: DriverProcess) -> None:
    small_frame(driver, MONO)
    driver.send("<defNumberVector device='Telescope Simulator' name='EQUATORIAL_EOD_COORD' state='Ok' perm='rw'>"
                "<defNumber name='RA'>5.5</defNumber><defNumber name='DEC'>-5:23:28</defNumber></defNumberVector>"
                "<setNumberVector device='Telescope Simulator' name='GEOGRAPHIC_COORD' state='Ok'>"
                "<oneNumber name='LAT'>51.48</oneNumber><oneNumber name='LONG'>359.99</oneNumber>"
                "<oneNumber name='ELEV'>10</oneNumber></setNumberVector>"
                "<setNumberVector device='Telescope Simulator' name='TELESCOPE_INFO' state='Ok'>"
                "<oneNumber name='TELESCOPE_APERTURE'>200</oneNumber>"
                "<oneNumber name='TELESCOPE_FOCAL_LENGTH'>1000</oneNumber></setNumberVector>"
                "<setSwitchVector device='Telescope Simulator' name='TELESCOPE_PIER_SIDE' state='Ok'>"
                "<oneSwitch name='PIER_WEST'>On</oneSwitch><oneSwitch name='PIER_EAST'>Off</oneSwitch>"
                "</setSwitchVector>"
                "<setNumberVector device='Focuser Simulator' name='ABS_FOCUS_POSITION' state='Ok'>"
                "<oneNumber name='FOCUS_ABSOLUTE_POSITION'>31337</oneNumber></setNumberVector>"
                "<defTextVector device='Filter Simulator' name='FILTER_NAME' state='Ok' perm='rw'>"
                "<defText name='FILTER_SLOT_NAME_1'>Red</defText><defText name='FILTER_SLOT_NAME_2'>Ha</defText>"
                "</defTextVector>"
                "<setNumberVector device='Filter Simulator' name='FILTER_SLOT' state='Ok'>"
                "<oneNumber name='FILTER_SLOT_VALUE'>2</oneNumber></setNumberVector>"
                "<setNumberVector device='Some Other Mount' name='EQUATORIAL_EOD_COORD' state='Ok'>"
                "<oneNumber name='RA'>1</oneNumber><oneNumber name='DEC'>1</oneNumber></setNumberVector>")
    with blob_fits(driver.expose(MONO)) as hdus:
        h = image_hdu(hdus).header
        # JNow 5.5 h / -5.391 deg precessed back to J2000 moves RA by about +1.3 s per year since 2000
        assert h["RA"] == pytest.approx(82.5 - 0.4, abs=0.3) and h["DEC"] == pytest.approx(-5.391, abs=0.2)
        assert h["OBJCTRA"].startswith("05 ") and h["OBJCTDEC"].startswith("-05 ")
        assert h["SITELAT"].startswith("+51 28") and h["PIERSIDE"] == "WEST"
        assert (h["FOCALLEN"], h["APTDIA"], h["FOCUSPOS"], h["FILTER"]) == (1000, 200, 31337, "Ha")
        assert h["TELESCOP"] == "Telescope Simulator" and h["EQUINOX"] == 2000
        when = datetime.strptime(h["DATE-OBS"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
        expected = airmass(5.5, -(5 + 23 / 60 + 28 / 3600), 51.48, 359.99, when)
        assert h.get("AIRMASS") == (None if expected is None else pytest.approx(expected, abs=1e-3))


def test_snoop_requests_follow_active_devices(driver: DriverProcess) -> None:
    mark = driver.mark()
    reply = driver.set(MONO, "ACTIVE_DEVICES", "Text", ACTIVE_TELESCOPE="EQMod Mount")
    assert reply.get("state") == "Ok"
    request = driver.wait(lambda m: m.tag == "getProperties" and m.get("device") == "EQMod Mount", 5, mark)
    assert request.get("name") == "EQUATORIAL_EOD_COORD"
    driver.set(MONO, "ACTIVE_DEVICES", "Text", ACTIVE_TELESCOPE="Telescope Simulator")


# --- hostile input -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    "<newNumberVector device='X' name='CCD_GAIN'><oneNumber name='GAIN'>1</oneNumber>",  # truncated
    "<newNumberVector device='QHY268M-268M000000000001' name='CCD_GAIN'><oneNumber name='GAIN'>1</oneNumbr>"
    "</newNumberVector>",  # mismatched tag
    "<notIndi/>",
    "just text",
    "<newSwitchVector device='QHY268M-268M000000000001' name='CCD_GAIN'><oneSwitch name='GAIN'>On</oneSwitch>"
    "</newSwitchVector>",  # wrong vector type
    "<newNumberVector device='Nobody' name='CCD_GAIN'><oneNumber name='GAIN'>1</oneNumber></newNumberVector>",
    "<newNumberVector device='QHY268M-268M000000000001' name='NO_SUCH'><oneNumber name='X'>1</oneNumber>"
    "</newNumberVector>",
    "<newNumberVector device='QHY268M-268M000000000001' name='CCD_GAIN'><oneNumber name='GAIN'>"
    + "9" * 5000 + "</oneNumber></newNumberVector>",
    "<newBLOBVector device='QHY268M-268M000000000001' name='CCD1'><oneBLOB name='CCD1' size='3' format='.x'>"
    "AAAA</oneBLOB></newBLOBVector>",
    "<newTextVector device='QHY268M-268M000000000001' name='UPLOAD_SETTINGS'><oneText name='UPLOAD_DIR'>"
    "/tmp/\x01</oneText></newTextVector>",
    "<newNumberVector device='QHY268M-268M000000000001' name='CCD_GAIN'></newNumberVector>",
    "<newNumberVector><oneNumber>1</oneNumber></newNumberVector>",
    "<getProperties version='1.7' device='&amp;&lt;'/>",
    "<newNumberVector device='QHY268M-268M000000000001' name='CCD_GAIN'>"
    "<oneNumber name='GAIN'>&#x1F4A9;</oneNumber></newNumberVector>",
], ids=lambda p: p[:40])
def test_hostile_input_gets_an_answer_and_the_driver_lives(driver: DriverProcess, payload: str) -> None:
    mark = driver.mark()
    driver.send(payload + "\n<getProperties version='1.7' device='nobody-here'/>")
    replies = driver.messages[mark : driver.fence()]
    spoke = [m for m in replies if m.tag == "message" or m.get("state") == "Alert"]
    if "getProperties" not in payload.split(">")[0]:
        assert spoke, f"no Alert or message for {payload[:60]!r}"
    assert driver.values[(MONO, "CCD_GAIN")]["GAIN"].isdigit()
    assert driver.alive()


def test_a_flood_of_garbage_does_not_kill_it(driver: DriverProcess) -> None:
    rng = np.random.default_rng(5)
    driver.send(rng.integers(0, 256, 2_000_000, dtype=np.uint8).tobytes().replace(b"<", b"("))
    driver.send(b"<" + b"a" * 100_000 + b">")
    assert driver.alive()


def test_cooling_switches_on_and_off(driver: DriverProcess) -> None:
    driver.set(MONO, "POLLING_PERIOD", "Number", PERIOD_MS=100)
    reply = driver.set(MONO, "CCD_TEMPERATURE", "Number", CCD_TEMPERATURE_VALUE=-10)
    assert reply.get("state") == "Busy"
    assert driver.values[(MONO, "CCD_COOLER")]["COOLER_ON"] == "On"
    driver.wait(lambda m: m.get("name") == "CCD_COOLER_POWER" and m.get("device") == MONO and float(
        m.find("oneNumber").text) > 0, 10, driver.mark())
    driver.wait(lambda m: m.tag == "setSwitchVector" and m.get("name") == "CCD_COOLER_MODE" and m.get("device") == MONO
                and any(c.get("name") == "COOLER_AUTOMATIC" and (c.text or "").strip() == "On" for c in m), 10)
    assert driver.set(MONO, "CCD_COOLER_MODE", "Switch", COOLER_MANUAL="On").get("state") == "Alert"  # read-only
    mark = driver.mark()
    reply = driver.set(MONO, "CCD_COOLER", "Switch", COOLER_OFF="On")
    assert reply.get("state") == "Idle"
    driver.wait(lambda m: m.get("name") == "CCD_COOLER_MODE" and m.get("device") == MONO
                and any(c.get("name") == "COOLER_MANUAL" and (c.text or "").strip() == "On" for c in m), 10, mark)
    driver.set(MONO, "POLLING_PERIOD", "Number", PERIOD_MS=1000)
