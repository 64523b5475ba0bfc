"""The runner end to end: the reference connector through `calm` and a fault scenario in-process, the same
through the control API of a separately served exchange, and the planning rules (levels, venues, seeds)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from conformance.adapters import resolve_connector
from conformance.checks import all_checks
from conformance.fault_log import FaultLog
from conformance.levels import ConformanceLevel
from conformance.protocol import Venue
from conformance.reports import failure_text
from conformance.runner import RunOptions, ScenarioResult, level_for, plan_venues, resolve_scenarios, run_scenario
from conformance.seeds import derive_seed
from mock_exchanges.scenarios import get_scenario
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

SEED = int(os.environ.get("CONFORMANCE_TEST_SEED", "3"))


def explain(result: ScenarioResult) -> str:
    return result.error or "\n".join(failure_text(result, c) for c in result.failures)


async def no_tasks_left() -> None:
    """Everything the run started has been stopped (bounded wait for tasks that are finishing)."""
    current = asyncio.current_task()
    deadline = time.monotonic() + 3.0
    while True:
        left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"tasks left running: {[t.get_name() for t in left]}")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("scenario", ["calm", "gaps"])
async def test_the_reference_connector_passes_in_process(scenario: str, tmp_path: Path) -> None:
    print(f"seed={SEED} (CONFORMANCE_TEST_SEED)")
    result = await run_scenario("reference", "binance", scenario, SEED,
                                RunOptions(out_dir=tmp_path, duration_scale=0.6))
    assert result.passed, explain(result)
    assert result.venues == ["spot", "perpetual"]
    assert result.scenario_seed == derive_seed(SEED, scenario)
    checked = {(c.venue, c.name) for c in result.checks}
    for venue in ("spot BTC-USDT", "perpetual BTC-USDT"):
        assert {name for v, name in checked if v == venue} == {c.name for c in all_checks()}
    assert f"--scenario {scenario} --seed {SEED}" in result.replay
    transcript = Path(result.transcript or "")
    header = json.loads(transcript.read_text().splitlines()[0])
    assert header["ev"] == "header" and header["scenario"] == scenario and header["seed"] == result.scenario_seed
    faults = FaultLog.from_transcript(transcript)
    assert bool(faults.faults) is (scenario == "gaps")
    assert Path(result.log or "").exists()
    await no_tasks_left()


async def test_a_separately_served_exchange_is_driven_through_its_control_api(tmp_path: Path) -> None:
    exchange = MockExchange(MockExchangeConfig(seed=SEED))
    async with MockExchangeServer(exchange) as server:
        result = await run_scenario("reference", "binance", "gaps", SEED,
                                    RunOptions(out_dir=tmp_path, duration_scale=0.5, exchange_url=server.base_url))
        assert result.passed, explain(result)
        assert exchange.scenario_name == "gaps" and exchange.faults.quiet and exchange.flow_paused
        assert result.transcript is None and "--exchange-url" in result.replay
        assert exchange.faults.fired > 0  # the scenario's faults ran on the served exchange
    await no_tasks_left()


def test_levels_decide_the_venues_and_the_scenarios() -> None:
    both = (Venue.SPOT, Venue.PERPETUAL)
    calm, funding = get_scenario("calm"), get_scenario("funding")
    assert plan_venues(both, ConformanceLevel.PERPETUALS, calm) == both
    assert plan_venues(both, ConformanceLevel.ORDERS, calm) == (Venue.SPOT,)
    assert plan_venues(both, ConformanceLevel.PERPETUALS, funding) == (Venue.PERPETUAL,)
    assert plan_venues(both, ConformanceLevel.ORDERS, funding) == ()
    assert plan_venues((Venue.PERPETUAL,), ConformanceLevel.ORDERS, calm) == (Venue.PERPETUAL,)
    reference = resolve_connector("reference")
    assert level_for(reference, "binance", None) is ConformanceLevel.PERPETUALS
    with pytest.raises(ValueError, match="does not support the nowhere dialect"):
        level_for(reference, "nowhere", None)
    spot_only = resolve_connector("hummingbot:binance")  # no Hummingbot import needed to plan
    assert spot_only.venues("binance") == (Venue.SPOT,) and spot_only.venues("okx") == ()
    with pytest.raises(ValueError, match="supports level orders on binance, not perpetuals"):
        level_for(spot_only, "binance", ConformanceLevel.PERPETUALS)


async def test_a_scenario_outside_the_level_is_skipped_not_run() -> None:
    result = await run_scenario("reference", "binance", "funding", SEED,
                                RunOptions(out_dir=None, level=ConformanceLevel.ORDERS))
    assert result.status == "skip" and result.passed and not result.checks and result.venues == []


async def test_a_scenario_that_does_not_apply_to_the_dialect_is_not_applicable_not_run() -> None:
    for dialect in ("binance", "bitstamp"):
        result = await run_scenario("reference", dialect, "corrupt_book", SEED, RunOptions(out_dir=None))
        assert result.not_applicable and result.status == "skip" and result.label == "N/A"
        assert result.error is None and not result.checks and result.venues == [] and result.transcript is None
        assert result.skipped is not None and result.skipped.startswith(
            "not applicable: scenario corrupt_book needs book messages that carry a checksum of the book")
        assert result.to_dict()["not_applicable"] is True and result.to_dict()["status"] == "skip"
    gated = await run_scenario("reference", "binance", "funding", SEED,
                               RunOptions(out_dir=None, level=ConformanceLevel.ORDERS))
    assert not gated.not_applicable and gated.label == "SKIP"  # skipped for its level: not the same thing


def test_scenarios_and_seeds() -> None:
    assert [s.name for s in resolve_scenarios("all")][:2] == ["calm", "out_of_order"]
    assert len(resolve_scenarios("all")) == 14 and resolve_scenarios("all")[-1].name == "corrupt_book"
    assert [s.name for s in resolve_scenarios("gaps, calm")] == ["gaps", "calm"]
    with pytest.raises(ValueError, match="unknown scenario"):
        resolve_scenarios("nope")
    assert derive_seed(7, "gaps") == derive_seed(7, "gaps") != derive_seed(7, "calm")
    assert derive_seed(7, "gaps") != derive_seed(8, "gaps")


def test_connector_specs() -> None:
    assert resolve_connector("reference").spec == "reference"
    assert resolve_connector("conformance.adapters.reference:ReferenceFactory").spec == \
        "conformance.adapters.reference:ReferenceFactory"
    for bad in ("nothing", "no.such.module:factory", "conformance.protocol:Venue", "hummingbot:kraken"):
        with pytest.raises(ValueError):
            resolve_connector(bad)


def test_the_fault_log_says_what_fired_last(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    records = [{"ev": "header", "seed": 1}, {"t": 100_000, "ev": "fault", "kind": "drop", "rule": 0, "conn": 2,
                                             "ch": "depth", "i": 25},
               {"t": 900_000, "ev": "fault", "kind": "quiesce", "rule": None}]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    log = FaultLog.from_transcript(path)
    assert log.before(0.05) == "no fault had fired before t=0.050s"
    assert log.before(1.0) == ("last fault before it: drop (depth message #25, connection 2) at t=0.100s "
                               "(1 fired by then)")


def test_the_faults_that_may_oblige_a_snapshot_are_counted_once_each() -> None:
    log = FaultLog.from_records([
        {"t": 100_000, "kind": "drop", "rule": 0},
        {"t": 200_000, "kind": "duplicate", "rule": 1},  # stale: no snapshot needed
        {"t": 300_000, "kind": "stall", "rule": 2},  # the stall begins...
        *({"t": 300_000 + i, "kind": "stall", "rule": None} for i in range(50)),  # ...and swallows 50 frames
        {"t": 400_000, "kind": "action", "rule": None, "action": "trigger_funding"},
        {"t": 500_000, "kind": "stale_snapshot", "rule": 3},
    ])
    assert log.resync_causes() == (0.1, 0.3, 0.5)
