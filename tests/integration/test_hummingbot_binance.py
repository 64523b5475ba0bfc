"""Hummingbot's own Binance connectors, unmodified, reach `ready` against the mock's Binance dialect.

Optional: Hummingbot is not a dependency of this project (PyPI has only an sdist that needs a Cython build and
a hand-picked set of runtime dependencies; see docs/hummingbot.md). Without it this module is skipped.

How the connectors are pointed at the mock: their URLs are module constants read at call time
(`binance_constants.REST_URL`, `WSS_URL`, `WSS_API_URL`; `binance_perpetual_constants.PERPETUAL_BASE_URL`,
`PERPETUAL_WS_URL`), patched here for the test only. Time is driven the way Hummingbot's `Clock` would:
`_set_current_timestamp` + `tick` every 0.5 s; without ticks the balance poll never runs.

What is checked, against the engine's truth:
- `ready`, with every `status_dict` entry true; balances (and, USD-M, funding) equal to the engine's;
- the connector's BTC-USDT order book follows the seeded flow: once the flow is paused and the connector has
  caught up with the engine's last update id, every level (not just the top) equals the engine's book, and
  trades reached the connector's trade stream;
- a limit order placed through `connector.buy` far from the market rests in the engine under the connector's
  client id, and `connector.cancel` removes it (exactly one created and one cancelled event);
- only loopback URLs were contacted, and no task outlives the test.

The connector starts on a paused book and the flow resumes once its start-up snapshots are in: two Hummingbot
start-up races would otherwise make the book comparison a matter of luck (both in docs/hummingbot.md):
BinancePerpetual applies a second start-up snapshot about 1 s late over a book that has moved on, replaying only
the last 32 diffs; Binance spot subscribes to depth only after taking its snapshot and never checks `U`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip(
    "hummingbot",
    reason="Hummingbot is not installed (optional: see docs/hummingbot.md for the separate venv these tests need)",
)

from hummingbot.connector.derivative.binance_perpetual import (
    binance_perpetual_constants as PERP_CONSTANTS,
)
from hummingbot.connector.derivative.binance_perpetual.binance_perpetual_derivative import (
    BinancePerpetualDerivative,
)
from hummingbot.connector.exchange.binance import binance_constants as SPOT_CONSTANTS
from hummingbot.connector.exchange.binance.binance_exchange import BinanceExchange
from hummingbot.core.data_type.common import OrderType, PositionAction
from hummingbot.core.event.event_logger import EventLogger
from hummingbot.core.event.events import MarketEvent
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory

from mock_exchanges.engine import Account
from mock_exchanges.server import MockExchangeServer

from .conftest import RequestLog, poll

PAIR = "BTC-USDT"
READY_TIMEOUT = 20.0
TICK_S = 0.5
#: update ids the connector must follow with the flow running before the books are compared
FOLLOW_UPDATES = 60


@dataclass(frozen=True)
class Venue:
    symbol: str  # the engine's market
    depth_topic: str  # the hub topic of the connector's depth subscription
    depth_request: str  # its REST snapshot request, as the server logs it
    startup_snapshots: int  # REST snapshots the connector takes at start


SPOT = Venue("BTCUSDT", "spot:btcusdt@depth@100ms", "GET /api/v3/depth", 1)
PERP = Venue("BTCUSDT-PERP", "usdm:btcusdt@depth", "GET /fapi/v1/depth", 2)


@contextlib.asynccontextmanager
async def running(connector: Any) -> AsyncIterator[Any]:
    """`start_network`, a tick driver in place of Hummingbot's Clock, and a clean stop (also on failure)."""

    async def drive() -> None:
        while True:
            now = time.time()
            connector._set_current_timestamp(now)
            connector.tick(now)
            await asyncio.sleep(TICK_S)  # the clock's period, not a wait for state

    await connector.start_network()
    ticker = asyncio.create_task(drive(), name="hummingbot-ticker")
    try:
        yield connector
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await connector.stop_network()
        # PerpetualDerivativePyBase.stop_network never cancels the funding-payment poll it started (Hummingbot
        # 20260922): without this the task waits forever on an Event that stop_network has replaced.
        funding_poll = getattr(connector, "_funding_fee_polling_task", None)
        if funding_poll is not None:
            funding_poll.cancel()
            connector._funding_fee_polling_task = None
        await ConnectionsFactory().close()  # a process-wide aiohttp session, bound to this test's loop


def listen(connector: Any, *events: MarketEvent) -> dict[MarketEvent, EventLogger]:
    loggers = {event: EventLogger() for event in events}
    for event, logger in loggers.items():
        connector.add_listener(event, logger)
    return loggers


def hummingbot_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.name.startswith("hummingbot") and r.levelno >= logging.ERROR]


async def assert_book_follows_engine(connector: Any, server: MockExchangeServer, requests: RequestLog,
                                     venue: Venue) -> None:
    """Resume the (paused) flow once the connector is set up, let the book move, pause, compare every level."""
    exchange = server.exchange
    tracker = connector.order_book_tracker
    await poll(lambda: exchange.hub.wants(venue.depth_topic), 10.0, f"a subscription to {venue.depth_topic}")
    await poll(lambda: requests.lines.count(venue.depth_request) >= venue.startup_snapshots
               and tracker.metrics.total_snapshots_processed >= venue.startup_snapshots - 1,
               10.0, "the connector's start-up snapshots to be taken and queued")
    book = connector.get_order_book(PAIR)
    start = exchange.engine.last_update_id(venue.symbol)
    exchange.resume_flow()
    try:
        await poll(lambda: book.last_diff_uid >= start + FOLLOW_UPDATES and tracker.metrics.total_trades_processed,
                   20.0, f"the connector to follow {FOLLOW_UPDATES} update ids and see a trade")
    finally:
        exchange.pause_flow()
    last = exchange.engine.last_update_id(venue.symbol)
    await poll(lambda: book.last_diff_uid >= last, 10.0, f"the connector's book to reach update id {last}")
    truth = exchange.engine.book(venue.symbol)
    assert truth.best_bid is not None and truth.best_ask is not None
    bids = [(row.price, row.amount) for row in book.bid_entries()]
    asks = [(row.price, row.amount) for row in book.ask_entries()]
    assert (bids[0][0], asks[0][0]) == (float(truth.best_bid), float(truth.best_ask))
    assert bids == [(float(p), float(q)) for p, q in truth.bids]
    assert asks == [(float(p), float(q)) for p, q in truth.asks]


async def place_and_cancel(connector: Any, server: MockExchangeServer, account: Account, symbol: str,
                           **order_kwargs: Any) -> None:
    """A limit buy far below the market rests in the engine under the connector's client id; then cancel it."""
    engine = server.exchange.engine
    events = listen(connector, MarketEvent.BuyOrderCreated, MarketEvent.OrderCancelled)
    best_bid = engine.book(symbol).best_bid
    assert best_bid is not None
    price, amount = (best_bid * Decimal("0.8")).quantize(Decimal("1")), Decimal("0.01")
    client_id = connector.buy(PAIR, amount, OrderType.LIMIT, price, **order_kwargs)

    def resting() -> Any:
        return next((o for o in engine.open_orders(account.account_id, symbol) if o.client_order_id == client_id),
                    None)

    order = await poll(resting, 10.0, f"order {client_id} to rest in the engine")
    assert (order.price, order.qty, order.side.name) == (price, amount, "BUY")
    tracked = await poll(lambda: (o := connector.in_flight_orders.get(client_id)) and o.exchange_order_id and o,
                         10.0, "the connector to learn the exchange order id")
    assert tracked.exchange_order_id == str(order.order_id)
    await poll(lambda: events[MarketEvent.BuyOrderCreated].event_log, 10.0, "a BuyOrderCreated event")

    connector.cancel(PAIR, client_id)
    await poll(lambda: resting() is None, 10.0, f"order {client_id} to leave the engine's book")
    await poll(lambda: client_id not in connector.in_flight_orders, 10.0, "the connector to stop tracking it")
    await poll(lambda: events[MarketEvent.OrderCancelled].event_log, 10.0, "an OrderCancelled event")
    assert [e.order_id for e in events[MarketEvent.BuyOrderCreated].event_log] == [client_id]
    assert [e.order_id for e in events[MarketEvent.OrderCancelled].event_log] == [client_id]


async def test_binance_spot_connector_reaches_ready_and_tracks_the_engine(
    no_leaked_tasks: None, loopback_only: list[str], served: tuple[MockExchangeServer, RequestLog],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    server, requests = served
    monkeypatch.setattr(SPOT_CONSTANTS, "REST_URL", f"{server.base_url}/api/")
    monkeypatch.setattr(SPOT_CONSTANTS, "WSS_URL", f"{server.ws_url}/ws")
    monkeypatch.setattr(SPOT_CONSTANTS, "WSS_API_URL", f"{server.ws_url}/ws-api/v3")
    account = server.exchange.trading_accounts[0]
    connector = BinanceExchange(binance_api_key=account.api_key, binance_api_secret=account.api_secret,
                                trading_pairs=[PAIR], trading_required=True)
    server.exchange.pause_flow()

    async with running(connector):
        await poll(lambda: connector.ready, READY_TIMEOUT, f"ready; status {connector.status_dict}")
        assert connector.status_dict == {
            "symbols_mapping_initialized": True, "order_books_initialized": True, "account_balance": True,
            "trading_rule_initialized": True, "user_stream_initialized": True,
        }
        balances = server.exchange.engine.balances(account.account_id)
        for asset in ("BTC", "USDT"):
            assert connector.get_balance(asset) == balances[asset].total
            assert connector.get_available_balance(asset) == balances[asset].free
        await assert_book_follows_engine(connector, server, requests, SPOT)
        await place_and_cancel(connector, server, account, SPOT.symbol)
        assert hummingbot_errors(caplog) == []

    for line in ("GET /api/v3/time", "GET /api/v3/exchangeInfo", "GET /api/v3/depth", "GET /api/v3/account",
                 "GET /ws", "GET /ws-api/v3", "POST /api/v3/order", "DELETE /api/v3/order"):
        assert line in requests.paths()


async def test_binance_perpetual_connector_reaches_ready_and_tracks_the_engine(
    no_leaked_tasks: None, loopback_only: list[str], served: tuple[MockExchangeServer, RequestLog],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    server, requests = served
    monkeypatch.setattr(PERP_CONSTANTS, "PERPETUAL_BASE_URL", f"{server.base_url}/fapi/")
    monkeypatch.setattr(PERP_CONSTANTS, "PERPETUAL_WS_URL", f"{server.ws_url}/fstream/")
    account = server.exchange.trading_accounts[0]
    connector = BinancePerpetualDerivative(binance_perpetual_api_key=account.api_key,
                                           binance_perpetual_api_secret=account.api_secret,
                                           trading_pairs=[PAIR], trading_required=True)
    server.exchange.pause_flow()

    async with running(connector):
        await poll(lambda: connector.ready, READY_TIMEOUT, f"ready; status {connector.status_dict}")
        assert connector.status_dict == {
            "symbols_mapping_initialized": True, "order_books_initialized": True, "account_balance": True,
            "trading_rule_initialized": True, "user_stream_initialized": True, "funding_info": True,
        }
        usdt = server.exchange.engine.balances(account.account_id)["USDT"]
        assert connector.get_balance("USDT") == usdt.total
        truth = server.exchange.engine.funding_info(PERP.symbol)
        funding = connector.get_funding_info(PAIR)
        assert (funding.rate, funding.mark_price, funding.index_price) == (
            truth.funding_rate, truth.mark_price, truth.index_price)
        await assert_book_follows_engine(connector, server, requests, PERP)
        await place_and_cancel(connector, server, account, PERP.symbol, position_action=PositionAction.OPEN)
        assert hummingbot_errors(caplog) == []

    for line in ("GET /fapi/v1/exchangeInfo", "GET /fapi/v1/depth", "GET /fapi/v1/premiumIndex",
                 "POST /fapi/v1/listenKey", "GET /fstream/public/stream", "GET /fstream/market/stream",
                 "GET /fstream/private/ws", "POST /fapi/v1/order", "DELETE /fapi/v1/order"):
        assert line in requests.paths()
