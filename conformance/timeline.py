"""Timelines of a scenario run, for the reports' plots: per connector instance, the connector's best bid, best
ask and claimed update id next to the truth's, sample by sample; and the faults the exchange fired.

Both are on the same clock: seconds since the exchange started (the transcript's `t`, which is in µs). The
truth beside a sample is the exchange's book *at the update id the sample claims* (what `book.truth` compares
with), or, when the sample claims no id the exchange can rebuild, the exchange's book at that time. A series is
cut to at most `MAX_POINTS` points; in each stretch that is merged, a sample that differs from the truth is kept
before one that matches, so a divergence stays on the plot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .checks.books import FUTURE, NO_ID, OUT_OF_HISTORY, book_diffs
from .fault_log import FaultLog
from .observations import BookSample, VenueRecord
from .protocol import Level

#: at most this many points per timeline
MAX_POINTS = 400
#: at most this many faults kept per scenario (the transcript has them all)
MAX_FAULTS = 2000

#: a point's status: the book equals the truth at its claimed id / differs / was not compared, and why
MATCH, DIFF = "ok", "diff"
_NOTES = {NO_ID: "no_id", FUTURE: "future", OUT_OF_HISTORY: "old"}


@dataclass(frozen=True)
class FaultMark:
    """A fault (or an exchange action of the scenario) the exchange fired, at `t` seconds since it started."""

    t: float
    kind: str
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "kind": self.kind, "where": self.where}


@dataclass(frozen=True)
class Timeline:
    """One connector instance's book over the run, next to the truth (columns of equal length)."""

    venue: str
    #: when the connector was ready (the run phase started) and when settling started
    run_t: float
    settle_t: float | None
    #: samples taken; the columns hold at most `MAX_POINTS` of them
    samples: int
    t: tuple[float, ...] = ()
    bid: tuple[float | None, ...] = ()
    ask: tuple[float | None, ...] = ()
    update_id: tuple[int | None, ...] = ()
    truth_bid: tuple[float | None, ...] = ()
    truth_ask: tuple[float | None, ...] = ()
    #: the exchange's last update id at `t`
    truth_update_id: tuple[int, ...] = ()
    #: "ok" | "diff" (the book vs the truth at its claimed id, to the run's depth) | "no_id" | "future" | "old"
    status: tuple[str, ...] = ()

    @property
    def points(self) -> int:
        return len(self.t)

    def to_dict(self) -> dict[str, Any]:
        return {"venue": self.venue, "run_t": round(self.run_t, 6),
                "settle_t": None if self.settle_t is None else round(self.settle_t, 6), "samples": self.samples,
                "t": list(self.t), "bid": list(self.bid), "ask": list(self.ask), "update_id": list(self.update_id),
                "truth_bid": list(self.truth_bid), "truth_ask": list(self.truth_ask),
                "truth_update_id": list(self.truth_update_id), "status": list(self.status)}


def _best(levels: Sequence[Level] | None) -> float | None:
    return float(levels[0][0]) if levels else None


def _price(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def point_status(sample: BookSample) -> str:
    if sample.truth_bids is None or sample.truth_asks is None:
        return _NOTES.get(sample.note, "no_id")
    return DIFF if book_diffs(sample.bids, sample.asks, sample.truth_bids, sample.truth_asks) else MATCH


def downsample(samples: Sequence[BookSample], statuses: Sequence[str],
               max_points: int = MAX_POINTS) -> list[int]:
    """Indices of at most `max_points` samples, evenly spread; per merged stretch the first sample that does not
    match the truth (else the stretch's first). The last sample is always kept."""
    count = len(samples)
    if count <= max_points:
        return list(range(count))
    if max_points < 2:
        return [count - 1] if max_points == 1 else []
    buckets = max_points - 1
    size = (count - 1) / buckets
    chosen = []
    for bucket in range(buckets):
        start, end = math.floor(bucket * size), math.floor((bucket + 1) * size)
        stretch = range(start, max(end, start + 1))
        chosen.append(next((i for i in stretch if statuses[i] != MATCH), stretch[0]))
    chosen.append(count - 1)
    return sorted(set(chosen))


def timeline(record: VenueRecord, max_points: int = MAX_POINTS) -> Timeline:
    """The timeline of a venue's record (its book samples, downsampled)."""
    statuses = [point_status(s) for s in record.books]
    indices = downsample(record.books, statuses, max_points)
    picked = [record.books[i] for i in indices]
    kept = [statuses[i] for i in indices]
    truth_bid: list[float | None] = []
    truth_ask: list[float | None] = []
    for sample in picked:
        if sample.truth_bids is not None and sample.truth_asks is not None:
            truth_bid.append(_best(sample.truth_bids))
            truth_ask.append(_best(sample.truth_asks))
        elif sample.truth_top is not None:
            truth_bid.append(_price(sample.truth_top[0]))
            truth_ask.append(_price(sample.truth_top[1]))
        else:
            truth_bid.append(None)
            truth_ask.append(None)
    return Timeline(record.label, record.run_t, record.settle_t, len(record.books),
                    tuple(round(s.t, 4) for s in picked), tuple(_best(s.bids) for s in picked),
                    tuple(_best(s.asks) for s in picked), tuple(s.update_id for s in picked), tuple(truth_bid),
                    tuple(truth_ask), tuple(s.truth_last_id for s in picked), tuple(kept))


def fault_marks(faults: FaultLog | None, limit: int = MAX_FAULTS) -> list[FaultMark]:
    if faults is None:
        return []
    return [FaultMark(f.t, f.kind, f.where) for f in faults.faults[:limit]]


def fault_kinds(marks: Iterable[FaultMark]) -> list[str]:
    """The kinds in order of first firing."""
    return list(dict.fromkeys(m.kind for m in marks))
