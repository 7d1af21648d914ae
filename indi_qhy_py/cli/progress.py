"""Progress of a capture as the driver reports it: the exposure counting down, then the download percentage.

On a terminal it is one line redrawn as a bar; otherwise (a log, a pipe) plain lines, one per whole second of
countdown and per 10 % of download, so a night's log stays readable. ``quiet`` prints nothing.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from typing import TextIO

_DOWNLOAD = re.compile(r"downloading (\d+)%")
BAR = 30


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self._last: tuple[str, int] | None = None
        self._label = ""
        self._total = 0.0

    def start(self, label: str, seconds: float) -> None:
        self._label, self._total, self._last = label, seconds, None

    def update(self, message: ET.Element) -> None:
        """One CCD_EXPOSURE report from the driver."""
        if self.quiet:
            return
        download = _DOWNLOAD.search(message.get("message") or "")
        if download:
            percent = int(download.group(1))
            self._show(("downloading", percent if self.tty else percent // 10), "downloading", percent, "")
            return
        one = message.find("oneNumber")
        if message.get("state") == "Busy" and one is not None:
            left = float((one.text or "0").strip() or 0)
            done = 100 if self._total <= 0 else round(100 * (1 - min(left, self._total) / self._total))
            self._show(("exposing", done if self.tty else int(left)), "exposing", done, f"{left:.1f} s left")

    def _show(self, key: tuple[str, int], phase: str, percent: int, detail: str) -> None:
        """Print unless this line (a percent on a terminal; a second or 10 % in a log) was printed already."""
        if key == self._last:
            return
        self._last = key
        if self.tty:
            filled = BAR * percent // 100
            self.stream.write(f"\r{self._label} {phase:11} [{'#' * filled}{'.' * (BAR - filled)}] {percent:3d}% "
                              f"{detail:14}")
        else:
            self.stream.write(f"{self._label} {phase} {percent}%{' (' + detail + ')' if detail else ''}\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        if self.tty and self._last is not None and not self.quiet:
            self.stream.write("\r" + " " * (len(self._label) + BAR + 40) + "\r")
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()
