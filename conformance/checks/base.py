"""What a check is: a named rule with a docstring, a level, a severity, and a function of a `VenueRecord`.

A check returns an `Outcome`: passed, failed (with a message that says what differed and where, and the time
`t` it was first seen), or skipped (not applicable, with the reason). The runner adds the rest of a failure
message: the last fault before `t` (since which message), the seed and the command that replays the run, and
the transcript.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..levels import ConformanceLevel
from ..observations import VenueRecord
from ..protocol import Venue


class Severity(StrEnum):
    #: a failure fails the run (exit code 1)
    REQUIRED = "required"
    #: reported, never fails the run
    ADVISORY = "advisory"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    #: the check itself raised (a bug in the kit, or a record it did not expect): counts as a failure
    ERROR = "error"


@dataclass(frozen=True)
class Bounds:
    """The time limits the checks hold a connector to (seconds). A connector is configured to meet them."""

    #: from start to ready
    ready_s: float = 15.0
    #: a book never lags the exchange longer than this (a gap, stall or disconnect must be repaired by then)
    recovery_s: float = 3.0
    #: a wrong book is made right again (a resync that restores it fully) within this
    restore_s: float = 3.0
    #: after the flow is paused and faults are off, everything must match the truth within this
    settle_s: float = 8.0
    #: an order's state and fills catch up with the exchange within this (a dropped user-stream event)
    reconcile_s: float = 5.0
    #: funding info never lags the exchange longer than this (a stalled funding feed is noticed)
    funding_stale_s: float = 3.0
    #: an order whose placement returned shows in the connector's tracked orders within this
    tracked_s: float = 2.0
    #: stop() returns within this
    stop_s: float = 10.0

    def to_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str = ""
    #: when the failure was first seen (seconds since the exchange started)
    t: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def passed(message: str = "", **details: Any) -> Outcome:
    return Outcome(Status.PASS, message, None, details)


def failed(message: str, t: float | None = None, **details: Any) -> Outcome:
    return Outcome(Status.FAIL, message, t, details)


def skipped(reason: str) -> Outcome:
    return Outcome(Status.SKIP, reason)


CheckFunction = Callable[[VenueRecord, Bounds], Outcome]


@dataclass(frozen=True)
class Check:
    name: str
    level: ConformanceLevel
    severity: Severity
    function: CheckFunction
    #: capabilities the record must have: "trading", "perpetual", "update_ids"
    needs: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.function) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n", 1)[0].replace("\n", " ")

    def not_applicable(self, record: VenueRecord) -> str | None:
        """Why this check does not apply to `record` (None: it applies)."""
        for need in self.needs:
            if need == "trading" and not record.capabilities.trading:
                return "the connector does not trade"
            if need == "perpetual" and record.venue is not Venue.PERPETUAL:
                return "not a perpetual market"
            if need == "update_ids" and not record.capabilities.update_ids:
                return "the connector's books claim no update ids"
        return None


REGISTRY: dict[str, Check] = {}
#: the order checks are listed and reported in
_AREAS = ("connector", "book", "orders", "balances", "positions", "funding")


def check(name: str, level: ConformanceLevel, severity: Severity = Severity.REQUIRED,
          needs: Iterable[str] = ()) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check. Its docstring is its documentation: the first paragraph is the rule."""

    def register(function: CheckFunction) -> CheckFunction:
        if name in REGISTRY:
            raise ValueError(f"check {name} registered twice")
        if not inspect.getdoc(function):
            raise ValueError(f"check {name} needs a docstring")
        REGISTRY[name] = Check(name, level, severity, function, tuple(needs))
        return function

    return register


def all_checks() -> list[Check]:
    """Every registered check (importing the check modules registers them), in a stable order."""
    from . import accounts, books, connector, orders  # noqa: F401 - registration side effect

    order = {name: index for index, name in enumerate(REGISTRY)}

    def key(chk: Check) -> tuple[int, int]:
        area = chk.name.split(".", 1)[0]
        return (_AREAS.index(area) if area in _AREAS else len(_AREAS), order[chk.name])

    return sorted(REGISTRY.values(), key=key)


def get_check(name: str) -> Check:
    all_checks()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(REGISTRY)}") from None


def fmt_t(t: float | None) -> str:
    return "?" if t is None else f"t={t:.3f}s"
