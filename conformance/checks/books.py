"""Order book checks: the connector's book against the exchange's book, sample by sample, and after settling.

The sampler reads the connector's book (bids, asks, claimed update id) and, in the same instant, the
exchange's book *at that update id* (the engine keeps the history to rebuild it), so a book that lags is not
wrong, only late; a book that claims an id must equal the truth at that id, every level to the run's depth.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..levels import ConformanceLevel
from ..observations import BookSample, StaleLevel, VenueRecord
from ..protocol import Level
from .base import Bounds, Outcome, check, failed, fmt_t, passed, skipped

L = ConformanceLevel.MARKET_DATA
ZERO = Decimal(0)
NO_ID = "no id claimed"
OUT_OF_HISTORY = "older than the exchange's history"
FUTURE = "beyond the exchange's last id"


@dataclass(frozen=True, slots=True)
class LevelDiff:
    side: str  # "bid" | "ask"
    price: Decimal
    shown: Decimal  # 0: the connector has no such level
    truth: Decimal  # 0: the exchange has no such level

    def __str__(self) -> str:
        return f"{self.side} {self.price}: shown {self.shown} truth {self.truth}"


def side_diffs(side: str, shown: Sequence[Level], truth: Sequence[Level]) -> list[LevelDiff]:
    """Levels (to the shorter list's reach: both are already cut to the run's depth) that differ, best first."""
    mine, theirs = dict(shown), dict(truth)
    prices = set(mine) | set(theirs)
    diffs = [LevelDiff(side, p, mine.get(p, ZERO), theirs.get(p, ZERO)) for p in prices
             if mine.get(p, ZERO) != theirs.get(p, ZERO)]
    diffs.sort(key=lambda d: d.price, reverse=side == "bid")
    return diffs


def book_diffs(bids: Sequence[Level], asks: Sequence[Level], truth_bids: Sequence[Level],
               truth_asks: Sequence[Level]) -> list[LevelDiff]:
    return side_diffs("bid", bids, truth_bids) + side_diffs("ask", asks, truth_asks)


def sample_diffs(sample: BookSample) -> list[LevelDiff] | None:
    """The levels a sample gets wrong; None when it was not compared (no id claimed, or out of history)."""
    if sample.truth_bids is None or sample.truth_asks is None:
        return None
    return book_diffs(sample.bids, sample.asks, sample.truth_bids, sample.truth_asks)


def describe(diffs: Sequence[LevelDiff], limit: int = 3) -> str:
    text = "; ".join(str(d) for d in diffs[:limit])
    return text + (f" (and {len(diffs) - limit} more levels)" if len(diffs) > limit else "")


def find_stale_levels(diffs: Sequence[LevelDiff],
                      older: Sequence[tuple[int, Sequence[Level], Sequence[Level]]]) -> tuple[StaleLevel, ...]:
    """Of the differing levels, those the connector shows as they were at an older update id.

    `older`: the truth at older ids, newest first, as (update id, bids, asks). Used by the sampler on a
    mismatch: a level at an older value means a diff older than the book's state was applied on top of it
    (or a newer one was skipped).
    """
    found: list[StaleLevel] = []
    for diff in diffs:
        for update_id, bids, asks in older:
            levels = dict(bids if diff.side == "bid" else asks)
            if levels.get(diff.price, ZERO) == diff.shown:
                found.append(StaleLevel(diff.side, diff.price, diff.shown, diff.truth, update_id))
                break
    return tuple(found)


def staleness(samples: Sequence[BookSample]) -> list[tuple[BookSample, float, float]]:
    """For each sample: (sample, since, lag): `since` is when the exchange moved past the book's state
    (the claimed id, or the last one claimed before the book stopped claiming any), `lag = t - since`
    (0 when the book is current). Measured at the sampler's resolution."""
    out: list[tuple[BookSample, float, float]] = []
    # the exchange's ids never decrease; a running max guards against a truth source that samples unevenly
    truth_ids: list[int] = []
    highest = 0
    for sample in samples:
        highest = max(highest, sample.truth_last_id)
        truth_ids.append(highest)
    last_claimed: int | None = None
    none_since: float | None = None
    for index, sample in enumerate(samples):
        claimed = sample.update_id
        if claimed is None:
            if none_since is None:
                none_since = sample.t
            claimed = last_claimed
        else:
            none_since = None
            last_claimed = claimed
        if claimed is None:  # has not claimed an id yet: behind since it stopped (or since the first sample)
            since = none_since if none_since is not None else sample.t
            out.append((sample, since, sample.t - since))
            continue
        moved = bisect_right(truth_ids, claimed, 0, index + 1)  # the first sample at which the exchange was past it
        since = samples[moved].t if moved <= index else sample.t
        out.append((sample, since, sample.t - since))
    return out


@check("book.truth", L, needs=("update_ids",))
def book_truth(record: VenueRecord, bounds: Bounds) -> Outcome:
    """Every book the connector shows equals the exchange's book at the update id it claims: every level, both
    sides, to the run's depth.

    The truth is read in the same instant as the connector's view, at the claimed id, so a late book passes
    (lateness is `book.recovery`'s business) and a book that applied a diff across a gap, applied a stale diff, or
    lost a level fails. So does one that applied a book message whose content was wrong while its ids were right
    (`corrupt_book`) without checking the checksum the message carried. A book that claims an id the exchange has
    not reached yet fails too.
    """
    compared = 0
    wrong: list[tuple[BookSample, list[LevelDiff]]] = []
    future: list[BookSample] = []
    for sample in record.books:
        if sample.note == FUTURE:
            future.append(sample)
            continue
        diffs = sample_diffs(sample)
        if diffs is None:
            continue
        compared += 1
        if diffs:
            wrong.append((sample, diffs))
    if future:
        first = future[0]
        return failed(f"{record.label}: the book claims update id {first.update_id} at {fmt_t(first.t)}, beyond the "
                      f"exchange's last id {first.truth_last_id} ({len(future)} such samples)", first.t,
                      update_id=first.update_id, truth_last_id=first.truth_last_id)
    if not wrong:
        if not compared:
            if not record.books:
                return no_samples(record)
            return failed(f"{record.label}: the book never claimed an update id the exchange still remembers "
                          f"({len(record.books)} samples): nothing could be compared")
        return passed(f"{compared} samples equal to the truth at their update id", compared=compared)
    sample, diffs = wrong[0]
    return failed(f"{record.label}: {len(wrong)} of {compared} samples differ from the exchange's book at their "
                  f"claimed update id; first at {fmt_t(sample.t)}, update id {sample.update_id}: {describe(diffs)}",
                  sample.t, update_id=sample.update_id, wrong_samples=len(wrong), compared=compared,
                  levels=[str(d) for d in diffs[:10]])


@check("book.not_crossed", L)
def book_not_crossed(record: VenueRecord, bounds: Bounds) -> Outcome:
    """The book is never crossed: its best bid is always below its best ask.

    A crossed book means levels that should have been removed are still there (a missed delete, a stale diff).
    A connector must not hide it by deleting a side either (that is a book.truth failure).
    """
    for sample in record.books:
        if sample.bids and sample.asks and sample.bids[0][0] >= sample.asks[0][0]:
            return failed(f"{record.label}: crossed book at {fmt_t(sample.t)} (update id {sample.update_id}): "
                          f"best bid {sample.bids[0][0]} >= best ask {sample.asks[0][0]}", sample.t,
                          update_id=sample.update_id)
    if not record.books:
        return no_samples(record)
    return passed()


@check("book.monotonic_id", L, needs=("update_ids",))
def book_monotonic_id(record: VenueRecord, bounds: Bounds) -> Outcome:
    """The update id a book claims never decreases (not across a resync or a reconnect either).

    The exchange's ids only grow: a book that goes back in id has applied something old (a stale diff, or a
    snapshot older than what it had already shown).
    """
    previous: BookSample | None = None
    for sample in record.books:
        if sample.update_id is None:
            continue
        if previous is not None and previous.update_id is not None and sample.update_id < previous.update_id:
            return failed(f"{record.label}: the book's update id went back from {previous.update_id} "
                          f"({fmt_t(previous.t)}) to {sample.update_id} ({fmt_t(sample.t)})", sample.t,
                          before=previous.update_id, after=sample.update_id)
        previous = sample
    return passed()


@check("book.recovery", L, needs=("update_ids",))
def book_recovery(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After a gap, a stall or a disconnect, the book is resynced within the bound: it never lags the exchange
    by more than `recovery_s`.

    The lag of a book is the time since the exchange moved past the update id the book reflects (a book that
    claims no id while resyncing is as stale as the last id it claimed). Nothing applied in between the gap and
    the resync is the business of book.truth: a book that applies diffs across a gap shows a wrong book.
    """
    worst: tuple[BookSample, float, float] | None = None
    for sample, since, lag in staleness(record.books):
        if lag > bounds.recovery_s:
            worst = (sample, since, lag)
            break
    if worst is None:
        lags = [lag for _, _, lag in staleness(record.books)]
        return passed(f"largest lag {max(lags, default=0.0):.2f}s") if record.books else no_samples(record)
    sample, since, lag = worst
    # report the whole episode: until the lag went back to 0 (or the run ended)
    end = sample
    for later, later_since, later_lag in staleness(record.books):
        if later.t > sample.t and later_since == since and later_lag > 0:
            end = later
    claimed = f"update id {sample.update_id}" if sample.update_id is not None else "no update id (resyncing)"
    return failed(f"{record.label}: the book fell behind at {fmt_t(since)} and was still behind at {fmt_t(end.t)} "
                  f"({end.t - since:.2f}s > {bounds.recovery_s:g}s); at {fmt_t(sample.t)} it showed {claimed} while "
                  f"the exchange was at {sample.truth_last_id}", since + bounds.recovery_s,
                  behind_since=since, until=end.t, update_id=sample.update_id, truth_last_id=sample.truth_last_id)


@check("book.no_stale_diff", L, needs=("update_ids",))
def book_no_stale_diff(record: VenueRecord, bounds: Bounds) -> Outcome:
    """No stale diff is applied: the book never shows a level at a quantity the exchange had only before the
    update id the book claims.

    This is what applying a buffered diff older than the snapshot looks like (Hummingbot replays diffs without
    an id check), and also a late, reordered diff applied in place. A skipped diff can look the same: the message
    names the older update id whose state the level shows.
    """
    for sample in record.books:
        if sample.stale_levels:
            level = sample.stale_levels[0]
            more = f" ({len(sample.stale_levels)} such levels)" if len(sample.stale_levels) > 1 else ""
            return failed(f"{record.label}: at {fmt_t(sample.t)} the book claims update id {sample.update_id} "
                          f"but shows {level.side} {level.price} at {level.shown}, its quantity at update id "
                          f"{level.older_id}; the exchange had {level.truth} at {sample.update_id}{more}",
                          sample.t, update_id=sample.update_id, older_id=level.older_id)
    return passed()


@check("book.restored", L, needs=("update_ids",))
def book_restored(record: VenueRecord, bounds: Bounds) -> Outcome:
    """A wrong book is restored fully within the bound: once the book differs from the truth, a resync
    (a snapshot) makes it equal again, every level, within `restore_s`.

    book.truth fails on any wrong sample; this check says whether the connector repairs itself (a snapshot
    applied over a corrupted book must replace it entirely, not be mixed with replayed diffs).
    """
    start: BookSample | None = None
    for sample in record.books:
        diffs = sample_diffs(sample)
        wrong = sample.note == FUTURE or bool(diffs)
        if wrong and start is None:
            start = sample
        elif diffs is not None and not diffs and start is not None:
            if sample.t - start.t > bounds.restore_s:
                return failed(f"{record.label}: the book was wrong from {fmt_t(start.t)} (update id {start.update_id}) "
                              f"until {fmt_t(sample.t)}: {sample.t - start.t:.2f}s > {bounds.restore_s:g}s", start.t,
                              wrong_from=start.t, restored_at=sample.t)
            start = None
    if start is not None:
        last = record.books[-1]
        if last.t - start.t > bounds.restore_s or record.final is None or not record.final.converged:
            return failed(f"{record.label}: the book went wrong at {fmt_t(start.t)} (update id {start.update_id}) and "
                          f"was never restored (last sample {fmt_t(last.t)})", start.t, wrong_from=start.t)
    return passed()


@check("book.converged", L)
def book_converged(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After settling (flow paused, faults off), the book equals the exchange's final book within the settle
    bound; a book that claims update ids claims the exchange's last one.

    For a connector whose dialect has no update ids this is the book check: equal within a bound after
    quiescence.
    """
    final = record.final
    if final is None:
        return skipped("the run did not reach the settle phase")
    if final.book is None:
        return failed(f"{record.label}: no book after settling for {final.waited_s:.2f}s", final.t)
    truth = final.truth_book
    diffs = book_diffs(final.book.bids, final.book.asks, truth.bids, truth.asks)
    id_wrong = (record.capabilities.update_ids and final.book.update_id is not None
                and final.book.update_id != truth.update_id)
    if diffs or id_wrong:
        what = []
        if id_wrong:
            what.append(f"claims update id {final.book.update_id}, the exchange is at {truth.update_id}")
        if diffs:
            what.append(f"{len(diffs)} levels differ: {describe(diffs)}")
        return failed(f"{record.label}: {settle_words(record, bounds)} the book {'; '.join(what)}", final.t,
                      levels=[str(d) for d in diffs[:10]], update_id=final.book.update_id,
                      truth_update_id=truth.update_id)
    return passed(f"converged after {final.waited_s:.2f}s")


#: snapshots a connector may ask for without any fault to explain them: one at start, one spare
SNAPSHOTS_UNEXPLAINED = 2
#: and one more for every this many seconds of the run (a periodic safety-net snapshot)
SNAPSHOT_PERIOD_S = 10.0


@check("book.snapshots_explained", L, needs=("update_ids",))
def book_snapshots_explained(record: VenueRecord, bounds: Bounds) -> Outcome:
    """The connector asks for a book snapshot when something obliges it (start, a lost or reordered diff, a cut
    or stalled stream, a stale, late or refused snapshot), not in a loop: at most one at start and a spare, one
    per fault that may oblige one, and one per 10 s of the run.

    On a real venue a snapshot costs request weight (Binance: 50 for 1,000 levels, of 6,000 a minute), so a
    connector that resyncs over and over is rate limited, then banned; and while it only reloads snapshots its
    book never follows the stream. The exchange counts the snapshots it served for the venue's market (an
    exchange out of process cannot say: skipped); the faults are counted over every connection of the run. A book
    without update ids is not judged: a periodic snapshot is the only repair it has of a lost diff.
    """
    served = record.snapshots_served
    if served is None:
        return skipped("the exchange runs out of process: the snapshots it served are not known")
    causes = len(record.snapshot_causes or ())
    end = record.settle_t if record.settle_t is not None else (served[-1] if served else record.run_t)
    allowed = SNAPSHOTS_UNEXPLAINED + causes + int(max(0.0, end) // SNAPSHOT_PERIOD_S)
    if len(served) <= allowed:
        return passed(f"{len(served)} snapshots served, {allowed} allowed ({causes} faults that may oblige one)",
                      snapshots=len(served), allowed=allowed)
    first_extra = served[allowed]
    gaps = [b - a for a, b in itertools.pairwise(served)]
    return failed(f"{record.label}: {len(served)} book snapshots asked for, {allowed} explained ({causes} faults "
                  f"that may oblige one, {SNAPSHOTS_UNEXPLAINED} unexplained, one per {SNAPSHOT_PERIOD_S:g} s): "
                  f"a resync loop (shortest interval {min(gaps):.2f}s)", first_extra, snapshots=len(served),
                  allowed=allowed, times=[round(t, 3) for t in served[:20]])


def no_samples(record: VenueRecord) -> Outcome:
    """A ready connector is sampled many times a second: none at all means its book could not be read."""
    errors = record.diagnostics.get("sampler_errors") or {}
    why = f" (reading it raised: {', '.join(f'{k} x{v}' for k, v in errors.items())})" if errors else ""
    return failed(f"{record.label}: no book could be read from the connector{why}", record.run_t)


def settle_words(record: VenueRecord, bounds: Bounds) -> str:
    final = record.final
    waited = final.waited_s if final is not None else bounds.settle_s
    return f"{waited:.2f}s after the flow paused and faults stopped,"
