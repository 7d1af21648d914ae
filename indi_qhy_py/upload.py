"""Saving frames on the driver's machine (UPLOAD_LOCAL / UPLOAD_BOTH): file names and the directory fence.

UPLOAD_PREFIX may hold ``XXX`` (replaced by the next free running index, zero-padded to three digits, as INDI
does) and ``ISO8601`` (replaced by the UTC time). A prefix that would leave UPLOAD_DIR (``..``, an absolute path,
a symlink pointing out) is refused before anything is written: a client must not be able to write anywhere else.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

_INDEX = re.compile(r"^(\d+)")


class UploadError(ValueError):
    """A directory or prefix that cannot be used; the text says why."""


def check_prefix(prefix: str) -> None:
    if not prefix or prefix.strip() != prefix:
        raise UploadError("UPLOAD_PREFIX must not be empty or start/end with spaces")
    if "/" in prefix or "\\" in prefix or prefix in (".", "..") or "\0" in prefix:
        raise UploadError(f"UPLOAD_PREFIX {prefix!r} must be a file name, not a path: files stay in UPLOAD_DIR")


def check_directory(directory: str) -> Path:
    if not directory or "\0" in directory:
        raise UploadError("UPLOAD_DIR must be a directory path")
    path = Path(directory).expanduser()
    if not path.is_absolute():
        raise UploadError(f"UPLOAD_DIR {directory!r} must be an absolute path")
    if ".." in path.parts:
        raise UploadError(f"UPLOAD_DIR {directory!r} must not contain '..'")
    return path


def next_path(directory: str, prefix: str, extension: str, when: datetime | None = None) -> Path:
    """The file the next frame goes to; creates UPLOAD_DIR if needed."""
    check_prefix(prefix)
    base = check_directory(directory)
    base.mkdir(parents=True, exist_ok=True)
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%S")
    name = prefix.replace("ISO8601", stamp)
    if "XXX" in name:
        head, tail = name.split("XXX", 1)
        index = 1 + max((_index_after(p.name, head) for p in base.iterdir()), default=0)
        name = f"{head}{index:03d}{tail}"
    target = (base / f"{name}{extension}").resolve()
    if target.parent != base.resolve():
        raise UploadError(f"{target} is outside UPLOAD_DIR {base}: refused")
    if target.is_symlink():
        raise UploadError(f"{target} is a symbolic link: refused")
    return target


def _index_after(name: str, head: str) -> int:
    if not name.startswith(head):
        return 0
    match = _INDEX.match(name[len(head) :])
    return int(match.group(1)) if match else 0


def write_file(path: Path, chunks: list[bytes | memoryview]) -> None:
    """Write atomically enough for a night: to a temporary name, then rename (no half files under the real name)."""
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(partial, path)
