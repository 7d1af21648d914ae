"""Driver harnesses: the driver as indiserver runs it, on pipes, in a process or in this process.

Contract of ``DriverProcess(emulate, config_dir)``: ``indi_qhy_py_ccd`` as a child process on emulated cameras
(rate limit off, no rescan, saved settings in ``config_dir``, local uploads under ``config_dir/uploads``), spoken
to with INDI XML on its stdin and read on its stdout by the project's own client (``set``, ``expose``, ``wait``,
``fence``); ``alive()`` proves it still answers. ``served_in_process(backend, tmp)`` runs the driver's serve loop
in a thread of the test process on real pipes, so a test can reach into the emulated cameras it serves.
``blob_fits``/``image_hdu`` open the FITS a CCD1 BLOB carries.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

from indi_qhy_py.emulator import EmulatedCamera, EmulatorBackend
from indi_qhy_py.indi.client import Conversation, blob_payload, read_fd
from indi_qhy_py.indi.driver import Driver
from indi_qhy_py.indi.wire import Writer


class DriverProcess(Conversation):
    """One driver process on emulated cameras (or, with ``fds``, a driver served in this process over pipes)."""

    def __init__(self, emulate: str, config_dir: Path, rate: str = "off", extra_env: dict[str, str] | None = None,
                 fds: tuple[int, int] | None = None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.upload_root = config_dir / "uploads"  # where UPLOAD_LOCAL may write (INDI_QHY_UPLOAD_ROOT)
        if fds is None:
            env = {**os.environ, "INDI_QHY_EMULATE": emulate, "INDI_QHY_EMULATE_RATE": rate,
                   "INDI_QHY_CONFIG_DIR": str(config_dir), "INDI_QHY_RESCAN_S": "0",
                   "INDI_QHY_UPLOAD_ROOT": str(self.upload_root), **(extra_env or {})}
            self.proc = subprocess.Popen([sys.executable, "-m", "indi_qhy_py.indi.driver"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            fds = (self.proc.stdin.fileno(), self.proc.stdout.fileno())
        to_driver, from_driver = fds
        super().__init__(lambda data: os.write(to_driver, data))
        self.start_reader(read_fd(from_driver))

    def __enter__(self) -> DriverProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        if self._reader is not None:
            self._reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def blob_fits(message) -> fits.HDUList:  # type: ignore[no-untyped-def]
    """The FITS file a CCD1 BLOB carries, opened with astropy (after checking the announced size)."""
    data, _ = blob_payload(message)
    return fits.open(io.BytesIO(data))


def image_hdu(hdus: fits.HDUList) -> fits.hdu.base.ExtensionHDU:
    return hdus[1] if len(hdus) > 1 else hdus[0]


@dataclass
class InProcess:
    client: DriverProcess
    camera: EmulatedCamera


@contextlib.contextmanager
def served_in_process(backend: EmulatorBackend, tmp_path: Path,
                      rescan_s: float = 0.0) -> Iterator[tuple[Driver, DriverProcess]]:
    """The driver's serve loop in a thread of this process, on real pipes, with a client on the other ends."""
    driver_in, to_driver = os.pipe()
    from_driver, driver_out = os.pipe()
    out = os.fdopen(driver_out, "wb", buffering=0)
    driver = Driver(Writer(out), [backend], None, rescan_s=rescan_s)
    thread = threading.Thread(target=driver.serve, args=(driver_in,), daemon=True)
    thread.start()
    try:
        client = DriverProcess("", tmp_path, fds=(to_driver, from_driver))
        client.send("<getProperties version='1.7'/>")
        yield driver, client
    finally:
        os.close(to_driver)  # end of input: the serve loop closes the devices and returns
        thread.join(10)
        out.close()
        os.close(driver_in)
        os.close(from_driver)
