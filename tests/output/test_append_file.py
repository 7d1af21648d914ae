"""The recording file: what O_DIRECT writes through the staging buffer is byte for byte what was appended, patches
land wherever the bytes are (staged or on disk), and the file is cut to its true length; the same without O_DIRECT."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

from indi_qhy_py.output.append_file import BLOCK, STAGE_BYTES, AppendFile


def new_file(path: Path) -> BinaryIO:
    """A new file for a writer that takes it over (and closes it)."""
    return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640), "w+b")



@pytest.mark.parametrize("direct", [True, False])
def test_appended_bytes_patches_and_length(tmp_path: Path, direct: bool) -> None:
    rng = np.random.default_rng(3)
    pieces = [rng.integers(0, 255, n, dtype=np.uint8) for n in (178, 5_000_001, 7, STAGE_BYTES + 123, 4095)]
    path = tmp_path / "a.bin"
    out = AppendFile(new_file(path), direct=direct)
    assert out.direct == direct or not direct
    for piece in pieces:
        out.write(piece)
    out.patch(10, b"HEAD")  # long since written out
    out.patch(out.length - 3, b"END")  # still staged
    expected = bytearray(np.concatenate(pieces).tobytes())
    expected[10:14], expected[-3:] = b"HEAD", b"END"
    assert out.sync_blocks() <= out.length
    out.close()
    assert path.read_bytes() == bytes(expected)


def test_direct_writes_are_used_where_the_filesystem_allows(tmp_path: Path) -> None:
    out = AppendFile(new_file(tmp_path / "b.bin"))
    out.write(np.zeros(3 * BLOCK + 5, np.uint8))
    durable = out.sync_blocks()
    assert durable == (3 * BLOCK if out.direct else 3 * BLOCK + 5)
    out.close()
    assert (tmp_path / "b.bin").stat().st_size == 3 * BLOCK + 5
    empty = AppendFile(new_file(tmp_path / "c.bin"))
    with pytest.raises(ValueError, match="beyond"):
        empty.patch(0, b"x")
    empty.close()
