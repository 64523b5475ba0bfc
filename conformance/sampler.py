"""The sampler: every `interval` seconds, each connector's book, orders and funding info next to the truth.

A book is compared right away with the exchange's book at the update id it claims (the engine's history is
bounded, so later may be too late). On a mismatch, a few older states of the book are read too, to tell
whether the wrong levels show an older state (`book.no_stale_diff`); that costs more, so only the first
`diagnose_limit` mismatches of a connector get it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

from .checks.books import FUTURE, NO_ID, OUT_OF_HISTORY, book_diffs, find_stale_levels
from .observations import BookSample, FundingSample, OrderSample, StaleLevel
from .probe import Probe
from .protocol import Level, Venue
from .truth import FutureUpdateId, Truth

log = logging.getLogger(__name__)

#: how far back (in update ids) a wrong level is looked for in older books
OLDER_OFFSETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


class Sampler:
    def __init__(self, truth: Truth, probes: list[Probe], interval_s: float = 0.1, diagnose_limit: int = 20) -> None:
        self.truth = truth
        self.probes = probes
        self.interval_s = interval_s
        self.diagnose_limit = diagnose_limit
        self.errors: dict[str, int] = {}
        self._diagnosed: dict[str, int] = {}
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            await self.sample_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)

    def stop(self) -> None:
        self._stop.set()

    async def sample_once(self) -> None:
        for probe in self.probes:
            try:
                await self.sample(probe)
            except Exception as error:  # a connector's view that raises is noted, and sampling goes on
                key = f"{probe.record.label}: {type(error).__name__}"
                self.errors[key] = self.errors.get(key, 0) + 1
                if self.errors[key] == 1:
                    log.warning("sampling %s failed: %r", probe.record.label, error)

    async def sample(self, probe: Probe) -> None:
        await self.sample_book(probe)
        if probe.trading:
            await self.sample_orders(probe)
        if probe.market.venue is Venue.PERPETUAL:
            await self.sample_funding(probe)

    async def sample_book(self, probe: Probe) -> None:
        record = probe.record
        # No await may suspend between reading the connector's view and the truth (in-process they do not).
        t = self.truth.elapsed_s()
        view = probe.adapter.book(probe.pair, record.depth)
        truth_last = await self.truth.last_update_id(probe.symbol)
        if view is None:
            record.books.append(BookSample(t, None, (), (), truth_last, note=NO_ID, truth_top=await self._top(probe)))
            return
        bids, asks = view.bids[: record.depth], view.asks[: record.depth]
        note = NO_ID
        if view.update_id is not None:
            try:
                truth = await self.truth.book_at(probe.symbol, view.update_id, record.depth)
            except FutureUpdateId:
                note = FUTURE
            except LookupError:
                note = OUT_OF_HISTORY
            else:
                stale: tuple[StaleLevel, ...] = ()
                diffs = book_diffs(bids, asks, truth.bids, truth.asks)
                if diffs and self._diagnosed.get(record.label, 0) < self.diagnose_limit:
                    self._diagnosed[record.label] = self._diagnosed.get(record.label, 0) + 1
                    stale = find_stale_levels(diffs, await self._older_books(probe.symbol, view.update_id))
                record.books.append(BookSample(t, view.update_id, bids, asks, truth_last, truth.bids, truth.asks,
                                               stale_levels=stale))
                return
        record.books.append(BookSample(t, view.update_id, bids, asks, truth_last, note=note,
                                       truth_top=await self._top(probe)))

    async def _top(self, probe: Probe) -> tuple[Decimal | None, Decimal | None]:
        """The exchange's best bid and ask now (for the timelines, when there is no truth at a claimed id)."""
        book = await self.truth.book(probe.symbol, 1)
        return (book.bids[0][0] if book.bids else None, book.asks[0][0] if book.asks else None)

    async def _older_books(self, symbol: str, update_id: int) -> list[tuple[int, tuple[Level, ...], tuple[Level, ...]]]:
        older = []
        for offset in OLDER_OFFSETS:
            if update_id - offset < 0:
                break
            try:
                book = await self.truth.book_at(symbol, update_id - offset, None)
            except LookupError:
                break
            older.append((update_id - offset, book.bids, book.asks))
        return older

    async def sample_orders(self, probe: Probe) -> None:
        t = self.truth.elapsed_s()
        views = {v.client_order_id: v for v in probe.adapter.orders() if v.trading_pair == probe.pair}
        truth = await self.truth.orders(probe.account_id, probe.symbol, probe.since_us)
        probe.record.orders.append(OrderSample(t, views, truth))

    async def sample_funding(self, probe: Probe) -> None:
        t = self.truth.elapsed_s()
        view = probe.adapter.funding_info(probe.pair)
        truth = await self.truth.funding(probe.symbol)
        probe.record.funding.append(FundingSample(t, view, truth))
