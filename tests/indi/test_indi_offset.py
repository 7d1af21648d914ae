"""The driver's offset advice: from a bias taken on request (OFFSET_CHECK) or the last bias frame a client took."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.indi.conftest import DriverProcess

pytestmark = pytest.mark.emulated
MONO = "QHY268M-268M000000000001"


def test_a_bias_on_request_and_a_clients_own_bias_give_the_advice(tmp_path: Path) -> None:
    with DriverProcess("QHY268M", tmp_path) as proc:
        proc.send("<getProperties version='1.7'/>")
        proc.connect(MONO)
        proc.set(MONO, "CCD_FRAME", "Number", X=1000, Y=1000, WIDTH=400, HEIGHT=300)
        proc.set(MONO, "CCD_OFFSET", "Number", OFFSET=12)
        mark = proc.mark()
        assert proc.set(MONO, "OFFSET_CHECK", "Switch", TAKE_BIAS="On").get("state") == "Busy"
        advice = proc.wait(lambda m: m.get("name") == "OFFSET_ADVICE" and m.tag == "setNumberVector", 30, mark)
        values = {c.get("name"): float((c.text or "0").strip()) for c in advice}
        assert advice.get("state") == "Ok" and "clear of 0 at gain 0, offset 12" in advice.get("message", "")
        assert values["BIAS_LEVEL"] == pytest.approx(126 + 10 * 12, abs=2)  # the emulator's pedestal at offset 12
        assert values["CLIPPED"] == 0 and values["SAFE_OFFSET"] == 0 and values["OFFSET"] == 12
        assert any(m.tag == "setBLOBVector" for m in proc.messages[mark:])  # the bias went to clients as a frame
        assert proc.values[(MONO, "CCD_FRAME_TYPE")]["FRAME_LIGHT"] == "On"  # the client's frame type untouched
        mark = proc.mark()
        proc.set(MONO, "CCD_GAIN", "Number", GAIN=100)
        proc.set(MONO, "CCD_FRAME_TYPE", "Switch", FRAME_BIAS="On")
        proc.expose(MONO, 0.01)
        advice = proc.wait(lambda m: m.get("name") == "OFFSET_ADVICE" and m.tag == "setNumberVector", 30, mark)
        assert "at gain 100, offset 12" in advice.get("message", "")
        mark = proc.mark()
        proc.set(MONO, "BIT_DEPTH", "Switch", BITS_8="On")
        proc.expose(MONO, 0.01)
        check = proc.wait(lambda m: m.get("name") == "OFFSET_CHECK" and "16-bit" in m.get("message", ""), 30, mark)
        assert check.get("state") == "Idle"
