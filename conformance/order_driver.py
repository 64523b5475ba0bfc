"""The order driver: makes a connector trade the way a scenario's `OrderActivity` says.

About `orders_per_s` times a second it places a small limit order (a `marketable_ratio` share of them cross
the spread, so they fill at once, the rest rest near the top of the book where the flow's takers reach them)
and, with probability `cancel_ratio`, cancels one of its open orders. It keeps at most `max_open` open. Prices
come from the exchange's book (the connector's own view may be the thing that is wrong). Everything random
comes from one seeded `random.Random`, and each request runs as its own task so a slow answer (a timeout
fault) does not hold the cadence up. Every request and its outcome is recorded for `orders.tracked`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from decimal import ROUND_CEILING, Decimal
from typing import Any

from mock_exchanges.scenarios import OrderActivity

from .observations import CancelRequest, PlacedOrder
from .probe import Probe
from .truth import Truth

#: notional of an order, in the quote asset: small, but above any minimum
NOTIONAL_RANGE = (Decimal(15), Decimal(60))
#: an order is cancelled only once it has had this long to be acknowledged
CANCEL_MIN_AGE_S = 0.2


class OrderDriver:
    def __init__(self, probe: Probe, truth: Truth, activity: OrderActivity, rng: random.Random) -> None:
        self.probe = probe
        self.truth = truth
        self.activity = activity
        self.rng = rng
        self.mine: dict[str, float] = {}  # client order id -> when placed
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        if self.activity.orders_per_s <= 0:
            return
        period = 1.0 / self.activity.orders_per_s
        while not self._stop.is_set():
            await self.step()
            wait = period * self.rng.uniform(0.7, 1.3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    def stop(self) -> None:
        self._stop.set()

    async def finish(self, timeout_s: float) -> None:
        """Stop, and wait (bounded) for the requests still in flight; cancel what is left."""
        self.stop()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _open(self) -> list[tuple[str, float]]:
        """The driver's orders the connector shows as not yet ended, with when each was placed."""
        return [(v.client_order_id, self.mine[v.client_order_id]) for v in self.probe.adapter.orders()
                if v.client_order_id in self.mine and not v.state.is_terminal]

    async def step(self) -> None:
        open_orders = self._open()
        now = self.truth.elapsed_s()
        cancellable = sorted(cid for cid, placed in open_orders if now - placed >= CANCEL_MIN_AGE_S)
        if cancellable and self.rng.random() < self.activity.cancel_ratio:
            self._spawn(self._cancel(self.rng.choice(cancellable)))
        if len(open_orders) < self.activity.max_open:
            order = await self._next_order()
            if order is not None:
                self._spawn(self._place(*order))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _next_order(self) -> tuple[str, Decimal, Decimal] | None:
        market = self.probe.market
        book = await self.truth.book(market.symbol, 1)
        best_bid = book.bids[0][0] if book.bids else None
        best_ask = book.asks[0][0] if book.asks else None
        if best_bid is None and best_ask is None:
            return None
        side = "BUY" if self.rng.random() < 0.5 else "SELL"
        tick = market.tick_size
        if self.rng.random() < self.activity.marketable_ratio:
            ticks = self.rng.randint(0, 3)
            price = (best_ask + ticks * tick if side == "BUY" and best_ask is not None else
                     best_bid - ticks * tick if side == "SELL" and best_bid is not None else None)
        else:
            ticks = self.rng.randint(0, 8)
            price = (best_bid - ticks * tick if side == "BUY" and best_bid is not None else
                     best_ask + ticks * tick if side == "SELL" and best_ask is not None else None)
        if price is None or price <= 0:
            return None
        low, high = NOTIONAL_RANGE
        notional = low + (high - low) * Decimal(self.rng.randint(0, 100)) / 100
        lots = (notional / price / market.lot_size).to_integral_value(rounding=ROUND_CEILING)
        return side, market.lot_size * max(lots, Decimal(1)), price

    async def _place(self, side: str, amount: Decimal, price: Decimal) -> None:
        record = self.probe.record
        start = self.truth.elapsed_s()
        client_id: str | None = None
        error: str | None = None
        try:
            client_id = await self.probe.adapter.place_order(self.probe.pair, side, amount, "LIMIT", price)
        except asyncio.CancelledError:
            error = "still in flight when the run ended"
            raise
        except Exception as exc:
            error = repr(exc)
        finally:
            if client_id is not None:
                self.mine[client_id] = start
            record.placed.append(PlacedOrder(start, self.truth.elapsed_s(), side, amount, price, "LIMIT", client_id,
                                             error))

    async def _cancel(self, client_id: str) -> None:
        start = self.truth.elapsed_s()
        error: str | None = None
        try:
            await self.probe.adapter.cancel_order(self.probe.pair, client_id)
        except asyncio.CancelledError:
            error = "still in flight when the run ended"
            raise
        except Exception as exc:
            error = repr(exc)
        finally:
            self.probe.record.cancels.append(CancelRequest(start, self.truth.elapsed_s(), client_id, error))
