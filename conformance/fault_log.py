"""The faults a run fired, read back from its transcript (or the fault controller's `recent` records), to say in
a failure message what happened before it ("since which message"), and to mark them on the reports' timelines."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mock_exchanges.faults import read_transcript

#: records of the fault layer that are not faults
_NOT_FAULTS = frozenset({"quiesce"})
#: faults after which no connector needs a fresh book snapshot: a duplicate is stale, an unknown event is ignored,
#: the user-stream and order faults leave the book alone (every other fault may oblige one)
_NO_RESYNC = frozenset({"duplicate", "unknown_event", "fill_before_ack", "cancel_fill_race"})


@dataclass(frozen=True)
class FiredFault:
    t: float  # seconds since the exchange started
    kind: str
    where: str
    #: the schedule's rule that fired (None: a frame a stall swallowed, a refused connection, an action...)
    rule: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}{f' ({self.where})' if self.where else ''} at t={self.t:.3f}s"


def _where(record: dict[str, object]) -> str:
    parts = []
    if "ch" in record:
        parts.append(f"{record['ch']} message #{record.get('i')}")
    if "conn" in record:
        parts.append(f"connection {record['conn']}")
    for key in ("method", "path", "symbol", "update_id", "order_id", "value", "changed"):
        if record.get(key) not in (None, ""):
            parts.append(f"{key} {record[key]}")
    return ", ".join(parts)


class FaultLog:
    def __init__(self, faults: list[FiredFault]) -> None:
        self.faults = sorted(faults, key=lambda f: f.t)
        self._times = [f.t for f in self.faults]

    @classmethod
    def from_transcript(cls, path: str | Path) -> FaultLog:
        return cls.from_records(r for r in read_transcript(path) if r.get("ev") == "fault")

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> FaultLog:
        """From fault records: the transcript's (`"ev": "fault"`) or `FaultController.recent`'s (`t` in µs)."""
        faults = []
        for record in records:
            if record.get("kind") in _NOT_FAULTS:
                continue
            kind = str(record.get("kind"))
            fields = dict(record)
            if kind == "action":  # an exchange action of the scenario (part of the truth, logged with the faults)
                kind = f"exchange action {fields.pop('action', '')}"
            rule = record.get("rule")
            faults.append(FiredFault(int(record.get("t", 0)) / 1e6, kind, _where(fields),
                                     rule if isinstance(rule, int) else None))
        return cls(faults)

    def resync_causes(self) -> tuple[float, ...]:
        """When a fault fired that may oblige a connector to a fresh book snapshot (exchange actions are not
        faults; a stall counts once, not once per frame it swallowed)."""
        return tuple(f.t for f in self.faults if f.kind not in _NO_RESYNC and not f.kind.startswith("exchange action")
                     and not (f.kind == "stall" and f.rule is None))

    def before(self, t: float) -> str:
        """The last fault (or scenario action) at or before `t`, in words."""
        index = bisect.bisect_right(self._times, t + 1e-6)
        if index == 0:
            return f"no fault had fired before t={t:.3f}s"
        return f"last fault before it: {self.faults[index - 1]} ({index} fired by then)"
