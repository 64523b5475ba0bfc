"""Keeping a local book in step with the exchange: one strategy per kind of sequencing a dialect has.

A strategy is pure (no I/O, no clock): the tracker feeds it snapshots and diffs in arrival order and acts
on what it returns. Four kinds, picked by what the dialect's messages carry (`SyncKind`):

* `ContiguousIdSync` (Binance spot): diffs carry the first and last update id `U`/`u` they cover; the
  next diff must start at most one past the book's id (`U <= id + 1 < u + 1`).
* `PrevIdChainSync` (Binance USD-M): each diff names the last id of the previous one (`pu`); after a
  snapshot the first diff must straddle it (`U <= id <= u`), then `pu` must equal the book's id.
* `SeqChainSync` (OKX v5): the snapshot comes on the WebSocket (`prevSeqId = -1`), each update's
  `prevSeqId` must equal the book's `seqId` (ids need not step by one and may even reset), and an optional
  CRC32 checksum of the top levels is verified after every message.
* `TimestampSync` (Bitstamp): no ids at all. Diffs are spliced onto the REST snapshot by exchange time
  (`microtimestamp`), applied in arrival order, with a last-writer-wins guard per level so that a diff that
  arrives late never overwrites a newer quantity. Gaps cannot be seen: the tracker re-snapshots periodically.

Common rules, whatever the kind:

* Before the first snapshot, and after a detected gap, diffs are buffered (bounded); the snapshot is then
  applied and the buffer replayed through the same checks, so what the snapshot already covers is dropped.
* A diff that is ahead of the book (a hole before it) is held back, not applied, for a while: if the missing
  diff shows up, both are applied in order (a reorder); if too many are held, or the tracker's gap timeout
  fires, the strategy asks for a resync. Nothing is ever applied out of order.
* Stale and duplicate diffs (fully covered by the book's id) are dropped and counted.
* The book always equals the exchange's book at the id it claims: a gap leaves it untouched at its id; a
  checksum mismatch invalidates it (it then claims no id) until the next snapshot. With REST snapshots the
  claimed id never decreases: a snapshot older than the book is refused (and another one asked for).
* A periodic (safety-net) snapshot taken while in sync is rebased: the diffs applied since it was requested
  are recorded and replayed on top of it, so the book never goes back in time, and a divergence it reveals
  is counted as a repair.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .order_book import OrderBook, Row


class SyncKind(enum.Enum):
    CONTIGUOUS_IDS = "contiguous_ids"  # U/u
    PREV_ID_CHAIN = "prev_id_chain"  # pu
    SEQ_CHAIN = "seq_chain"  # prevSeqId (+ checksum)
    TIMESTAMPS = "timestamps"  # none: exchange time only


class Outcome(enum.Enum):
    APPLIED = "applied"
    DROPPED = "dropped"  # stale or duplicate: the book already covers it
    BUFFERED = "buffered"  # waiting for a snapshot
    HELD = "held"  # ahead of the book: waiting for the missing diff
    RESYNC = "resync"  # the caller must fetch a fresh snapshot (REST) or resubscribe (WS)


class Verdict(enum.Enum):
    APPLY = 0
    STALE = 1
    GAP = 2


@dataclass(slots=True)
class DiffMessage:
    """One incremental update, rows exactly as received (`[price, qty, ...]` strings)."""

    bids: Sequence[Row]
    asks: Sequence[Row]
    #: `u` / `seqId`: the last update id the diff covers (None without ids)
    last_id: int | None = None
    #: `U`: the first update id it covers
    first_id: int | None = None
    #: `pu` / `prevSeqId`: the last id of the previous diff
    prev_id: int | None = None
    #: exchange time (ms or µs, the dialect's unit)
    timestamp: int | None = None
    checksum: int | None = None
    trading_pair: str = ""


@dataclass(slots=True)
class SnapshotMessage:
    update_id: int | None
    bids: Sequence[Row]
    asks: Sequence[Row]
    timestamp: int | None = None
    checksum: int | None = None
    trading_pair: str = ""


@dataclass(slots=True)
class SyncStats:
    applied: int = 0
    dropped: int = 0
    buffered: int = 0
    held: int = 0
    gaps: int = 0
    resync_requests: int = 0
    stale_snapshots: int = 0
    checksum_failures: int = 0
    snapshots_applied: int = 0
    #: safety-net snapshots that found the book different from the exchange (and fixed it)
    repairs: int = 0
    #: crossed books seen on a feed without ids, where a lost diff left a level behind
    crossings: int = 0
    buffer_overflows: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


Checksum = Callable[[OrderBook], int]

#: how many top levels a safety-net snapshot compares before and after its rebase
REPAIR_CHECK_DEPTH = 50


@dataclass(slots=True)
class _Recording:
    """Diffs applied while a safety-net snapshot is being fetched, to replay on top of it."""

    since_id: int | None
    since_timestamp: int | None
    diffs: list[DiffMessage] = field(default_factory=list)
    overflowed: bool = False


class SyncStrategy:
    """Shared machinery; subclasses say when a diff applies (`_verdict`) and how it is applied."""

    kind: SyncKind
    #: the snapshot arrives on the WebSocket (resync = resubscribe), not from REST
    snapshot_from_ws = False
    #: diffs carry ids (the book claims an update id)
    has_ids = True
    #: WS-snapshot venues: older snapshots refused in a row before a sequence reset is believed
    MAX_OLDER_REFUSALS = 10

    def __init__(self, book: OrderBook, max_buffer: int = 10_000, max_held: int = 64,
                 checksum: Checksum | None = None) -> None:
        self.book = book
        self.max_buffer = max_buffer
        self.max_held = max_held
        self.checksum = checksum
        self.stats = SyncStats()
        #: the book reflects the exchange at `book.update_id` and live diffs are applied
        self.synced = False
        #: a resync was asked for and no snapshot has been applied since
        self.needs_snapshot = True
        self.resync_reason: str | None = "initial"
        #: the book was found wrong while in sync (e.g. crossed): a safety-net snapshot should come now
        self.repair_wanted = False
        self._older_refused = 0
        self._buffer: deque[DiffMessage] = deque()
        self._held: list[DiffMessage] = []
        self._recording: _Recording | None = None
        #: diffs applied since the last snapshot: a hole before the first one means the snapshot was stale
        self._applied_since_snapshot = 0

    # --- what the tracker calls ------------------------------------------------------------------
    @property
    def held_count(self) -> int:
        return len(self._held)

    @property
    def buffered_count(self) -> int:
        return len(self._buffer)

    def begin_snapshot(self) -> None:
        """A snapshot is being fetched. While in sync, record applied diffs to rebase it later."""
        if self.synced and self._recording is None:
            self._recording = _Recording(self.book.update_id, self.book.timestamp)

    def snapshot_failed(self) -> None:
        self._recording = None

    def force_resync(self, reason: str) -> Outcome:
        """Give up on the live chain (gap timeout, reconnect): buffer from now on until a snapshot."""
        if self.synced and reason.startswith("gap"):
            return self._gap(reason)
        return self._resync(reason)

    def _gap(self, reason: str) -> Outcome:
        if self._applied_since_snapshot or not self.has_ids:
            self.stats.gaps += 1
            return self._resync(reason)
        self.stats.stale_snapshots += 1  # nothing ever joined the snapshot: it was older than the stream
        return self._resync("snapshot older than the stream")

    def on_snapshot(self, snapshot: SnapshotMessage) -> Outcome:
        if self.synced and not self.snapshot_from_ws:
            return self._rebase(snapshot)
        current = self.book.update_id
        if (self.has_ids and current is not None and snapshot.update_id is not None
                and snapshot.update_id < current and self._older_refused < self.MAX_OLDER_REFUSALS):
            # Older than the (still true) book: applying it would move the book back in time; ask again. A
            # venue that snapshots on the WS may also have reset its sequence (OKX after maintenance): after a
            # few older snapshots in a row, the reset is believed.
            self._older_refused += 1 if self.snapshot_from_ws else 0
            self.stats.stale_snapshots += 1
            return self._resync("snapshot older than the book")
        self._older_refused = 0
        self._recording = None
        self.book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.update_id if self.has_ids else None,
                                 snapshot.timestamp)
        self._on_snapshot_applied(snapshot)
        self._applied_since_snapshot = 0
        self.stats.snapshots_applied += 1
        if not self._checksum_ok(snapshot.checksum):
            return self._resync("checksum mismatch on snapshot")
        self.synced = True
        self.needs_snapshot = False
        self.resync_reason = None
        pending = sorted(list(self._buffer) + self._held, key=self._order_key)
        self._buffer.clear()
        self._held.clear()
        first = True
        for i, diff in enumerate(pending):
            verdict = self._verdict(diff)
            if verdict is Verdict.GAP and first and not self.snapshot_from_ws:
                # The oldest diff we have starts after the snapshot: the snapshot is older than the stream.
                self.stats.stale_snapshots += 1
                self._buffer.extend(pending[i:])
                return self._resync("snapshot older than the first buffered diff")
            outcome = self._process(diff, verdict)
            if outcome is Outcome.RESYNC:
                self._buffer.extend(pending[i + 1:])  # still newer than the book: keep for the next snapshot
                return outcome
            if outcome is not Outcome.DROPPED:
                first = False
        return Outcome.APPLIED

    def on_diff(self, diff: DiffMessage) -> Outcome:
        if not self.synced:
            return self._buffer_diff(diff)
        return self._process(diff, self._verdict(diff))

    # --- internals --------------------------------------------------------------------------------
    def _buffer_diff(self, diff: DiffMessage) -> Outcome:
        if len(self._buffer) >= self.max_buffer:
            self._buffer.popleft()
            self.stats.buffer_overflows += 1
        self._buffer.append(diff)
        self.stats.buffered += 1
        return Outcome.BUFFERED

    def _process(self, diff: DiffMessage, verdict: Verdict) -> Outcome:
        if verdict is Verdict.STALE:
            self.stats.dropped += 1
            return Outcome.DROPPED
        if verdict is Verdict.GAP:
            if len(self._held) >= self.max_held:
                self._held.append(diff)
                return self._gap("gap: the missing diff did not arrive")
            self._held.append(diff)
            self.stats.held += 1
            return Outcome.HELD
        if not self._apply(diff):
            return self._resync("checksum mismatch")
        if self._held:
            return self._drain_held()
        return Outcome.APPLIED

    def _drain_held(self) -> Outcome:
        progress = True
        while progress and self._held:
            progress = False
            for diff in sorted(self._held, key=self._order_key):
                verdict = self._verdict(diff)
                if verdict is Verdict.GAP:
                    continue
                self._held.remove(diff)
                progress = True
                if verdict is Verdict.STALE:
                    self.stats.dropped += 1
                elif not self._apply(diff):
                    return self._resync("checksum mismatch")
        return Outcome.APPLIED

    def _apply(self, diff: DiffMessage) -> bool:
        """Apply a diff the verdict allowed; False on a checksum mismatch (the book is then invalid)."""
        self._apply_rows(diff)
        self.stats.applied += 1
        self._applied_since_snapshot += 1
        recording = self._recording
        if recording is not None:
            if len(recording.diffs) >= self.max_buffer:
                recording.overflowed = True
            else:
                recording.diffs.append(diff)
        return self._checksum_ok(diff.checksum)

    def _apply_rows(self, diff: DiffMessage) -> None:
        self.book.apply_diff(diff.bids, diff.asks, diff.last_id, diff.timestamp)

    def _checksum_ok(self, expected: int | None) -> bool:
        if self.checksum is None or expected is None or expected == 0:  # OKX sends 0 once checksums are retired
            return True
        if self.checksum(self.book) == expected:
            return True
        self.stats.checksum_failures += 1
        self.book.invalidate()
        return False

    def _resync(self, reason: str) -> Outcome:
        self.synced = False
        self.needs_snapshot = True
        self.resync_reason = reason
        self._recording = None
        self._buffer.extend(self._held)
        self._held.clear()
        self.stats.resync_requests += 1
        return Outcome.RESYNC

    def _rebase(self, snapshot: SnapshotMessage) -> Outcome:
        """A snapshot taken while in sync: replace the book by it plus the diffs applied since it was asked
        for, unless it is older than the book was then (a stale snapshot is ignored, the book is fine)."""
        recording, self._recording = self._recording, None
        if recording is None or recording.overflowed or self._is_older(snapshot, recording):
            self.stats.stale_snapshots += 1
            return Outcome.DROPPED
        before_at = (self.book.update_id, self.book.timestamp)
        before = (self.book.bid_rows(REPAIR_CHECK_DEPTH), self.book.ask_rows(REPAIR_CHECK_DEPTH))
        self.book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.update_id if self.has_ids else None,
                                 snapshot.timestamp)
        self._on_snapshot_applied(snapshot)
        self._applied_since_snapshot = 0
        self.stats.snapshots_applied += 1
        for diff in recording.diffs:
            verdict = self._verdict(diff)
            if verdict is Verdict.APPLY:
                self._apply_rows(diff)
            elif verdict is Verdict.GAP:  # cannot happen with a complete recording; be safe
                self._buffer.append(diff)
                return self._resync("gap while rebasing a snapshot")
        if (self.book.update_id, self.book.timestamp) == before_at:  # same point in time: must be equal
            after = (self.book.bid_rows(REPAIR_CHECK_DEPTH), self.book.ask_rows(REPAIR_CHECK_DEPTH))
            if _levels(before) != _levels(after):
                self.stats.repairs += 1
        if self._held:
            return self._drain_held()
        return Outcome.APPLIED

    # --- what a kind decides ---------------------------------------------------------------------
    def _verdict(self, diff: DiffMessage) -> Verdict:
        raise NotImplementedError

    def _order_key(self, diff: DiffMessage) -> int:
        return diff.last_id if diff.last_id is not None else 0

    def _is_older(self, snapshot: SnapshotMessage, recording: _Recording) -> bool:
        return (snapshot.update_id is not None and recording.since_id is not None
                and snapshot.update_id < recording.since_id)

    def _on_snapshot_applied(self, snapshot: SnapshotMessage) -> None:
        """Hook: reset per-chain state after a snapshot."""


def _levels(sides: tuple[list[Row], list[Row]]) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    return tuple([(Decimal(r[0]), Decimal(r[1])) for r in rows] for rows in sides)


class ContiguousIdSync(SyncStrategy):
    """Binance spot: apply a diff iff `U <= id + 1 <= u`; drop it iff `u <= id`."""

    kind = SyncKind.CONTIGUOUS_IDS

    def _verdict(self, diff: DiffMessage) -> Verdict:
        current = self.book.update_id
        last = diff.last_id
        assert last is not None and current is not None
        if last <= current:
            return Verdict.STALE
        first = diff.first_id if diff.first_id is not None else last
        return Verdict.APPLY if first <= current + 1 else Verdict.GAP


class PrevIdChainSync(SyncStrategy):
    """Binance USD-M: after a snapshot, the first diff must straddle it (`U <= id <= u`, or `pu == id`);
    after that, `pu` must equal the book's id. `u <= id` is stale."""

    kind = SyncKind.PREV_ID_CHAIN

    def __init__(self, book: OrderBook, max_buffer: int = 10_000, max_held: int = 64,
                 checksum: Checksum | None = None) -> None:
        super().__init__(book, max_buffer, max_held, checksum)
        self._chained = False

    def _verdict(self, diff: DiffMessage) -> Verdict:
        current = self.book.update_id
        last = diff.last_id
        assert last is not None and current is not None
        if diff.prev_id == current:
            return Verdict.APPLY
        if self._chained:
            return Verdict.STALE if last <= current else Verdict.GAP
        if last < current:
            return Verdict.STALE
        first = diff.first_id if diff.first_id is not None else last
        return Verdict.APPLY if first <= current <= last else Verdict.GAP

    def _apply_rows(self, diff: DiffMessage) -> None:
        super()._apply_rows(diff)
        self._chained = True

    def _on_snapshot_applied(self, snapshot: SnapshotMessage) -> None:
        self._chained = False


class SeqChainSync(SyncStrategy):
    """OKX v5 books: `prevSeqId == id` applies (also heartbeats with `prevSeqId == seqId`, and a `seqId`
    reset after maintenance); `seqId <= id` otherwise is stale or a duplicate; the snapshot is on the WS."""

    kind = SyncKind.SEQ_CHAIN
    snapshot_from_ws = True

    def _verdict(self, diff: DiffMessage) -> Verdict:
        current = self.book.update_id
        assert current is not None and diff.last_id is not None
        if diff.prev_id == current:
            return Verdict.APPLY
        return Verdict.STALE if diff.last_id <= current else Verdict.GAP

    def _order_key(self, diff: DiffMessage) -> int:
        # Chain order: a diff's predecessor id sorts it after the diff that produced that id.
        return diff.prev_id if diff.prev_id is not None else -1


class TimestampSync(SyncStrategy):
    """No ids (Bitstamp): splice on exchange time, apply in arrival order, last writer wins per level.

    After a snapshot at time S, diffs with `timestamp <= S` are stale. A later diff is applied row by row,
    skipping any level that a diff with a newer timestamp already set (a late arrival never regresses a
    level). Nothing can reveal a lost diff: the tracker's periodic snapshot is the repair.
    """

    kind = SyncKind.TIMESTAMPS
    has_ids = False

    def __init__(self, book: OrderBook, max_buffer: int = 10_000, max_held: int = 64,
                 checksum: Checksum | None = None) -> None:
        super().__init__(book, max_buffer, max_held, checksum)
        self._snapshot_time = 0
        self._bid_times: dict[object, int] = {}
        self._ask_times: dict[object, int] = {}

    def _verdict(self, diff: DiffMessage) -> Verdict:
        if diff.timestamp is None or diff.timestamp > self._snapshot_time:
            return Verdict.APPLY
        return Verdict.STALE

    def _order_key(self, diff: DiffMessage) -> int:
        return diff.timestamp if diff.timestamp is not None else 0

    def _apply_rows(self, diff: DiffMessage) -> None:
        time = diff.timestamp
        if time is None:
            self.book.apply_levels(diff.bids, diff.asks)
            return
        bids = self._newer(diff.bids, self._bid_times, self.book.bid_key, time)
        asks = self._newer(diff.asks, self._ask_times, self.book.ask_key, time)
        self.book.apply_levels(bids, asks)
        if self.book.timestamp is None or time > self.book.timestamp:
            self.book.timestamp = time
        self._uncross()

    def _uncross(self) -> None:
        """An exchange's book is never crossed. When ours is, a diff that removed a level was lost (nothing
        else on an id-less feed can tell): the crossing level written longer ago is the stale one. Drop it,
        and ask for a snapshot now to repair whatever else that lost diff changed."""
        book = self.book
        while True:
            bid, ask = book.best_bid_row(), book.best_ask_row()
            if bid is None or ask is None or Decimal(bid[0]) < Decimal(ask[0]):
                return
            bid_time = self._bid_times.get(book.bid_key(bid[0]), self._snapshot_time)
            ask_time = self._ask_times.get(book.ask_key(ask[0]), self._snapshot_time)
            if bid_time <= ask_time:
                book.apply_levels([(bid[0], "0")], [])
            else:
                book.apply_levels([], [(ask[0], "0")])
            self.stats.crossings += 1
            self.repair_wanted = True

    def _newer(self, rows: Sequence[Row], times: dict[object, int], key: Callable[[str], object],
               time: int) -> list[Row]:
        kept = []
        floor = self._snapshot_time
        for row in rows:
            level = key(row[0])
            if times.get(level, floor) > time:
                continue
            times[level] = time
            kept.append(row)
        return kept

    def _on_snapshot_applied(self, snapshot: SnapshotMessage) -> None:
        self._snapshot_time = snapshot.timestamp or 0
        self._bid_times.clear()
        self._ask_times.clear()

    def _is_older(self, snapshot: SnapshotMessage, recording: _Recording) -> bool:
        return (snapshot.timestamp is not None and recording.since_timestamp is not None
                and snapshot.timestamp < recording.since_timestamp)


STRATEGIES: dict[SyncKind, type[SyncStrategy]] = {
    SyncKind.CONTIGUOUS_IDS: ContiguousIdSync,
    SyncKind.PREV_ID_CHAIN: PrevIdChainSync,
    SyncKind.SEQ_CHAIN: SeqChainSync,
    SyncKind.TIMESTAMPS: TimestampSync,
}


def strategy_for(kind: SyncKind, book: OrderBook, max_buffer: int = 10_000, max_held: int = 64,
                 checksum: Checksum | None = None) -> SyncStrategy:
    return STRATEGIES[kind](book, max_buffer=max_buffer, max_held=max_held, checksum=checksum)
