"""A deliberately broken connector: the reference connector with its gap detection switched off.

`gap_blind_factory()` is the reference connector, except that its books apply a diff that arrives after a hole
(a dropped or reordered diff) as if nothing were missing, and claim the diff's update id. The book then differs
from the exchange's book at the id it claims, which `book.truth` must catch. Used by the plugin's tests (a known
deviation, the hypothesis driver shrinking to one rule).
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from conformance.adapters.reference import ReferenceAdapter, ReferenceFactory
from conformance.protocol import (
    BalanceView,
    BookView,
    Capabilities,
    ConnectorContext,
    FundingView,
    OrderView,
    PositionView,
    Venue,
)


def _blind(strategy: Any) -> None:
    """Make one book's sync strategy treat a gap as the next diff in line."""
    from reference_connector.book_sync import Verdict

    original = strategy._verdict

    def verdict(diff: Any) -> Verdict:
        found: Verdict = original(diff)
        return Verdict.APPLY if found is Verdict.GAP else found

    strategy._verdict = verdict


class GapBlindAdapter:
    """Delegates to a `ReferenceAdapter`; blinds every book's gap check as soon as the books exist."""

    def __init__(self, inner: ReferenceAdapter) -> None:
        self.inner = inner
        self.venue: Venue = inner.venue
        self.capabilities: Capabilities = inner.capabilities
        self._patcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.inner.start()
        self._patcher = asyncio.get_running_loop().create_task(self._patch())

    async def _patch(self) -> None:
        connector = self.inner.connector
        while connector.order_book_tracker is None:  # built by the connector's bootstrap task, before any diff
            await asyncio.sleep(0.001)
        tracker = connector.order_book_tracker
        for pair in tracker.pairs:
            _blind(tracker.strategy(pair))

    async def wait_ready(self, timeout_s: float) -> None:
        await self.inner.wait_ready(timeout_s)

    async def stop(self) -> None:
        if self._patcher is not None:
            self._patcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._patcher
        await self.inner.stop()

    def book(self, trading_pair: str, depth: int | None = None) -> BookView | None:
        return self.inner.book(trading_pair, depth)

    async def place_order(self, trading_pair: str, side: str, amount: Decimal, order_type: str = "LIMIT",
                          price: Decimal | None = None) -> str:
        return await self.inner.place_order(trading_pair, side, amount, order_type, price)

    async def cancel_order(self, trading_pair: str, client_order_id: str) -> None:
        await self.inner.cancel_order(trading_pair, client_order_id)

    def orders(self) -> list[OrderView]:
        return self.inner.orders()

    def balance(self, asset: str) -> BalanceView | None:
        return self.inner.balance(asset)

    def funding_info(self, trading_pair: str) -> FundingView | None:
        return self.inner.funding_info(trading_pair)

    def positions(self) -> dict[str, PositionView]:
        return self.inner.positions()

    def diagnostics(self) -> dict[str, Any]:
        return self.inner.diagnostics()


class GapBlindFactory:
    """`--conformance-connector tests.plugin.broken:GapBlindFactory`: the reference connector, gap-blind."""

    spec = "tests.plugin.broken:GapBlindFactory"

    def __init__(self) -> None:
        self.reference = ReferenceFactory()

    def venues(self, dialect: str) -> tuple[Venue, ...]:
        return self.reference.venues(dialect)

    def create(self, context: ConnectorContext) -> GapBlindAdapter:
        return GapBlindAdapter(self.reference.create(context))
