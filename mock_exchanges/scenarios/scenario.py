"""A scenario: market flow + fault schedule + exchange actions + order activity + duration + seed.

The mock exchange uses the flow, the schedule and the actions; the order activity is what a harness (the
conformance runner) asks the connector under test to do while the scenario runs. A scenario may need a dialect
capability (`requires`, and whatever its fault rules need: `needs()`); on a dialect without it, it does not apply
(`not_applicable`), and a harness reports it so instead of running it.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..faults import FaultRule, Schedule
from ..faults.schedule import CAPABILITIES, dialect_name, dialects_with, has_capability
from ..flow import FlowConfig

if TYPE_CHECKING:
    from ..server.exchange import MockExchangeConfig


class ActionKind:
    TRIGGER_FUNDING = "trigger_funding"  # settle funding now (symbol)
    SET_FUNDING_RATE = "set_funding_rate"  # script the rate (symbol, value)
    SET_MARK_PRICE = "set_mark_price"  # script the mark price (symbol, value)
    MOVE_PRICE = "move_price"  # move the flow's mid price to `value` (symbol)
    PAUSE_FLOW = "pause_flow"
    RESUME_FLOW = "resume_flow"

    ALL = (TRIGGER_FUNDING, SET_FUNDING_RATE, SET_MARK_PRICE, MOVE_PRICE, PAUSE_FLOW, RESUME_FLOW)


@dataclass(frozen=True)
class Action:
    """Something the exchange does at `at_s` seconds into the run: part of the truth, unlike a fault."""

    at_s: float
    kind: str
    symbol: str = ""
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ActionKind.ALL:
            raise ValueError(f"unknown action {self.kind!r}; known: {', '.join(ActionKind.ALL)}")
        if self.kind in (ActionKind.SET_FUNDING_RATE, ActionKind.SET_MARK_PRICE):
            Decimal(self.value)  # a clear error now rather than mid-run


@dataclass(frozen=True)
class OrderActivity:
    """What the harness makes the connector do: orders per second per market, how many get cancelled, how many
    cross the spread (and so fill), and a cap on open orders."""

    orders_per_s: float = 2.0
    cancel_ratio: float = 0.5
    marketable_ratio: float = 0.3
    max_open: int = 6


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    flow: FlowConfig | None = field(default_factory=lambda: FlowConfig(levels_per_side=100, rate_per_s=200))
    faults: tuple[FaultRule, ...] = ()
    actions: tuple[Action, ...] = ()
    orders: OrderActivity = field(default_factory=OrderActivity)
    duration_s: float = 4.0
    seed: int = 0
    #: the conformance levels this scenario is meant to exercise
    levels: tuple[str, ...] = ("market_data", "orders", "perpetuals")
    #: dialect capabilities (`mock_exchanges.faults.schedule.CAPABILITIES`) the scenario needs beyond those its
    #: fault rules need (`needs()` has both): on a dialect without them it does not apply
    requires: tuple[str, ...] = ()
    #: depth streams at the venue's documented speed, an interval's changes merged into one frame
    #: (`MockExchangeConfig.batch_depth`); needs the `depth_intervals` capability
    batch_depth: bool = False

    def __post_init__(self) -> None:
        unknown = [c for c in self.requires if c not in CAPABILITIES]
        if unknown:
            raise ValueError(f"scenario {self.name}: unknown dialect capability {', '.join(unknown)}; known: "
                             f"{', '.join(CAPABILITIES)}")

    def needs(self) -> tuple[str, ...]:
        """Every dialect capability the scenario needs: those it declares and those its fault rules need (a
        `corrupt` rule needs `book_checksum`)."""
        batching = {"depth_intervals"} if self.batch_depth else set()
        return tuple(sorted(set(self.requires) | batching | self.schedule().needs()))

    def not_applicable(self, dialect: object) -> str | None:
        """Why the scenario does not apply to `dialect` (a name or an installed dialect), or None when it does."""
        missing = [c for c in self.needs() if not has_capability(dialect, c)]
        if not missing:
            return None
        what = " and ".join(CAPABILITIES[c] for c in missing)
        able = sorted(set.intersection(*(set(dialects_with(c)) for c in missing)))
        return (f"not applicable: scenario {self.name} needs {what} ({', '.join(missing)}); the "
                f"{dialect_name(dialect)} dialect has none (it applies to: {', '.join(able) or 'no dialect'})")

    def dialects(self) -> list[str]:
        """The registered dialects the scenario applies to."""
        from ..dialects.base import dialect_names

        return [name for name in dialect_names() if self.not_applicable(name) is None]

    def with_seed(self, seed: int) -> Scenario:
        return dataclasses.replace(self, seed=seed)

    def schedule(self) -> Schedule:
        return Schedule(seed=self.seed, rules=self.faults)

    def exchange_config(self, **overrides: Any) -> MockExchangeConfig:
        """The mock exchange's settings for this scenario (flow, faults, actions, seed), plus `overrides`."""
        from ..server.exchange import MockExchangeConfig

        settings: dict[str, Any] = {"seed": self.seed, "flow": self.flow, "faults": self.schedule(),
                                    "scenario": self.name, "actions": self.actions, "batch_depth": self.batch_depth}
        return MockExchangeConfig(**{**settings, **overrides})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description, "seed": self.seed,
                               "duration_s": self.duration_s, "levels": list(self.levels)}
        if self.requires:
            out["requires"] = list(self.requires)
        if self.batch_depth:
            out["batch_depth"] = True
        if self.flow is not None:
            out["flow"] = {k: (str(v) if isinstance(v, Decimal) else v)
                           for k, v in dataclasses.asdict(self.flow).items() if v is not None}
        out["faults"] = [r.to_dict() for r in self.faults]
        out["actions"] = [dataclasses.asdict(a) for a in self.actions]
        out["orders"] = dataclasses.asdict(self.orders)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str | None = None) -> Scenario:
        known = {"name", "description", "seed", "duration_s", "levels", "flow", "faults", "actions", "orders",
                 "requires", "batch_depth"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown scenario field(s): {', '.join(sorted(unknown))}")
        flow_data = data.get("flow", {"levels_per_side": 100, "rate_per_s": 200})
        flow = None if flow_data in (None, False, "none") else FlowConfig(**_flow_fields(flow_data))
        return cls(
            name=name or data["name"],
            description=data.get("description", ""),
            flow=flow,
            faults=tuple(FaultRule.from_dict(r) for r in data.get("faults", [])),
            actions=tuple(Action(**a) for a in data.get("actions", [])),
            orders=OrderActivity(**data.get("orders", {})),
            duration_s=float(data.get("duration_s", 4.0)),
            seed=int(data.get("seed", 0)),
            levels=tuple(data.get("levels", ("market_data", "orders", "perpetuals"))),
            requires=_names(data.get("requires", ())),
            batch_depth=_flag(data.get("batch_depth", False), "batch_depth"),
        )


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value


def _names(value: Any) -> tuple[str, ...]:
    """A list of names, or one name alone (`requires = "book_checksum"`)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _flow_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if out.get("mid_price") is not None:
        out["mid_price"] = Decimal(str(out["mid_price"]))
    return out


def load_scenarios(path: str | Path) -> dict[str, Scenario]:
    """Scenarios from a TOML file: one `[scenario.<name>]` table each (or a single scenario at top level)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    if "scenario" in data:
        return {name: Scenario.from_dict(body, name) for name, body in data["scenario"].items()}
    scenario = Scenario.from_dict(data)
    return {scenario.name: scenario}
