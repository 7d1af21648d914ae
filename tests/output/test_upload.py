"""The upload root: frames are written only below it, never through a link, never into a world-writable root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indi_qhy_py.output import upload
from indi_qhy_py.output.upload import UploadError, UploadRoot

SECRET = b"not yours\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside.txt"
    target.write_bytes(SECRET)
    return target


def test_relative_and_absolute_directories_resolve_under_the_root(tmp_path: Path) -> None:
    root = UploadRoot(tmp_path / "root")
    assert root.directory("night/m31") == tmp_path / "root" / "night" / "m31"
    assert root.directory(f" {tmp_path}/root/night ") == tmp_path / "root" / "night"
    assert root.directory("") == tmp_path / "root"
    for bad, why in (("/etc", "outside the upload root"), ("../x", "'..'"), (str(tmp_path), "outside"),
                     ("a\0b", "NUL")):
        with pytest.raises(UploadError, match=why):
            root.directory(bad)


def test_a_tilde_is_the_users_home_never_a_directory_named_tilde(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = UploadRoot(tmp_path / "home" / "frames")
    assert root.directory("~/frames/night") == tmp_path / "home" / "frames" / "night"
    assert root.directory("~/frames") == root.root
    with pytest.raises(UploadError, match=f"outside the upload root {root.root}"):
        root.directory("~/x")  # the home, but not below the root: refused, naming the root
    with pytest.raises(UploadError, match="another user's"):
        root.directory("~bob/frames")
    saved, _ = root.save("~/frames/night", "m31", ".fits", [b"x"])
    assert saved == tmp_path / "home" / "frames" / "night" / "m31.fits" and saved.read_bytes() == b"x"
    assert not (root.root / "~").exists() and not (Path.cwd() / "~").exists()


def test_a_symlinked_directory_below_the_root_is_refused(tmp_path: Path, outside: Path) -> None:
    root = UploadRoot(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(UploadError, match="symbolic link"):
        root.check("link")
    with pytest.raises(UploadError, match="symbolic link"):
        root.save("link/deeper", "x", ".fits", [b"data"])
    assert not (tmp_path / "deeper").exists() and not (tmp_path / "x.fits").exists()


def test_a_symlink_at_the_final_name_is_replaced_and_its_target_untouched(tmp_path: Path, outside: Path) -> None:
    root = UploadRoot(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "frame.fits").symlink_to(outside)
    path, note = root.save("", "frame", ".fits", [b"pixels"])
    assert outside.read_bytes() == SECRET
    assert path.read_bytes() == b"pixels" and not path.is_symlink() and "symbolic link" in (note or "")


def test_a_symlink_at_the_temporary_name_is_never_opened(tmp_path: Path, outside: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = UploadRoot(tmp_path / "root")
    (tmp_path / "root").mkdir()
    monkeypatch.setattr(upload.secrets, "token_hex", lambda n: "guessed")
    (tmp_path / "root" / ".frame.fits.guessed.partial").symlink_to(outside)
    with pytest.raises(FileExistsError):
        root.save("", "frame", ".fits", [b"pixels"])
    assert outside.read_bytes() == SECRET and not (tmp_path / "root" / "frame.fits").exists()


def test_a_world_writable_root_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(UploadError, match="world-writable"):
        UploadRoot(shared).save("", "x", ".fits", [b"x"])
    with pytest.raises(UploadError, match="world-writable"):
        UploadRoot(Path("/tmp")).check("")


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's link needs root (lchown)")
def test_a_link_to_the_root_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "planted").symlink_to(real)
    os.lchown(tmp_path / "planted", 4242, 4242)
    with pytest.raises(UploadError, match="owned by uid 4242"):
        UploadRoot(tmp_path / "planted" / "images").check("")
    (tmp_path / "mine").symlink_to(real)  # this user's own link is followed
    assert UploadRoot(tmp_path / "mine" / "images").check("") == tmp_path / "mine" / "images"


def test_the_default_root_is_the_services_state_directory_or_home(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.delenv(upload.ENV_UPLOAD_ROOT, raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert upload.default_root() == tmp_path / "state"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert upload.default_root() == tmp_path / "indi_qhy_py"
    monkeypatch.setenv(upload.ENV_UPLOAD_ROOT, str(tmp_path / "chosen"))
    assert upload.default_root() == tmp_path / "chosen"
