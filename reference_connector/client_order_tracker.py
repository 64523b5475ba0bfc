"""Tracks the connector's orders and reconciles them with the exchange.

* Orders are tracked from before their create request is sent (PENDING_CREATE), and kept after they end
  (terminal orders are retained, oldest forgotten first), so `in_flight_orders` shows every order's fate.
* Updates and fills from REST and the user stream go through the order's state machine; fills are
  de-duplicated by trade id across both sources.
* Reconciliation polls REST (`OrderApi`): every active order on a timer (short while the user stream is
  silent), after a user-stream reconnect, and specific orders on demand: a create or cancel whose outcome
  is unknown, or an order whose exchange-reported executed amount is ahead of its fills.
* Lost orders: an order is declared lost (FAILED, `lost=True`) only after the exchange has answered
  "does not exist" `lost_after` times in a row. A network error, timeout, 5xx or "execution status
  unknown" is not an answer: it never counts (Hummingbot #8457). A late fill of a lost order is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from .errors import OrderNotFound, RequestError
from .in_flight_order import FillResult, InFlightOrder
from .types import OrderState, OrderUpdate, TradeFill

log = logging.getLogger(__name__)


class OrderApi(Protocol):
    """The REST calls reconciliation needs (the connector implements them with its dialect)."""

    async def fetch_order(self, order: InFlightOrder) -> OrderUpdate:
        """The order's state by client order id. Raises OrderNotFound or RequestError."""
        ...

    async def fetch_fills(self, order: InFlightOrder) -> list[TradeFill]:
        """The order's trades. Raises RequestError."""
        ...


@dataclass(slots=True)
class TrackerStats:
    orders_tracked: int = 0
    order_updates: int = 0
    #: refused transitions: `stale_updates` lagged behind the order (e.g. a NEW after FILLED: benign
    #: reordering of REST and WS answers), `illegal_transitions` contradicted it (e.g. FILLED -> CANCELED)
    refused_transitions: int = 0
    stale_updates: int = 0
    illegal_transitions: int = 0
    fills_applied: int = 0
    duplicate_fills: int = 0
    overfills_refused: int = 0
    #: fills applied to an order already CANCELED, EXPIRED or FAILED (they happened before, arrived after)
    late_fills: int = 0
    late_fills_on_lost_orders: int = 0
    unknown_order_updates: int = 0
    unknown_fills: int = 0
    reconcile_requests: int = 0
    reconcile_errors: int = 0
    not_found_answers: int = 0
    lost_orders: int = 0
    full_reconciliations: int = 0


class ClientOrderTracker:
    def __init__(self, api: OrderApi, *, lost_after: int = 2, lost_confirm_delay_s: float = 0.5,
                 retry_delay_s: float = 1.0, fill_fetch_delay_s: float = 0.3, retention: int = 10_000,
                 poll_interval: Callable[[], float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if lost_after < 1:
            raise ValueError("lost_after must be at least 1")
        self.api = api
        self.lost_after = lost_after
        self.lost_confirm_delay_s = lost_confirm_delay_s
        self.retry_delay_s = retry_delay_s
        self.fill_fetch_delay_s = fill_fetch_delay_s
        self.retention = retention
        self.poll_interval = poll_interval or (lambda: 5.0)
        self.clock = clock
        self.stats = TrackerStats()
        #: every tracked order by client order id, oldest first
        self.orders: OrderedDict[str, InFlightOrder] = OrderedDict()
        self._by_exchange_id: dict[str, str] = {}
        self._not_found: dict[str, int] = {}
        self._due: dict[str, float] = {}
        self._full_requested = False
        self._last_full = clock()
        self._wake = asyncio.Event()

    # --- tracking ----------------------------------------------------------------------------------
    def start_tracking(self, order: InFlightOrder) -> None:
        if order.client_order_id in self.orders:
            raise ValueError(f"order {order.client_order_id} is already tracked")
        self.orders[order.client_order_id] = order
        if order.exchange_order_id:
            self._by_exchange_id[order.exchange_order_id] = order.client_order_id
        self.stats.orders_tracked += 1
        self._forget_old()

    def _forget_old(self) -> None:
        if len(self.orders) <= self.retention:
            return
        for client_id in list(self.orders):
            if len(self.orders) <= self.retention:
                break
            order = self.orders[client_id]
            if order.is_done and not order.missing_fills:
                del self.orders[client_id]
                if order.exchange_order_id:
                    self._by_exchange_id.pop(order.exchange_order_id, None)
                self._not_found.pop(client_id, None)

    def find(self, client_order_id: str | None = None, exchange_order_id: str | None = None) -> InFlightOrder | None:
        if client_order_id:
            order = self.orders.get(client_order_id)
            if order is not None:
                return order
        if exchange_order_id:
            client_id = self._by_exchange_id.get(exchange_order_id)
            if client_id is not None:
                return self.orders.get(client_id)
        return None

    def active_orders(self) -> list[InFlightOrder]:
        return [o for o in self.orders.values() if not o.is_done]

    def set_exchange_order_id(self, order: InFlightOrder, exchange_order_id: str | None) -> None:
        if exchange_order_id and order.exchange_order_id is None:
            order.exchange_order_id = exchange_order_id
        if order.exchange_order_id:
            self._by_exchange_id[order.exchange_order_id] = order.client_order_id

    # --- updates ------------------------------------------------------------------------------------
    def transition(self, order: InFlightOrder, state: OrderState, source: str, reason: str = "") -> bool:
        stale = order.is_stale_update(state)
        if order.transition(state, source, reason):
            return True
        self.stats.refused_transitions += 1
        if stale:
            self.stats.stale_updates += 1
        else:
            self.stats.illegal_transitions += 1
        return False

    def process_order_update(self, update: OrderUpdate) -> bool:
        """Apply what the exchange says about an order. Returns whether the order's state is now the one
        the update says (False: unknown order, or refused as stale/contradictory)."""
        self.stats.order_updates += 1
        order = self.find(update.client_order_id, update.exchange_order_id)
        if order is None:
            self.stats.unknown_order_updates += 1
            return False
        self.set_exchange_order_id(order, update.exchange_order_id)
        if update.executed_amount is not None and update.executed_amount > order.exchange_executed:
            order.exchange_executed = update.executed_amount
        target = update.state
        if target in (OrderState.OPEN, OrderState.PARTIALLY_FILLED) and order.state is OrderState.PENDING_CANCEL:
            if order.cancel_in_flight:
                target = OrderState.PENDING_CANCEL  # the cancel's own answer decides
            elif order.executed_amount or order.exchange_executed:
                target = OrderState.PARTIALLY_FILLED
        elif target is OrderState.OPEN and order.state is OrderState.PENDING_CREATE and order.exchange_executed:
            target = OrderState.PARTIALLY_FILLED
        applied = self.transition(order, target, update.source or "update", update.reason)
        if order.missing_fills:
            self.schedule(order, self.fill_fetch_delay_s)
        return applied

    def process_fill(self, fill: TradeFill) -> str:
        order = self.find(fill.client_order_id, fill.exchange_order_id)
        if order is None:
            self.stats.unknown_fills += 1
            return "unknown"
        was_done = order.is_done
        result = order.apply_fill(fill)
        if result == FillResult.DUPLICATE:
            self.stats.duplicate_fills += 1
        elif result == FillResult.OVERFILL:
            self.stats.overfills_refused += 1
        else:
            self.stats.fills_applied += 1
            self.set_exchange_order_id(order, fill.exchange_order_id)
            if was_done and order.state is not OrderState.FILLED:
                self.stats.late_fills += 1
                if order.lost:
                    self.stats.late_fills_on_lost_orders += 1
                    log.warning("late fill %s applied to lost order %s", fill.trade_id, order.client_order_id)
        return result

    def declare_lost(self, order: InFlightOrder, reason: str) -> None:
        order.lost = True
        order.outcome_unknown = False
        self.stats.lost_orders += 1
        log.warning("order %s declared lost: %s", order.client_order_id, reason)
        self.transition(order, OrderState.FAILED, "reconcile", f"lost: {reason}")

    # --- reconciliation -------------------------------------------------------------------------------
    def schedule(self, order: InFlightOrder, delay_s: float = 0.0) -> None:
        """Reconcile this order after `delay_s` (the earliest of several requests wins)."""
        due = self.clock() + delay_s
        current = self._due.get(order.client_order_id)
        if current is None or due < current:
            self._due[order.client_order_id] = due
        self.stats.reconcile_requests += 1
        self._wake.set()

    def request_full_reconciliation(self) -> None:
        """Check every active order soon (after a user-stream reconnect: events may have been missed)."""
        self._full_requested = True
        self._wake.set()

    async def reconcile_order(self, order: InFlightOrder) -> None:
        client_id = order.client_order_id
        if order.create_in_flight:
            return  # the create request's own answer comes first; it reschedules if needed
        if order.is_done and not order.missing_fills:
            return
        try:
            update = await self.api.fetch_order(order)
        except OrderNotFound as error:
            self.stats.not_found_answers += 1
            if order.is_done:
                return
            count = self._not_found.get(client_id, 0) + 1
            self._not_found[client_id] = count
            if count >= self.lost_after:
                self.declare_lost(order, f"the exchange says it does not exist ({error}), {count} times")
            else:
                self.schedule(order, self.lost_confirm_delay_s)
            return
        except RequestError as error:
            self.stats.reconcile_errors += 1
            log.info("order %s: status query failed (%s); the order is kept as it is", client_id, error)
            if order.outcome_unknown or order.missing_fills or order.state is OrderState.PENDING_CANCEL:
                self.schedule(order, self.retry_delay_s)
            return
        self._not_found.pop(client_id, None)
        order.outcome_unknown = False
        self.process_order_update(update)
        if order.missing_fills:
            await self._fetch_fills(order)

    async def _fetch_fills(self, order: InFlightOrder) -> None:
        try:
            fills = await self.api.fetch_fills(order)
        except RequestError as error:
            self.stats.reconcile_errors += 1
            log.info("order %s: trades query failed (%s)", order.client_order_id, error)
            self.schedule(order, self.retry_delay_s)
            return
        for fill in fills:
            self.process_fill(fill)

    def _next_wake(self, now: float) -> float:
        next_full = self._last_full + self.poll_interval()
        next_due = min(self._due.values(), default=math.inf)
        return max(0.0, min(next_full, next_due) - now)

    async def run(self) -> None:
        """Reconcile forever: due orders when due, every active order each poll interval."""
        while True:
            wait = self._next_wake(self.clock())
            if not self._full_requested and wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            await self.reconcile_due()

    async def reconcile_due(self) -> None:
        """One pass: every active order if a full pass is due or requested, else the orders due now."""
        now = self.clock()
        if self._full_requested or now >= self._last_full + self.poll_interval():
            self._full_requested = False
            self._last_full = now
            self.stats.full_reconciliations += 1
            batch = {o.client_order_id for o in self.active_orders() if not o.create_in_flight}
            batch |= {cid for cid in self._due if self._due[cid] <= now}
        else:
            batch = {cid for cid, due in self._due.items() if due <= now}
        for client_id in batch:
            self._due.pop(client_id, None)
        for client_id in sorted(batch):
            order = self.orders.get(client_id)
            if order is not None:
                try:
                    await self.reconcile_order(order)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconciling order %s failed", client_id)

    def stats_dict(self) -> dict[str, int]:
        stats = asdict(self.stats)
        stats["active_orders"] = len(self.active_orders())
        return stats
