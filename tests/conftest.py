"""pytest options: ``--hardware`` runs the camera contract suite against attached cameras too."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hardware", action="store_true", default=False,
                     help="also run the camera contract tests against real attached cameras")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs a real camera: run with --hardware")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)
