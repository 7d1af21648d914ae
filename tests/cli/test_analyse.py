"""``indi_qhy_py_analyse`` on an emulated QHY268M through its own indiserver: the bench test's figures come back.

Tolerance: 5 % on e⁻/ADU and read noise, 3 % on full well. The emulated sensor's curves are the bench test's own
points (``models.py``), so what is left is the method's scatter and the camera's quantisation: a variance from N
pixels scatters by sqrt(2/N) (1.1 % per pair on a 128-pixel square, 0.55 % on the fitted slope over four pairs,
the same again on the read noise), the ADC's 1-ADU steps add 1/12 ADU² to the bias variance (+0.2 % read noise at
gain 0), and full well is taken from the ADC's top above the bias (326..426 ADU lower than the bench's e⁻/ADU x
65535: -0.6 %). Mode 3 (2CMS) is not checked here: the camera is told Extended Full Well's registers for it, so
the emulator gives it mode 2's read noise (7.6 e⁻, the bench's 5.8 e⁻ x 1.3) — ``bench/sensor_analysis.py``
shows that difference.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indi_qhy_py.analysis.photon_transfer import AnalysisError, BiasStats
from indi_qhy_py.analysis.published import point
from indi_qhy_py.cli.sensor_session import SensorSession
from tests.e2e.conftest import driver_env, eventually, getprop, setprop, start_server, stop_server

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(shutil.which("indiserver") is None, reason="needs indiserver (apt install indi-bin)")]


def analyse(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "indi_qhy_py.analyse", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_bench_tests_figures_come_back_from_an_emulated_qhy268m(tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    done = analyse("--emulate", "QHY268M", "--mode", "1", "--gains", "0,56", "--offset", "20", "--roi", "128",
                   "--levels", "4", "--out", str(out))
    assert done.returncode == 0, done.stderr
    entries = json.loads((out / "analysis.json").read_text())  # a list of entries, for programs
    assert [(e["mode"], e["gain"]) for e in entries] == [(1, 0), (1, 56)]
    for e in entries:
        bench = point("QHY268M", e["mode"], e["gain"])
        assert bench is not None
        assert e["e_per_adu"] == pytest.approx(bench.e_per_adu, rel=0.05)
        assert e["read_noise_e"] == pytest.approx(bench.read_noise_e, rel=0.05)
        assert e["full_well_e"] == pytest.approx(bench.full_well_e, rel=0.03)
        assert e["dark_e_per_s"] is None and e["bias_clipped"] is False and e["linearity_pct"] < 1
        assert {"mode", "gain", "e_per_adu", "read_noise_e", "full_well_e", "dark_e_per_s", "bias_clipped"} <= set(e)
    for name in ("read_noise.png", "e_per_adu.png", "full_well.png", "photon_transfer.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "published" in done.stdout and "High Gain" in done.stdout


def test_offsets_maps_the_measured_step_and_the_lowest_safe_offset(tmp_path: Path) -> None:
    done = analyse("--emulate", "QHY268M", "--offsets", "--gains", "0,100", "--offset", "5", "--roi", "64",
                   "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "offsets.json").read_text())["offsets"]
    assert [r["gain"] for r in rows] == [0, 100]
    for r in rows:
        assert r["adu_per_offset_step"] == pytest.approx(10, rel=0.02)  # the emulator's pedestal model
        assert r["bias_adu"] == pytest.approx(176, abs=2) and r["min_safe_offset"] == 0 and not r["bias_clipped"]
    assert "measured" in done.stderr


def test_the_cameras_settings_are_put_back_afterwards(tmp_path: Path) -> None:
    server = start_server(tmp_path, "indi_qhy_py_ccd", env=driver_env(tmp_path, "QHY268M"))
    device = "QHY268M-268M000000000001"
    try:
        assert eventually(lambda: getprop(server.port, f"{device}.CONNECTION.CONNECT"), 20)
        setprop(server.port, f"{device}.CONNECTION.CONNECT=On")
        assert eventually(lambda: getprop(server.port, f"{device}.CCD_FRAME.WIDTH"), 20)
        setprop(server.port, f"{device}.CCD_FRAME.X;Y;WIDTH;HEIGHT=10;20;300;200", f"{device}.CCD_GAIN.GAIN=7",
                f"{device}.READ_MODE.PHOTOGRAPHIC=On")
        assert eventually(lambda: getprop(server.port, f"{device}.CCD_GAIN.GAIN").get(f"{device}.CCD_GAIN.GAIN")
                          == "7", 10)
        done = analyse("--port", str(server.port), "--offsets", "--mode", "1", "--gains", "56", "--roi", "64",
                       "--out", str(tmp_path / "out"))
        assert done.returncode == 0, done.stderr
        now = getprop(server.port, f"{device}.CCD_FRAME.*", f"{device}.CCD_GAIN.GAIN", f"{device}.READ_MODE.*",
                      f"{device}.CCD_FRAME_TYPE.*")
        assert [now[f"{device}.CCD_FRAME.{k}"] for k in ("X", "Y", "WIDTH", "HEIGHT")] == ["10", "20", "300", "200"]
        assert now[f"{device}.CCD_GAIN.GAIN"] == "7" and now[f"{device}.READ_MODE.PHOTOGRAPHIC"] == "On"
        assert now[f"{device}.CCD_FRAME_TYPE.FRAME_LIGHT"] == "On"
    finally:
        stop_server(server)


def test_ctrl_c_aborts_the_exposure_and_stops_in_one_line(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-m", "indi_qhy_py.analyse", "--emulate", "QHY268M", "--gains", "0",
                           "--roi", "64", "--out", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True) as job:
        assert job.stderr is not None
        deadline = time.monotonic() + 60
        while "flat pair" not in job.stderr.readline():  # well into the flats
            assert time.monotonic() < deadline and job.poll() is None
        os.kill(job.pid, signal.SIGINT)
        job.wait(30)
        rest = job.stderr.read()
    assert job.returncode == 130 and "interrupted" in rest and "Traceback" not in rest


@pytest.mark.parametrize(("args", "status", "says"), [
    (["--gains", "0,x"], 2, "comma-separated"),
    (["--levels", "1"], 2, "at least 2"),
    (["--emulate", "QHY268M", "--mode", "9", "--roi", "64"], 1, "read mode 9 does not exist"),
    (["--port", "1"], 1, "nothing is listening"),
])
def test_bad_input_gets_one_clear_line(tmp_path: Path, args: list[str], status: int, says: str) -> None:
    done = analyse(*args, "--out", str(tmp_path))
    assert done.returncode == status and says in done.stderr and "Traceback" not in done.stderr, done.stderr


class _Scene(SensorSession):
    """The session's flat search against frames made here (no camera): dark, blinding, or uneven light."""

    def __init__(self, make: Callable[[float], np.ndarray]) -> None:  # no camera to ask for its limits
        self.make, self.min_exposure, self.say, self.instrument = make, 1e-4, lambda text: None, ""

    def frame(self, kind: str, seconds: float) -> np.ndarray:
        return self.make(seconds)


@pytest.mark.parametrize(("make", "says"), [
    (lambda t: np.full((64, 64), 326, np.uint16), "no light"),
    (lambda t: np.full((64, 64), 65535, np.uint16), "saturate at the shortest exposure"),
    (lambda t: (326 + np.linspace(1, 3, 64)[None, :] * 4000 * t * np.ones((64, 1))).astype(np.uint16),
     "not uniform enough"),
])
def test_the_flat_search_says_what_is_wrong_with_the_light(make: Callable[[float], np.ndarray], says: str) -> None:
    bias = BiasStats(326.0, 5.0, 0.0)
    with pytest.raises(AnalysisError, match=says):
        _Scene(make).flat_rate(bias)


def test_the_flat_search_finds_the_light_rate_from_probes() -> None:
    assert _Scene(lambda t: np.full((64, 64), 326 + 20_000 * t, np.uint16)).flat_rate(
        BiasStats(326.0, 5.0, 0.0)) == pytest.approx(20_000, rel=0.01)
