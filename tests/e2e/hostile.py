"""Hostile input through the real indiserver: what any client on the network can send a camera driver.

What it provides: ``HostileSession`` (Debian's indiserver running ``indi_qhy_py_ccd`` on an emulated QHY268C, an
upload root and an outside directory the driver must never touch, and one raw-socket client with BLOBs on), and
``CASES``: each an attack (raw INDI XML, sometimes after preparing the file system), the reply the driver must
give, and what the next frame's FITS header must show. ``run_case`` applies one and returns what happened; the
end-to-end test asserts on it case by case and ``bench/hostile.py`` counts it.
"""

from __future__ import annotations

import io
import os
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from astropy.io import fits

from indi_qhy_py.indi.client import TcpClient, blob_payload
from tests.e2e.conftest import Server, driver_env, driver_pids, start_server, stop_server

DEVICE = "QHY268C-268C000000000001"
MOUNT, WHEEL, FOCUSER = "Telescope Simulator", "Filter Simulator", "Focuser Simulator"
OUTSIDE_TEXT = b"outside the upload root: must never change\n"


def new(kind: str, name: str, device: str = DEVICE, **values: object) -> str:
    body = "".join(f"<one{kind} name={quoteattr(k)}>{escape(str(v))}</one{kind}>" for k, v in values.items())
    return f"<new{kind}Vector device={quoteattr(device)} name={quoteattr(name)}>{body}</new{kind}Vector>"


def snooped(kind: str, device: str, name: str, **values: object) -> str:
    """A set*Vector as another driver would send it; indiserver passes it on from any client to snoopers."""
    body = "".join(f"<one{kind} name={quoteattr(k)}>{escape(str(v))}</one{kind}>" for k, v in values.items())
    return (f"<set{kind}Vector device={quoteattr(device)} name={quoteattr(name)} state='Ok'>{body}"
            f"</set{kind}Vector>")


class HostileSession:
    """indiserver + the driver on an emulated QHY268C + a client with BLOBs on and a small ROI."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "uploads"
        self.outside = tmp / "outside"
        self.outside.mkdir(parents=True, exist_ok=True)
        self.victim = self.outside / "victim.txt"
        self.victim.write_bytes(OUTSIDE_TEXT)
        env = driver_env(tmp, "QHY268C", INDI_QHY_UPLOAD_ROOT=str(self.root))
        self.server: Server = start_server(tmp, "indi_qhy_py_ccd", env=env)
        self.client = TcpClient("127.0.0.1", self.server.port)
        self.client.get_properties()
        self.client.wait(lambda m: m.get("device") == DEVICE and m.get("name") == "CONNECTION")
        self.client.enable_blobs(DEVICE)
        self.client.connect(DEVICE)
        for name, values in (("CCD_FRAME", {"X": 100, "Y": 100, "WIDTH": 64, "HEIGHT": 48}),
                             ("CCD_BINNING", {"HOR_BIN": 1, "VER_BIN": 1})):
            assert self.client.set(DEVICE, name, "Number", **values).get("state") == "Ok", name
        self.pid = self.driver_pid()
        self.messages_sent = 0

    def driver_pid(self) -> int:
        pids = driver_pids(self.server)
        assert len(pids) == 1, f"indiserver runs {pids}"
        return pids[0]

    def send(self, *messages: str) -> int:
        mark = self.client.mark()
        for message in messages:
            self.client.send(message)
            self.messages_sent += 1
        return mark

    def expose(self) -> fits.Header:
        """The next frame's header (raises when no frame arrives)."""
        message = self.client.expose(DEVICE, 0.01, timeout=60)
        if message.tag != "setBLOBVector":
            raise AssertionError(f"no frame: {message.get('message')}")
        data, _ = blob_payload(message)
        with fits.open(io.BytesIO(data)) as hdus:
            return hdus[0].header.copy()

    def close(self) -> None:
        self.client.close()
        stop_server(self.server)


Reply = Callable[[ET.Element], bool]
Step = str | Reply  # a message to send, or a reply to wait for before sending the next


@dataclass(frozen=True)
class Case:
    name: str
    attack: Callable[[HostileSession], list[Step]]  # prepares what it needs; returns messages and replies to await
    reply: Reply | None = None  # the answer the driver must give (None: a snooped value gets no direct answer)
    header: Callable[[fits.Header, HostileSession], bool] = lambda h, s: True  # the next frame's header
    after: Callable[[HostileSession], bool] = lambda s: True  # the file system afterwards


@dataclass
class Outcome:
    case: str
    replied: bool
    restarted: bool
    frame_delivered: bool
    header_ok: bool
    after_ok: bool
    problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.problems


def alert_on(name: str, words: str, kind: str | None = None) -> Reply:
    def check(m: ET.Element) -> bool:
        return (m.get("device") == DEVICE and m.get("name") == name and m.get("state") == "Alert"
                and words in (m.get("message") or "") and (kind is None or m.tag == f"set{kind}Vector"))
    return check


def ok_on(name: str, element: str | None = None, value: str | None = None) -> Reply:
    def check(m: ET.Element) -> bool:
        if not (m.get("device") == DEVICE and m.get("name") == name and m.get("state") == "Ok"):
            return False
        return element is None or any(c.get("name") == element and (c.text or "").strip() == value for c in m)
    return check


def warning(words: str) -> Reply:
    return lambda m: m.tag == "message" and m.get("device") == DEVICE and words in (m.get("message") or "")


def blob_refusal(m: ET.Element) -> bool:
    """A refused BLOB write: a message saying why, never a setBLOBVector (which goes by BLOB policy, not to all)."""
    return m.tag == "message" and m.get("device") == DEVICE and "CCD1 not changed" in (m.get("message") or "")


def _prepare_links(s: HostileSession) -> None:
    night = s.root / "night"
    night.mkdir(parents=True, exist_ok=True)
    for link in (s.root / "linkdir", night / "victim.fits", night / ".trap.fits.partial"):
        if not os.path.lexists(link):  # planted once; a saved frame may have replaced it since
            link.symlink_to(s.outside if link.name == "linkdir" else s.victim)


def _saved_without_touching(s: HostileSession, name: str) -> bool:
    path = s.root / "night" / name
    return s.victim.read_bytes() == OUTSIDE_TEXT and path.is_file() and not path.is_symlink()


def _local(prefix: str) -> Callable[[HostileSession], list[str]]:
    def attack(s: HostileSession) -> list[str]:
        _prepare_links(s)
        return [new("Text", "UPLOAD_SETTINGS", UPLOAD_DIR="night", UPLOAD_PREFIX=prefix),
                new("Switch", "UPLOAD_MODE", UPLOAD_BOTH="On")]
    return attack


CASES = [
    Case("blob write", lambda s: [f"<newBLOBVector device='{DEVICE}' name='CCD1'><oneBLOB name='CCD1' size='4' "
                                  "format='.fits'>QUJDRA==</oneBLOB></newBLOBVector>"], blob_refusal),
    Case("number into the BLOB", lambda s: [new("Number", "CCD1", CCD1=1)], blob_refusal),
    Case("BLOB into a number", lambda s: [f"<newBLOBVector device='{DEVICE}' name='CCD_GAIN'><oneBLOB name='GAIN' "
                                          "size='4' format='.fits'>QUJDRA==</oneBLOB></newBLOBVector>"],
         alert_on("CCD_GAIN", "send newNumberVector")),
    Case("mount RA 1e308", lambda s: [snooped("Number", MOUNT, "EQUATORIAL_EOD_COORD", RA="1e308", DEC=10)],
         warning("RA=1e308"), lambda h, s: "OBJCTRA" not in h and "RA" not in h),
    Case("site LAT -1e308", lambda s: [snooped("Number", MOUNT, "GEOGRAPHIC_COORD", LAT="-1e308", LONG=10, ELEV=0)],
         warning("LAT=-1e308"), lambda h, s: "SITELAT" not in h and "AIRMASS" not in h),
    Case("focuser position nan", lambda s: [snooped("Number", FOCUSER, "ABS_FOCUS_POSITION",
                                                    FOCUS_ABSOLUTE_POSITION="nan")],
         warning("FOCUS_ABSOLUTE_POSITION"), lambda h, s: "FOCUSPOS" not in h),
    Case("filter named H-alpha in Greek", lambda s: [
        snooped("Text", WHEEL, "FILTER_NAME", FILTER_SLOT_NAME_1="L", FILTER_SLOT_NAME_2="Hα"),
        snooped("Number", WHEEL, "FILTER_SLOT", FILTER_SLOT_VALUE=2)],
         None, lambda h, s: h.get("FILTER") == "Ha" and h.get("HIERARCH FILTER UTF8") == "H\\u03b1"),
    Case("active telescope through indiserver's whitespace", lambda s: [
        new("Text", "ACTIVE_DEVICES", ACTIVE_TELESCOPE=MOUNT), ok_on("ACTIVE_DEVICES", "ACTIVE_TELESCOPE", MOUNT),
        snooped("Number", MOUNT, "EQUATORIAL_EOD_COORD", RA=5.5, DEC=-5.4),
        snooped("Number", MOUNT, "GEOGRAPHIC_COORD", LAT=51.5, LONG=0, ELEV=10)],
         ok_on("ACTIVE_DEVICES", "ACTIVE_TELESCOPE", MOUNT),
         lambda h, s: h.get("OBJCTRA", "").startswith("05 ") and h.get("SITELAT", "").startswith("+51 30")),
    Case("non-ASCII telescope name", lambda s: [
        new("Text", "ACTIVE_DEVICES", ACTIVE_TELESCOPE="Télescope Ω"), ok_on("ACTIVE_DEVICES"),
        snooped("Number", "Télescope Ω", "TELESCOPE_INFO", TELESCOPE_APERTURE=200, TELESCOPE_FOCAL_LENGTH=1000)],
         ok_on("ACTIVE_DEVICES"), lambda h, s: h.get("TELESCOP") == "Telescope O" and h.get("FOCALLEN") == 1000),
    Case("upload dir through indiserver's whitespace", lambda s: [new("Text", "UPLOAD_SETTINGS",
                                                                     UPLOAD_DIR=str(s.root / "night"))],
         ok_on("UPLOAD_SETTINGS")),
    Case("upload dir /etc", lambda s: [new("Text", "UPLOAD_SETTINGS", UPLOAD_DIR="/etc")],
         alert_on("UPLOAD_SETTINGS", "outside the upload root")),
    Case("upload dir with ..", lambda s: [new("Text", "UPLOAD_SETTINGS", UPLOAD_DIR="night/../../outside")],
         alert_on("UPLOAD_SETTINGS", "'..'")),
    Case("upload dir is a symlink out", lambda s: (_prepare_links(s), [
        new("Text", "UPLOAD_SETTINGS", UPLOAD_DIR="linkdir")])[1],
         alert_on("UPLOAD_SETTINGS", "symbolic link")),
    Case("final file name is a symlink out", _local("victim"), ok_on("UPLOAD_MODE"),
         after=lambda s: _saved_without_touching(s, "victim.fits")),
    Case("temporary file name is a symlink out", _local("trap"), ok_on("UPLOAD_MODE"),
         after=lambda s: _saved_without_touching(s, "trap.fits")
         and (s.root / "night" / ".trap.fits.partial").is_symlink()),
    Case("Arabic-Indic digits", lambda s: [new("Number", "CCD_GAIN", GAIN="١٢")], alert_on("CCD_GAIN", "not a number")),
    Case("underscore in a number", lambda s: [new("Number", "CCD_GAIN", GAIN="1_0")],
         alert_on("CCD_GAIN", "not a number")),
    Case("number that underflows", lambda s: [new("Number", "CCD_OFFSET", OFFSET="1e-400")],
         alert_on("CCD_OFFSET", "too small")),
]


def run_case(s: HostileSession, case: Case, timeout: float = 10.0) -> Outcome:
    problems: list[str] = []
    mark = s.client.mark()
    for step in case.attack(s):
        if isinstance(step, str):
            s.send(step)
        else:  # the driver's snoop request must reach indiserver before the snooped values do
            s.client.wait(step, timeout, mark)
    replied = True
    if case.reply is not None:
        try:
            s.client.wait(case.reply, timeout, mark)
        except TimeoutError as err:
            replied = False
            problems.append(f"expected reply missing: {err}")
    time.sleep(0.1)  # let snooped values reach the driver before the exposure that should show them
    frame_delivered = header_ok = False
    try:
        header = s.expose()
        frame_delivered = True
        header_ok = case.header(header, s)
        if not header_ok:
            problems.append(f"header wrong: {dict((k, header[k]) for k in header if k not in ('COMMENT',))}")
    except (AssertionError, TimeoutError, ValueError) as err:
        problems.append(f"no frame after the attack: {err}")
    after_ok = case.after(s)
    if not after_ok:
        problems.append("the file system is not as it must be afterwards")
    restarted = s.driver_pid() != s.pid
    if restarted:
        problems.append("indiserver restarted the driver")
    mark = s.client.mark()  # restoring, not attacking: not counted
    s.client.send(new("Switch", "UPLOAD_MODE", UPLOAD_CLIENT="On") + new("Text", "ACTIVE_DEVICES",
                                                                        ACTIVE_TELESCOPE=MOUNT))
    s.client.wait(ok_on("ACTIVE_DEVICES", "ACTIVE_TELESCOPE", MOUNT), timeout, mark)  # the next case starts alike
    return Outcome(case.name, replied, restarted, frame_delivered, header_ok, after_ok, problems)


def flood(s: HostileSession, megabytes: int = 2) -> int:
    """Garbage from a second client (indiserver drops that client); returns the bytes sent."""
    garbage = os.urandom(megabytes << 20).replace(b"<", b"(")
    sent = 0
    with socket.create_connection(("127.0.0.1", s.server.port)) as raw:
        try:
            raw.sendall(b"<getProperties version='1.7'/>" + garbage + b"<" + b"a" * 100_000 + b">")
            sent = len(garbage)
        except OSError:  # indiserver hung up on the garbage: as it should
            pass
    return sent
