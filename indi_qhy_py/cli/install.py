"""Put the driver description, udev rules and (optionally) the service in place: ``python3 -m indi_qhy_py.install``.

Without options it installs what every user needs: the KStars driver description (``/usr/share/indi``) and the udev
rules. ``--service`` adds the systemd unit, its system user (sysusers.d) and ``/etc/default/indi-qhy-py`` (kept if
present). ``--root DIR`` installs under DIR instead of / (for packaging and tests). Paths to our executables are
written into the rules and the unit as found on this machine.
"""

from __future__ import annotations

import argparse
import shutil
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
EXECUTABLES = ("indi_qhy_py_firmware", "indiserver")


def localise(text: str) -> str:
    """Point the absolute executable paths in rules and unit at where they are installed here."""
    for name in EXECUTABLES:
        found = shutil.which(name)
        if found:
            for prefix in ("/usr/local/bin/", "/usr/bin/"):
                text = text.replace(f"{prefix}{name} ", f"{found} ")
    return text


def install(root: Path, service: bool) -> list[Path]:
    written = []
    for source, (target, service_only) in FILES.items():
        if service_only and not service:
            continue
        destination = root / target
        if source in KEEP_IF_PRESENT and destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(localise((SOURCE / source).read_text()))
        written.append(destination)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", action="store_true", help="also install the systemd service and its user")
    parser.add_argument("--root", type=Path, default=Path("/"), help="install under this directory")
    args = parser.parse_args(argv)
    try:
        written = install(args.root, args.service)
    except OSError as err:
        print(f"install failed: {err} (run it as root: sudo python3 -m indi_qhy_py.install)")
        return 1
    for path in written:
        print(f"installed {path}")
    if args.root == Path("/"):
        print("next: sudo udevadm control --reload-rules && sudo udevadm trigger")
        if args.service:
            print("      sudo systemd-sysusers && sudo systemctl daemon-reload")
            print("      sudo systemctl enable --now indi-qhy-py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
