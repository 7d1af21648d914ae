"""INDI's debug and logging properties for one camera: DEBUG, DEBUG_LEVEL, LOGGING_LEVEL, LOG_OUTPUT.

The camera layer and the delivery write their records (USB errors, retries, settings re-applied, how long each
phase took) to the camera's logger. With DEBUG off (the default) its debug records go nowhere and cost nothing.
With DEBUG on, the three level and output properties appear, as in INDI's C++ drivers: records at the levels
ticked in DEBUG_LEVEL reach clients as ``[DEBUG]`` messages (LOG_OUTPUT CLIENT_DEBUG), and those ticked in
LOGGING_LEVEL go to ``<config dir>/logs/<device>.log`` (FILE_DEBUG; ``INDI_QHY_LOG_DIR`` moves it), rotated at
``INDI_QHY_LOG_MAX_MB`` (10) with 5 old files kept, so a night at debug level cannot fill a disk. Messages the
driver always sends (warnings, errors, "camera is back") keep reaching clients as before.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import config
from .ccd_properties import OPTIONS
from .properties import Rule, State, Switch, Vector, message_xml, switches

if TYPE_CHECKING:
    from .ccd import QhyCcd

LEVELS = (("ERROR", logging.ERROR, "Errors"), ("WARNING", logging.WARNING, "Warnings"),
          ("SESSION", logging.INFO, "Messages"), ("DEBUG", logging.DEBUG, "Driver Debug"))
ENV_LOG_DIR, ENV_LOG_MAX_MB = "INDI_QHY_LOG_DIR", "INDI_QHY_LOG_MAX_MB"
BACKUPS = 5


def log_dir() -> Path:
    return Path(os.environ.get(ENV_LOG_DIR) or config.config_dir() / "logs")


class _LevelFilter(logging.Filter):
    """Pass the records whose level is ticked in a DEBUG_LEVEL / LOGGING_LEVEL vector."""

    def __init__(self, vector: Vector, prefix: str) -> None:
        super().__init__()
        self.vector = vector
        self.element_of = {level: f"{prefix}_{key}" for key, level, _ in LEVELS}

    def filter(self, record: logging.LogRecord) -> bool:
        name = self.element_of.get(record.levelno)
        return name is not None and self.vector[name].on


class _ClientHandler(logging.Handler):
    """Debug records to clients as INDI messages (other levels already reach them as the driver's messages)."""

    def __init__(self, device: QhyCcd) -> None:
        super().__init__(logging.DEBUG)
        self.device = device

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.DEBUG:
            self.device.writer.send(message_xml(f"[DEBUG] {record.getMessage()}", self.device.name))


class CcdLogging:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.logger = device.camera.logger
        d = device.name
        self.vectors = {v.name: v for v in (
            switches(d, "DEBUG_LEVEL", "Debug Levels", OPTIONS,
                     [Switch(f"DBG_{k}", label, k != "DEBUG") for k, _, label in LEVELS], rule=Rule.ANY_OF_MANY,
                     saved=False),
            switches(d, "LOGGING_LEVEL", "Logging Levels", OPTIONS,
                     [Switch(f"LOG_{k}", label, True) for k, _, label in LEVELS], rule=Rule.ANY_OF_MANY,
                     saved=False),
            switches(d, "LOG_OUTPUT", "Log Output", OPTIONS,
                     [Switch("CLIENT_DEBUG", "To Client", True), Switch("FILE_DEBUG", "To Log File")],
                     rule=Rule.ANY_OF_MANY, saved=False),
        )}
        self._client = _ClientHandler(device)
        self._client.addFilter(_LevelFilter(self.vectors["DEBUG_LEVEL"], "DBG"))
        self._file: logging.Handler | None = None

    @property
    def file_path(self) -> Path:
        return log_dir() / f"{self.device.name}.log"

    def _on_debug(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        enabled = v.on_switch() == "ENABLE"
        self.device.debug = enabled
        if enabled:
            for vector in self.vectors.values():
                self.device.define(vector)
        else:
            self.device.delete(self.vectors)
        self._apply()
        self.device.update(v, State.OK)

    def _on_debug_level(self, v: Vector, values: dict[str, object]) -> None:
        self._store(v, values)

    def _on_logging_level(self, v: Vector, values: dict[str, object]) -> None:
        self._store(v, values)

    def _on_log_output(self, v: Vector, values: dict[str, object]) -> None:
        self._store(v, values)

    def _store(self, v: Vector, values: dict[str, object]) -> None:
        v.apply(values)
        self._apply()
        message = f"logging to {self.file_path}" if self._file is not None else None
        self.device.update(v, State.OK, message)

    def _apply(self) -> None:
        """Attach or detach the client and file handlers to match DEBUG and LOG_OUTPUT."""
        outputs = self.vectors["LOG_OUTPUT"]
        enabled = self.device.debug
        self.logger.setLevel(logging.DEBUG if enabled else logging.NOTSET)
        self.logger.removeHandler(self._client)
        if enabled and outputs["CLIENT_DEBUG"].on:
            self.logger.addHandler(self._client)
        want_file = enabled and outputs["FILE_DEBUG"].on
        if want_file and self._file is None:
            self._file = self._open_file()
        elif not want_file and self._file is not None:
            self.logger.removeHandler(self._file)
            self._file.close()
            self._file = None

    def _open_file(self) -> logging.Handler:
        path = self.file_path
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        max_bytes = int(float(os.environ.get(ENV_LOG_MAX_MB, "10")) * 1e6)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=max(1, max_bytes), backupCount=BACKUPS,
                                                       encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.addFilter(_LevelFilter(self.vectors["LOGGING_LEVEL"], "LOG"))
        self.logger.addHandler(handler)
        return handler

    def close(self) -> None:
        self.device.debug = False
        self._apply()
