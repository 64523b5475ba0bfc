"""Run the registered checks on a venue's record and collect their results."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..levels import ConformanceLevel
from ..observations import VenueRecord
from .base import Bounds, Check, Severity, Status, all_checks


@dataclass(frozen=True)
class CheckResult:
    name: str
    level: ConformanceLevel
    severity: Severity
    status: Status
    #: which connector instance: "spot BTC-USDT", "perpetual BTC-USDT"
    venue: str
    message: str = ""
    #: when the failure was first seen (seconds since the exchange started)
    t: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    #: the rule, in one line
    summary: str = ""
    #: the last fault that fired before `t` (filled in by the runner when it has a transcript)
    since: str = ""

    @property
    def blocking(self) -> bool:
        """Fails the run: a required check that failed or could not run."""
        return self.severity is Severity.REQUIRED and self.status in (Status.FAIL, Status.ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level.value, "severity": self.severity.value,
                "status": self.status.value, "venue": self.venue, "message": self.message, "t": self.t,
                "since": self.since, "summary": self.summary, "details": _plain(self.details)}


def _plain(value: Any) -> Any:
    """JSON-ready: Decimals and other scalars as strings, containers recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def evaluate(record: VenueRecord, bounds: Bounds, levels: Iterable[ConformanceLevel],
             checks: Iterable[Check] | None = None) -> list[CheckResult]:
    """The results of every check of `levels` on `record` (a check that raises gives an ERROR result)."""
    wanted = set(levels)
    results: list[CheckResult] = []
    for chk in checks if checks is not None else all_checks():
        if chk.level not in wanted:
            continue
        reason = chk.not_applicable(record)
        if reason is None and record.ready_error is not None and chk.name != "connector.ready":
            reason = "the connector did not become ready"
        if reason is not None:
            results.append(CheckResult(chk.name, chk.level, chk.severity, Status.SKIP, record.label, reason,
                                       summary=chk.summary))
            continue
        try:
            outcome = chk.function(record, bounds)
        except Exception as error:  # a check must never take the report down with it
            results.append(CheckResult(chk.name, chk.level, chk.severity, Status.ERROR, record.label,
                                       f"the check raised {error!r}", None,
                                       {"traceback": traceback.format_exc(limit=5)}, chk.summary))
            continue
        results.append(CheckResult(chk.name, chk.level, chk.severity, outcome.status, record.label, outcome.message,
                                   outcome.t, outcome.details, chk.summary))
    return results
