"""The newcomer's first command: one frame from the emulated camera into a FITS file."""

from __future__ import annotations

from pathlib import Path

from astropy.io import fits

from indi_qhy_py.cli import snapshot
from indi_qhy_py.models import QHY268M


def test_snapshot_writes_a_fits_frame(tmp_path: Path) -> None:
    out = tmp_path / "frame.fits"
    assert snapshot.main(["--emulate", "--model", "QHY268M", "--exposure", "0.01", "--out", str(out)]) == 0
    with fits.open(out) as hdul:
        data, header = hdul[0].data, hdul[0].header
        assert data.shape == (QHY268M.effective.height, QHY268M.effective.width)
        assert header["INSTRUME"] == "QHY268M" and header["INTEGRTY"] == "good" and header["EXPTIME"] == 0.01
        assert header["DATE-OBS"].startswith("20") and 300 < data.mean() < 600
