"""Saving frames on the driver's machine (UPLOAD_LOCAL / UPLOAD_BOTH): the root they stay under, and file names.

Clients choose UPLOAD_DIR, but the driver writes only below one root the machine's owner configured
(``INDI_QHY_UPLOAD_ROOT``; by default systemd's state directory for the service, else ``~/indi_qhy_py``). The root
must not be world-writable, and a symbolic link on the way to it is followed only when this user or root owns
it. Below the root no symbolic link is ever followed: directories are opened one component at a time with
``O_NOFOLLOW``, the file is written under a fresh temporary name created with ``O_EXCL|O_NOFOLLOW`` and renamed
into place, so a link planted in the directory can neither redirect nor receive the frame.

UPLOAD_PREFIX may hold ``XXX`` (replaced by the next free running index, zero-padded to three digits, as INDI
does) and ``ISO8601`` (replaced by the UTC time).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

ENV_UPLOAD_ROOT = "INDI_QHY_UPLOAD_ROOT"
_INDEX = re.compile(r"^(\d+)")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_RECORDING_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UploadError(ValueError):
    """A directory, prefix or root that cannot be used; the text says why."""


def default_root() -> Path:
    """Where local uploads may go when the owner has not said: the service's state directory, or ~/indi_qhy_py."""
    configured = os.environ.get(ENV_UPLOAD_ROOT, "").strip()
    if configured:
        return Path(configured).expanduser().absolute()
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0].strip()  # systemd's StateDirectory=
    if state:
        return Path(state).absolute()
    try:
        return Path.home() / "indi_qhy_py"
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        return Path.cwd() / "indi_qhy_py"


def check_prefix(prefix: str) -> None:
    if not prefix or prefix.strip() != prefix:
        raise UploadError("UPLOAD_PREFIX must not be empty or start/end with spaces")
    if "/" in prefix or "\\" in prefix or prefix in (".", "..") or "\0" in prefix:
        raise UploadError(f"UPLOAD_PREFIX {prefix!r} must be a file name, not a path: files stay in UPLOAD_DIR")


def _trusted_owner(st: os.stat_result) -> bool:
    return st.st_uid in (os.geteuid(), 0)


class UploadRoot:
    """The one directory tree local uploads may write into."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute() or "\0" in str(root):
            raise UploadError(f"upload root {str(root)!r} must be an absolute path ({ENV_UPLOAD_ROOT})")
        self.root = Path(os.path.normpath(root))

    def directory(self, user_dir: str) -> Path:
        """UPLOAD_DIR as an absolute path under the root (relative ones are taken from the root); nothing touched."""
        if "\0" in user_dir:
            raise UploadError("UPLOAD_DIR must not contain NUL")
        given = PurePosixPath(_home_expanded(user_dir.strip(), self.root) or str(self.root))
        if ".." in given.parts:
            raise UploadError(f"UPLOAD_DIR {user_dir!r} must not contain '..'")
        path = Path(os.path.normpath(given if given.is_absolute() else self.root / given))
        if path != self.root and self.root not in path.parents:
            raise UploadError(f"UPLOAD_DIR {user_dir!r} is outside the upload root {self.root}: frames are saved only "
                              f"below it (the machine's owner sets it with {ENV_UPLOAD_ROOT})")
        return path

    def check(self, user_dir: str) -> Path:
        """``directory`` plus what can be seen now: the root is safe and no existing component is a symbolic link."""
        path = self.directory(user_dir)
        self._check_root()
        below = self.root
        for part in path.relative_to(self.root).parts:
            below = below / part
            try:
                st = below.lstat()
            except FileNotFoundError:
                break  # created when the first frame is saved
            if stat.S_ISLNK(st.st_mode):
                raise UploadError(f"{below} is a symbolic link: uploads never follow links below {self.root}")
            if not stat.S_ISDIR(st.st_mode):
                raise UploadError(f"{below} is not a directory")
        return path

    def save(self, user_dir: str, prefix: str, extension: str, chunks: Iterable[bytes | memoryview],
             when: datetime | None = None) -> tuple[Path, str | None]:
        """Write one file; returns its path and, when the name replaced a symbolic link, a note saying so."""
        check_prefix(prefix)
        path = self.directory(user_dir)
        fd = self._open(path)
        try:
            name = _expand(prefix, os.listdir(fd), when) + extension
            check_prefix(name)
            note = None
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    note = f"{path / name} was a symbolic link: replaced by the frame, its target left untouched"
            _write_and_rename(fd, name, chunks)
        finally:
            os.close(fd)
        return path / name, note

    def create(self, user_dir: str, name: str) -> tuple[BinaryIO, Path]:
        """A new file written as it goes (a recording): never an existing file or link, so a taken name becomes
        ``<stem>_1<suffix>``, ``_2``...; the directory is reached as for ``save``."""
        check_prefix(name)
        path = self.directory(user_dir)
        fd = self._open(path)
        try:
            stem, dot, suffix = name.rpartition(".")
            stem, suffix = (stem, dot + suffix) if dot and stem else (name, "")
            for attempt in range(1000):
                candidate = name if attempt == 0 else f"{stem}_{attempt}{suffix}"
                try:
                    file_fd = os.open(candidate, _RECORDING_FLAGS, 0o640, dir_fd=fd)
                except FileExistsError:
                    continue
                return os.fdopen(file_fd, "w+b"), path / candidate
            raise UploadError(f"no free name like {name} in {path}")
        finally:
            os.close(fd)

    def _check_root(self) -> None:
        """Create the root if needed; refuse one that others could write into or that a stranger's link reaches."""
        walked = Path("/")
        for part in self.root.parts[1:]:
            walked = walked / part
            try:
                st = walked.lstat()
            except FileNotFoundError:
                break
            if stat.S_ISLNK(st.st_mode) and not _trusted_owner(st):
                raise UploadError(f"upload root {self.root}: {walked} is a symbolic link owned by uid {st.st_uid}")
        try:
            self.root.mkdir(mode=0o750, parents=True, exist_ok=True)
            st = self.root.stat()
        except OSError as err:
            raise UploadError(f"upload root {self.root} cannot be created: {err.strerror}") from err
        if not stat.S_ISDIR(st.st_mode):
            raise UploadError(f"upload root {self.root} is not a directory")
        if st.st_mode & stat.S_IWOTH:
            raise UploadError(f"upload root {self.root} is world-writable: choose a directory only you can write "
                              f"({ENV_UPLOAD_ROOT})")
        if not _trusted_owner(st):
            raise UploadError(f"upload root {self.root} belongs to uid {st.st_uid}, not to this user")

    def _open(self, path: Path) -> int:
        """A descriptor of ``path``, creating directories below the root and following no link on the way."""
        self._check_root()
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in path.relative_to(self.root).parts:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o750, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    raise UploadError(f"{path}: {part} is a symbolic link or not a directory "
                                      f"({err.strerror}); uploads never follow links below {self.root}") from err
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd


def _home_expanded(user_dir: str, root: Path) -> str:
    """``~`` and ``~/x`` are this user's home (as a shell reads them), never a directory named ``~``."""
    if not user_dir.startswith("~"):
        return user_dir
    head, _, rest = user_dir.partition("/")
    if head != "~":
        raise UploadError(f"UPLOAD_DIR {user_dir!r}: only ~ (this user's home) is expanded, not another user's; "
                          f"frames are saved below the upload root {root}")
    try:
        home = Path.home()
    except (RuntimeError, KeyError) as err:
        raise UploadError(f"UPLOAD_DIR {user_dir!r}: this user has no home directory to expand ~ to") from err
    return str(home / rest) if rest else str(home)


def _expand(prefix: str, existing: list[str], when: datetime | None) -> str:
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%S")
    name = prefix.replace("ISO8601", stamp)
    if "XXX" in name:
        head, tail = name.split("XXX", 1)
        index = 1 + max((_index_after(entry, head) for entry in existing), default=0)
        name = f"{head}{index:03d}{tail}"
    return name


def _index_after(name: str, head: str) -> int:
    if not name.startswith(head):
        return 0
    match = _INDEX.match(name[len(head) :])
    return int(match.group(1)) if match else 0


def _write_and_rename(dir_fd: int, name: str, chunks: Iterable[bytes | memoryview]) -> None:
    """A fresh temporary (never an existing file or link), then an atomic rename: no half file under ``name``."""
    temporary = f".{name}.{secrets.token_hex(6)}.partial"
    fd = os.open(temporary, _TEMP_FLAGS, 0o640, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb", closefd=True) as out:
            for chunk in chunks:
                out.write(chunk)
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise
