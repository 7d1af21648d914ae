"""The camera Bench: the camera layer's contract suite runs against it.

Contract: the ``bench`` fixture is parametrised over the four main models (each an emulated camera on its own
backend and clock running at ``SPEED`` times real time, found by discovery and connected through the camera
layer) and, with ``--hardware``, the first attached real camera. ``bench.camera`` is the connected ``Camera``;
``bench.device`` is the emulated camera behind it, or None on hardware, where tests that must look inside the
camera (``needs_emulator``) skip.
"""

from __future__ import annotations

import pytest

from indi_qhy_py.camera import Camera
from indi_qhy_py.emulator import EmulatedCamera, EmulatedClock, EmulatorBackend
from indi_qhy_py.models import MAIN_MODELS, CameraModel
from indi_qhy_py.usb.discovery import discover

SPEED = 50.0  # emulated seconds per real second


class Bench:
    """A connected camera plus, when emulated, the device behind it."""

    def __init__(self, model: CameraModel, rate_limit: bool = False, **kwargs: object) -> None:
        self.clock = EmulatedClock(SPEED)
        self.device = EmulatedCamera(model, clock=self.clock, rate_limit=rate_limit, **kwargs)  # type: ignore[arg-type]
        self.backend = EmulatorBackend([self.device])
        infos, _ = discover([self.backend])
        self.events: list[tuple[str, str]] = []
        self.camera = Camera(infos[0], clock=self.clock.now, poll_s=0.05,
                             on_event=lambda level, text: self.events.append((level, text)))
        self.camera.connect()

    def close(self) -> None:
        self.camera.disconnect()


class HardwareBench:
    """The first attached camera, for ``--hardware`` runs; tests needing the emulator skip themselves."""

    device = None

    def __init__(self) -> None:
        infos, messages = discover()
        if not infos:
            pytest.fail(f"--hardware given but no camera found: {messages}")
        self.clock = None
        self.events: list[tuple[str, str]] = []
        self.camera = Camera(infos[0], on_event=lambda level, text: self.events.append((level, text)))
        self.camera.connect()

    def close(self) -> None:
        self.camera.disconnect()


def needs_emulator(bench) -> Bench:
    if bench.device is None:
        pytest.skip("looks inside the camera: emulator only")
    return bench


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench" in metafunc.fixturenames:
        params: list[object] = list(MAIN_MODELS)
        if metafunc.config.getoption("--hardware"):
            params.append("hardware")
        metafunc.parametrize("bench", params, ids=lambda p: getattr(p, "name", str(p)), indirect=True)


@pytest.fixture
def bench(request):
    if request.param == "hardware" and request.node.get_closest_marker("emulated"):
        pytest.skip("looks inside the camera: emulator only")
    b = HardwareBench() if request.param == "hardware" else Bench(request.param)
    yield b
    b.close()
