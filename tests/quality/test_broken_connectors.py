"""Every check shown able to fail: each deliberately broken connector (`tests/quality/broken.py`, one planted bug
each) is run through a scenario that exposes its bug, and the check that names the bug must FAIL; the reference
connector must pass the very same scenario, seed and bounds, with the same stage tuning where the bug needs one
(`BrokenConnector.stage`), so that the failure is the bug's, not the scenario's.

The runs are in-process (each on its own mock exchange on 127.0.0.1) and mostly idle (waiting on the scenario's
clock), so the module runs them all at once, `QUALITY_CONCURRENCY` at a time, in one event loop (`outcomes`), and
each test reads its result (under pytest-xdist, one worker runs them and the others read its results). A failing
case prints its seed and how to replay it. `QUALITY_SEED` changes the seed.

The bounds are the defaults but `ready_s`: 5 s (the reference is ready in under 2 s here; a connector that never
gets ready then costs 5 s, not 15).
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import pickle
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conformance.checks import Bounds, Status, all_checks
from conformance.levels import ConformanceLevel
from conformance.runner import RunOptions, ScenarioResult, run_scenario
from conformance.scenario_file import scenario_toml
from mock_exchanges.faults import FaultKind as K
from mock_exchanges.faults import FaultRule as R
from mock_exchanges.scenarios import OrderActivity, Scenario, get_scenario, scenario_names
from mock_exchanges.scenarios.scenario import Action, ActionKind

from .broken import BROKEN, BrokenConnector

try:
    import fcntl
except ImportError:  # not POSIX: each xdist worker runs the module's runs itself
    fcntl = None  # type: ignore[assignment]

SEED = int(os.environ.get("QUALITY_SEED", "1"))
CONCURRENCY = int(os.environ.get("QUALITY_CONCURRENCY", "6"))
BOUNDS = Bounds(ready_s=5.0)
PERP = "BTCUSDT-PERP"
MARKET_DATA, ORDERS, PERPETUALS = ConformanceLevel.MARKET_DATA, ConformanceLevel.ORDERS, ConformanceLevel.PERPETUALS

# --- scenarios that target one bug (the catalog's are used where they expose it reliably) --------------------

#: three diffs lost early in the run (none near its end, which only a safety-net snapshot could repair)
EARLY_GAPS = Scenario("early_gaps", "Diffs #25, #120 and #240 never arrive.", faults=tuple(
    R(K.DROP, channel="depth", at_message=n) for n in (25, 120, 240)
))
#: every snapshot asked for between 1 s and 2.5 s (the book is synced by then: a safety-net one) served 150 updates
#: old
STALE_RESNAPSHOT = Scenario("stale_resnapshot", "Snapshots served 150 updates old from 1 s to 2.5 s.", faults=(
    R(K.STALE_SNAPSHOT, start_s=1.0, end_s=2.5, lag=150),
))
#: every 20th diff held back until 150 later ones have gone out (the reference resyncs meanwhile): stale on arrival
LATE_DIFFS = Scenario("late_diffs", "Every 20th diff arrives 150 diffs late.", faults=tuple(
    R(K.REORDER, channel="depth", at_message=n, hold=150) for n in range(40, 2000, 20)
))
#: four crossing orders a second, none cancelled: fills for every order
CROSSING = Scenario("crossing", "Four orders a second, all crossing the spread; none cancelled.",
                    orders=OrderActivity(orders_per_s=4.0, cancel_ratio=0.0, marketable_ratio=1.0))
#: every fill event of the user stream delivered twice, and every order fills
FILLS_TWICE = Scenario("fills_twice", "Every fill event delivered twice; all orders cross the spread.", faults=(
    R(K.DUPLICATE, channel="user", user_kind="fill", probability=1.0),
), orders=OrderActivity(orders_per_s=4.0, cancel_ratio=0.0, marketable_ratio=1.0))
#: the mid price climbs 10 ticks every 0.25 s: new bids take the asks below them, whose levels must be deleted
PRICE_CLIMB = Scenario("price_climb", "The mid price climbs 0.10 every 0.25 s.", actions=tuple(
    Action(0.25 * i, ActionKind.MOVE_PRICE, "BTCUSDT", str(Decimal("30000") + Decimal("0.1") * i)) for i in range(1, 25)
))
#: three creates whose answer never comes (the order is placed; the connection drops after 0.5 s); orders rest and
#: are not cancelled
CREATE_TIMEOUTS = Scenario("create_timeouts", "Three creates time out after taking effect; orders rest.", faults=(
    R(K.TIMEOUT, role="create", at_message=2, count=3, duration_s=0.5, executed=True),
), orders=OrderActivity(cancel_ratio=0.0, marketable_ratio=0.0))
#: every order's ack held until after its first fill
FILL_BEFORE_ACK = Scenario("fill_before_ack", "Every order ack arrives after the order's first fill.", faults=(
    R(K.FILL_BEFORE_ACK, channel="user", probability=1.0),
))
#: every cancel loses the race to a fill, and its refusal arrives after the fill event; orders rest and the driver
#: cancels at every step
CANCEL_RACE = Scenario("cancel_race", "Every cancel loses the race to a fill; its answer comes 0.2 s later.", faults=(
    R(K.CANCEL_FILL_RACE, probability=1.0),
    R(K.SLOW_RESPONSE, role="cancel", delay_ms=200),
), orders=OrderActivity(cancel_ratio=1.0, marketable_ratio=0.0))
#: no fill event ever reaches the user stream (order events do)
FILLS_LOST = Scenario("fills_lost", "Every fill event of the user stream dropped.", faults=(
    R(K.DROP, channel="user", user_kind="fill", probability=1.0),
))
#: every cancel answered 500 (not executed), and the driver cancels at every step; no order crosses
CANCEL_5XX = Scenario("cancel_5xx", "Every cancel answered 500 (not executed); orders rest.", faults=(
    R(K.SERVER_ERROR, role="cancel", probability=1.0),
), orders=OrderActivity(cancel_ratio=1.0, marketable_ratio=0.0))
#: every order status query answered 500; orders rest and are not cancelled, so every one gets queried
QUERY_5XX = Scenario("query_5xx", "Every order status query answered 500; orders rest.", faults=(
    R(K.SERVER_ERROR, role="query", probability=1.0),
), orders=OrderActivity(cancel_ratio=0.0, marketable_ratio=0.0))
#: diffs lost (10%) on a dialect without update ids
ID_LESS_GAPS = Scenario("id_less_gaps", "10% of the diffs never arrive.", faults=(
    R(K.DROP, channel="depth", probability=0.1),
))
#: a perpetual market where every order crosses while the price keeps jumping: the position changes by fills at
#: many prices (and, with 8 orders a second, is seldom flat at the end)
PERP_FILLS = Scenario("perp_fills", "Eight crossing orders a second on the perpetual market; the price jumps.",
                      actions=tuple(Action(0.3 * i, ActionKind.MOVE_PRICE, PERP, str(30000 + (-1) ** i * (i % 7)))
                                    for i in range(1, 30)),
                      orders=OrderActivity(orders_per_s=8.0, cancel_ratio=0.0, marketable_ratio=1.0),
                      levels=("perpetuals",))
#: the market stream (mark price and funding) goes silent with its socket open from 1 s for 5 s; the rate changes
#: at 1.5 s
FUNDING_STALL = Scenario("funding_stall", "The mark/funding stream stalls from 1 s for 5 s; the rate changes at 1.5 s.",
                         faults=(R(K.STALL, channel="mark", start_s=1.0, end_s=1.2, duration_s=5.0),),
                         actions=(Action(1.5, ActionKind.SET_FUNDING_RATE, PERP, "0.0003"),), duration_s=5.0,
                         levels=("perpetuals",))
#: every funding REST answer delivered 1.5 s late (so older than the stream's), the rate changing every 0.7 s
FUNDING_SLOW_REST = Scenario(
    "funding_slow_rest", "Funding REST answers 1.5 s late; the rate changes every 0.7 s.",
    faults=(R(K.SLOW_RESPONSE, path="/fapi/v1/premiumIndex", delay_ms=1500),),
    actions=tuple(Action(0.8 + 0.7 * i, ActionKind.SET_FUNDING_RATE, PERP, str(Decimal("0.0001") * (i + 2)))
                  for i in range(6)),
    duration_s=4.0, levels=("perpetuals",))


@dataclass(frozen=True)
class Exposure:
    """How a bug is exposed: a scenario, at a level, on a dialect, at a duration scale."""

    scenario: Scenario
    level: ConformanceLevel = ORDERS
    dialect: str = "binance"
    scale: float = 0.6

    def describe(self) -> str:
        rules = self.scenario.faults
        faults = "; ".join(r.describe() for r in rules[:3]) or "no faults"
        if len(rules) > 3:
            faults += f"; and {len(rules) - 3} more rules"
        return f"{self.scenario.name} ({faults}) on {self.dialect} at {self.level.value}, duration x{self.scale:g}"


def catalog(name: str, level: ConformanceLevel = ORDERS, dialect: str = "binance", scale: float = 0.6) -> Exposure:
    return Exposure(get_scenario(name), level, dialect, scale)


#: broken connector -> the scenario that exposes its bug
CASES: dict[str, Exposure] = {
    "ignores_gaps": Exposure(EARLY_GAPS, MARKET_DATA),
    "ignores_checksum": catalog("corrupt_book", MARKET_DATA, dialect="okx"),
    "drops_straddling_diff": catalog("merged_depth", MARKET_DATA, scale=1.0),
    "keeps_deleted_levels": Exposure(PRICE_CLIMB, MARKET_DATA),
    "id_goes_back": Exposure(STALE_RESNAPSHOT, MARKET_DATA, scale=1.0),
    "never_resnapshots": Exposure(EARLY_GAPS, MARKET_DATA),
    "applies_stale_diffs": Exposure(LATE_DIFFS, MARKET_DATA, scale=1.0),
    "snapshot_merged": Exposure(EARLY_GAPS, MARKET_DATA),
    "no_safety_net_snapshot": Exposure(ID_LESS_GAPS, MARKET_DATA, dialect="bitstamp"),
    "never_loads_balances": catalog("calm"),
    "reconciler_crashes": catalog("calm"),
    "forgets_unknown_creates": Exposure(CREATE_TIMEOUTS),
    "no_state_machine": Exposure(FILL_BEFORE_ACK),
    "cancel_refusal_means_canceled": Exposure(CANCEL_RACE),
    "cumulative_as_last_fill": Exposure(CROSSING),
    "double_counts_fills": Exposure(FILLS_TWICE),
    "never_fetches_trades": Exposure(FILLS_LOST, scale=1.5),
    "cancel_failure_means_canceled": Exposure(CANCEL_5XX),
    "error_means_not_found": Exposure(QUERY_5XX),
    "never_reconciles": Exposure(FILLS_LOST, scale=1.5),  # a divergence must outlast reconcile_s (5 s)
    "ignores_stream_balances": Exposure(CROSSING),
    "entry_price_never_updated": Exposure(PERP_FILLS, PERPETUALS, scale=1.0),
    "ignores_funding_updates": catalog("funding", PERPETUALS),
    "stalled_feed_unnoticed": Exposure(FUNDING_STALL, PERPETUALS, scale=1.0),
    "funding_last_arrival_wins": Exposure(FUNDING_SLOW_REST, PERPETUALS, scale=1.0),
}


# --- running them -----------------------------------------------------------------------------------------------
def baseline_key(name: str) -> tuple[Any, ...]:
    """The reference run a broken connector is compared with: the same exposure, on the same stage."""
    exposure, stage = CASES[name], BROKEN[name].stage
    return exposure.scenario.name, exposure.level, exposure.dialect, exposure.scale, tuple(sorted(stage.items()))


@dataclass
class Run:
    label: str
    factory: Any
    exposure: Exposure
    result: ScenarioResult | None = None
    wall_s: float = 0.0
    #: where the scenario is saved as TOML when it is not the catalog's (for the replay command)
    scenario_file: Path | None = None

    def failed_checks(self) -> set[str]:
        assert self.result is not None
        return {c.name for c in self.result.checks if c.status in (Status.FAIL, Status.ERROR)}

    def replay(self) -> str:
        """The command that runs this again, from the repository root."""
        exposure = self.exposure
        scenario = f"--scenario {exposure.scenario.name}"
        if self.scenario_file is not None:
            scenario += f" --scenario-file {self.scenario_file}"
        return (f"python -m conformance.cli run --connector {self.factory.spec} --dialect {exposure.dialect} "
                f"{scenario} --seed {SEED} --level {exposure.level.value} --duration-scale {exposure.scale:g} "
                f"--bound ready_s={BOUNDS.ready_s:g}")


@dataclass
class Outcomes:
    broken: dict[str, Run] = field(default_factory=dict)
    reference: dict[tuple[Any, ...], Run] = field(default_factory=dict)
    wall_s: float = 0.0


async def _run_all(runs: list[Run], out_dir: Path, limit: int) -> None:
    gate = asyncio.Semaphore(limit)
    for run in runs:
        scenario = run.exposure.scenario
        if scenario.name not in scenario_names():
            run.scenario_file = out_dir / f"{scenario.name}.toml"
            run.scenario_file.write_text(scenario_toml(scenario))

    async def one(run: Run) -> None:
        async with gate:
            options = RunOptions(level=run.exposure.level, out_dir=out_dir / run.label.replace(" ", "_"),
                                 duration_scale=run.exposure.scale, bounds=BOUNDS, log_level=logging.WARNING)
            start = time.monotonic()
            run.result = await run_scenario(run.factory, run.exposure.dialect, run.exposure.scenario, SEED, options)
            run.wall_s = time.monotonic() - start

    await asyncio.gather(*(one(r) for r in runs))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    found = Outcomes()
    for name, exposure in CASES.items():
        broken = BROKEN[name]
        found.broken[name] = Run(f"broken {name}", broken.factory(), exposure)
        key = baseline_key(name)
        if key not in found.reference:
            found.reference[key] = Run(f"reference {exposure.scenario.name} {len(found.reference)}", broken.baseline(),
                                       exposure)
    runs = [*found.broken.values(), *found.reference.values()]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or fcntl is None:
        _run_outcomes(found, runs, tmp_path_factory.mktemp("quality"))
        return found
    # Under pytest-xdist every worker that is given one of this module's tests would run them all (a module fixture
    # is per process): the first one runs them and leaves the results for the others, which wait for them (the
    # pattern pytest-xdist documents for a fixture that must run once per session).
    shared = tmp_path_factory.getbasetemp().parent / f"quality-outcomes-seed{SEED}.pickle"
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if shared.exists():
                results, found.wall_s = pickle.loads(shared.read_bytes())
                for run, (result, wall_s, scenario_file) in zip(runs, results, strict=True):
                    run.result, run.wall_s, run.scenario_file = result, wall_s, scenario_file
                print(f"\nquality runs of another worker ({found.wall_s:.1f}s), read by {worker}")
                return found
            _run_outcomes(found, runs, tmp_path_factory.mktemp("quality"))
            shared.write_bytes(pickle.dumps(([(r.result, r.wall_s, r.scenario_file) for r in runs], found.wall_s)))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return found


def _run_outcomes(found: Outcomes, runs: list[Run], out_dir: Path) -> None:
    root = logging.getLogger()
    level = root.level
    start = time.monotonic()
    try:
        asyncio.run(_run_all(runs, out_dir, CONCURRENCY))
    finally:
        root.setLevel(level)  # each run sets the root level for its log file; concurrent runs may not restore it
    found.wall_s = time.monotonic() - start
    print(f"\n{len(found.broken)} broken connectors and {len(found.reference)} reference runs, seed {SEED}, "
          f"{CONCURRENCY} at a time: {found.wall_s:.1f}s")


def explain(run: Run) -> str:
    result = run.result
    assert result is not None
    lines = [f"{run.label}: {run.exposure.describe()}, seed {result.seed} (scenario seed {result.scenario_seed}; "
             f"QUALITY_SEED={result.seed}), {run.wall_s:.1f}s", f"  replay: {run.replay()}"]
    if result.error:
        lines.append(result.error)
    for check in result.checks:
        if check.status in (Status.FAIL, Status.ERROR):
            lines.append(f"  [{check.name}] {check.message}" + (f"\n    since: {check.since}" if check.since else ""))
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(CASES))
def test_the_check_that_names_the_bug_fails(name: str, outcomes: Outcomes) -> None:
    broken: BrokenConnector = BROKEN[name]
    run, reference = outcomes.broken[name], outcomes.reference[baseline_key(name)]
    assert run.result is not None and reference.result is not None
    print(explain(run))
    print(explain(reference))
    assert reference.result.error is None and run.result.error is None, (reference.result.error, run.result.error)
    named = [c for c in reference.result.checks if c.name == broken.check]
    assert named and all(c.status is Status.PASS for c in named), \
        f"the reference must pass {broken.check} on the same scenario:\n{explain(reference)}"
    assert not reference.failed_checks(), f"the reference must pass the scenario:\n{explain(reference)}"
    assert broken.check in run.failed_checks(), \
        f"{name} ({broken.bug}) was not caught by {broken.check}:\n{explain(run)}"


# --- coverage: every registered check is shown able to fail ----------------------------------------------------

#: checks that no real (broken) connector is shown to fail, each with why and where it is failed instead (a test
#: on synthetic records in tests/conformance). Empty: every one of the 23 checks is failed by a broken connector
#: above (connector.clean_stop included, though it is advisory: it is shown FAILing, it just does not gate).
NOT_FAILED_BY_A_CONNECTOR: dict[str, str] = {}

SYNTHETIC_TESTS = Path(__file__).resolve().parents[1] / "conformance"


def synthetic_failures() -> dict[str, list[str]]:
    """Check names that a test on synthetic records in tests/conformance shows FAILing: named (as a string) in a
    test function that asserts `Status.FAIL`. By test function name."""
    known = {c.name for c in all_checks()}
    found: dict[str, list[str]] = {}
    for path in sorted(SYNTHETIC_TESTS.glob("test_checks_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            asserts_fail = any(isinstance(n, ast.Attribute) and n.attr == "FAIL" for n in ast.walk(node))
            names = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in known}
            if asserts_fail:
                for check in names:
                    found.setdefault(check, []).append(f"{path.name}::{node.name}")
    return found


def test_every_check_is_shown_able_to_fail() -> None:
    checks = [c.name for c in all_checks()]
    assert len(checks) == len(set(checks))
    by_connector: dict[str, list[str]] = {}
    for name, broken in BROKEN.items():
        assert broken.check in checks, f"{name} names an unknown check {broken.check}"
        assert name in CASES, f"{name} has no scenario that exposes it"
        by_connector.setdefault(broken.check, []).append(name)
    synthetic = synthetic_failures()
    print(f"\n{'check':28} {'broken connector (tests/quality)':36} synthetic failing test (tests/conformance)")
    for check in checks:
        print(f"{check:28} {', '.join(by_connector.get(check, ['-'])):36} "
              f"{', '.join(synthetic.get(check, ['-'])[:1])}")
    missing = [c for c in checks if c not in by_connector and c not in NOT_FAILED_BY_A_CONNECTOR]
    assert not missing, f"checks no broken connector is shown to fail (add one, or explain why not): {missing}"
    for check, why in NOT_FAILED_BY_A_CONNECTOR.items():
        assert why and check in synthetic, f"{check}: needs a reason and a synthetic failing test"
    assert set(CASES) == set(BROKEN)
