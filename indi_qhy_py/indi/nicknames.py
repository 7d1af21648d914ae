"""Nicknames: a user's own name for each camera, kept in INDI's shared ``Nicknames.xml`` and used as the device name.

INDI 2.x drivers (the ASI and QHY drivers among them) let a user name each camera by its serial, so that two
cameras of one model keep telling which is the guider and which the imager across reboots and USB ports. The file
is INDI's: ``~/.indi/Nicknames.xml`` (``INDI_QHY_CONFIG_DIR`` moves it with the saved settings), one ``<device
name=...>`` section per driver with a ``<nickname identifier=...>`` per camera; other drivers' sections are kept as
they are. A device's name cannot change while clients know it, so a new nickname takes effect when the driver
next starts, as INDI's drivers do it.

KStars finds a driver's devices by the first word of the driver's name ("QHY"), so a nicknamed device is named
``QHY <nickname>`` unless the nickname already starts with "QHY".
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from . import config

FILE_NAME = "Nicknames.xml"
DRIVER_KEY = "QHY CCD (Python)"  # this driver's section in the file (its name in the driver XML, never INDIDEV)
NAME_PREFIX = "QHY"
MAX_LENGTH = 40


class NicknameError(ValueError):
    """A nickname that cannot be used, or a file that cannot be read or written; the text says why."""


def path() -> Path:
    return config.config_dir() / FILE_NAME


def check(nickname: str, taken: set[str]) -> str:
    """The nickname as it will be stored ("" removes it); raises when it cannot name a device."""
    nickname = nickname.strip()
    if not nickname:
        return ""
    if len(nickname) > MAX_LENGTH:
        raise NicknameError(f"a nickname has at most {MAX_LENGTH} characters")
    if any(not c.isprintable() for c in nickname) or any(c in nickname for c in ".*\"'<>&"):
        raise NicknameError("a nickname may not hold control characters, '.', '*', quotes, '<', '>' or '&' "
                            "(indi_getprop splits device.property.element at dots)")
    if device_name(nickname) in taken:
        raise NicknameError(f"another device is already named {device_name(nickname)!r} (or will be, by its "
                            "nickname)")
    return nickname


def device_name(nickname: str) -> str:
    """The device name a nickname gives: KStars matches devices to this driver by the leading "QHY"."""
    return nickname if nickname.upper().startswith(NAME_PREFIX) else f"{NAME_PREFIX} {nickname}"


def load() -> dict[str, str]:
    """identifier (``<model>-<serial>``) -> nickname, for this driver; empty when there is no file."""
    root = _read()
    if root is None:
        return {}
    names = {}
    for section in root.iter("device"):
        if section.get("name") != DRIVER_KEY:
            continue
        for entry in section.iter("nickname"):
            identifier, nickname = (entry.get("identifier") or "").strip(), (entry.text or "").strip()
            if identifier and nickname:
                names[identifier] = nickname
    return names


def store(identifier: str, nickname: str) -> Path:
    """Set (or with "" remove) one camera's nickname; every other entry, ours or other drivers', is kept."""
    root = _read()
    if root is None:
        root = ET.Element("INDINicknames")
    section = next((s for s in root.iter("device") if s.get("name") == DRIVER_KEY), None)
    if section is None:
        section = ET.SubElement(root, "device", {"name": DRIVER_KEY})
    for entry in list(section):
        if entry.tag == "nickname" and (entry.get("identifier") or "").strip() == identifier:
            section.remove(entry)
    if nickname:
        ET.SubElement(section, "nickname", {"identifier": identifier}).text = nickname
    ET.indent(root)
    target = path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        ET.ElementTree(root).write(partial, encoding="utf-8", xml_declaration=True)
        os.replace(partial, target)  # a link at the target is replaced, never written through
    except OSError as err:
        raise NicknameError(f"cannot write {target}: {err.strerror or err}") from err
    return target


def _read() -> ET.Element | None:
    target = path()
    try:
        root = ET.parse(target).getroot()
    except FileNotFoundError:
        return None
    except (OSError, ET.ParseError) as err:
        raise NicknameError(f"cannot read {target}: {err}") from err
    if root.tag != "INDINicknames":
        raise NicknameError(f"{target} is not an INDI nickname file (its root is <{root.tag}>)")
    return root
