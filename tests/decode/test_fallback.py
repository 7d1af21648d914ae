"""Without the Cython kernel (no compiler on the machine) the decoder still decodes, with the numpy reference,
and says so. This module runs whether or not the extension is built."""

from __future__ import annotations

import pytest

from indi_qhy_py.decode import decoder
from indi_qhy_py.models import QHY268M
from tests.conftest import expose, make_rig, request_for

pytestmark = pytest.mark.emulated


def test_fallback_warns_when_the_extension_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder, "CYTHON_KERNEL", None)
    rig = make_rig(QHY268M)
    exposed = expose(rig.open(), QHY268M, y=QHY268M.effective.y, height=40)
    rig.close()
    with pytest.warns(RuntimeWarning, match="not built"):
        frame = decoder.decode(exposed.raw, exposed.received, request_for(QHY268M, exposed))
    assert frame.meta.good and frame.pixels.shape == (40, QHY268M.effective.width)
