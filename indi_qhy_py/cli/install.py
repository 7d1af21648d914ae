"""Put the driver description, udev rules and (optionally) the service in place: ``python3 -m indi_qhy_py.install``.

Without options it installs what every user needs: the KStars driver description (``/usr/share/indi``), the udev
rules, and a link in ``/usr/bin`` (where INDI's own drivers and indiserver live, on every PATH) to each of our
executables that pip put elsewhere (``/usr/local/bin``, a virtualenv, ``~/.local/bin``), because KStars and
indiserver start ``indi_qhy_py_ccd`` from their own, often bare, PATH and otherwise only log "failed to start"
forever. ``--service`` adds the systemd unit (its PATH and indiserver path as found here),
its system user (sysusers.d) and ``/etc/default/indi-qhy-py`` (kept if present). ``--root DIR`` installs under
DIR instead of / (for packaging and tests). It says everything it wrote.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]  # the source tree: xml/ and systemd/ beside the package
FILES = {  # repository file -> installed path (relative to the root), and whether only --service installs it
    "xml/indi_qhy_py.xml": ("usr/share/indi/indi_qhy_py.xml", False),
    "systemd/60-indi-qhy-py.rules": ("etc/udev/rules.d/60-indi-qhy-py.rules", False),
    "systemd/indi-qhy-py.service": ("etc/systemd/system/indi-qhy-py.service", True),
    "systemd/indi-qhy-py.sysusers.conf": ("usr/lib/sysusers.d/indi-qhy-py.conf", True),
    "systemd/indi-qhy-py.default": ("etc/default/indi-qhy-py", True),
}
KEEP_IF_PRESENT = {"systemd/indi-qhy-py.default"}
OURS = ("indi_qhy_py_ccd", "indi_qhy_py_firmware")
EXECUTABLES = (*OURS, "indiserver")
LINK_DIR = "usr/bin"  # where INDI's drivers are: on every PATH, however bare, and KStars' INDI driver directory
SEARCHED = ("/usr/bin", "/bin")


@dataclass
class Installed:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was linked or localised, for the user


def scripts_dirs() -> list[Path]:
    """Where pip put this interpreter's executables: its scripts directory (a virtualenv's bin), the directory of
    the interpreter itself, and the user scheme's (~/.local/bin). ``sudo`` resets PATH, so PATH alone would miss a
    virtualenv's executables when the install runs as ``sudo <venv>/bin/python3 -m indi_qhy_py.install``."""
    dirs = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    with contextlib.suppress(KeyError):
        dirs.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")))
    return list(dict.fromkeys(dirs))


def found() -> dict[str, str]:
    """Where our executables (this interpreter's first, then PATH's) and indiserver are on this machine."""
    paths = {}
    for name in EXECUTABLES:
        ours = (shutil.which(name, path=os.pathsep.join(map(str, scripts_dirs()))) if name in OURS else None)
        path = ours or shutil.which(name)
        if path:
            paths[name] = path
    return paths


def localise(text: str, paths: dict[str, str], linked: dict[str, str]) -> str:
    """Point the executable paths in rules and unit at where they are, and the unit's PATH at the driver."""
    for name, path in {**paths, **linked}.items():
        for prefix in ("/usr/local/bin/", "/usr/bin/"):
            text = text.replace(f"{prefix}{name} ", f"{path} ")
    driver = linked.get("indi_qhy_py_ccd") or paths.get("indi_qhy_py_ccd")
    if driver is not None and str(Path(driver).parent) not in SEARCHED:
        unit_path = f"Environment=PATH={Path(driver).parent}:/usr/local/bin:"
        text = text.replace("Environment=PATH=/usr/local/bin:", unit_path)
    return text


def link_executables(root: Path, paths: dict[str, str], result: Installed) -> dict[str, str]:
    """Link our executables that are not in /usr/bin into it; returns name -> link path."""
    linked = {}
    for name in OURS:
        path = paths.get(name)
        if path is None or str(Path(path).parent) in SEARCHED:
            continue
        link = root / LINK_DIR / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.realpath(path))
        linked[name] = "/" + LINK_DIR + "/" + name
        result.notes.append(f"linked {link} -> {os.path.realpath(path)} (so KStars and indiserver find {name})")
    return linked


def install(root: Path, service: bool) -> Installed:
    result = Installed()
    paths = found()
    linked = link_executables(root, paths, result)
    for source, (target, service_only) in FILES.items():
        if service_only and not service:
            continue
        destination = root / target
        if source in KEEP_IF_PRESENT and destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(localise((SOURCE / source).read_text(), paths, linked))
        result.files.append(destination)
    for name, path in paths.items():
        result.notes.append(f"{name}: {path}")
        if service and name in OURS and os.path.realpath(path).startswith(("/home/", "/root/")):
            result.notes.append(f"warning: {name} lives in a home directory, which the service cannot reach "
                                "(ProtectHome): install the package system-wide (sudo pip install .) for the service")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m indi_qhy_py.install", description=__doc__.splitlines()[0])
    parser.add_argument("--service", action="store_true", help="also install the systemd service and its user")
    parser.add_argument("--root", type=Path, default=Path("/"), help="install under this directory")
    args = parser.parse_args(argv)
    try:
        result = install(args.root, args.service)
    except OSError as err:
        print(f"install failed: {err} (run it as root: sudo python3 -m indi_qhy_py.install)")
        return 1
    for path in result.files:
        print(f"installed {path}")
    for note in result.notes:
        print(note)
    if "indi_qhy_py_ccd" not in found():
        print("warning: indi_qhy_py_ccd is not on this PATH: install the package first (pip install .)")
    if args.root == Path("/"):
        print("check: command -v indi_qhy_py_ccd  (KStars needs it on its PATH; restart KStars to reload drivers)")
        print("next: sudo udevadm control --reload-rules && sudo udevadm trigger")
        if args.service:
            print("      sudo systemd-sysusers && sudo systemctl daemon-reload")
            print("      sudo systemctl enable --now indi-qhy-py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
