"""The plugin under pytest-xdist: each worker has its own servers and ports, and every test gets the same seed
whichever worker runs it (and the same as without xdist)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import TEN_LINE_CONFTEST

pytest_plugins = ["pytester"]

pytest.importorskip("xdist")

RECORDING_TESTS = """
import json
import os

import pytest


def record(request, **fields):
    with open(os.environ["PLUGIN_RECORD"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"nodeid": request.node.nodeid,
                             "worker": os.environ.get("PYTEST_XDIST_WORKER", "master"), **fields}) + "\\n")


@pytest.mark.parametrize("n", range(6))
async def test_exchange(request, mock_exchange, mock_exchange_session, conformance_seed, n):
    assert mock_exchange.exchange.config.seed == conformance_seed
    record(request, seed=conformance_seed, port=mock_exchange.port, session_port=mock_exchange_session.port,
           session_seed=mock_exchange_session.seed)
"""


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_two_workers_have_their_own_ports_and_the_same_seeds(inner: pytest.Pytester,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)
    inner.makepyfile(test_recording=RECORDING_TESTS)
    distributed = inner.path / "xdist.jsonl"
    monkeypatch.setenv("PLUGIN_RECORD", str(distributed))
    result = inner.runpytest_subprocess("-n", "2", "--conformance-seed", "11", "--conformance",
                                        "--conformance-scenario", "calm", "--conformance-duration-scale", "0.25",
                                        "-rA")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["conformance: seed=11 (--conformance-seed)*"])
    result.stdout.fnmatch_lines(["seed: 11 (the session seed, as `conformance run --seed 11`; worker gw?)"])
    records = _records(distributed)
    assert {r["worker"] for r in records} == {"gw0", "gw1"}
    session_ports = {r["worker"]: r["session_port"] for r in records}
    assert len(set(session_ports.values())) == 2, session_ports  # one session server per worker, each its own port
    assert len({r["session_seed"] for r in records}) == 1  # ... seeded alike
    assert all(isinstance(r["port"], int) and r["port"] > 0 for r in records)

    alone = inner.path / "alone.jsonl"
    monkeypatch.setenv("PLUGIN_RECORD", str(alone))
    single = inner.runpytest_inprocess("--conformance-seed", "11")
    single.assert_outcomes(passed=6)
    assert {r["nodeid"]: r["seed"] for r in _records(alone)} == {r["nodeid"]: r["seed"] for r in records}
    assert len({r["seed"] for r in records}) == 6  # derived per test
