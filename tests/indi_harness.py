"""Drive ``indi_qhy_py_ccd`` the way indiserver does: INDI XML into its stdin, messages out of its stdout."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from astropy.io import fits

from indi_qhy_py.indi.wire import MessageSplitter, WireError

Predicate = Callable[[ET.Element], bool]


class DriverProcess:
    """One driver process on emulated cameras, with everything it said kept for inspection."""

    def __init__(self, emulate: str, config_dir: Path, rate: str = "off", extra_env: dict[str, str] | None = None,
                 fds: tuple[int, int] | None = None) -> None:
        self.messages: list[ET.Element] = []
        self.errors: list[WireError] = []
        self.values: dict[tuple[str, str], dict[str, str]] = {}
        self.states: dict[tuple[str, str], str] = {}
        self.defined: dict[tuple[str, str], ET.Element] = {}
        self._cond = threading.Condition()
        self.proc: subprocess.Popen[bytes] | None = None
        if fds is None:
            env = {**os.environ, "INDI_QHY_EMULATE": emulate, "INDI_QHY_EMULATE_RATE": rate,
                   "INDI_QHY_CONFIG_DIR": str(config_dir), "INDI_QHY_RESCAN_S": "0", **(extra_env or {})}
            self.proc = subprocess.Popen([sys.executable, "-m", "indi_qhy_py.indi.driver"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self._in, out_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        else:
            self._in, out_fd = fds
        self._reader = threading.Thread(target=self._read, args=(out_fd,), daemon=True)
        self._reader.start()

    # --- output side --------------------------------------------------------------------------------------------
    def _read(self, fd: int) -> None:
        splitter = MessageSplitter(max_message_bytes=1 << 30)
        while True:
            try:
                data = os.read(fd, 1 << 20)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._cond.notify_all()
                    return
                for item in splitter.feed(data):
                    if isinstance(item, WireError):
                        self.errors.append(item)
                        continue
                    self._track(item)
                    self.messages.append(item)
                self._cond.notify_all()

    def _track(self, m: ET.Element) -> None:
        key = (m.get("device", ""), m.get("name", ""))
        if m.tag.startswith("def"):
            self.defined[key] = m
            self.values[key] = {}
        if m.tag.startswith(("def", "set")) and m.tag.endswith("Vector"):
            self.values.setdefault(key, {}).update({c.get("name", ""): (c.text or "").strip() for c in m})
            self.states[key] = m.get("state", "")
        if m.tag == "delProperty":
            self.defined.pop(key, None)

    def wait(self, predicate: Predicate, timeout: float = 20.0, start: int = 0) -> ET.Element:
        """The first message from index ``start`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.messages):
                    if predicate(self.messages[i]):
                        return self.messages[i]
                    i += 1
                left = deadline - time.monotonic()
                ended = self.proc is not None and self.proc.poll() is not None and not self._reader.is_alive()
                if left <= 0 or ended:
                    tail = [f"{m.tag} {m.get('name')} {m.get('state')} {m.get('message')}" for m in self.messages[-8:]]
                    raise AssertionError(f"no matching message within {timeout} s; last: {tail}")
                self._cond.wait(min(left, 0.5))

    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    # --- input side ---------------------------------------------------------------------------------------------
    def send(self, text: str | bytes) -> None:
        os.write(self._in, text.encode() if isinstance(text, str) else text)

    def set(self, device: str, name: str, kind: str, timeout: float = 20.0, **elements: object) -> ET.Element:
        """Send new<kind>Vector and return the driver's set reply for that property."""
        mark = self.mark()
        body = "".join(f"<one{kind} name='{k}'>{escape(str(v))}</one{kind}>" for k, v in elements.items())
        self.send(f"<new{kind}Vector device='{device}' name='{name}'>{body}</new{kind}Vector>")
        return self.wait(lambda m: m.tag == f"set{kind}Vector" and m.get("name") == name, timeout, mark)

    def connect(self, device: str) -> None:
        mark = self.mark()
        self.send(f"<newSwitchVector device='{device}' name='CONNECTION'><oneSwitch name='CONNECT'>On</oneSwitch>"
                  "</newSwitchVector>")
        reply = self.wait(lambda m: m.get("name") == "CONNECTION" and m.get("state") in ("Ok", "Alert"), 30, mark)
        assert reply.get("state") == "Ok", reply.get("message")

    def expose(self, device: str, seconds: float = 0.01, timeout: float = 60.0) -> ET.Element:
        """Start an exposure and return the CCD1 BLOB message."""
        mark = self.mark()
        self.send(f"<newNumberVector device='{device}' name='CCD_EXPOSURE'><oneNumber name='CCD_EXPOSURE_VALUE'>"
                  f"{seconds}</oneNumber></newNumberVector>")
        return self.wait(lambda m: m.tag == "setBLOBVector" or (m.get("name") == "CCD_EXPOSURE"
                                                                 and m.get("state") == "Alert"), timeout, mark)

    def fence(self, timeout: float = 10.0) -> int:
        """Wait until the driver has answered everything sent so far (a ping is answered in order)."""
        self._pings = getattr(self, "_pings", 0) + 1
        uid = f"fence{self._pings}"
        mark = self.mark()
        self.send(f"<pingRequest uid='{uid}'/>")
        return self.messages.index(self.wait(lambda m: m.tag == "pingReply" and m.get("uid") == uid, timeout, mark))

    def alive(self) -> bool:
        """Still running and still answering: a full getProperties is answered, then a ping."""
        if self.proc is not None and self.proc.poll() is not None:
            return False
        mark = self.mark()
        self.send("<getProperties version='1.7'/>")
        end = self.fence()
        return any(m.tag.startswith("def") for m in self.messages[mark:end])

    def close(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def blob_fits(message: ET.Element) -> fits.HDUList:
    """The FITS file a CCD1 BLOB carries, opened with astropy (after checking the announced size)."""
    one = message.find("oneBLOB")
    assert one is not None
    data = base64.b64decode(one.text or "")
    assert len(data) == int(one.get("size", "-1")), "BLOB size attribute must be the decoded size"
    return fits.open(io.BytesIO(data))


def image_hdu(hdus: fits.HDUList) -> fits.hdu.base.ExtensionHDU:
    return hdus[1] if len(hdus) > 1 else hdus[0]
