"""Hypothesis-generated fault schedules: draw schedules, run the connector under each, shrink a failure to the
smallest schedule that still breaks it, and print that schedule as a scenario file that replays it.

    from hypothesis import given, settings
    from conformance.hypothesis import check_connector_under, fault_schedules

    @settings(max_examples=10, deadline=None)
    @given(schedule=fault_schedules(max_rules=3))
    def test_books_survive_faults(conformance_factory, schedule):
        check_connector_under(conformance_factory, schedule)

Schedules are message-indexed (`at_message=N` on the depth channel: "drop the 12th diff"), so shrinking is
meaningful: fewer rules, earlier messages, simpler kinds. Each example is a short run (`duration_s`, 1 s by
default) of a calm book (`FUZZ_FLOW`: 50 levels a side, 50 changes a second, compared in full every 10 ms) at
the `market_data` level, where no order activity interleaves with the flow.

Messages are counted from the connection's start, while the checks sample from the moment the connector is
ready until the run ends (ready + `duration_s`), and faults are switched off then. The default message range,
20..40 (0.4 s to 0.8 s after connecting, at 50 a second), lies inside that window, so a fault that breaks a
book is seen (a fault that fires before the first sample can be overwritten unseen; one after the end never
fires); keep `last_message` well below `rate x duration_s` when you change them.

`check_connector_under` raises `ScheduleFailure` with the failing checks and the scenario as TOML, to save and
replay with `conformance run --scenario-file` (or serve with `mock-exchange serve --scenario-file`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from mock_exchanges.faults import FaultKind, FaultRule
from mock_exchanges.flow import FlowConfig
from mock_exchanges.scenarios import OrderActivity, Scenario

from .levels import ConformanceLevel, parse_level
from .scenario_file import scenario_toml

if TYPE_CHECKING:
    from .protocol import ConnectorFactory
    from .runner import RunOptions, ScenarioResult

#: the kinds drawn by default: the ones that break a book's sequence (a duplicate must be harmless too)
DEFAULT_KINDS: tuple[FaultKind, ...] = (FaultKind.DROP, FaultKind.REORDER, FaultKind.DUPLICATE)
#: a calm book that changes often enough for a 1 s run, and slowly enough per level that a wrong level stays
#: wrong until the next sample (compared in full, every 10 ms)
FUZZ_FLOW = FlowConfig(levels_per_side=50, rate_per_s=50)
FUZZ_DEPTH = 1000
FUZZ_SAMPLE_INTERVAL_S = 0.01
FIRST_MESSAGE = 20
LAST_MESSAGE = 40


def fault_rules(kinds: Sequence[FaultKind] = DEFAULT_KINDS, channel: str = "depth",
                first_message: int = FIRST_MESSAGE, last_message: int = LAST_MESSAGE,
                max_hold: int = 3) -> st.SearchStrategy[FaultRule]:
    """One message-indexed rule: `kind` at the N-th message of `channel` (N in [first, last]); a reorder
    holds its frame behind 1..`max_hold` later ones. Shrinks towards the first kind and the first message."""
    if not kinds:
        raise ValueError("fault_rules: no kinds to draw from")

    def rule(kind: FaultKind, at: int, hold: int) -> FaultRule:
        return FaultRule(kind, channel=channel, at_message=at, hold=hold if kind is FaultKind.REORDER else 1)

    return st.builds(rule, st.sampled_from(list(kinds)), st.integers(first_message, last_message),
                     st.integers(1, max_hold))


def fault_schedules(kinds: Sequence[FaultKind] = DEFAULT_KINDS, max_rules: int = 3, min_rules: int = 0,
                    channel: str = "depth", first_message: int = FIRST_MESSAGE,
                    last_message: int = LAST_MESSAGE) -> st.SearchStrategy[tuple[FaultRule, ...]]:
    """Schedules of `min_rules`..`max_rules` rules (see `fault_rules`), at most one rule per message, in
    message order. The default range fits the default 1 s run of `FUZZ_FLOW` (see the module's doc)."""
    rules = st.lists(fault_rules(kinds, channel, first_message, last_message), min_size=min_rules,
                     max_size=max_rules, unique_by=lambda r: r.at_message)
    return rules.map(lambda drawn: tuple(sorted(drawn, key=lambda r: r.at_message or 0)))


def fuzz_scenario(schedule: Iterable[FaultRule], name: str = "shrunk", duration_s: float = 1.0,
                  flow: FlowConfig | None = FUZZ_FLOW, levels: Sequence[str] = ("market_data",)) -> Scenario:
    """The scenario an example runs: the calm `flow` plus `schedule`, for `duration_s`."""
    rules = tuple(schedule)
    return Scenario(name, f"a generated fault schedule of {len(rules)} rule(s)", flow=flow, faults=rules,
                    orders=OrderActivity(), duration_s=duration_s, levels=tuple(levels))


def fuzz_options(level: str | ConformanceLevel = ConformanceLevel.MARKET_DATA) -> RunOptions:
    """Run options for an example: no files, the whole book compared every 10 ms."""
    from .runner import RunOptions

    return RunOptions(level=parse_level(str(level)), out_dir=None, depth=FUZZ_DEPTH,
                      sample_interval_s=FUZZ_SAMPLE_INTERVAL_S)


class ScheduleFailure(AssertionError):
    """The connector failed under a schedule; the message has the failing checks and the replayable scenario."""

    def __init__(self, message: str, result: ScenarioResult, scenario: Scenario) -> None:
        super().__init__(message)
        self.result = result
        self.scenario = scenario


def replay_text(result: ScenarioResult, scenario: Scenario, options: RunOptions, file_name: str = "") -> str:
    """The scenario as TOML, and the commands that replay it from a file."""
    path = file_name or f"{scenario.name}.toml"
    command = (f"conformance run --connector {result.connector} --dialect {result.dialect} --scenario-file {path} "
               f"--seed {result.seed} --level {result.level.value} --depth {options.depth} "
               f"--sample-interval {options.sample_interval_s:g}")
    return "\n".join([
        f"Replay: save the scenario below as {path}, then",
        f"  {command}",
        f"or serve it for your own client: mock-exchange serve --dialect {result.dialect} --scenario-file {path} "
        f"--seed {result.scenario_seed} --port 0",
        "",
        f"# {path}",
        scenario_toml(dataclasses.replace(scenario, seed=result.scenario_seed)).rstrip(),
    ])


async def arun_under(connector: str | ConnectorFactory, schedule: Iterable[FaultRule], dialect: str = "binance",
                     seed: int = 0, level: str | ConformanceLevel = ConformanceLevel.MARKET_DATA,
                     duration_s: float = 1.0, options: RunOptions | None = None) -> ScenarioResult:
    """Run the connector under `schedule` (see `fuzz_scenario`) and return the result, unjudged."""
    from .runner import run_scenario

    return await run_scenario(connector, dialect, fuzz_scenario(schedule, duration_s=duration_s), seed,
                              options or fuzz_options(level))


def judge_schedule(result: ScenarioResult, scenario: Scenario, options: RunOptions,
                   only: Iterable[str] | None = None) -> None:
    """Raise `ScheduleFailure` if a required check failed (among the `only` globs, when given)."""
    from .reports.text import error_text

    if result.not_applicable:  # e.g. corrupt rules on a dialect without a book checksum: nothing was checked
        raise ValueError(f"{result.skipped}: use a dialect that has it, or leave such rules out")
    patterns = list(only) if only is not None else ["*"]
    failures = [c for c in result.failures if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]
    if result.error is None and not failures:
        return
    rules = len(scenario.faults)
    lines = [f"the connector {result.connector} fails on {result.dialect} under a fault schedule of {rules} "
             f"rule(s): " + ", ".join(r.describe() for r in scenario.faults)]
    if result.error is not None:
        lines.append(error_text(result))
    for check in failures:
        lines.append(f"[{check.name}] {check.message}" + (f"\n  since: {check.since}" if check.since else ""))
    lines += ["", replay_text(result, dataclasses.replace(scenario, seed=result.scenario_seed), options)]
    raise ScheduleFailure("\n".join(lines), result, scenario)


def check_connector_under(connector: str | ConnectorFactory, schedule: Iterable[FaultRule],
                          dialect: str = "binance", seed: int = 0,
                          level: str | ConformanceLevel = ConformanceLevel.MARKET_DATA, duration_s: float = 1.0,
                          only: Iterable[str] | None = None) -> ScenarioResult:
    """Run the connector under `schedule` and raise `ScheduleFailure` (an AssertionError, so hypothesis shrinks
    it) if a required check fails. For a test that is not async; `acheck_connector_under` inside a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(acheck_connector_under(connector, schedule, dialect, seed, level, duration_s, only))
    raise RuntimeError("check_connector_under() inside a running event loop: use `await acheck_connector_under()`")


async def acheck_connector_under(connector: str | ConnectorFactory, schedule: Iterable[FaultRule],
                                 dialect: str = "binance", seed: int = 0,
                                 level: str | ConformanceLevel = ConformanceLevel.MARKET_DATA,
                                 duration_s: float = 1.0, only: Iterable[str] | None = None) -> ScenarioResult:
    rules = tuple(schedule)
    options = fuzz_options(level)
    result = await arun_under(connector, rules, dialect, seed, level, duration_s, options)
    judge_schedule(result, fuzz_scenario(rules, duration_s=duration_s), options, only)
    return result


__all__ = ["DEFAULT_KINDS", "FIRST_MESSAGE", "FUZZ_FLOW", "LAST_MESSAGE", "ScheduleFailure", "acheck_connector_under",
           "arun_under", "check_connector_under", "fault_rules", "fault_schedules", "fuzz_options", "fuzz_scenario",
           "judge_schedule", "replay_text"]
