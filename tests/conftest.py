"""pytest options: ``--hardware`` adds the first attached real camera to the camera contract suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hardware", action="store_true", default=False,
                     help="also run the camera contract suite against the first attached real camera")
