"""What a telescope computer installs: KStars' driver description, udev rules, the service, the firmware loader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from indi_qhy_py import __version__
from indi_qhy_py.cli import firmware as firmware_cli
from indi_qhy_py.cli import install
from indi_qhy_py.emulator import EmulatedCamera, EmulatorBackend
from indi_qhy_py.models import LOADER_PIDS, QHY600M, RUNTIME_PIDS, VENDOR_ID
from indi_qhy_py.usb import firmware
from indi_qhy_py.usb.transport import Transport
from tests.usb.test_firmware import image_bytes

pytestmark = pytest.mark.emulated

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "systemd" / "60-indi-qhy-py.rules"
UNIT = ROOT / "systemd" / "indi-qhy-py.service"
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
_UDEV_PAIR = re.compile(r'\s*([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')
_UDEV_KEYS = {"ACTION", "SUBSYSTEM", "ENV", "ATTR", "ATTRS", "MODE", "GROUP", "RUN", "GOTO", "LABEL", "TAG"}


def udev_rules(text: str) -> list[list[tuple[str, str, str]]]:
    """Each rule line as (key, operator, value) triples; raises on anything udev would not parse."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            match = _UDEV_PAIR.match(line, pos)
            assert match, f"line {number}: cannot parse from {line[pos:pos + 40]!r}"
            key, op, value = match.groups()
            assert key.split("{")[0] in _UDEV_KEYS, f"line {number}: unknown key {key}"
            assert (op in ("==", "!=")) == (key.split("{")[0] in ("ACTION", "SUBSYSTEM", "ENV", "ATTR", "ATTRS")
                                            and op != "="), f"line {number}: {key}{op} mixes match and assign"
            pairs.append((key, op, value))
            pos = match.end()
        rules.append(pairs)
    return rules


def test_driver_xml_is_what_kstars_reads() -> None:
    root = ET.parse(ROOT / "xml" / "indi_qhy_py.xml").getroot()
    assert root.tag == "driversList"
    group = root.find("devGroup")
    assert group is not None and group.get("group") == "CCDs"
    device = group.find("device")
    assert device is not None and device.get("label")
    assert device.get("mdpd") == "true"  # one driver serves every camera: indiweb then stops it without a name
    driver = device.find("driver")
    assert driver is not None and driver.text == "indi_qhy_py_ccd" and driver.text in SCRIPTS
    assert device.findtext("version") == __version__


def test_udev_rules_cover_exactly_the_tables_ids_and_are_never_world_writable() -> None:
    rules = udev_rules(RULES.read_text())
    vendor = [v for rule in rules for k, op, v in rule if k == "ATTR{idVendor}"]
    assert vendor == [f"{VENDOR_ID:04x}"]
    products = {int(v, 16): rule for rule in rules for k, op, v in rule if k == "ATTR{idProduct}" and op == "=="}
    assert set(products) == set(LOADER_PIDS) | set(RUNTIME_PIDS)
    for pid, rule in products.items():
        assigned = {k: v for k, op, v in rule if op in ("=", "+=")}
        assert assigned["GROUP"] == "plugdev"
        mode = int(assigned["MODE"], 8)
        assert mode & 0o007 == 0 and mode & 0o060 == 0o060, f"{pid:04x}: mode {assigned['MODE']}"
        runs = assigned.get("RUN", "")
        if pid in LOADER_PIDS:
            assert "indi_qhy_py_firmware" in runs and "systemd-run" in runs and ("ACTION", "==", "add") in rule
        else:
            assert not runs


def test_service_unit_runs_indiserver_as_a_plugdev_user_with_room_for_qhy600_frames() -> None:
    unit = UNIT.read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["User"] not in ("root", "0") and "plugdev" in settings["SupplementaryGroups"]
    assert settings["Restart"] == "on-failure"
    exec_start = settings["ExecStart"].split()
    assert exec_start[0].endswith("/indiserver") and exec_start[-1] == "indi_qhy_py_ccd"
    megabytes = int(exec_start[exec_start.index("-m") + 1])
    base64_mb = QHY600M.readout_width * QHY600M.readout_height * 2 * 4 / 3 / 1e6
    assert megabytes >= 4 * base64_mb  # a client may fall a few frames behind without being dropped
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "DevicePolicy=closed",
                      "DeviceAllow=char-usb_device rw"):
        assert hardening in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_service_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    installed = install.install(tmp_path, service=True).files
    for unit in (UNIT, *[p for p in installed if p.suffix == ".service"]):
        result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        problems = [line for line in result.stderr.splitlines() if "indi-qhy-py" in line]
        assert result.returncode == 0 and not problems, result.stderr


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers not installed")
def test_sysusers_entry_creates_a_plugdev_member(tmp_path: Path) -> None:
    result = subprocess.run(["systemd-sysusers", "--dry-run", f"--root={tmp_path}",
                             str(ROOT / "systemd" / "indi-qhy-py.sysusers.conf")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Creating user 'indi-qhy'" in result.stderr + result.stdout


def test_install_puts_everything_in_place_and_keeps_local_settings(tmp_path: Path) -> None:
    assert {p.relative_to(tmp_path).as_posix() for p in install.install(tmp_path, service=False).files} == {
        "usr/share/indi/indi_qhy_py.xml", "etc/udev/rules.d/60-indi-qhy-py.rules"}
    defaults = tmp_path / "etc/default/indi-qhy-py"
    defaults.parent.mkdir(parents=True)
    defaults.write_text("INDI_QHY_FIRMWARE_DIR=/srv/qhy\n")
    written = install.install(tmp_path, service=True).files
    assert defaults.read_text() == "INDI_QHY_FIRMWARE_DIR=/srv/qhy\n" and defaults not in written
    assert (tmp_path / "usr/lib/sysusers.d/indi-qhy-py.conf").exists()
    rules = (tmp_path / "etc/udev/rules.d/60-indi-qhy-py.rules").read_text()
    assert udev_rules(rules)
    loader = shutil.which("indi_qhy_py_firmware")  # where pip put it, or the link install made to it
    assert loader is None or f"{loader} --bus" in rules or "/usr/bin/indi_qhy_py_firmware --bus" in rules


def test_firmware_loader_boots_a_loader_stage_camera(tmp_path: Path) -> None:
    raw, _ = image_bytes()
    (tmp_path / QHY600M.firmware_file).write_bytes(raw)
    camera = EmulatedCamera(QHY600M, boot_loader=True)
    backend = EmulatorBackend([camera])
    loader = Transport.find(LOADER_PIDS, backend)[0]
    failures, messages = firmware_cli.boot(tmp_path, loader.bus, loader.address, backend)
    assert failures == 0 and "firmware loaded" in messages[0]
    assert not camera.in_loader and Transport.find([QHY600M.runtime_pid], backend)


def test_firmware_loader_without_a_directory_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("INDI_QHY_FIRMWARE_DIR", raising=False)
    monkeypatch.setattr(firmware_cli, "DEFAULTS_FILE", tmp_path / "absent")
    camera = EmulatedCamera(QHY600M, boot_loader=True)
    assert firmware_cli.main([], backend=EmulatorBackend([camera])) == 0
    assert "no firmware directory configured" in capsys.readouterr().out and camera.in_loader
    defaults = tmp_path / "defaults"
    defaults.write_text("# comment\nINDI_QHY_FIRMWARE_DIR='/srv/qhy fw'\n")
    assert firmware_cli.configured_directory(None, defaults) == Path("/srv/qhy fw")


def test_firmware_loader_reports_a_missing_image(tmp_path: Path) -> None:
    camera = EmulatedCamera(QHY600M, boot_loader=True)
    failures, messages = firmware_cli.boot(tmp_path, None, None, EmulatorBackend([camera]))
    assert failures == 1 and QHY600M.firmware_file in messages[0] and camera.in_loader
    assert firmware.model_for_loader(QHY600M.loader_pid) is not None


def test_install_links_an_executable_pip_put_off_the_path_and_the_unit_finds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    for name in ("indi_qhy_py_ccd", "indi_qhy_py_firmware"):
        (venv / name).write_text("#!/bin/sh\n")
        (venv / name).chmod(0o755)
    monkeypatch.setattr(install, "scripts_dirs", lambda: [venv])  # the interpreter's own bin: a virtualenv's
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")  # sudo's secure_path: no virtualenv on it
    root = tmp_path / "root"
    result = install.install(root, service=True)
    link = root / "usr/bin/indi_qhy_py_ccd"
    assert link.is_symlink() and link.resolve() == (venv / "indi_qhy_py_ccd").resolve()
    assert any(f"linked {link}" in note for note in result.notes)
    unit = (root / "etc/systemd/system/indi-qhy-py.service").read_text()
    path = next(line.split("=", 2)[2] for line in unit.splitlines() if line.startswith("Environment=PATH="))
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart=")).split("=", 1)[1].split()
    driver = exec_start[-1]
    assert any((root / d.lstrip("/") / driver).exists() or (Path(d) / driver).exists() for d in path.split(":"))
    indiserver = exec_start[0]
    assert Path(indiserver).exists() or shutil.which("indiserver") is None
    rules = (root / "etc/udev/rules.d/60-indi-qhy-py.rules").read_text()
    assert "/usr/bin/indi_qhy_py_firmware --bus" in rules
    assert (root / "usr/bin/indi_qhy_py_firmware").exists()


def test_install_under_sudos_path_links_this_interpreters_executables(tmp_path: Path) -> None:
    """``sudo <venv>/bin/python3 -m indi_qhy_py.install``: sudo's PATH lacks the virtualenv, the link is made anyway."""
    ours = Path(sysconfig.get_path("scripts")) / "indi_qhy_py_ccd"
    if not ours.exists() or str(ours.parent) in ("/usr/bin", "/bin"):
        pytest.skip("the driver is not installed beside this interpreter, off /usr/bin")
    root = tmp_path / "root"
    done = subprocess.run([sys.executable, "-m", "indi_qhy_py.install", "--root", str(root)], capture_output=True,
                          text=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}, check=True)
    link = root / "usr/bin/indi_qhy_py_ccd"
    assert link.is_symlink() and link.resolve() == ours.resolve(), done.stdout
    assert "not on this PATH" not in done.stdout
