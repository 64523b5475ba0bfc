"""Shared bits of the plugin's tests: the ini of the inner pytest runs, and the repository's root (so that an
inner run can import `tests.plugin.broken`)."""

from __future__ import annotations

from pathlib import Path

import aiohttp  # noqa: F401 - see below
import pytest

# Imported here, before any inner run: pytester's in-process runs drop the modules an inner run imported, and a
# second import of aiohttp next to its compiled parts (which stay) makes `msg.type is WSMsgType.TEXT` false.
import conformance.plugin_support
import conformance.runner  # noqa: F401
import mock_exchanges.server  # noqa: F401
import reference_connector  # noqa: F401
import tests.plugin.broken  # noqa: F401

REPO = Path(__file__).resolve().parents[2]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider
"""

#: the ten-line conftest of docs/connector-authors.md, with the reference connector's adapter as "yours"
TEN_LINE_CONFTEST = '''
import pytest

from conformance import connector_factory
from conformance.adapters.reference import ReferenceFactory

reference = ReferenceFactory()


@pytest.fixture(scope="session")
def conformance_connector():
    return connector_factory(reference.create, venues=["spot"], spec="reference")
'''

#: a conftest supplying the deliberately broken (gap-blind) reference connector
GAP_BLIND_CONFTEST = f'''
import sys

sys.path.insert(0, {str(REPO)!r})

import pytest

from tests.plugin.broken import GapBlindFactory


@pytest.fixture(scope="session")
def conformance_connector():
    return GapBlindFactory()
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester with the inner runs' ini."""
    pytester.makeini(INI)
    return pytester
