"""Book sync strategies against a truth: any interleaving of snapshots and diffs, with drops, duplicates,
reorders, stale snapshots and corrupted messages, keeps the book equal to the truth at the update id it
claims, and ends either equal to the truth or in an explicit resync (after which a snapshot fixes it).

The truth is a sequence of book states; each diff moves one state to the next. Messages are built the way
each dialect builds them (U/u, pu, prevSeqId + checksum, microtimestamps) and delivered through a seeded
fault plan drawn by hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from reference_connector.book_sync import (
    ContiguousIdSync,
    DiffMessage,
    Outcome,
    PrevIdChainSync,
    SeqChainSync,
    SnapshotMessage,
    SyncKind,
    SyncStrategy,
    TimestampSync,
    strategy_for,
)
from reference_connector.checksums import okx_checksum
from reference_connector.order_book import OrderBook

Side = dict[int, int]
Change = tuple[bool, int, int]  # (is_bid, ticks, lots); lots 0 removes


def price(ticks: int) -> str:
    return f"{ticks}.00"


def qty(lots: int) -> str:
    return f"{lots}.000" if lots else "0.000"


def rows(side: Side, bids: bool) -> list[list[str]]:
    return [[price(t), qty(q)] for t, q in sorted(side.items(), reverse=bids)]


def levels(side: Side, bids: bool) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(price(t)), Decimal(qty(q))) for t, q in sorted(side.items(), reverse=bids)]


@dataclass
class Truth:
    kind: SyncKind
    states: list[tuple[Side, Side]]
    changes: list[list[Change]]  # changes[k - 1] turns states[k - 1] into states[k]
    ids: list[int]  # the id (or seqId) after k diffs
    firsts: list[int]  # U of diff k (index 0 unused)
    times: list[int]

    @property
    def n(self) -> int:
        return len(self.changes)

    def checksum(self, k: int) -> int:
        book = OrderBook()
        bids, asks = self.states[k]
        book.apply_snapshot(rows(bids, True), rows(asks, False), 0)
        return okx_checksum(book)

    def diff(self, k: int, corrupt: bool = False) -> DiffMessage:
        bids = [[price(t), qty(q)] for b, t, q in self.changes[k - 1] if b]
        asks = [[price(t), qty(q)] for b, t, q in self.changes[k - 1] if not b]
        if corrupt:
            bids = [*bids, [price(1), qty(777)]]  # a level the exchange never had
        checksum = self.checksum(k) if self.kind is SyncKind.SEQ_CHAIN else None
        if self.kind is SyncKind.TIMESTAMPS:
            return DiffMessage(bids, asks, None, None, None, self.times[k], None, "P")
        prev = self.ids[k - 1] if self.kind in (SyncKind.PREV_ID_CHAIN, SyncKind.SEQ_CHAIN) else None
        first = self.firsts[k] if self.kind is not SyncKind.SEQ_CHAIN else None
        return DiffMessage(bids, asks, self.ids[k], first, prev, self.times[k], checksum, "P")

    def snapshot(self, k: int) -> SnapshotMessage:
        bids, asks = self.states[k]
        checksum = self.checksum(k) if self.kind is SyncKind.SEQ_CHAIN else None
        update_id = None if self.kind is SyncKind.TIMESTAMPS else self.ids[k]
        return SnapshotMessage(update_id, rows(bids, True), rows(asks, False), self.times[k], checksum, "P")

    def state_at_id(self, update_id: int) -> int:
        return self.ids.index(update_id)


@st.composite
def truths(draw: st.DrawFn, kind: SyncKind) -> Truth:
    bid_ticks, ask_ticks = st.integers(2, 9), st.integers(10, 17)
    bids = draw(st.dictionaries(bid_ticks, st.integers(1, 9), max_size=5))
    asks = draw(st.dictionaries(ask_ticks, st.integers(1, 9), max_size=5))
    states = [(dict(bids), dict(asks))]
    n = draw(st.integers(1, 18))
    changes: list[list[Change]] = []
    ids = [draw(st.integers(1, 1000))]
    firsts = [0]
    times = [1_000_000]
    for _ in range(n):
        diff = draw(st.lists(st.one_of(
            st.tuples(st.just(True), bid_ticks, st.integers(0, 9)),
            st.tuples(st.just(False), ask_ticks, st.integers(0, 9))), min_size=0 if kind is SyncKind.SEQ_CHAIN
            else 1, max_size=4))
        bids, asks = dict(states[-1][0]), dict(states[-1][1])
        for is_bid, ticks, lots in diff:
            side = bids if is_bid else asks
            if lots:
                side[ticks] = lots
            else:
                side.pop(ticks, None)
        states.append((bids, asks))
        changes.append(diff)
        if kind is SyncKind.CONTIGUOUS_IDS:
            firsts.append(ids[-1] + 1)
            ids.append(ids[-1] + len(diff))
        elif kind is SyncKind.PREV_ID_CHAIN:  # USD-M: U need not follow pu + 1
            skip = draw(st.integers(0, 2))
            firsts.append(ids[-1] + 1 + skip)
            ids.append(ids[-1] + len(diff) + skip)
        else:  # OKX steps are arbitrary (not +1); an empty update is a heartbeat with the same seqId
            firsts.append(0)
            ids.append(ids[-1] + (draw(st.integers(1, 40)) if diff else 0))
        times.append(times[-1] + draw(st.integers(1, 3)))
    return Truth(kind, states, changes, ids, firsts, times)


def book_state(book: OrderBook) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    return book.bids(), book.asks()


def truth_state(truth: Truth, k: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    bids, asks = truth.states[k]
    return levels(bids, True), levels(asks, False)


def check_claim(strategy: SyncStrategy, truth: Truth) -> None:
    """The book equals the truth at the id it claims (whatever it claims)."""
    book = strategy.book
    if book.update_id is None:
        assert not (strategy.synced and strategy.has_ids), "in sync but claiming no id"
        return
    assert book.valid
    k = truth.state_at_id(book.update_id)
    # Heartbeats repeat a seqId: any state with that id is the same book.
    assert book_state(book) == truth_state(truth, k), f"book at id {book.update_id} differs from the truth"


Event = tuple[str, int]  # ("diff", k) | ("dup", k) | ("corrupt", k) | ("snap", k) | ("req", 0)


@st.composite
def scenarios(draw: st.DrawFn, kind: SyncKind) -> tuple[Truth, list[Event], Any]:
    truth = draw(truths(kind))
    plan: list[Event] = []
    for k in range(1, truth.n + 1):
        fate = draw(st.sampled_from(["send"] * 8 + ["drop", "dup"] + (["corrupt"] if kind is SyncKind.SEQ_CHAIN
                                                                       else [])))
        if fate == "send":
            plan.append(("diff", k))
        elif fate == "dup":
            plan += [("diff", k), ("diff", k)]
        elif fate == "corrupt":
            # An empty book's CRC32 is 0, which OKX also uses for "no checksum": corruption is undetectable.
            plan.append(("corrupt" if truth.checksum(k) else "diff", k))
    for i in draw(st.lists(st.integers(0, max(0, len(plan) - 2)), max_size=3)):  # adjacent swaps
        if i + 1 < len(plan):
            plan[i], plan[i + 1] = plan[i + 1], plan[i]
    # The first snapshot: REST (anywhere in the stream, any state: it may be stale) or WS (in stream order).
    position = draw(st.integers(0, len(plan)))
    if kind is SyncKind.SEQ_CHAIN:
        before = [k for _, k in plan[:position]]
        snap_k = max(before, default=0)
    else:
        snap_k = draw(st.integers(0, truth.n))
    plan.insert(position, ("snap", snap_k))
    if kind is not SyncKind.SEQ_CHAIN and draw(st.booleans()):  # a safety-net snapshot later on
        at = draw(st.integers(position + 1, len(plan)))
        plan.insert(at, ("req", 0))
        plan.insert(draw(st.integers(at + 1, len(plan))), ("snap", -1))  # -1: drawn when requested
    return truth, plan, draw(st.data())


def run(kind: SyncKind, truth: Truth, plan: list[Event], data: Any) -> SyncStrategy:
    checksum = okx_checksum if kind is SyncKind.SEQ_CHAIN else None
    strategy = strategy_for(kind, OrderBook(), max_buffer=50, max_held=data.draw(st.integers(1, 4)),
                            checksum=checksum)
    delivered = 0
    pending: list[Event] = list(plan)
    requested_k: int | None = None
    resyncs = 0
    last_claimed = -1
    while pending:
        what, k = pending.pop(0)
        if what == "req":
            strategy.begin_snapshot()
            requested_k = data.draw(st.integers(delivered, truth.n))
            continue
        if what == "snap":
            if k == -1:
                k = requested_k if requested_k is not None else truth.n
            outcome = strategy.on_snapshot(truth.snapshot(k))
        else:
            outcome = strategy.on_diff(truth.diff(k, corrupt=what == "corrupt"))
            delivered = max(delivered, k)
        note(f"{what} {k} -> {outcome.value} (id {strategy.book.update_id})")
        check_claim(strategy, truth)
        claimed = strategy.book.update_id
        if claimed is not None and kind in (SyncKind.CONTIGUOUS_IDS, SyncKind.PREV_ID_CHAIN):
            assert claimed >= last_claimed, f"the claimed id went back from {last_claimed} to {claimed}"
            last_claimed = claimed
        if outcome is Outcome.RESYNC and resyncs < 3:
            resyncs += 1
            # The tracker asks for a snapshot; it comes back a few messages later, taken at a state the
            # exchange had reached when asked (or, once in a while, a stale one).
            strategy.begin_snapshot()
            stale = data.draw(st.integers(0, 9)) == 0
            snap_k = data.draw(st.integers(0, truth.n)) if stale else data.draw(st.integers(delivered, truth.n))
            at = data.draw(st.integers(0, min(3, len(pending))))
            pending.insert(at, ("snap", snap_k))
    return strategy


def finish(strategy: SyncStrategy, truth: Truth) -> None:
    """Liveness: a gap timeout (held diffs) or a resync request, then a fresh snapshot, restores the book."""
    if strategy.held_count:
        assert strategy.force_resync("gap: timeout") is Outcome.RESYNC
    if not strategy.needs_snapshot:
        assert strategy.synced
    for _ in range(2):  # a buffered diff replayed on the snapshot may fail its checksum: one more resync
        strategy.begin_snapshot()
        strategy.on_snapshot(truth.snapshot(truth.n))
        check_claim(strategy, truth)
        if not strategy.needs_snapshot:
            break
    assert strategy.synced and not strategy.needs_snapshot
    assert book_state(strategy.book) == truth_state(truth, truth.n)


@pytest.mark.parametrize("kind", [SyncKind.CONTIGUOUS_IDS, SyncKind.PREV_ID_CHAIN, SyncKind.SEQ_CHAIN])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_claimed_update_id_always_matches_the_truth(kind: SyncKind, data: st.DataObject) -> None:
    truth, plan, inner = data.draw(scenarios(kind))
    strategy = run(kind, truth, plan, inner)
    finish(strategy, truth)


@pytest.mark.parametrize("kind", [SyncKind.CONTIGUOUS_IDS, SyncKind.PREV_ID_CHAIN, SyncKind.SEQ_CHAIN,
                                  SyncKind.TIMESTAMPS])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_without_loss_the_book_ends_at_the_truth(kind: SyncKind, data: st.DataObject) -> None:
    """No drops, no corruption: duplicates and adjacent reorders only, a snapshot taken in stream order.
    Then no resync is needed and the book reaches the last state (timestamps: per-level last writer wins)."""
    truth = data.draw(truths(kind))
    plan: list[Event] = []
    for k in range(1, truth.n + 1):
        plan += [("diff", k)] * data.draw(st.integers(1, 2))
    snap_at = data.draw(st.integers(0, len(plan)))
    snap_k = max((k for _, k in plan[:snap_at]), default=0)
    for i in data.draw(st.lists(st.integers(0, max(0, len(plan) - 2)), max_size=3)):
        if i + 1 < len(plan) and plan[i] != plan[i + 1]:
            plan[i], plan[i + 1] = plan[i + 1], plan[i]
    plan.insert(snap_at, ("snap", snap_k))
    checksum = okx_checksum if kind is SyncKind.SEQ_CHAIN else None
    strategy = strategy_for(kind, OrderBook(), max_held=8, checksum=checksum)
    for what, k in plan:
        outcome = (strategy.on_snapshot(truth.snapshot(k)) if what == "snap" else strategy.on_diff(truth.diff(k)))
        note(f"{what} {k} -> {outcome.value}")
        assert outcome is not Outcome.RESYNC or kind is not SyncKind.TIMESTAMPS
        check_claim(strategy, truth)
    if strategy.needs_snapshot:
        # Only possible when a reorder moved a diff the snapshot does not cover before it: the snapshot
        # looked stale. That is an explicit resync, never a silent divergence.
        assert kind is not SyncKind.TIMESTAMPS
        finish(strategy, truth)
        return
    assert strategy.synced and strategy.held_count == 0
    assert book_state(strategy.book) == truth_state(truth, truth.n)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_timestamp_sync_is_repaired_by_the_periodic_snapshot(data: st.DataObject) -> None:
    """Without ids a lost diff cannot be seen; the periodic snapshot (rebased on the diffs applied since it
    was requested) brings the book back to the truth."""
    truth, plan, inner = data.draw(scenarios(SyncKind.TIMESTAMPS))
    strategy = run(SyncKind.TIMESTAMPS, truth, plan, inner)
    assert strategy.book.update_id is None
    finish(strategy, truth)


# --- examples: the rules one by one ------------------------------------------------------------------
def spot(first: int, last: int, bids: list[list[str]] | None = None) -> DiffMessage:
    return DiffMessage(bids or [], [], last, first, None, last, None, "P")


def snap(update_id: int, bids: list[list[str]] | None = None) -> SnapshotMessage:
    return SnapshotMessage(update_id, bids or [], [], None, None, "P")


def test_spot_buffers_until_the_snapshot_and_drops_what_it_covers() -> None:
    s = ContiguousIdSync(OrderBook())
    assert s.on_diff(spot(9, 10, [["1", "1"]])) is Outcome.BUFFERED
    assert s.on_diff(spot(11, 12, [["2", "2"]])) is Outcome.BUFFERED
    assert s.on_snapshot(snap(10, [["1", "5"]])) is Outcome.APPLIED
    assert s.book.update_id == 12 and s.book.bids() == [(Decimal(2), Decimal(2)), (Decimal(1), Decimal(5))]
    assert s.stats.dropped == 1 and s.stats.applied == 1
    assert s.on_diff(spot(11, 12)) is Outcome.DROPPED  # duplicate


def test_spot_snapshot_older_than_the_buffer_asks_for_another() -> None:
    s = ContiguousIdSync(OrderBook())
    s.on_diff(spot(20, 21))
    assert s.on_snapshot(snap(10)) is Outcome.RESYNC
    assert s.stats.stale_snapshots == 1 and s.needs_snapshot
    assert s.on_snapshot(snap(20)) is Outcome.APPLIED and s.book.update_id == 21


def test_spot_holds_a_reordered_diff_then_applies_both() -> None:
    s = ContiguousIdSync(OrderBook(), max_held=2)
    s.on_snapshot(snap(10))
    assert s.on_diff(spot(13, 14, [["2", "1"]])) is Outcome.HELD
    assert s.book.update_id == 10
    assert s.on_diff(spot(11, 12, [["1", "1"]])) is Outcome.APPLIED
    assert s.book.update_id == 14 and s.held_count == 0


def test_spot_gap_that_is_not_filled_requests_a_resync_and_keeps_the_book() -> None:
    s = ContiguousIdSync(OrderBook(), max_held=1)
    s.on_snapshot(snap(10, [["1", "1"]]))
    assert s.on_diff(spot(11, 12, [["2", "2"]])) is Outcome.APPLIED
    assert s.on_diff(spot(15, 16)) is Outcome.HELD
    assert s.on_diff(spot(17, 18)) is Outcome.RESYNC
    assert s.book.update_id == 12  # untouched, still true at 12
    assert s.book.bids() == [(Decimal(2), Decimal(2)), (Decimal(1), Decimal(1))]
    assert s.stats.gaps == 1 and s.resync_reason and s.resync_reason.startswith("gap")
    assert s.on_snapshot(snap(14)) is Outcome.APPLIED and s.book.update_id == 18  # held diffs replayed


def test_a_hole_right_after_the_snapshot_means_the_snapshot_was_stale() -> None:
    s = ContiguousIdSync(OrderBook(), max_held=1)
    s.on_snapshot(snap(10))
    assert s.on_diff(spot(13, 14)) is Outcome.HELD
    assert s.on_diff(spot(15, 16)) is Outcome.RESYNC
    assert s.stats.stale_snapshots == 1 and s.stats.gaps == 0


def test_usdm_first_diff_must_straddle_then_pu_chains() -> None:
    s = PrevIdChainSync(OrderBook())
    s.on_snapshot(snap(100))
    assert s.on_diff(DiffMessage([], [], 99, 95, 94)) is Outcome.DROPPED
    assert s.on_diff(DiffMessage([], [], 105, 98, 97)) is Outcome.APPLIED  # U <= 100 <= u
    assert s.on_diff(DiffMessage([], [], 110, 108, 105)) is Outcome.APPLIED  # pu == 105, U need not be 106
    assert s.on_diff(DiffMessage([], [], 110, 108, 105)) is Outcome.DROPPED
    assert s.on_diff(DiffMessage([], [], 120, 115, 114)) is Outcome.HELD  # pu 114 != 110


def test_okx_chain_checksum_and_heartbeat() -> None:
    s = SeqChainSync(OrderBook(), checksum=okx_checksum)
    book = OrderBook()
    book.apply_snapshot([["10", "1"]], [["11", "2"]], 0)
    good = okx_checksum(book)
    assert s.on_snapshot(SnapshotMessage(5, [["10", "1"]], [["11", "2"]], None, good)) is Outcome.APPLIED
    assert s.on_diff(DiffMessage([], [], 5, None, 5, None, good)) is Outcome.APPLIED  # heartbeat
    assert s.on_diff(DiffMessage([], [], 3, None, 2)) is Outcome.DROPPED  # older
    assert s.on_diff(DiffMessage([], [], 2, None, 5)) is Outcome.APPLIED  # seqId reset after maintenance
    assert s.on_diff(DiffMessage([["10", "9"]], [], 9, None, 2, None, good)) is Outcome.RESYNC
    assert s.stats.checksum_failures == 1 and s.book.update_id is None and not s.book.valid
    assert s.on_diff(DiffMessage([], [], 10, None, 9)) is Outcome.BUFFERED
    assert s.on_snapshot(SnapshotMessage(20, [["10", "1"]], [["11", "2"]], None, good)) is Outcome.APPLIED
    assert s.book.update_id == 20 and s.stats.dropped == 2
    assert s.on_diff(DiffMessage([], [], 21, None, 20, None, 0)) is Outcome.APPLIED  # checksum 0: retired


def test_timestamps_splice_and_last_writer_wins_per_level() -> None:
    s = TimestampSync(OrderBook())
    assert s.on_diff(DiffMessage([["1", "1"]], [], timestamp=100)) is Outcome.BUFFERED
    s.on_snapshot(SnapshotMessage(None, [["1", "5"]], [], 100))
    assert s.stats.dropped == 1  # the snapshot covers it
    s.on_diff(DiffMessage([["1", "7"], ["2", "2"]], [], timestamp=103))
    s.on_diff(DiffMessage([["1", "6"], ["3", "3"]], [], timestamp=102))  # late: level 1 is newer already
    assert s.book.bids() == [(Decimal(3), Decimal(3)), (Decimal(2), Decimal(2)), (Decimal(1), Decimal(7))]
    assert s.book.update_id is None and s.book.timestamp == 103


def test_safety_net_snapshot_is_rebased_and_counts_a_repair() -> None:
    s = ContiguousIdSync(OrderBook())
    s.on_snapshot(snap(10, [["1", "1"]]))
    s.book.apply_levels([["5", "5"]], [])  # corrupt the book behind the strategy's back
    s.begin_snapshot()
    s.on_diff(spot(11, 11, [["2", "2"]]))
    assert s.on_snapshot(snap(10, [["1", "1"]])) is Outcome.APPLIED
    assert s.book.update_id == 11 and s.book.bids() == [(Decimal(2), Decimal(2)), (Decimal(1), Decimal(1))]
    assert s.stats.repairs == 1
    s.begin_snapshot()
    assert s.on_snapshot(snap(5)) is Outcome.DROPPED  # older than the book when asked: ignored
    assert s.stats.stale_snapshots == 1 and s.book.update_id == 11


def test_buffer_is_bounded() -> None:
    s = ContiguousIdSync(OrderBook(), max_buffer=3)
    for i in range(5):
        s.on_diff(spot(i + 1, i + 1))
    assert s.buffered_count == 3 and s.stats.buffer_overflows == 2
    assert s.on_snapshot(snap(1)) is Outcome.RESYNC  # 2 is gone: the snapshot cannot be joined


def test_a_crossed_id_less_book_drops_the_stale_level_and_asks_for_a_snapshot() -> None:
    """A lost diff on a feed without ids leaves a level behind; the first crossing reveals it."""
    s = TimestampSync(OrderBook())
    assert s.on_snapshot(SnapshotMessage(None, [["100", "1"], ["99", "1"]], [["101", "1"]], 10, None, "P")) \
        is Outcome.APPLIED
    # The diff that removed bid 100 (time 11) is lost; at time 12 an ask appears at 100.
    assert s.on_diff(DiffMessage([], [["100", "2"]], None, None, None, 12, None, "P")) is Outcome.APPLIED
    assert s.book.best_bid() == Decimal("99") and s.book.best_ask() == Decimal("100")
    assert s.repair_wanted and s.stats.crossings == 1


def test_an_older_ws_snapshot_is_refused_a_few_times_then_believed_as_a_reset() -> None:
    s = SeqChainSync(OrderBook())
    assert s.on_snapshot(SnapshotMessage(50, [["10", "1"]], [["11", "1"]], None, None, "P")) is Outcome.APPLIED
    for _ in range(SeqChainSync.MAX_OLDER_REFUSALS):
        assert s.on_snapshot(SnapshotMessage(7, [["10", "1"]], [["11", "1"]], None, None, "P")) is Outcome.RESYNC
        assert s.book.update_id == 50
    assert s.on_snapshot(SnapshotMessage(7, [["10", "1"]], [["11", "1"]], None, None, "P")) is Outcome.APPLIED
    assert s.book.update_id == 7
