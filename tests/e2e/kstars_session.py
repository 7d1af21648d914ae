"""KStars from Debian, run by a test as a user runs it: on a virtual screen (Xvfb), with its own D-Bus session bus,
home directory and Ekos profile, driven over KStars' own D-Bus interfaces (``/KStars/Ekos``, ``/KStars/INDI``).

Contract: ``KStarsSession(tmp, env)`` prepares a home whose KStars knows this driver (its XML in KStars' INDI
drivers directory) and one local Ekos profile holding "QHY CCD (Python)"; ``start()`` launches KStars (the first
launch in a home creates KStars' user database, so the profile is added after it and KStars restarted), ``ekos``
and ``indi`` are its D-Bus interfaces; ``alive()`` is False once KStars has died; ``close()`` ends everything it
started, by PID. ``NEEDS_KSTARS`` skips a module without kstars, Xvfb or dbus-daemon. KStars stops every running
indiserver when Ekos starts a local profile: never run this beside another test's indiserver.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILE = "QHY (Python)"
DRIVER_LABEL = "QHY CCD (Python)"
NEEDS_KSTARS = pytest.mark.skipif(any(shutil.which(p) is None for p in ("kstars", "Xvfb", "dbus-daemon")),
                                  reason="needs KStars under Xvfb (apt install kstars xvfb dbus)")


def wait_for(check: Callable[[], Any], timeout: float, what: str | Callable[[], str], interval: float = 0.1) -> Any:
    """``check()`` once it is true (its exceptions count as false); ``what`` says what was awaited, when not."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what if isinstance(what, str) else what()}: not within {timeout} s")
        time.sleep(interval)


class _Logged:
    """A D-Bus interface whose calls are written to a file as they go: after a crash, the last line is the call."""

    def __init__(self, interface: Any, log: Path) -> None:
        self._interface, self._log = interface, log

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._interface, name)

        def call(*args: Any) -> Any:
            with open(self._log, "a") as log:
                log.write(f"{time.monotonic():.3f} {name}{args}\n")
            return method(*args)
        return call


def _allow_core_dump() -> None:
    """A crashing KStars leaves ``core`` in the test's directory (kernel.core_pattern permitting)."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class KStarsSession:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.env = {**os.environ, **env, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                    "XDG_DATA_HOME": str(self.home / ".local/share"), "XDG_RUNTIME_DIR": str(tmp / "run"),
                    "QT_LOGGING_RULES": "org.kde.kstars.indi.debug=true"}  # its INDI connection, in its log
        self.env.pop("SESSION_MANAGER", None)
        self._processes: list[subprocess.Popen[bytes]] = []
        self.kstars: subprocess.Popen[bytes] | None = None
        self.bus: Any = None
        self.runs = 0
        self._prepare_home()
        self._start_display_and_bus()

    # --- set-up -----------------------------------------------------------------------------------------------
    def _prepare_home(self) -> None:
        config = self.home / ".config"
        config.mkdir(parents=True, exist_ok=True)
        (self.tmp / "run").mkdir(mode=0o700, exist_ok=True)
        drivers = self.tmp / "indi"
        drivers.mkdir(exist_ok=True)
        shutil.copy(ROOT / "xml" / "indi_qhy_py.xml", drivers)
        (config / "kwalletrc").write_text("[Wallet]\nEnabled=false\nFirst Use=false\n")  # no wallet dialog
        (config / "kstarsrc").write_text(f"[indi]\nindiDriversDir={drivers}\n\n[General]\nRunStartupWizard=false\n")

    def _start_display_and_bus(self) -> None:
        read, write = os.pipe()
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._processes.append(xvfb)
        os.close(write)
        with os.fdopen(read) as display:
            self.env["DISPLAY"] = ":" + display.readline().strip()
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        self._processes.append(bus)
        assert bus.stdout is not None
        self.env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()
        import dbus  # dbus-python: pyindi-client's dependency

        self.bus = dbus.bus.BusConnection(self.env["DBUS_SESSION_BUS_ADDRESS"])

    def _add_profile(self) -> None:
        database = self.home / ".local/share/kstars/userdb.sqlite"
        wait_for(database.exists, 60, "KStars' user database")
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            db.execute("DELETE FROM driver WHERE profile IN (SELECT id FROM profile WHERE name = ?)", (PROFILE,))
            db.execute("DELETE FROM profile WHERE name = ?", (PROFILE,))
            cursor = db.execute("INSERT INTO profile (name, autoconnect, portselector) VALUES (?, 0, 0)", (PROFILE,))
            db.execute("INSERT INTO driver (label, role, profile) VALUES (?, 'CCD', ?)", (DRIVER_LABEL,
                                                                                       cursor.lastrowid))

    # --- KStars -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """KStars running with the profile in its database, Ekos open."""
        first = not (self.home / ".local/share/kstars/userdb.sqlite").exists()
        self._launch()
        if first:
            self.stop_kstars()
            self._add_profile()
            self._launch()
        self._open_ekos()

    def restart(self) -> None:
        """A fresh KStars in the same home (its state after its own start-up race cannot be recovered)."""
        self.stop_kstars()
        self._launch()
        self._open_ekos()

    def _open_ekos(self) -> None:
        self.action("ekos")
        wait_for(lambda: PROFILE in self.ekos.getProfiles(), 60, "Ekos and its profiles")

    def _launch(self) -> None:
        self.runs += 1
        log = open(self.tmp / f"kstars-{self.runs}.log", "wb")  # noqa: SIM115 - closed with the process
        command = ["kstars"]
        if os.environ.get("KSTARS_GDB"):  # a backtrace in the log when KStars crashes (debugging the test)
            command = ["gdb", "-q", "-batch", "-ex", "set pagination off", "-ex", "handle SIGPIPE nostop noprint",
                       "-ex", "run", "-ex", "thread apply all bt 25", "--args", "kstars"]
        self.kstars = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=self.tmp, preexec_fn=_allow_core_dump)
        log.close()
        wait_for(lambda: self.indi.getDevices() is not None, 90, "KStars on D-Bus", 0.5)

    def interface(self, path: str, name: str) -> Any:
        import dbus

        return dbus.Interface(self.bus.get_object("org.kde.kstars", path, introspect=False), name)

    def action(self, name: str) -> None:
        """Trigger a KStars menu action (a dialog it opens would hold the reply: that is not waited for)."""
        import dbus

        obj = self.bus.get_object("org.kde.kstars", f"/kstars/MainWindow_1/actions/{name}", introspect=False)
        with contextlib.suppress(dbus.exceptions.DBusException):
            obj.trigger(dbus_interface="org.qtproject.Qt.QAction", timeout=10)

    @property
    def ekos(self) -> Any:
        return _Logged(self.interface("/KStars/Ekos", "org.kde.kstars.Ekos"), self.tmp / "dbus-calls.log")

    @property
    def indi(self) -> Any:
        return _Logged(self.interface("/KStars/INDI", "org.kde.kstars.INDI"), self.tmp / "dbus-calls.log")

    def log_mark(self) -> int:
        return (self.tmp / f"kstars-{self.runs}.log").stat().st_size

    def refused_since(self, mark: int) -> bool:
        """Whether KStars' first connection to the indiserver it started was refused since ``mark``.

        KStars 3.6.2 then resets its drivers' records (DriverInfo::reset) and, once its retry connects, keeps a null
        client for them: the next property write through them dereferences it and KStars dies (seen in its core:
        ``this`` 0x10 in AbstractBaseClient::sendNewNumber). It happens with Debian's indi_simulator_ccd too: a
        KStars race with indiserver's start, whatever the driver.
        """
        with open(self.tmp / f"kstars-{self.runs}.log", "rb") as log:
            log.seek(mark)
            return b"INDI server connection refused" in log.read()

    def alive(self) -> bool:
        return self.kstars is not None and self.kstars.poll() is None

    def death(self) -> str:
        """How KStars ended, with the end of its log."""
        assert self.kstars is not None
        code = self.kstars.returncode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"
        tail = (self.tmp / f"kstars-{self.runs}.log").read_text(errors="replace").splitlines()[-15:]
        return f"KStars {how}; its log ends:\n" + "\n".join(tail)

    def stop_kstars(self) -> None:
        if self.kstars is None or self.kstars.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.kstars.pid, signal.SIGTERM)  # KStars and the indiserver it started
        try:
            self.kstars.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.kstars.pid, signal.SIGKILL)
            self.kstars.wait()

    def close(self) -> None:
        self.stop_kstars()
        for process in reversed(self._processes):
            if process.stdout is not None:
                process.stdout.close()
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            if process.poll() is None:
                process.kill()
                process.wait()
