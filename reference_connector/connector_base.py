"""The connector surface shared by spot exchanges and perpetual derivatives, on top of a dialect.

Start-up: sync the clock with the server, load the exchange's markets (retrying until it answers), then
start the order book tracker and, with credentials, the user stream, the order reconciliation loop and the
balance refresh loop. `ready` is true once every part has had its first data.

Orders: `buy`/`sell` track the order (PENDING_CREATE) before the request is sent and return once the
exchange has answered (or the answer was lost: then the order is reconciled by client order id in the
background). `cancel` returns whether the exchange confirmed the cancel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp

from .accounts import BalanceBook
from .client_order_tracker import ClientOrderTracker
from .config import Backoff, ConnectorConfig, seeded_rng
from .dialects.base import Dialect
from .errors import CancelRejected, ConnectorError, ExchangeRejected
from .in_flight_order import InFlightOrder
from .order_book import OrderBook
from .order_book_tracker import BookUpdateListener, OrderBookTracker
from .rest import RestClient, TimeSync
from .tasks import TaskSet
from .types import (
    BalancesRefreshNeeded,
    BalanceUpdate,
    LeverageUpdate,
    OrderState,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TradeFill,
    TradingRule,
    UserEvent,
)
from .user_stream_tracker import UserStreamTracker

log = logging.getLogger(__name__)

Amount = Decimal | str | int
#: a burst of user-stream events that need a balance refresh is coalesced over this long
REFRESH_DEBOUNCE_S = 0.05


def to_decimal(value: Amount | None, name: str) -> Decimal | None:
    """Decimals at the boundary: Decimal, str or int are taken exactly; a float is refused (inexact)."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError(f"{name} must be a Decimal, str or int, not a float (floats are inexact)")
    result = value if isinstance(value, Decimal) else Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} must be finite")
    return result


class ConnectorBase:
    def __init__(self, rest_url: str, ws_url: str, api_key: str = "", api_secret: str = "",
                 trading_pairs: Sequence[str] = (), **tuning: Any) -> None:
        """`rest_url`/`ws_url`: base URLs (e.g. the mock server's `base_url`/`ws_url`); the dialect knows the
        paths. `trading_pairs`: "BTC-USDT" style. `tuning`: any `ConnectorConfig` field."""
        self.config = ConnectorConfig().with_overrides(**tuning)
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url.rstrip("/")
        self.trading_pairs = list(dict.fromkeys(trading_pairs))
        self.trading_required = bool(api_key and api_secret)
        self.dialect = self._make_dialect(api_key, api_secret)
        self.trading_rules: dict[str, TradingRule] = {}
        #: one book per pair, from the start (they fill in once the tracker runs)
        self.order_books: dict[str, OrderBook] = {p: OrderBook(float_keys=self.config.float_keys)
                                                  for p in self.trading_pairs}
        self.balances = BalanceBook()
        self.order_tracker = ClientOrderTracker(self, lost_after=self.config.lost_after,
                                                lost_confirm_delay_s=self.config.lost_confirm_delay_s,
                                                poll_interval=self._poll_interval)
        self.order_book_tracker: OrderBookTracker | None = None
        #: `listener(pair, update_id)` after every diff or snapshot applied to a book (synchronous, on the
        #: message path; see `order_book_tracker.BookUpdateListener`); add or remove at any time
        self.book_update_listeners: list[BookUpdateListener] = []
        self.user_stream_tracker: UserStreamTracker | None = None
        self.time_sync = TimeSync()
        self._rest: RestClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks = TaskSet()
        self._balance_refresh = asyncio.Event()
        self._started = False
        self.unknown_pairs: list[str] = []

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        """The venue's dialect (each concrete connector says which)."""
        raise NotImplementedError

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def rest(self) -> RestClient:
        if self._rest is None:
            raise RuntimeError("the connector is not started")
        return self._rest

    async def start(self) -> None:
        """Start every background task; returns at once (see `wait_ready`)."""
        if self._started:
            return
        self._started = True
        self._session = aiohttp.ClientSession()
        server_time = self.dialect.server_time_request()
        self._rest = RestClient(self._session, self.rest_url, self.dialect.auth, self.dialect.map_error,
                                self.config.request_timeout_s, self.time_sync,
                                self._fetch_server_time if server_time is not None else None,
                                self.dialect.unwrap)
        self._tasks.spawn(self._bootstrap(), "bootstrap")

    async def stop(self) -> None:
        """Cancel and await every task the connector started, then close its HTTP session."""
        await self._tasks.cancel_all()
        if self.order_book_tracker is not None:
            await self.order_book_tracker.data_source.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._rest = None
        self._started = False

    async def __aenter__(self) -> ConnectorBase:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _fetch_server_time(self) -> int:
        request = self.dialect.server_time_request()
        assert request is not None
        return self.dialect.parse_server_time(self.dialect.unwrap(request, await self.rest.send_once(request)))

    async def _bootstrap(self) -> None:
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s,
                          seeded_rng(self.config.seed, "bootstrap"))
        while True:
            try:
                if self.dialect.server_time_request() is not None:
                    await self.rest.sync_time()
                rules = self.dialect.parse_trading_rules(await self.rest.request(self.dialect.exchange_info_request()))
                break
            except asyncio.CancelledError:
                raise
            except (ConnectorError, KeyError, ValueError, TypeError) as error:
                delay = backoff.next_delay()
                log.warning("loading markets failed (%s); retrying in %.2fs", error, delay)
                await asyncio.sleep(delay)
        self.dialect.set_rules(rules)
        by_pair = {r.trading_pair: r for r in rules}
        self.dialect.tracked_pairs = [p for p in self.trading_pairs if p in by_pair]
        self.unknown_pairs = [p for p in self.trading_pairs if p not in by_pair]
        if self.unknown_pairs:
            log.error("unknown trading pairs (not tracked): %s", ", ".join(self.unknown_pairs))
        tracked = [by_pair[p] for p in self.trading_pairs if p in by_pair]
        self.trading_rules = {r.trading_pair: r for r in tracked}
        assert self._session is not None
        tracker = OrderBookTracker(self.dialect, self._session, self.rest, self.ws_url, tracked, self.config,
                                   books=self.order_books, update_listeners=self.book_update_listeners)
        self.order_book_tracker = tracker
        tracker.start(self._tasks)
        if self.trading_required:
            self.user_stream_tracker = UserStreamTracker(self.dialect, self._session, self.rest, self.ws_url,
                                                         self.config, self._on_user_events, self._on_user_connected)
            self.user_stream_tracker.start(self._tasks)
            self._tasks.spawn(self.order_tracker.run(), "orders:reconcile")
            self._balance_refresh.set()
            self._tasks.spawn(self._account_loop(), "account:refresh")

    # --- readiness ------------------------------------------------------------------------------------
    def status(self) -> dict[str, bool]:
        tracker = self.order_book_tracker
        status = {
            "trading_rules": bool(self.trading_rules) or (not self.trading_pairs and tracker is not None),
            "order_books": tracker is not None and tracker.ready,
        }
        if self.trading_required:
            stream = self.user_stream_tracker
            status["user_stream"] = stream is not None and stream.initialized
            status["balances"] = self.balances.initialized
        return status

    @property
    def ready(self) -> bool:
        """Every part has had its first data: markets, books in sync, user stream logged in, balances."""
        return self._started and all(self.status().values())

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until `ready`; TimeoutError (saying what is missing) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            if time.monotonic() > deadline:
                missing = [k for k, v in self.status().items() if not v]
                raise TimeoutError(f"connector not ready after {timeout}s; waiting for: {', '.join(missing)}; "
                                   f"crashed tasks: {self._tasks.crashed}")
            await asyncio.sleep(0.01)

    # --- user stream ----------------------------------------------------------------------------------
    def _on_user_events(self, events: Sequence[UserEvent]) -> None:
        tracker = self.order_tracker
        for event in events:
            if isinstance(event, TradeFill):
                tracker.process_fill(event)
            elif isinstance(event, OrderUpdate):
                tracker.process_order_update(event)
            elif isinstance(event, BalanceUpdate):
                self.balances.apply(event)
            elif isinstance(event, PositionUpdate):
                self._on_position(event)
            elif isinstance(event, LeverageUpdate):
                self._on_leverage(event)
            elif isinstance(event, BalancesRefreshNeeded):
                self._balance_refresh.set()

    def _on_position(self, update: PositionUpdate) -> None:
        """Perpetuals only."""

    def _on_leverage(self, update: LeverageUpdate) -> None:
        """Perpetuals only."""

    def _on_user_connected(self) -> None:
        self.order_tracker.request_full_reconciliation()
        self._balance_refresh.set()

    def _poll_interval(self) -> float:
        stream = self.user_stream_tracker
        if stream is None or not stream.connected or stream.silence_s() >= self.config.user_stream_silence_s:
            return self.config.poll_interval_s
        return self.config.long_poll_interval_s

    async def _account_loop(self) -> None:
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s,
                          seeded_rng(self.config.seed, "account"))
        while True:
            try:
                await asyncio.wait_for(self._balance_refresh.wait(), self.config.balance_refresh_s)
                await asyncio.sleep(REFRESH_DEBOUNCE_S)
            except TimeoutError:
                pass
            self._balance_refresh.clear()
            try:
                await self._refresh_account()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except (ConnectorError, KeyError, ValueError, TypeError) as error:
                log.info("account refresh failed: %s", error)
                await asyncio.sleep(backoff.next_delay())
                self._balance_refresh.set()

    async def _refresh_account(self) -> None:
        asked_ms = self.time_sync.now_ms()  # the time of an answer that carries none (Bitstamp)
        updates, time_ms = self.dialect.parse_balances(await self.rest.request(self.dialect.balances_request()))
        updates = [u if u.time_ms else dataclasses.replace(u, time_ms=asked_ms) for u in updates]
        self.balances.apply_snapshot(updates, time_ms or asked_ms)

    # --- OrderApi (reconciliation) --------------------------------------------------------------------
    async def fetch_order(self, order: InFlightOrder) -> OrderUpdate:
        payload = await self.rest.request(self.dialect.order_status_request(order))
        return self.dialect.parse_order_status(order, payload)

    async def fetch_fills(self, order: InFlightOrder) -> list[TradeFill]:
        payload = await self.rest.request(self.dialect.order_fills_request(order))
        return self.dialect.parse_order_fills(order, payload)

    # --- trading --------------------------------------------------------------------------------------
    @property
    def in_flight_orders(self) -> dict[str, InFlightOrder]:
        """Every order this connector placed (terminal ones included), by client order id."""
        return dict(self.order_tracker.orders)

    def new_client_order_id(self) -> str:
        while True:
            candidate = f"rc{secrets.token_hex(10)}"
            if candidate not in self.order_tracker.orders:
                return candidate

    async def buy(self, trading_pair: str, amount: Amount, order_type: str = "LIMIT", price: Amount | None = None,
                  time_in_force: str = "GTC", client_order_id: str | None = None) -> str:
        """Place a buy order; returns its client order id once the exchange has answered (see module doc)."""
        return await self.place_order(Side.BUY, trading_pair, amount, order_type, price, time_in_force,
                                      client_order_id)

    async def sell(self, trading_pair: str, amount: Amount, order_type: str = "LIMIT", price: Amount | None = None,
                   time_in_force: str = "GTC", client_order_id: str | None = None) -> str:
        return await self.place_order(Side.SELL, trading_pair, amount, order_type, price, time_in_force,
                                      client_order_id)

    async def place_order(self, side: Side, trading_pair: str, amount: Amount, order_type: str = "LIMIT",
                          price: Amount | None = None, time_in_force: str = "GTC",
                          client_order_id: str | None = None) -> str:
        if not self.trading_required:
            raise RuntimeError("trading needs an API key and secret")
        if trading_pair not in self.trading_rules:
            raise ValueError(f"{trading_pair} is not a tracked trading pair (markets loaded: "
                             f"{bool(self.trading_rules)})")
        kind = OrderType(order_type.upper())
        qty = to_decimal(amount, "amount")
        limit = to_decimal(price, "price")
        assert qty is not None
        if qty <= 0:
            raise ValueError("amount must be positive")
        if kind is OrderType.MARKET and limit is not None:
            raise ValueError("a MARKET order takes no price")
        if kind is not OrderType.MARKET and (limit is None or limit <= 0):
            raise ValueError(f"a {kind.value} order needs a positive price")
        order = InFlightOrder(client_order_id or self.new_client_order_id(), trading_pair, side, kind, qty, limit,
                              time_in_force.upper())
        order.create_in_flight = True
        self.order_tracker.start_tracking(order)
        try:
            payload = await self.rest.request(self.dialect.create_order_request(order))
        except asyncio.CancelledError:
            order.create_in_flight = False
            order.outcome_unknown = True
            self.order_tracker.schedule(order)
            raise
        except ExchangeRejected as error:
            order.create_in_flight = False
            self.order_tracker.transition(order, OrderState.FAILED, "rest:create", str(error))
            return order.client_order_id
        except Exception as error:  # the outcome is unknown: find out by client order id
            order.create_in_flight = False
            order.outcome_unknown = True
            log.info("order %s: create outcome unknown (%s): querying by client order id", order.client_order_id,
                     error)
            self.order_tracker.schedule(order)
            return order.client_order_id
        order.create_in_flight = False
        try:
            result = self.dialect.parse_create_response(order, payload)
        except (KeyError, ValueError, TypeError) as error:
            order.outcome_unknown = True
            log.warning("order %s: unreadable create answer (%s): querying", order.client_order_id, error)
            self.order_tracker.schedule(order)
            return order.client_order_id
        for fill in result.fills:
            self.order_tracker.process_fill(fill)
        if result.update is not None:
            self.order_tracker.process_order_update(result.update)
        self._after_order_activity()
        return order.client_order_id

    def _after_order_activity(self) -> None:
        """Hook: perpetuals refresh available balance (margin) after order activity."""

    async def cancel(self, trading_pair: str, client_order_id: str) -> bool:
        """Cancel an order; True if the exchange confirmed it canceled (or it already was)."""
        order = self.order_tracker.find(client_order_id)
        if order is None or order.trading_pair != trading_pair:
            raise KeyError(f"no tracked order {client_order_id} on {trading_pair}")
        if order.is_done:
            return order.state is OrderState.CANCELED
        tracker = self.order_tracker
        tracker.transition(order, OrderState.PENDING_CANCEL, "local", "cancel requested")
        order.cancel_in_flight = True
        try:
            payload = await self.rest.request(self.dialect.cancel_order_request(order))
        except CancelRejected as error:
            order.cancel_in_flight = False
            return self._on_cancel_refused(order, error)
        except ExchangeRejected as error:
            order.cancel_in_flight = False
            if order.state is OrderState.PENDING_CANCEL:
                back = OrderState.PARTIALLY_FILLED if order.executed_amount else OrderState.OPEN
                tracker.transition(order, back, "rest:cancel", f"cancel refused: {error}")
            return False
        except BaseException:
            order.cancel_in_flight = False
            tracker.schedule(order)
            raise
        order.cancel_in_flight = False
        update = self.dialect.parse_cancel_response(order, payload)
        if update is not None:
            tracker.process_order_update(update)
        self._after_order_activity()
        return order.state is OrderState.CANCELED

    def _on_cancel_refused(self, order: InFlightOrder, error: CancelRejected) -> bool:
        """The order is not open there (filled, canceled, or never created): ask the exchange what became of it."""
        log.info("order %s: cancel refused (%s): querying its state", order.client_order_id, error)
        self.order_tracker.schedule(order)
        return False

    # --- balances -------------------------------------------------------------------------------------
    def get_balance(self, asset: str) -> Decimal:
        """Total amount of `asset` (spot: free + locked; perpetual: wallet balance)."""
        return self.balances.total(asset)

    def get_available_balance(self, asset: str) -> Decimal:
        return self.balances.available(asset)

    # --- counters -------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters: book sync (resyncs, gaps, checksum failures, reconnects, messages applied/dropped,
        each book's update id), user stream, orders, REST."""
        out: dict[str, Any] = {}
        if self.order_book_tracker is not None:
            out.update(self.order_book_tracker.stats())
        else:
            out.update(resyncs=0, gaps_detected=0, checksum_failures=0, reconnects=0, messages_applied=0,
                       messages_dropped=0, update_ids={p: None for p in self.trading_pairs})
        market_reconnects = out.get("reconnects", 0)
        if self.user_stream_tracker is not None:
            user = self.user_stream_tracker.stats()
            out["user_stream"] = user
            out["reconnects"] = market_reconnects + user["reconnects"]
        out["market_reconnects"] = market_reconnects
        out["orders"] = self.order_tracker.stats_dict()
        out["balances_stale_updates"] = self.balances.stale_updates
        if self._rest is not None:
            out["rest"] = {"requests": self._rest.requests, "failures": self._rest.failures,
                           "clock_offset_ms": self.time_sync.offset_ms}
        out["crashed_tasks"] = list(self._tasks.crashed)
        return out
