"""The package's layering: one subpackage per layer, and no import runs upward (the package docstring's rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import indi_qhy_py

PACKAGE = Path(indi_qhy_py.__file__).parent
#: Bottom to top. A module may import its own layer and any layer below it.
LAYERS = ("base", "emulator", "usb", "decode", "camera", "output", "analysis", "indi", "cli")
BASE_MODULES = {"errors", "models", "protocol", "__init__"}
SHORT_NAMES = {"capture", "install", "analyse"}  # ``python3 -m indi_qhy_py.capture``: thin aliases of cli modules


def layer_of(module: str) -> str:
    """The layer of ``indi_qhy_py.<a>[.<b>...]``."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in BASE_MODULES:
        return "base"
    if not (PACKAGE / parts[0]).is_dir() and not (PACKAGE / f"{parts[0]}.py").exists():
        return "base"  # an attribute of the package itself (__version__)
    if parts[0] in SHORT_NAMES:
        return "cli"
    return parts[0]


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module of this package that ``path`` imports, absolute, with its line."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(rel.parts[:-1])  # the package a relative import starts from (for __init__ too)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(n, node.lineno) for n in names if n.startswith("indi_qhy_py")]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("indi_qhy_py")]
    return found


def test_every_module_sits_in_a_known_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        assert layer_of(module) in LAYERS, f"{module} is in no layer: {LAYERS}"


def test_no_import_runs_upward() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        mine = LAYERS.index(layer_of(module))
        for target, line in imports(path):
            theirs = LAYERS.index(layer_of(target))
            if theirs > mine:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({layer_of(module)}) imports {target} "
                              f"({layer_of(target)})")
    assert not upward, "imports running upward:\n" + "\n".join(upward)


def test_the_check_can_fail() -> None:
    """The rule sees an upward import when there is one (guards against a check that passes vacuously)."""
    assert LAYERS.index(layer_of("indi_qhy_py.indi.ccd")) > LAYERS.index(layer_of("indi_qhy_py.camera.camera"))
    found = dict(imports(PACKAGE / "usb" / "link.py"))
    assert "indi_qhy_py.protocol" in found and "indi_qhy_py.usb.transport" in found


def test_only_the_usb_layer_and_the_emulator_name_request_codes() -> None:
    """One object owns the conversation with a camera: nobody above usb/ builds a request."""
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if layer_of(module) in ("base", "emulator") or module.endswith(("usb.link", "usb.transport")):
            continue
        text = path.read_text()
        for code in ("REQ_COMMAND", "REQ_STATUS", "REQ_FIRMWARE", "control_out(", "control_in(", "encode_command("):
            assert code not in text, f"{module} names {code}: talk through usb.link.CameraLink"


def test_the_readme_lists_every_module() -> None:
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    missing = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py" and f"`{p.relative_to(PACKAGE)}`" not in layout]
    assert not missing, f"README's layout section does not list {missing}"


def test_only_discovery_knows_the_emulator() -> None:
    """Emulated cameras arrive through discovery like real ones: above usb/, nobody imports the emulator."""
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if LAYERS.index(layer_of(module)) > LAYERS.index("usb"):
            named = [target for target, _ in imports(path) if layer_of(target) == "emulator"]
            assert not named, f"{module} imports {named}: take the camera's stand_in from discovery instead"
