"""Keeps one order book per trading pair in sync, and (perpetuals) the funding info.

Per pair: an `OrderBook`, the sync strategy of the dialect's kind (`book_sync`), and a snapshot loop that
fetches a REST snapshot (or resubscribes, for dialects whose snapshot comes on the WebSocket) whenever the
strategy needs one: at start, after a gap, a checksum failure or a reconnect, and periodically as a safety
net. A diff held back for a missing one longer than `gap_timeout_s` forces a resync. Snapshots are fetched
only while the depth stream is subscribed, so no diff between the snapshot and the stream can be missed.

Funding info (perpetuals) comes from the market stream and REST; an update older (by exchange event time)
than the one held is ignored; REST refetches it at start, after every reconnect of the stream carrying it,
and every `funding_refresh_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from .accounts import FundingBook
from .book_sync import DiffMessage, Outcome, SnapshotMessage, SyncKind, SyncStrategy, strategy_for
from .config import Backoff, ConnectorConfig, seeded_rng
from .dialects.base import Dialect, MarketStream
from .errors import ConnectorError
from .order_book import OrderBook
from .order_book_data_source import OrderBookDataSource
from .rest import RestClient
from .tasks import TaskSet
from .types import FundingUpdate, TradingRule

log = logging.getLogger(__name__)

#: `listener(pair, update_id)`: a diff or a snapshot was just applied to the pair's book, which now reflects
#: `update_id` (the book's `update_id`: None for dialects without ids, or for a book just invalidated by a
#: checksum mismatch). Called synchronously on the message path: keep it cheap, never raise.
BookUpdateListener = Callable[[str, int | None], None]


@dataclass
class PairCounters:
    #: snapshots fetched (or resubscriptions made) because the book lost sync (gap, checksum, reconnect)
    resyncs: int = 0
    snapshots_fetched: int = 0
    snapshot_failures: int = 0
    periodic_snapshots: int = 0
    gap_timeouts: int = 0


class PairBook:
    def __init__(self, pair: str, book: OrderBook, strategy: SyncStrategy, now: float, interval: float) -> None:
        self.pair = pair
        self.book = book
        self.strategy = strategy
        self.want = asyncio.Event()
        self.snapshot_applied = asyncio.Event()
        #: a depth stream (re)opened and subscribed, no snapshot received since: where the snapshot comes on the
        #: WebSocket, one is on its way
        self.subscribed = asyncio.Event()
        self.hold_started: float | None = None
        self.counters = PairCounters()
        self.next_periodic = now + interval
        #: the book has been in sync at least once
        self.initialized = False


class OrderBookTracker:
    def __init__(self, dialect: Dialect, session: aiohttp.ClientSession, rest: RestClient, ws_url: str,
                 rules: Sequence[TradingRule], config: ConnectorConfig,
                 books: dict[str, OrderBook] | None = None, clock: Callable[[], float] = time.monotonic,
                 update_listeners: list[BookUpdateListener] | None = None) -> None:
        self.dialect = dialect
        #: called after every diff or snapshot applied to a book (see `BookUpdateListener`); the list is
        #: shared with the caller's, so listeners may be added later; nothing is done while it is empty
        self.update_listeners: list[BookUpdateListener] = update_listeners if update_listeners is not None else []
        self.config = config
        self.clock = clock
        self.pairs = [r.trading_pair for r in rules]
        self.funding = FundingBook(needs_index=dialect.publishes_index_price)
        self.funding_initialized = not dialect.is_perpetual
        self.funding_fetches = 0
        self._books: dict[str, PairBook] = {}
        self.snapshot_interval_s = config.snapshot_interval_s
        if dialect.sync_kind is SyncKind.TIMESTAMPS and config.snapshot_interval_no_ids_s > 0:
            self.snapshot_interval_s = min(config.snapshot_interval_s or float("inf"),
                                           config.snapshot_interval_no_ids_s)
        now = clock()
        books = books if books is not None else {}
        for rule in rules:
            book = books.get(rule.trading_pair)
            exact = OrderBook.for_market(rule.tick_size, rule.max_price).float_keys
            if book is None or (book.float_keys and not exact):
                if book is not None:
                    log.warning("%s: float keys are not provably exact for this market; using Decimal keys",
                                rule.trading_pair)
                book = OrderBook(float_keys=config.float_keys and exact)
                books[rule.trading_pair] = book
            book.qty_multiplier = rule.contract_size if rule.contract_size != 1 else None
            strategy = strategy_for(dialect.sync_kind, book, config.max_buffer, config.max_held, dialect.checksum())
            self._books[rule.trading_pair] = PairBook(rule.trading_pair, book, strategy, now,
                                                      self.snapshot_interval_s)
        self.order_books: dict[str, OrderBook] = {p: pb.book for p, pb in self._books.items()}
        self.data_source = OrderBookDataSource(dialect, session, rest, ws_url, self.pairs, config, self)
        self._depth_open = asyncio.Event()
        self._funding_refresh = asyncio.Event()
        self._funding_refresh.set()

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self, tasks: TaskSet) -> None:
        for name in self.data_source.streams:
            tasks.spawn(self.data_source.run_stream(name), f"book:stream:{name}")
        for pb in self._books.values():
            tasks.spawn(self._snapshot_loop(pb), f"book:snapshots:{pb.pair}")
        tasks.spawn(self._gap_watch(), "book:gap-watch")
        if self.dialect.is_perpetual:
            tasks.spawn(self._funding_loop(), "book:funding")

    @property
    def ready(self) -> bool:
        return all(pb.initialized for pb in self._books.values()) and self.funding_initialized

    def strategy(self, pair: str) -> SyncStrategy:
        return self._books[pair].strategy

    # --- MarketListener ------------------------------------------------------------------------------
    def on_diff(self, diff: DiffMessage) -> None:
        pb = self._books.get(diff.trading_pair)
        if pb is None:
            return
        strategy = pb.strategy
        outcome = strategy.on_diff(diff)
        if self.update_listeners and outcome is Outcome.APPLIED:
            self._notify(pb)
        if outcome is Outcome.RESYNC:
            pb.hold_started = None
            self._want_snapshot(pb)
        elif strategy.repair_wanted:
            strategy.repair_wanted = False
            self._want_snapshot(pb)  # a safety-net snapshot now rather than at the next period
        elif strategy.held_count:
            if pb.hold_started is None:
                pb.hold_started = self.clock()
        elif pb.hold_started is not None:
            pb.hold_started = None

    def on_ws_snapshot(self, snapshot: SnapshotMessage) -> None:
        pb = self._books.get(snapshot.trading_pair)
        if pb is None:
            return
        applied = pb.strategy.stats.snapshots_applied
        outcome = pb.strategy.on_snapshot(snapshot)
        pb.counters.snapshots_fetched += 1
        pb.snapshot_applied.set()
        pb.subscribed.clear()
        if self.update_listeners and pb.strategy.stats.snapshots_applied != applied:
            self._notify(pb)
        if outcome is Outcome.RESYNC:
            self._want_snapshot(pb)
        else:
            pb.initialized = True

    def _notify(self, pb: PairBook) -> None:
        update_id = pb.book.update_id
        for listener in self.update_listeners:
            listener(pb.pair, update_id)

    def on_funding(self, update: FundingUpdate) -> None:
        self.funding.apply(update)

    def on_stream_subscribing(self, stream: MarketStream) -> None:
        """A depth stream is about to subscribe: where the snapshot comes on the WebSocket, the subscription brings
        one (marked before the subscribe is sent, since its snapshot may be handled before the subscription's ack
        has been seen through)."""
        if stream.depth and self.dialect.snapshot_from_ws:
            for pb in self._books.values():
                pb.snapshot_applied.clear()
                pb.subscribed.set()

    def on_stream_open(self, stream: MarketStream) -> None:
        if stream.depth:
            self._depth_open.set()
            if not self.dialect.snapshot_from_ws:
                for pb in self._books.values():
                    if pb.strategy.needs_snapshot:
                        self._want_snapshot(pb)
        if stream.funding:
            self._funding_refresh.set()

    def on_stream_closed(self, stream: MarketStream, reason: str) -> None:
        if stream.depth:
            self._depth_open.clear()
            for pb in self._books.values():
                if pb.strategy.synced:
                    pb.strategy.force_resync(f"reconnect: {reason}")
                pb.hold_started = None

    # --- snapshots ------------------------------------------------------------------------------------
    def _want_snapshot(self, pb: PairBook) -> None:
        pb.want.set()

    async def _snapshot_due(self, pb: PairBook) -> None:
        if pb.strategy.needs_snapshot or pb.want.is_set():
            return
        interval = self.snapshot_interval_s
        timeout = max(0.0, pb.next_periodic - self.clock()) if interval > 0 else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pb.want.wait(), timeout)

    def _periodic_due(self, pb: PairBook) -> bool:
        return self.snapshot_interval_s > 0 and self.clock() >= pb.next_periodic

    async def _snapshot_loop(self, pb: PairBook) -> None:
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s,
                          seeded_rng(self.config.seed, f"snapshot:{pb.pair}"))
        while True:
            await self._snapshot_due(pb)
            await self._depth_open.wait()
            if not (pb.strategy.needs_snapshot or pb.want.is_set() or self._periodic_due(pb)):
                continue  # what made it due was met while the stream opened (its subscription's snapshot)
            pb.want.clear()
            strategy = pb.strategy
            needed = strategy.needs_snapshot
            if needed and strategy.resync_reason != "initial":
                pb.counters.resyncs += 1
            elif not needed:
                pb.counters.periodic_snapshots += 1
            pb.next_periodic = self.clock() + self.snapshot_interval_s
            if self.dialect.snapshot_from_ws and pb.subscribed.is_set() and needed:
                # the stream's own subscription brings a snapshot: wait for it rather than ask for a second one
                pb.subscribed.clear()
                ok = await self._await_ws_snapshot(pb)
                if not ok:
                    ok = await self._resubscribe(pb)
            elif self.dialect.snapshot_from_ws:
                ok = await self._resubscribe(pb)
            else:
                ok = await self._fetch_snapshot(pb)
            if ok:
                backoff.reset()
            elif strategy.needs_snapshot:
                await asyncio.sleep(backoff.next_delay())
                pb.want.set()

    async def _fetch_snapshot(self, pb: PairBook) -> bool:
        strategy = pb.strategy
        strategy.begin_snapshot()
        try:
            snapshot = await self.data_source.fetch_snapshot(pb.pair)
        except asyncio.CancelledError:
            raise
        except (ConnectorError, KeyError, ValueError, TypeError) as error:
            strategy.snapshot_failed()
            pb.counters.snapshot_failures += 1
            log.info("%s: snapshot failed: %s", pb.pair, error)
            return False
        pb.counters.snapshots_fetched += 1
        applied = strategy.stats.snapshots_applied
        outcome = strategy.on_snapshot(snapshot)
        if self.update_listeners and strategy.stats.snapshots_applied != applied:
            self._notify(pb)
        if outcome is Outcome.RESYNC:
            log.info("%s: snapshot %s not usable (%s)", pb.pair, snapshot.update_id, strategy.resync_reason)
            return False
        if strategy.synced:
            pb.initialized = True
        return True

    async def _resubscribe(self, pb: PairBook) -> bool:
        pb.snapshot_applied.clear()
        if not await self.data_source.resubscribe(pb.pair):
            return False
        return await self._await_ws_snapshot(pb)

    async def _await_ws_snapshot(self, pb: PairBook) -> bool:
        """Wait (bounded) for a snapshot on the WebSocket; True when the book is in sync after it."""
        try:
            await asyncio.wait_for(pb.snapshot_applied.wait(), self.config.subscribe_timeout_s)
        except TimeoutError:
            pb.counters.snapshot_failures += 1
            return False
        return not pb.strategy.needs_snapshot

    async def _gap_watch(self) -> None:
        timeout = self.config.gap_timeout_s
        while True:
            await asyncio.sleep(max(0.01, timeout / 4))
            now = self.clock()
            for pb in self._books.values():
                if pb.hold_started is not None and now - pb.hold_started >= timeout:
                    pb.hold_started = None
                    pb.counters.gap_timeouts += 1
                    if pb.strategy.held_count:
                        pb.strategy.force_resync(f"gap: not filled within {timeout}s")
                        self._want_snapshot(pb)

    # --- funding --------------------------------------------------------------------------------------
    async def _funding_loop(self) -> None:
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s,
                          seeded_rng(self.config.seed, "funding"))
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._funding_refresh.wait(), self.config.funding_refresh_s)
            self._funding_refresh.clear()
            failed = False
            for pair in self.pairs:
                try:
                    updates = await self.data_source.fetch_funding(pair)
                except asyncio.CancelledError:
                    raise
                except (ConnectorError, KeyError, ValueError, TypeError) as error:
                    log.info("%s: funding info request failed: %s", pair, error)
                    failed = True
                    continue
                self.funding_fetches += 1
                for update in updates:
                    self.funding.apply(update)
            self.funding_initialized = self.funding.has_all(self.pairs)
            if failed:
                await asyncio.sleep(backoff.next_delay())
                self._funding_refresh.set()
            else:
                backoff.reset()

    # --- counters ------------------------------------------------------------------------------------
    def pair_stats(self, pair: str) -> dict[str, Any]:
        pb = self._books[pair]
        stats: dict[str, Any] = {**pb.strategy.stats.as_dict(), **asdict(pb.counters)}
        stats.update(update_id=pb.book.update_id, synced=pb.strategy.synced, held=pb.strategy.held_count,
                     buffered_now=pb.strategy.buffered_count, resync_reason=pb.strategy.resync_reason)
        return stats

    def stats(self) -> dict[str, Any]:
        pairs = {pair: self.pair_stats(pair) for pair in self._books}
        streams = self.data_source.stats()

        def total(name: str) -> int:
            return sum(int(p[name]) for p in pairs.values())

        return {
            "resyncs": total("resyncs"),
            "gaps_detected": total("gaps"),
            "checksum_failures": total("checksum_failures"),
            "reconnects": sum(s["reconnects"] for s in streams.values()),
            "stalls": sum(s["stalls"] for s in streams.values()),
            "messages_applied": total("applied"),
            "messages_dropped": total("dropped"),
            "stale_snapshots": total("stale_snapshots"),
            "repairs": total("repairs"),
            "funding_stale_updates": self.funding.stale_updates,
            "funding_fetches": self.funding_fetches,
            "update_ids": {pair: p["update_id"] for pair, p in pairs.items()},
            "pairs": pairs,
            "streams": streams,
        }
