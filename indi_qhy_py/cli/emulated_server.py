"""indiserver with this driver on emulated cameras, for a command-line tool's ``--emulate``: on a free loopback port,
its own ``-u`` socket and a throw-away configuration directory (a user's saved settings are never touched)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ..indi.ccd_properties import DRIVER_EXEC
from .remote_camera import CaptureError


class EmulatedServer:
    """``with EmulatedServer("QHY268M") as port:`` — indiserver serving an emulated camera of that model."""

    def __init__(self, model: str, start_timeout: float = 10.0) -> None:
        if shutil.which("indiserver") is None:
            raise CaptureError("--emulate needs indiserver (apt install indi-bin)")
        self.model = model
        self.start_timeout = start_timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="indi_qhy_py_")
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> int:
        tmp = Path(self._tmp.name)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "INDI_QHY_EMULATE": self.model, "INDI_QHY_EMULATE_RATE": "off", "INDI_QHY_RESCAN_S": "0",
               "INDI_QHY_CONFIG_DIR": str(tmp / "config"), "INDI_QHY_UPLOAD_ROOT": str(tmp / "uploads")}
        log = open(tmp / "indiserver.log", "wb")
        self._proc = subprocess.Popen(["indiserver", "-p", str(self.port), "-u", str(tmp / "sock"), "-m", "1024",
                                       DRIVER_EXEC], stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self.port
            except OSError as err:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise CaptureError(f"indiserver with an emulated {self.model} did not start") from err
                time.sleep(0.05)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._tmp.cleanup()
