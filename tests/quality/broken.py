"""Deliberately broken connectors: the reference connector with ONE planted bug each.

Each is a `ReferenceFactory` whose `variant` derives the dialect's connector class (spot and perpetual, every
dialect) with a mixin that changes one small piece: a sync strategy's verdict, the book tracker's snapshot loop,
an order's state machine, the account books... A component built before the connector starts (the order
tracker, the books, the balance and position books) is re-typed in `start()`; one built by `_bootstrap` (the
book tracker, its sync strategies, its funding book) right after `_bootstrap` built it, before any of its tasks
has run. Re-typing (`retype(obj, Mixin)`) keeps the object and its state and gives it a subclass in which the
one method is broken, so the rest of the reference connector runs as it is.

`BROKEN` lists them with the check that must catch each (its name says the bug);
`tests/quality/test_broken_connectors.py` runs each through the scenario that exposes it. From the CLI, at the
repository root (so that `tests` is importable): `python -m conformance.cli run --connector
tests.quality.broken:<name> --scenario ...`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from conformance.adapters.reference import ReferenceFactory
from reference_connector.accounts import FundingBook, PositionBook
from reference_connector.book_sync import DiffMessage, Outcome, SnapshotMessage, SyncStrategy, Verdict
from reference_connector.client_order_tracker import ClientOrderTracker
from reference_connector.connector_base import ConnectorBase
from reference_connector.errors import CancelRejected, OrderNotFound, RequestError
from reference_connector.in_flight_order import FillResult, InFlightOrder, Transition
from reference_connector.order_book import OrderBook, Row
from reference_connector.order_book_tracker import OrderBookTracker, PairBook
from reference_connector.types import (
    BalanceUpdate,
    FundingUpdate,
    OrderState,
    OrderUpdate,
    PositionUpdate,
    TradeFill,
    UserEvent,
)

T = TypeVar("T")
MODULE = __name__

# --- planting ------------------------------------------------------------------------------------------


_DERIVED: dict[tuple[type[Any], type[Any]], type[Any]] = {}


def derived(mixin: type[Any], base: type[T]) -> type[T]:
    """`base` with `mixin`'s methods in front (one class per pair, so a re-typed object's class is stable)."""
    if issubclass(base, mixin):
        return base
    cls = _DERIVED.get((mixin, base))
    if cls is None:
        cls = _DERIVED[(mixin, base)] = type(f"{mixin.__name__}{base.__name__}", (mixin, base), {"__slots__": ()})
    return cls


def retype(obj: Any, mixin: type[Any]) -> None:
    """Plant `mixin` into one live object: same state, a class whose broken method comes first."""
    obj.__class__ = derived(mixin, type(obj))


class Planted(ConnectorBase):
    """Connector mixin: `plant_early` runs at `start()` (the components `__init__` built exist, nothing runs
    yet), `plant_late` right after `_bootstrap` built the book tracker and the user stream (their tasks are
    spawned but none has run: nothing awaits in between)."""

    async def start(self) -> None:
        if not self._started:
            self.plant_early()
        await super().start()

    async def _bootstrap(self) -> None:
        await super()._bootstrap()
        self.plant_late()

    def plant_early(self) -> None:
        """Re-type what `__init__` built."""

    def plant_late(self) -> None:
        """Re-type what `_bootstrap` built."""

    @property
    def book_tracker(self) -> OrderBookTracker:
        tracker = self.order_book_tracker
        assert tracker is not None, "plant_late runs once the tracker exists"
        return tracker

    def retype_strategies(self, mixin: type[SyncStrategy]) -> None:
        tracker = self.book_tracker
        for pair in tracker.pairs:
            retype(tracker.strategy(pair), mixin)


class TracksOrdersAs(ClientOrderTracker):
    """Order tracker mixin: every order it starts tracking is re-typed with `order_mixin`."""

    order_mixin: type[InFlightOrder]

    def start_tracking(self, order: InFlightOrder) -> None:
        retype(order, self.order_mixin)
        super().start_tracking(order)


def _forever() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


def _nonzero(rows: Sequence[Row]) -> list[Row]:
    return [row for row in rows if Decimal(row[1]) != 0]


def _force(order: InFlightOrder, state: OrderState, source: str, reason: str) -> None:
    """Set an order's state as told, with no state machine in the way (and record it, as the reference does)."""
    order.transitions.append(Transition(order.state, state, source, reason, int(time.time() * 1000)))
    order.state = state


# --- books ---------------------------------------------------------------------------------------------


class _AppliesAcrossGaps(SyncStrategy):
    def _verdict(self, diff: DiffMessage) -> Verdict:
        verdict = super()._verdict(diff)
        return Verdict.APPLY if verdict is Verdict.GAP else verdict


class IgnoresGaps(Planted):
    """Ignores gaps: a diff that does not follow the book's update id is applied as if nothing were missing, and
    its id claimed (Hummingbot's Binance spot book does not check `U`)."""

    def plant_late(self) -> None:
        self.retype_strategies(_AppliesAcrossGaps)


class _KeepsDeletedLevels(SyncStrategy):
    def _apply_rows(self, diff: DiffMessage) -> None:
        super()._apply_rows(dataclasses.replace(diff, bids=_nonzero(diff.bids), asks=_nonzero(diff.asks)))


class KeepsDeletedLevels(Planted):
    """Never removes a level: a diff's zero quantity is skipped instead of deleting the level, so levels the
    market left stay in the book (until the next snapshot) and it crosses."""

    def plant_late(self) -> None:
        self.retype_strategies(_KeepsDeletedLevels)


class _NoChecksum(SyncStrategy):
    def _checksum_ok(self, expected: int | None) -> bool:
        return True  # the checksum the message carries is never compared with the book's


class IgnoresChecksum(Planted):
    """Ignores the book checksum: an OKX books push whose seqId follows the book's is applied and its seqId claimed
    without comparing the CRC32 of the top 25 levels with the push's `checksum`, so a push whose content is wrong
    (its sequence right) leaves a wrong level in the book until that level changes again or the next snapshot."""

    def plant_late(self) -> None:
        self.retype_strategies(_NoChecksum)


class _StaleByFirstId(SyncStrategy):
    def _verdict(self, diff: DiffMessage) -> Verdict:
        current = self.book.update_id
        if diff.first_id is not None and current is not None and diff.first_id <= current:
            return Verdict.STALE
        return super()._verdict(diff)


class DropsStraddlingDiff(Planted):
    """Judges a diff stale by its first update id (`U <= id`) instead of its last (`u <= id`): the diff that
    straddles the snapshot (Binance's "U <= lastUpdateId+1 <= u" event) is dropped, so the next one is a gap and
    the book never gets past its snapshot. With one frame per change a straddling diff is rare; with frames
    merged per interval, as Binance sends them, nearly every snapshot lands inside one."""

    def plant_late(self) -> None:
        self.retype_strategies(_StaleByFirstId)


class _SnapshotReplacesBook(SyncStrategy):
    def _rebase(self, snapshot: SnapshotMessage) -> Outcome:
        self._recording = None
        self.book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.update_id if self.has_ids else None,
                                 snapshot.timestamp)
        self.stats.snapshots_applied += 1
        return Outcome.APPLIED


class IdGoesBack(Planted):
    """A safety-net snapshot taken while in sync replaces the book as it comes, even when it is older than the
    book (a slow or stale answer): the book's update id goes back."""

    def plant_late(self) -> None:
        self.retype_strategies(_SnapshotReplacesBook)


class _SnapshotsOnce(OrderBookTracker):
    async def _snapshot_due(self, pb: PairBook) -> None:
        if pb.initialized:
            await _forever()  # the first sync was the last one
        await super()._snapshot_due(pb)


class NeverResnapshots(Planted):
    """Never re-snapshots: the book is synced once at start; after a gap (or a reconnect) it waits for a snapshot
    it never asks for, and there is no periodic safety net either."""

    def plant_late(self) -> None:
        retype(self.book_tracker, _SnapshotsOnce)


class _NoPeriodicSnapshot(OrderBookTracker):
    async def _snapshot_due(self, pb: PairBook) -> None:
        if not (pb.strategy.needs_snapshot or pb.want.is_set()):
            await pb.want.wait()  # only when asked for: the period is ignored


class NoSafetyNetSnapshot(Planted):
    """No safety-net snapshot: the book is re-snapshotted only when it knows it is out of sync, never
    periodically, which on a dialect without update ids (Bitstamp) is the only repair of a lost diff that does
    not cross the book."""

    def plant_late(self) -> None:
        retype(self.book_tracker, _NoPeriodicSnapshot)


class _AppliesStaleDiffs(SyncStrategy):
    def _verdict(self, diff: DiffMessage) -> Verdict:
        verdict = super()._verdict(diff)
        return Verdict.APPLY if verdict is Verdict.STALE else verdict

    def _apply_rows(self, diff: DiffMessage) -> None:
        current = self.book.update_id
        if current is not None and diff.last_id is not None and diff.last_id <= current:
            self.book.apply_levels(diff.bids, diff.asks)  # its (older) quantities, the book's id kept
        else:
            super()._apply_rows(diff)


class AppliesStaleDiffs(Planted):
    """Applies stale diffs: a diff the book already covers (buffered before the snapshot, or a late one) is
    applied on top of it, its older quantities overwriting newer ones (Hummingbot replays buffered diffs without
    an id check); the book keeps claiming its newer id."""

    def plant_late(self) -> None:
        self.retype_strategies(_AppliesStaleDiffs)


class _MergingBook(OrderBook):
    __slots__ = ()

    def apply_snapshot(self, bids: Any, asks: Any, update_id: int | None, timestamp: int | None = None) -> None:
        self.apply_diff(bids, asks, update_id, timestamp)  # merged into what is there: levels it lacks stay
        self.snapshot_uid = update_id
        self.valid = True


class SnapshotMerged(Planted):
    """A snapshot is merged into the book instead of replacing it: after a gap the resync keeps every level the
    missing diffs deleted, and no later snapshot removes them."""

    def plant_early(self) -> None:
        for book in self.order_books.values():
            retype(book, _MergingBook)


# --- connector ------------------------------------------------------------------------------------------


class NeverLoadsBalances(Planted):
    """Never loads the account: the balance refresh loop is missing, so `ready` waits for balances forever."""

    async def _account_loop(self) -> None:
        await _forever()


class _CrashingReconciler(ClientOrderTracker):
    async def reconcile_due(self) -> None:
        raise KeyError("status")  # an unguarded parse: nothing catches it, the task dies


class ReconcilerCrashes(Planted):
    """A background task dies: an exception escapes the order reconciliation loop on its first pass, and
    nothing restarts it (quietly, while the user stream keeps the orders right)."""

    def plant_early(self) -> None:
        retype(self.order_tracker, _CrashingReconciler)


# --- orders ---------------------------------------------------------------------------------------------


class ForgetsUnknownCreates(Planted):
    """An order whose create answer was lost (timeout, 5xx, "execution status unknown") is given up: dropped
    from the tracked orders instead of looked up by client order id, though the exchange may well have it
    (Hummingbot #8457)."""

    async def place_order(self, *args: Any, **kwargs: Any) -> str:
        client_id: str = await super().place_order(*args, **kwargs)
        order = self.order_tracker.orders.get(client_id)
        if order is not None and order.outcome_unknown:
            del self.order_tracker.orders[client_id]
        return client_id


class _StateAsTold(InFlightOrder):
    def transition(self, new_state: OrderState, source: str, reason: str = "") -> bool:
        if new_state is not self.state:
            _force(self, new_state, source, reason)
        return True


class _NoStateMachine(TracksOrdersAs):
    order_mixin = _StateAsTold


class NoStateMachine(Planted):
    """No state machine: an order takes whatever state the last update says, so a late or stale update (an ack
    that arrives after the fill) moves it backwards, out of FILLED included."""

    def plant_early(self) -> None:
        retype(self.order_tracker, _NoStateMachine)


class CancelRefusalMeansCanceled(Planted):
    """A cancel the exchange refuses because the order is no longer open ("unknown order": it was just filled) is
    taken as a confirmed cancel, and CANCELED written over whatever the order is, FILLED included."""

    def _on_cancel_refused(self, order: InFlightOrder, error: CancelRejected) -> bool:
        _force(order, OrderState.CANCELED, "rest:cancel", f"refused, read as canceled: {error}")  # the bug
        return True


class _CumulativeAsLast(ClientOrderTracker):
    def process_order_update(self, update: OrderUpdate) -> bool:
        order = self.find(update.client_order_id, update.exchange_order_id)
        if order is not None and update.executed_amount:
            order.executed_amount += update.executed_amount  # the cumulative amount taken as the last fill's
        return super().process_order_update(update)


class CumulativeAsLastFill(Planted):
    """An order update's cumulative executed amount (Binance `z`) is added to the executed amount as if it were
    the last fill's (`l`): fills are counted again by every update that reports them."""

    def plant_early(self) -> None:
        retype(self.order_tracker, _CumulativeAsLast)


class _CountsEveryFillEvent(InFlightOrder):
    def apply_fill(self, fill: TradeFill) -> str:
        # every fill event is a new fill: no trade-id de-dup, and so nothing to cap but the events' sum
        self.trade_ids.append(fill.trade_id)
        self.fills.append(fill)
        self.executed_amount += fill.amount
        self.executed_quote += fill.amount * fill.price
        if fill.fee:
            self.fees[fill.fee_asset] = self.fees.get(fill.fee_asset, Decimal(0)) + fill.fee
        self.exchange_executed = max(self.exchange_executed, self.executed_amount)
        if not self.state.is_terminal:
            state = OrderState.FILLED if self.executed_amount >= self.amount else OrderState.PARTIALLY_FILLED
            self.transition(state, fill.source or "fill", f"trade {fill.trade_id}")
        return FillResult.APPLIED


class _NoFillDedup(TracksOrdersAs):
    order_mixin = _CountsEveryFillEvent


class DoubleCountsFills(Planted):
    """Double counts duplicate fills: every fill event is added to the order (no de-duplication by trade id), so
    a fill delivered twice, or reported by both REST and the user stream, is counted twice."""

    def plant_early(self) -> None:
        retype(self.order_tracker, _NoFillDedup)


class NeverFetchesTrades(Planted):
    """Never asks REST for an order's trades: a fill lost with a dropped user-stream event is never recovered,
    though the order's status says it executed more."""

    async def fetch_fills(self, order: InFlightOrder) -> list[TradeFill]:
        return []


class CancelFailureMeansCanceled(Planted):
    """A cancel that fails without an answer (a 5xx, a timeout) is taken as done: the order is marked CANCELED
    locally while the exchange still has it open, and a terminal order is never looked up again."""

    async def cancel(self, trading_pair: str, client_order_id: str) -> bool:
        try:
            return await super().cancel(trading_pair, client_order_id)
        except RequestError as error:
            order = self.order_tracker.find(client_order_id)
            if order is not None:
                self.order_tracker.transition(order, OrderState.CANCELED, "local", f"assumed done: {error}")
            return True


class ErrorMeansNotFound(Planted):
    """Marks orders lost on a 5xx: a status query that fails (5xx, 429, timeout) is read as "no such order", so a
    live order is declared lost after two failed queries (Hummingbot #8457)."""

    async def fetch_order(self, order: InFlightOrder) -> OrderUpdate:
        try:
            return await super().fetch_order(order)
        except RequestError as error:
            raise OrderNotFound(f"read as not found: {error}") from error


class _NeverPolls(ClientOrderTracker):
    async def run(self) -> None:
        await _forever()


class NeverReconciles(Planted):
    """Trusts the user stream alone: no REST reconciliation at all (no polling, no look-up of an order whose event
    was lost), so a dropped event leaves the order wrong for good."""

    def plant_early(self) -> None:
        retype(self.order_tracker, _NeverPolls)


# --- accounts -------------------------------------------------------------------------------------------


class IgnoresStreamBalances(Planted):
    """Balances are never updated from the user stream (its balance events are dropped), so between the REST
    refreshes (30 s, the production default) they are those of the last refresh."""

    def _on_user_events(self, events: Sequence[UserEvent]) -> None:
        super()._on_user_events([e for e in events if not isinstance(e, BalanceUpdate)])


class _EntryPriceKept(PositionBook):
    def apply(self, update: PositionUpdate) -> bool:
        held = self._positions.get(update.trading_pair)
        if held is not None and held[0].amount and update.amount:  # open before and after: keep the entry price
            update = dataclasses.replace(update, entry_price=held[0].entry_price)
        return super().apply(update)


class EntryPriceNeverUpdated(Planted):
    """A position's entry price is set when it opens from flat and then kept: not re-averaged when the position
    grows, not reset when it flips side."""

    def plant_early(self) -> None:
        positions: PositionBook | None = getattr(self, "positions", None)
        if positions is not None:
            retype(positions, _EntryPriceKept)


class _FirstFundingOnly(FundingBook):
    def apply(self, update: FundingUpdate) -> bool:
        if self.get(update.trading_pair) is not None:
            return False  # complete once: later updates ignored
        return super().apply(update)


class IgnoresFundingUpdates(Planted):
    """Ignores funding updates after the first: once a pair's funding info is complete, later updates (stream or
    REST) are dropped."""

    def plant_late(self) -> None:
        retype(self.book_tracker.funding, _FirstFundingOnly)


class _LastArrivalWins(FundingBook):
    def apply(self, update: FundingUpdate) -> bool:
        fields = self._fields.setdefault(update.trading_pair, {})
        for name in ("rate", "mark_price", "index_price", "next_funding_time_ms"):
            value = getattr(update, name)
            if value is not None:
                fields[name] = (value, update.time_ms)  # no time check: the last arrival wins
        return True


class FundingLastArrivalWins(Planted):
    """Funding info is last-writer-wins by arrival: a REST answer older than the stream's last update (a slow
    answer) overwrites it, and the rate goes back (Hummingbot's funding info has no time)."""

    def plant_late(self) -> None:
        retype(self.book_tracker.funding, _LastArrivalWins)


# --- the catalogue ------------------------------------------------------------------------------------------

#: tuning that is the bug: no stall watchdog, no periodic REST refresh of funding info
NO_STALL_WATCHDOG = {"stall_timeout_s": 3600.0, "probe_after_s": 3600.0, "funding_refresh_s": 3600.0}
#: stages: a safety-net snapshot every 1.5 s (`CONFORMANCE_TUNING` has 10 s: none within a run of a few seconds);
#: the production balance refresh (30 s: none within a run, balances come from the user stream)
SAFETY_NET_1_5_S = {"snapshot_interval_s": 1.5, "snapshot_interval_no_ids_s": 1.5}
PRODUCTION_BALANCE_REFRESH = {"balance_refresh_s": 30.0}


@dataclass(frozen=True)
class BrokenConnector:
    """One planted bug: its name (`tests.quality.broken:<name>` rebuilds its factory), the check that must catch
    it, what the bug is, and how it is planted: a connector mixin and/or `tuning`. `stage` is tuning that only sets
    the stage for the bug to show (e.g. a safety-net snapshot within a run of a few seconds): the reference it is
    compared with runs with it too."""

    name: str
    check: str
    bug: str
    mixin: type[Planted] | None = None
    tuning: dict[str, Any] = field(default_factory=dict)
    stage: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> str:
        return f"{MODULE}:{self.name}"

    def factory(self) -> ReferenceFactory:
        variant = functools.partial(derived, self.mixin) if self.mixin is not None else None
        return ReferenceFactory(tuning={**self.stage, **self.tuning} or None, variant=variant, spec=self.spec)

    def baseline(self) -> ReferenceFactory:
        """The reference connector on the same stage: what this one is compared with."""
        return ReferenceFactory(tuning=dict(self.stage) or None)


def _broken(name: str, check: str, mixin: type[Planted] | None = None, *, tuning: dict[str, Any] | None = None,
            stage: dict[str, Any] | None = None, bug: str = "") -> BrokenConnector:
    doc = bug or (mixin.__doc__ or "").split("\n\n")[0]
    return BrokenConnector(name, check, " ".join(doc.split()), mixin, dict(tuning or {}), dict(stage or {}))


BROKEN: dict[str, BrokenConnector] = {b.name: b for b in [
    _broken("ignores_gaps", "book.truth", IgnoresGaps),
    _broken("keeps_deleted_levels", "book.not_crossed", KeepsDeletedLevels),
    _broken("ignores_checksum", "book.truth", IgnoresChecksum),
    _broken("drops_straddling_diff", "book.snapshots_explained", DropsStraddlingDiff),
    _broken("id_goes_back", "book.monotonic_id", IdGoesBack, stage=SAFETY_NET_1_5_S),
    _broken("never_resnapshots", "book.recovery", NeverResnapshots),
    _broken("applies_stale_diffs", "book.no_stale_diff", AppliesStaleDiffs),
    _broken("snapshot_merged", "book.restored", SnapshotMerged),
    _broken("no_safety_net_snapshot", "book.converged", NoSafetyNetSnapshot, stage=SAFETY_NET_1_5_S),
    _broken("never_loads_balances", "connector.ready", NeverLoadsBalances),
    _broken("reconciler_crashes", "connector.clean_stop", ReconcilerCrashes),
    _broken("forgets_unknown_creates", "orders.tracked", ForgetsUnknownCreates),
    _broken("no_state_machine", "orders.legal_transitions", NoStateMachine),
    _broken("cancel_refusal_means_canceled", "orders.single_terminal", CancelRefusalMeansCanceled),
    _broken("cumulative_as_last_fill", "orders.no_overfill", CumulativeAsLastFill),
    _broken("double_counts_fills", "orders.unique_fills", DoubleCountsFills),
    _broken("never_fetches_trades", "orders.fills_truth", NeverFetchesTrades),
    _broken("cancel_failure_means_canceled", "orders.state_truth", CancelFailureMeansCanceled),
    _broken("error_means_not_found", "orders.no_false_loss", ErrorMeansNotFound),
    _broken("never_reconciles", "orders.reconciled", NeverReconciles),
    _broken("ignores_stream_balances", "balances.truth", IgnoresStreamBalances, stage=PRODUCTION_BALANCE_REFRESH),
    _broken("entry_price_never_updated", "positions.truth", EntryPriceNeverUpdated),
    _broken("ignores_funding_updates", "funding.truth", IgnoresFundingUpdates),
    _broken("stalled_feed_unnoticed", "funding.fresh", tuning=NO_STALL_WATCHDOG,
            bug="A stalled feed goes unnoticed: no stall watchdog (no probe, no silence timeout) and no periodic "
                "REST refresh of funding info, so a market stream that goes silent with its socket open leaves "
                "the funding info as it was."),
    _broken("funding_last_arrival_wins", "funding.no_stale", FundingLastArrivalWins),
]}


def __getattr__(name: str) -> ReferenceFactory:
    """`tests.quality.broken:<name>` is the factory of that broken connector (for `--connector`)."""
    broken = BROKEN.get(name)
    if broken is None:
        raise AttributeError(f"module {MODULE!r} has no attribute {name!r}")
    return broken.factory()
