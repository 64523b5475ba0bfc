"""Planning a run: the options, which scenarios, at which level, with which connector instances (venues),
and the command that replays a scenario."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mock_exchanges.scenarios import CATALOG, Scenario, get_scenario

from .checks import Bounds
from .levels import ConformanceLevel, highest_level
from .protocol import ConnectorFactory, Venue

#: the markets a run trades, by venue (the engine's symbols; the pair is base-quote: BTC-USDT)
VENUE_SYMBOLS: dict[Venue, str] = {Venue.SPOT: "BTCUSDT", Venue.PERPETUAL: "BTCUSDT-PERP"}
#: each venue's connector trades with its own account, so spot and perpetual balances do not mix
VENUE_ACCOUNTS: dict[Venue, int] = {Venue.SPOT: 0, Venue.PERPETUAL: 1}


@dataclass(frozen=True)
class RunOptions:
    #: the level to gate at (None: the highest the connector supports)
    level: ConformanceLevel | None = None
    #: where transcripts and logs go (None: write nothing)
    out_dir: Path | None = Path("conformance-out")
    #: book levels compared per side
    depth: int = 50
    sample_interval_s: float = 0.1
    #: scales every scenario's duration (e.g. 0.5 for a quick smoke run; seeds and faults are unchanged)
    duration_scale: float = 1.0
    bounds: Bounds = field(default_factory=Bounds)
    #: run against this out-of-process mock exchange (its control API at <url>/_mock) instead of in-process
    exchange_url: str | None = None
    control_token: str | None = None
    #: the root log level captured to each scenario's log file
    log_level: int = logging.INFO
    #: the TOML file custom scenarios came from, for replay commands
    scenario_file: str | None = None


def resolve_scenarios(names: str | Sequence[str | Scenario]) -> list[Scenario]:
    """`"all"`, a comma-separated string of names, or a list of names / `Scenario`s."""
    if isinstance(names, str):
        names = list(CATALOG) if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    return [n if isinstance(n, Scenario) else get_scenario(n) for n in names]


def level_for(factory: ConnectorFactory, dialect: str, level: ConformanceLevel | None) -> ConformanceLevel:
    """The level to gate at, checked against what the connector supports on the dialect."""
    venues = factory.venues(dialect)
    if not venues:
        raise ValueError(f"connector {factory.spec} does not support the {dialect} dialect")
    best = highest_level(venues)
    if level is None:
        return best
    if not best.includes(level):
        raise ValueError(f"connector {factory.spec} supports level {best.value} on {dialect}, not {level.value}")
    return level


def plan_venues(venues: Sequence[Venue], level: ConformanceLevel, scenario: Scenario) -> tuple[Venue, ...]:
    """The connector instances a scenario needs: spot for market data and orders (a perpetual connector when
    that is all there is), perpetual when perpetuals are gated. Empty: the scenario is not for this level."""
    exercised = {ConformanceLevel(name) for name in scenario.levels if name in ConformanceLevel.__members__.values()}
    wanted = exercised & set(level.covered())
    planned: list[Venue] = []
    if wanted & {ConformanceLevel.MARKET_DATA, ConformanceLevel.ORDERS}:
        if Venue.SPOT in venues:
            planned.append(Venue.SPOT)
        elif Venue.PERPETUAL in venues:
            planned.append(Venue.PERPETUAL)
    if ConformanceLevel.PERPETUALS in wanted and Venue.PERPETUAL in venues and Venue.PERPETUAL not in planned:
        planned.append(Venue.PERPETUAL)
    return tuple(planned)


def replay_command(spec: str, dialect: str, scenario: str, seed: int, level: ConformanceLevel,
                   options: RunOptions) -> str:
    parts = ["conformance run", f"--connector {spec}", f"--dialect {dialect}", f"--scenario {scenario}",
             f"--seed {seed}", f"--level {level.value}"]
    if options.scenario_file:
        parts.insert(4, f"--scenario-file {options.scenario_file}")
    elif scenario not in CATALOG:
        parts.append("--scenario-file <the TOML file that defines it>")
    if options.depth != 50:
        parts.append(f"--depth {options.depth}")
    if options.sample_interval_s != 0.1:
        parts.append(f"--sample-interval {options.sample_interval_s:g}")
    if options.duration_scale != 1.0:
        parts.append(f"--duration-scale {options.duration_scale:g}")
    if options.exchange_url:
        parts.append(f"--exchange-url {options.exchange_url}")
    return " ".join(parts)


def slug(text: str) -> str:
    """`text` as a file name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
