"""pytest plugin entry point (registered as `pytest11: conformance`).

Kept light on purpose: it is imported by every pytest run in an environment where this distribution
is installed, so it must not import the engine, aiohttp or anything slow at import time.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "connector conformance kit")
    group.addoption("--conformance-seed", type=int, default=None, help="seed for mock exchanges and faults")


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("--conformance-seed", default=None)
    return f"conformance: seed={seed}" if seed is not None else None
