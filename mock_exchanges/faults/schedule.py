"""A fault schedule is data: a seed and a list of rules, each saying which fault, where, and when.

A rule selects messages (or REST requests, or connection attempts) with optional filters - channel,
symbol, user-event kind, connection ordinal, path prefix, REST role - and fires on them by a trigger:
- `at_message=N`: the N-th selected message on each selected connection (1-based), and the `count - 1`
  selected messages after it ("drop the 40th diff");
- `at_update_id=U`: the first selected frame whose update-id range covers U, and `count - 1` after it;
- `start_s`/`end_s`: every selected message inside that window of the run (seconds since the exchange
  started, on the engine's clock);
- none of these: every selected message.
`probability` thins whatever the trigger selects, from a random stream seeded by the schedule's seed, the
rule's index and the connection's ordinal ("drop 1% of diffs from seed 7"), so the same seed always
picks the same messages.
"""

from __future__ import annotations

import dataclasses
import random
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class FaultKind(StrEnum):
    # WebSocket frames (market data and user streams)
    DROP = "drop"  # not sent: a missing nonce / update-id gap, a lost user event
    DUPLICATE = "duplicate"  # sent twice
    REORDER = "reorder"  # held back until `hold` later frames have gone out
    DELAY = "delay"  # this frame and all after it wait `delay_ms` (+ up to `jitter_ms`): order kept
    BURST = "burst"  # frames held until `hold` have accumulated, then sent at once
    STALL = "stall"  # socket stays open, nothing is sent for `duration_s` (frames in between are lost)
    DISCONNECT = "disconnect"  # the TCP connection is aborted, no close frame
    CLOSE = "close"  # the server closes with `close_code` and `reason`
    UNKNOWN_EVENT = "unknown_event"  # an event type no client knows is sent before the frame
    FILL_BEFORE_ACK = "fill_before_ack"  # an order ack is held until that order's next fill has gone out
    TERMINATE = "terminate"  # the dialect's own end of a user stream (eventStreamTerminated, listenKeyExpired)
    CORRUPT = "corrupt"  # a book message sent with one level's size wrong, its ids and checksum those of the truth
    # connection attempts
    REFUSE_CONNECT = "refuse_connect"  # a WebSocket handshake answered 503
    # REST
    STALE_SNAPSHOT = "stale_snapshot"  # a book snapshot served `lag` updates old
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After
    BAN = "ban"  # 418 (or the dialect's equivalent) with Retry-After
    SERVER_ERROR = "server_error"  # 5xx
    UNKNOWN_STATUS = "unknown_status"  # the request is executed, the answer says its outcome is unknown
    TIMEOUT = "timeout"  # no answer for `duration_s`, then the connection is dropped
    RESET = "reset"  # the connection is dropped without an answer
    SLOW_RESPONSE = "slow_response"  # the answer waits `delay_ms` (a snapshot that lags the stream)
    CANCEL_FILL_RACE = "cancel_fill_race"  # the order is filled by the market just before the cancel runs


WS_KINDS = frozenset({
    FaultKind.DROP, FaultKind.DUPLICATE, FaultKind.REORDER, FaultKind.DELAY, FaultKind.BURST, FaultKind.STALL,
    FaultKind.DISCONNECT, FaultKind.CLOSE, FaultKind.UNKNOWN_EVENT, FaultKind.FILL_BEFORE_ACK, FaultKind.TERMINATE,
    FaultKind.CORRUPT,
})
REST_KINDS = frozenset({
    FaultKind.RATE_LIMIT, FaultKind.BAN, FaultKind.SERVER_ERROR, FaultKind.UNKNOWN_STATUS, FaultKind.TIMEOUT,
    FaultKind.RESET, FaultKind.SLOW_RESPONSE,
})
#: the one kind that acts through the engine (as a market participant would); it is recorded like the others
MARKET_KINDS = frozenset({FaultKind.CANCEL_FILL_RACE})

#: what a dialect can have that some faults (and scenarios) need, and what it means. A dialect has a capability when
#: its object has a true attribute of that name (`OkxDialect.book_checksum`); a dialect that says nothing has none.
CAPABILITIES: dict[str, str] = {
    "book_checksum": "book messages that carry a checksum of the book",
    "depth_intervals": "depth streams merged per documented interval on request (batch_depth)",
}
#: the capability a fault kind needs to mean anything. A corrupted book message whose ids are right can only be
#: told from a true one by a checksum: on a dialect without one no connector could notice it, so a schedule with
#: such a rule is refused there (`FaultController`) and a scenario with one does not apply (`Scenario.needs`).
KIND_NEEDS: dict[FaultKind, str] = {FaultKind.CORRUPT: "book_checksum"}


@dataclass(frozen=True)
class FaultRule:
    kind: FaultKind
    # --- which messages, requests or connections
    channel: str | None = None
    symbol: str | None = None
    user_kind: str | None = None
    connection: int | None = None
    path: str | None = None
    role: str | None = None
    # --- when
    at_message: int | None = None
    at_update_id: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    count: int = 1
    probability: float = 1.0
    # --- how
    hold: int = 1
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    duration_s: float = 0.0
    lag: int = 50
    #: SERVER_ERROR: the HTTP status to answer with (None: the dialect's own, e.g. Binance's 500)
    status: int | None = None
    retry_after_s: int = 1
    close_code: int = 1001
    reason: str = ""
    #: REST faults other than UNKNOWN_STATUS: run the handler first (the request takes effect, the answer is lost)
    executed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.kind, FaultKind):
            object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {self.probability}")
        if self.at_message is not None and self.at_message < 1:
            raise ValueError("at_message counts from 1")
        if self.hold < 1:
            raise ValueError("hold must be >= 1")

    def describe(self) -> str:
        parts = [self.kind.value]
        for name in ("channel", "symbol", "user_kind", "connection", "path", "role", "at_message", "at_update_id",
                     "start_s", "end_s"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.count != 1:
            parts.append(f"count={self.count}")
        if self.probability != 1.0:
            parts.append(f"p={self.probability}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults, so schedules read short in TOML and transcripts."""
        defaults = FaultRule(self.kind)
        out: dict[str, Any] = {"kind": self.kind.value}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "kind" and value != getattr(defaults, f.name):
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("a fault rule needs a kind")
        return cls(**data)


@dataclass(frozen=True)
class Schedule:
    seed: int = 0
    rules: tuple[FaultRule, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [r.to_dict() for r in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        return cls(seed=int(data.get("seed", 0)), rules=tuple(FaultRule.from_dict(r) for r in data.get("rules", [])))

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        with open(path, "rb") as fh:
            return cls.from_dict(tomllib.load(fh))

    def with_seed(self, seed: int) -> Schedule:
        return dataclasses.replace(self, seed=seed)

    def ws_rules(self) -> list[tuple[int, FaultRule]]:
        return [(i, r) for i, r in enumerate(self.rules) if r.kind in WS_KINDS]

    def needs(self) -> frozenset[str]:
        """The dialect capabilities its rules need (`KIND_NEEDS`)."""
        return frozenset(KIND_NEEDS[r.kind] for r in self.rules if r.kind in KIND_NEEDS)

    def unsupported(self, dialects: Sequence[object]) -> list[str]:
        """Why the rules that no dialect of `dialects` can carry out are refused, one text per capability they need
        (empty: every rule can be carried out)."""
        refused: dict[str, list[str]] = {}
        for index, rule in enumerate(self.rules):
            need = KIND_NEEDS.get(rule.kind)
            if need is not None and not any(has_capability(d, need) for d in dialects):
                refused.setdefault(need, []).append(f"#{index} ({rule.describe()})")
        names = ", ".join(dialect_name(d) for d in dialects) or "no dialect"
        return [f"fault rule{'s' if len(rules) > 1 else ''} {', '.join(rules)} need{'' if len(rules) > 1 else 's'} "
                f"a dialect with {CAPABILITIES[need]} ({need}): {names} has none (dialects with it by default: "
                f"{', '.join(dialects_with(need)) or 'none'})" for need, rules in refused.items()]


def dialect_name(dialect: object) -> str:
    return dialect if isinstance(dialect, str) else str(getattr(dialect, "name", type(dialect).__name__))


def has_capability(dialect: object, capability: str) -> bool:
    """Whether a dialect (an installed dialect object, or a registered dialect's name) has `capability`."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown dialect capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    if isinstance(dialect, str):
        from ..dialects import get_dialect

        dialect = get_dialect(dialect)
    return bool(getattr(dialect, capability, False))


def dialects_with(capability: str) -> list[str]:
    """The registered dialects (by name) that have `capability` as they are installed by name."""
    from ..dialects.base import dialect_names

    return [name for name in dialect_names() if has_capability(name, capability)]


def rule_rng(seed: int, rule_index: int, scope: int) -> random.Random:
    """The random stream of one rule on one connection (or REST scope): stable across runs and platforms."""
    return random.Random(f"{seed}:{rule_index}:{scope}")


def generate(seed: int, rates: dict[FaultKind, float], channel: str = "depth", horizon: int = 1000,
             hold: int = 2, lag: int = 50) -> Schedule:
    """A concrete schedule drawn from `seed`: for each kind, every message index up to `horizon` fires with
    that kind's rate. Concrete (`at_message`) rules, so the schedule can be shown, edited and shrunk."""
    rng = random.Random(seed)
    rules: list[FaultRule] = []
    for kind in sorted(rates, key=lambda k: k.value):
        rate = rates[kind]
        for index in range(1, horizon + 1):
            if rng.random() < rate:
                rules.append(FaultRule(kind, channel=channel, at_message=index, hold=hold, lag=lag))
    return Schedule(seed=seed, rules=tuple(rules))
