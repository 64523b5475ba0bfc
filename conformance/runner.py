"""The runner: one scenario against one connector (`run_scenario`), or many (`run_suite`, optionally spread over
processes). This is the API the CLI and the pytest plugin call.

A scenario run, in-process (the default):
1. start a `MockExchange` for the scenario (its flow, faults and actions, seeded from the scenario's seed) and
   serve it on 127.0.0.1 (a free port) in the scenario's dialect, recording a transcript;
2. build one connector per venue the run needs (spot, perpetual) through the factory, each with its own
   account's keys, start them and wait until ready (bounded);
3. for the scenario's duration: an order driver per trading connector places and cancels orders, and the
   sampler records every connector's book, orders and funding info next to the truth;
4. settle: stop placing orders, pause the flow, switch faults off, poll (bounded) until every connector agrees
   with the exchange, and take the final state;
5. stop everything that was started, and run the checks of the requested level on each connector's record.

A scenario that needs what the dialect does not have (`Scenario.needs`: `corrupt_book` needs book messages with a
checksum) is not run there: its result is skipped and marked not applicable (neither a pass nor a failure).

Against an out-of-process `mock-exchange serve` (`exchange_url`), steps 1 and 5 go through the control API:
the scenario is started on the running exchange (`POST /_mock/scenario`), the truth is read over HTTP, and the
server writes the transcript (if it was started with `--transcript`).

    from conformance.runner import RunOptions, run_suite
    suite = run_suite("reference", "binance", ["calm", "gaps"], seed=7, options=RunOptions(out_dir=Path("out")))
    assert suite.passed, suite.failures()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import random
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from mock_exchanges.scenarios import Scenario, get_scenario

from .adapters import resolve_connector
from .checks import Status, evaluate
from .fault_log import FaultLog
from .levels import ConformanceLevel
from .observations import VenueRecord
from .order_driver import OrderDriver
from .planning import (
    VENUE_ACCOUNTS,
    VENUE_SYMBOLS,
    RunOptions,
    level_for,
    plan_venues,
    replay_command,
    resolve_scenarios,
    slug,
)
from .probe import Probe
from .protocol import ConnectorAdapter, ConnectorContext, ConnectorFactory, Credentials, Venue
from .results import ScenarioResult, SuiteResult
from .sampler import Sampler
from .seeds import derive_seed
from .settle import final_state, settle
from .timeline import fault_marks, timeline
from .truth import InProcessTruth, MarketInfo, RemoteTruth, Truth

__all__ = ["ProgressEvent", "RunOptions", "ScenarioResult", "SuiteResult", "arun_suite", "level_for", "plan_venues",
           "replay_command", "resolve_scenarios", "run_scenario", "run_suite"]

log = logging.getLogger(__name__)


# --- one scenario -------------------------------------------------------------------------------------
async def run_scenario(connector: str | ConnectorFactory, dialect: str, scenario: str | Scenario, seed: int,
                       options: RunOptions | None = None) -> ScenarioResult:
    """Run one scenario against the connector and check it. Never raises for a failing connector: the
    result says what failed; `error` is set when the harness itself failed."""
    options = options or RunOptions()
    factory = resolve_connector(connector)
    named = get_scenario(scenario) if isinstance(scenario, str) else scenario
    level = level_for(factory, dialect, options.level)
    scenario_seed = derive_seed(seed, named.name)
    named = named.with_seed(scenario_seed)
    result = ScenarioResult(named.name, named.description, factory.spec, dialect, seed, scenario_seed, level,
                            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                            replay=replay_command(factory.spec, dialect, named.name, seed, level, options))
    not_applicable = named.not_applicable(dialect)
    if not_applicable is not None:  # e.g. corrupt_book where book messages carry no checksum: nothing to run
        result.skipped = not_applicable
        result.not_applicable = True
        return result
    venues = plan_venues(factory.venues(dialect), level, named)
    if not venues:
        result.skipped = f"scenario {named.name} exercises {', '.join(named.levels)}, not gated at {level.value}"
        return result
    result.venues = [v.value for v in venues]
    stem = f"{slug(factory.spec)}-{dialect}-{named.name}-seed{seed}"
    transcript_path: Path | None = None
    handler: logging.Handler | None = None
    if options.out_dir is not None and options.exchange_url is None:
        transcript_path = options.out_dir / "transcripts" / f"{stem}.jsonl"
        result.transcript = str(transcript_path)
    root_level = logging.getLogger().level
    if options.out_dir is not None:
        log_path = options.out_dir / "logs" / f"{stem}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        handler.setLevel(options.log_level)
        if root.level > options.log_level or root.level == logging.NOTSET:
            root.setLevel(options.log_level)
        result.log = str(log_path)
    started = time.monotonic()
    records: list[VenueRecord] = []
    fired: list[dict[str, Any]] = []  # the fault controller's records (in-process), for a run without transcript
    try:
        if options.exchange_url is None:
            records = await _run_in_process(factory, dialect, named, venues, level, options, transcript_path,
                                            fired)
        else:
            records = await _run_remote(factory, dialect, named, venues, level, options)
    except Exception:
        result.error = traceback.format_exc()
        log.exception("scenario %s: the harness failed", named.name)
    finally:
        result.duration_s = time.monotonic() - started
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            logging.getLogger().setLevel(root_level)
            handler.close()
    faults = _fault_log(transcript_path, fired)
    result.faults = fault_marks(faults)
    result.timelines = [timeline(record) for record in records]
    if result.error is None:
        for record in records:
            if record.snapshots_served is not None:  # in process: the exchange's faults are known too
                record.snapshot_causes = faults.resync_causes() if faults is not None else ()
            for outcome in evaluate(record, options.bounds, level.covered()):
                if outcome.t is not None and faults is not None and outcome.status is Status.FAIL:
                    outcome = dataclasses.replace(outcome, since=faults.before(outcome.t))
                result.checks.append(outcome)
            result.diagnostics[record.label] = record.diagnostics
    return result


def _fault_log(transcript_path: Path | None, fired: list[dict[str, Any]]) -> FaultLog | None:
    """The faults the exchange fired: from the transcript (all of them), else the fault controller's latest
    records (in-process), else none (an out-of-process exchange)."""
    if transcript_path is not None and transcript_path.exists():
        try:
            return FaultLog.from_transcript(transcript_path)
        except (OSError, ValueError) as error:  # a transcript cut short by a harness failure
            log.warning("could not read the faults back from %s: %r", transcript_path, error)
    return FaultLog.from_records(fired) if fired else None


def _venue_market(markets: list[MarketInfo], venue: Venue) -> MarketInfo:
    wanted = VENUE_SYMBOLS[venue]
    for market in markets:
        if market.symbol == wanted:
            return market
    for market in markets:
        if market.venue is venue:
            return market
    raise LookupError(f"the exchange has no {venue.value} market")


async def _run_in_process(factory: ConnectorFactory, dialect: str, scenario: Scenario, venues: tuple[Venue, ...],
                          level: ConformanceLevel, options: RunOptions,
                          transcript_path: Path | None, fired: list[dict[str, Any]]) -> list[VenueRecord]:
    from mock_exchanges.faults import Transcript
    from mock_exchanges.server import MockExchange, MockExchangeServer
    from mock_exchanges.server.app import DIALECTS_KEY
    from mock_exchanges.server.exchange import default_markets

    symbols = {VENUE_SYMBOLS[v] for v in venues}
    config = scenario.exchange_config(markets=tuple(s for s in default_markets() if s.symbol in symbols),
                                      accounts=max(VENUE_ACCOUNTS.values()) + 1)
    transcript = Transcript(transcript_path, keep=False) if transcript_path is not None else None
    exchange = MockExchange(config, transcript=transcript)
    server = MockExchangeServer(exchange, dialects=[dialect])
    try:
        await server.start()
        truth = InProcessTruth(exchange)
        installed = server.app[DIALECTS_KEY][0]
        extras = getattr(installed, "account_credentials", None)
        markets = await truth.markets()
        setups = []
        for venue in venues:
            account = exchange.trading_accounts[VENUE_ACCOUNTS[venue]]
            credentials = Credentials(account.api_key, account.api_secret,
                                      dict(extras(account)) if extras is not None else {})
            setups.append((venue, _venue_market(markets, venue), account.account_id, credentials))
        records = await _drive(factory, truth, dialect, server.base_url, server.ws_url, setups, scenario, level,
                               options)
        for record in records:
            record.snapshots_served = tuple(t / 1e6 for t in exchange.faults.snapshots_served.get(record.symbol, ()))
        return records
    finally:
        await server.close()
        fired.extend(exchange.faults.recent)
        if transcript is not None:
            transcript.close()


async def _run_remote(factory: ConnectorFactory, dialect: str, scenario: Scenario, venues: tuple[Venue, ...],
                      level: ConformanceLevel, options: RunOptions) -> list[VenueRecord]:
    assert options.exchange_url is not None
    base = options.exchange_url.rstrip("/")
    async with aiohttp.ClientSession() as session:
        truth = RemoteTruth(session, base + "/_mock", options.control_token)
        await truth.start_scenario(scenario.name, scenario.seed)
        await truth.resume_flow()
        accounts = await truth.accounts()
        markets = await truth.markets()
        setups = []
        for venue in venues:
            index = VENUE_ACCOUNTS[venue]
            if index >= len(accounts):
                raise RuntimeError(f"the exchange has {len(accounts)} trading accounts; the {venue.value} connector "
                                   f"needs account #{index} (serve with --accounts {index + 1})")
            account = accounts[index]
            credentials = Credentials(account["api_key"], account["api_secret"])
            setups.append((venue, _venue_market(markets, venue), int(account["account_id"]), credentials))
        ws = "ws" + base.removeprefix("http")
        return await _drive(factory, truth, dialect, base, ws, setups, scenario, level, options)


async def _drive(factory: ConnectorFactory, truth: Truth, dialect: str, rest_url: str, ws_url: str,
                 setups: list[tuple[Venue, MarketInfo, int, Credentials]], scenario: Scenario,
                 level: ConformanceLevel, options: RunOptions) -> list[VenueRecord]:
    """Steps 2-5 of a run (see the module doc), the same in-process and remote."""
    bounds = options.bounds
    since_us = await truth.exchange_time_us()
    probes: list[Probe] = []
    for venue, market, account_id, credentials in setups:
        context = ConnectorContext(venue, dialect, rest_url, ws_url, credentials, (market.trading_pair,),
                                   scenario.seed)
        adapter = factory.create(context)
        assets = (market.base, market.quote) if venue is Venue.SPOT else (market.quote,)
        record = VenueRecord(venue, market.trading_pair, market.symbol, assets, adapter.capabilities, options.depth,
                             sample_interval_s=options.sample_interval_s)
        probes.append(Probe(adapter, market, account_id, record, since_us))
    started: list[Probe] = []
    try:
        for probe in probes:
            try:
                await probe.adapter.start()
                started.append(probe)
            except Exception as error:
                probe.record.ready_error = f"start() raised {error!r}"
        await asyncio.gather(*(_wait_ready(p, truth, bounds.ready_s) for p in started))
        ready = [p for p in started if p.record.ready_error is None]
        if ready:
            await _exercise(ready, truth, scenario, level, options)
    finally:
        for probe in started:
            await _stop(probe, bounds.stop_s)
    return [p.record for p in probes]


async def _wait_ready(probe: Probe, truth: Truth, timeout_s: float) -> None:
    start = time.monotonic()
    try:
        await asyncio.wait_for(probe.adapter.wait_ready(timeout_s), timeout_s + 1.0)
        probe.record.ready_s = time.monotonic() - start
    except Exception as error:
        probe.record.ready_error = str(error) or repr(error)
    probe.record.run_t = truth.elapsed_s()


async def _exercise(probes: list[Probe], truth: Truth, scenario: Scenario, level: ConformanceLevel,
                    options: RunOptions) -> None:
    """The run phase (order flow + sampling for the scenario's duration), then settling."""
    bounds = options.bounds
    sampler = Sampler(truth, probes, options.sample_interval_s)
    sampler_task = asyncio.get_running_loop().create_task(sampler.run(), name="conformance:sampler")
    drivers: list[OrderDriver] = []
    driver_tasks: list[asyncio.Task[None]] = []
    try:
        if level.includes(ConformanceLevel.ORDERS):
            for index, probe in enumerate(probes):
                if probe.trading:
                    rng = random.Random(f"{scenario.seed}:orders:{index}")
                    driver = OrderDriver(probe, truth, scenario.orders, rng)
                    drivers.append(driver)
                    driver_tasks.append(asyncio.get_running_loop().create_task(driver.run()))
        await asyncio.sleep(max(0.5, scenario.duration_s * options.duration_scale))  # the scenario's running time
        for driver in drivers:
            await driver.finish(bounds.settle_s / 2)
        for task in driver_tasks:
            await task
        settle_t = truth.elapsed_s()
        for probe in probes:
            probe.record.settle_t = settle_t
        await truth.pause_flow()
        await truth.quiesce_faults()
        converged, waited, remaining = await settle(probes, truth, bounds.settle_s)
        for probe in probes:
            probe.record.final = await final_state(probe, truth, converged, waited,
                                                   remaining.get(probe.record.label, []))
    finally:
        for driver in drivers:
            driver.stop()
        for task in driver_tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sampler.stop()
        await sampler_task
        if sampler.errors:
            for probe in probes:
                probe.record.diagnostics["sampler_errors"] = dict(sampler.errors)


async def _stop(probe: Probe, timeout_s: float) -> None:
    adapter: ConnectorAdapter = probe.adapter
    try:
        probe.record.diagnostics.update(adapter.diagnostics())
    except Exception as error:
        probe.record.diagnostics["diagnostics_error"] = repr(error)
    try:
        await asyncio.wait_for(adapter.stop(), timeout_s)
    except Exception as error:
        probe.record.stop_error = repr(error) if not isinstance(error, TimeoutError) else f"not stopped in {timeout_s}s"


# --- many scenarios -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProgressEvent:
    kind: str  # "start" | "done"
    scenario: str
    index: int  # scenarios finished so far (for "done", including this one)
    total: int
    result: ScenarioResult | None = None


Progress = Callable[[ProgressEvent], None]


async def arun_suite(connector: str | ConnectorFactory, dialect: str, scenarios: str | Sequence[str | Scenario],
                     seed: int, options: RunOptions | None = None, progress: Progress | None = None) -> SuiteResult:
    """`run_suite` in the running event loop, one scenario after the other (no processes)."""
    options = options or RunOptions()
    factory = resolve_connector(connector)
    level = level_for(factory, dialect, options.level)
    chosen = resolve_scenarios(scenarios)
    suite = SuiteResult(factory.spec, dialect, level, seed, [], 1,
                        started_at=datetime.now(UTC).isoformat(timespec="seconds"), bounds=options.bounds)
    start = time.monotonic()
    for index, scenario in enumerate(chosen):
        if progress is not None:
            progress(ProgressEvent("start", scenario.name, index, len(chosen)))
        result = await run_scenario(factory, dialect, scenario, seed, dataclasses.replace(options, level=level))
        suite.results.append(result)
        if progress is not None:
            progress(ProgressEvent("done", scenario.name, index + 1, len(chosen), result))
    suite.wall_time_s = time.monotonic() - start
    return suite


def _run_one(connector: str | ConnectorFactory, dialect: str, scenario: Scenario, seed: int,
             options: RunOptions) -> ScenarioResult:
    """A worker process's job: one scenario in its own event loop (and so its own ports)."""
    return asyncio.run(run_scenario(connector, dialect, scenario, seed, options))


def run_suite(connector: str | ConnectorFactory, dialect: str, scenarios: str | Sequence[str | Scenario], seed: int,
              options: RunOptions | None = None, jobs: int = 1, progress: Progress | None = None) -> SuiteResult:
    """Run scenarios and check them. `jobs > 1` spreads them over that many processes (spawned: each has its
    own interpreter, loop and ports); the connector is then best given by name (a factory object must pickle).
    Call it outside an event loop; inside one, use `arun_suite`."""
    options = options or RunOptions()
    if jobs <= 1:
        return asyncio.run(arun_suite(connector, dialect, scenarios, seed, options, progress))
    factory = resolve_connector(connector)
    level = level_for(factory, dialect, options.level)
    options = dataclasses.replace(options, level=level)
    chosen = resolve_scenarios(scenarios)
    shipped: str | ConnectorFactory = connector if isinstance(connector, str) else factory
    suite = SuiteResult(factory.spec, dialect, level, seed, [], jobs,
                        started_at=datetime.now(UTC).isoformat(timespec="seconds"), bounds=options.bounds)
    start = time.monotonic()
    results: dict[str, ScenarioResult] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(chosen)) or 1, mp_context=context) as pool:
        futures = {pool.submit(_run_one, shipped, dialect, scenario, seed, options): scenario for scenario in chosen}
        for scenario in chosen:
            if progress is not None:
                progress(ProgressEvent("start", scenario.name, 0, len(chosen)))
        for done, future in enumerate(as_completed(futures), start=1):
            scenario = futures[future]
            try:
                result = future.result()
            except Exception:
                result = ScenarioResult(scenario.name, scenario.description, factory.spec, dialect, seed,
                                        derive_seed(seed, scenario.name), level, error=traceback.format_exc(),
                                        replay=replay_command(factory.spec, dialect, scenario.name, seed, level,
                                                              options))
            results[scenario.name] = result
            if progress is not None:
                progress(ProgressEvent("done", scenario.name, done, len(chosen), result))
    suite.results = [results[s.name] for s in chosen]
    suite.wall_time_s = time.monotonic() - start
    return suite
