"""Saved settings: ``<dir>/<device>_config.xml`` in INDI's own form (new*Vector messages under <INDIDriver>).

Loading replays the messages through the same path a client's messages take, so a saved value is checked and
applied exactly like a typed one. The directory is ``~/.indi`` unless ``INDI_QHY_CONFIG_DIR`` says otherwise.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from .properties import Vector

ENV_DIR = "INDI_QHY_CONFIG_DIR"


class ConfigError(ValueError):
    """The config file cannot be read or written; the text says which file and why."""


def config_dir() -> Path:
    return Path(os.environ.get(ENV_DIR) or Path.home() / ".indi")


def config_path(device: str) -> Path:
    return config_dir() / f"{device}_config.xml"


def save(device: str, vectors: Iterable[Vector]) -> Path:
    root = ET.Element("INDIDriver")
    root.extend(vector.new_xml() for vector in vectors)
    ET.indent(root)
    path = config_path(device)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        ET.ElementTree(root).write(partial, encoding="utf-8", xml_declaration=True)
        os.replace(partial, path)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from err
    return path


def load(device: str) -> list[ET.Element]:
    """The saved messages, in file order; empty when nothing is saved."""
    path = config_path(device)
    if not path.exists():
        return []
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    return [m for m in root if m.tag.startswith("new") and m.get("device") == device]


def purge(device: str) -> bool:
    path = config_path(device)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:
        raise ConfigError(f"cannot remove {path}: {err.strerror or err}") from err
    return True

