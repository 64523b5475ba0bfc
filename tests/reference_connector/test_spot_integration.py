"""BinanceExchange against the live mock (spot): books, orders, fills, fees, balances, reconnects.
Wire faults (drops, stalls, lost answers...) are in test_fault_integration.py."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from mock_exchanges.engine import OrderType as EngineOrderType
from mock_exchanges.engine import Side as EngineSide
from mock_exchanges.server import MockExchangeServer
from reference_connector import BinanceExchange
from reference_connector.types import OrderState

from .conftest import STATE_OF, account, assert_book_is_true, cross, make_spot, wait_for

D = Decimal
Start = Callable[..., Any]


async def test_books_equal_the_truth_at_the_update_id_they_claim(busy_server: MockExchangeServer,
                                                                 started: Start) -> None:
    connector: BinanceExchange = await started(make_spot(busy_server))
    seen: dict[str, set[int]] = {"BTC-USDT": set(), "ETH-USDT": set()}
    symbols = {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"}
    for _ in range(40):
        for pair, symbol in symbols.items():
            book = connector.order_books[pair]
            seen[pair].add(assert_book_is_true(busy_server, symbol, book))
            assert book.best_bid() is not None and book.best_ask() is not None
            assert book.best_bid() < book.best_ask()  # type: ignore[operator]
        last = connector.order_books["BTC-USDT"].update_id
        await wait_for(lambda last=last: connector.order_books["BTC-USDT"].update_id != last, what="book moves")
    assert all(len(ids) > 10 for ids in seen.values())
    stats = connector.stats()
    assert stats["messages_applied"] > 0 and stats["gaps_detected"] == 0 and stats["resyncs"] == 0
    assert set(stats["update_ids"]) == {"BTC-USDT", "ETH-USDT"}


async def test_book_update_listeners_hear_every_snapshot_and_diff_applied(quiet_server: MockExchangeServer,
                                                                      started: Start) -> None:
    connector = make_spot(quiet_server, ["BTC-USDT"])
    heard: list[tuple[str, int | None]] = []
    connector.book_update_listeners.append(lambda pair, update_id: heard.append((pair, update_id)))
    await started(connector)
    book = connector.order_books["BTC-USDT"]
    assert heard and heard[-1] == ("BTC-USDT", book.update_id)  # the snapshot
    engine = quiet_server.exchange.engine
    other = account(quiet_server, 1).account_id
    wanted = []
    for i in range(5):
        engine.place_order(other, "BTCUSDT", EngineSide.SELL, EngineOrderType.LIMIT, D("0.01"), D(31000 + i))
        wanted.append(engine.last_update_id("BTCUSDT"))
    await wait_for(lambda: heard[-1] == ("BTC-USDT", wanted[-1]), what="every diff heard")
    ids = [update_id for _, update_id in heard]
    assert ids == sorted(ids) and len(ids) > 1
    assert book.update_id == wanted[-1]
    assert connector.stats()["messages_applied"] == len(ids) - 1  # one call per diff, one for the snapshot


async def test_limit_order_rests_then_is_filled_by_another_account(quiet_server: MockExchangeServer,
                                                                   started: Start) -> None:
    engine = quiet_server.exchange.engine
    connector: BinanceExchange = await started(make_spot(quiet_server, ["BTC-USDT"]))
    me = account(quiet_server).account_id
    usdt_before = connector.get_balance("USDT")
    client_id = await connector.buy("BTC-USDT", D("0.5"), "LIMIT", D("30000"))
    order = connector.in_flight_orders[client_id]
    assert order.state is OrderState.OPEN and order.exchange_order_id is not None
    await wait_for(lambda: connector.get_available_balance("USDT") == usdt_before - D("15000"), what="USDT locked")
    cross(quiet_server, "BTCUSDT", EngineSide.SELL, D("0.2"), D("30000"))
    await wait_for(lambda: order.state is OrderState.PARTIALLY_FILLED, what="partial fill")
    cross(quiet_server, "BTCUSDT", EngineSide.SELL, D("0.3"), D("29990"))
    await wait_for(lambda: order.state is OrderState.FILLED, what="fill")
    truth = engine.order(me, "BTCUSDT", client_order_id=client_id)
    trades = [t for t in engine.account_trades(me, "BTCUSDT") if t.order_id == truth.order_id]
    assert order.executed_amount == truth.filled_qty == D("0.5")
    assert order.trade_ids == [str(t.trade_id) for t in trades]
    assert order.fees == {truth.fee_asset: truth.cum_fee}
    assert [t.to_state for t in order.transitions] == [OrderState.PENDING_CREATE, OrderState.OPEN,
                                                      OrderState.PARTIALLY_FILLED, OrderState.FILLED]
    balances = engine.balances(me)
    await wait_for(lambda: all(connector.get_balance(a) == b.total and connector.get_available_balance(a) == b.free
                               for a, b in balances.items()), what="balances equal the engine's")
    assert connector.stats()["orders"]["illegal_transitions"] == 0


async def test_cancel_and_market_orders_match_the_engine(busy_server: MockExchangeServer, started: Start) -> None:
    engine = busy_server.exchange.engine
    connector: BinanceExchange = await started(make_spot(busy_server))
    me = account(busy_server).account_id
    resting = await connector.sell("ETH-USDT", D("1.5"), "LIMIT", D("4000"))
    assert await connector.cancel("ETH-USDT", resting)
    order = connector.in_flight_orders[resting]
    assert order.state is OrderState.CANCELED
    assert STATE_OF[engine.order(me, "ETHUSDT", client_order_id=resting).status] is OrderState.CANCELED
    taken = await connector.buy("BTC-USDT", D("0.05"), "MARKET")
    order = connector.in_flight_orders[taken]
    await wait_for(lambda: order.state is OrderState.FILLED and not order.missing_fills, what="market order fills")
    truth = engine.order(me, "BTCUSDT", client_order_id=taken)
    trades = [t for t in engine.account_trades(me, "BTCUSDT") if t.order_id == truth.order_id]
    assert order.executed_amount == truth.filled_qty and order.executed_quote == truth.cum_quote
    assert sorted(order.trade_ids) == sorted(str(t.trade_id) for t in trades)
    assert order.fees == {truth.fee_asset: truth.cum_fee}
    crossing = connector.order_books["BTC-USDT"].best_ask() + D("100")  # type: ignore[operator]
    post_only = await connector.buy("BTC-USDT", D("0.01"), "LIMIT_MAKER", crossing)
    assert connector.in_flight_orders[post_only].state is OrderState.FAILED  # would take: refused
    assert "-2010" in connector.in_flight_orders[post_only].last_reason


async def test_rejected_order_fails_without_a_retry(quiet_server: MockExchangeServer, started: Start) -> None:
    connector: BinanceExchange = await started(make_spot(quiet_server, ["BTC-USDT"]))
    client_id = await connector.buy("BTC-USDT", D("1000"), "LIMIT", D("30000"))  # 30M USDT: not there
    order = connector.in_flight_orders[client_id]
    assert order.state is OrderState.FAILED and not order.lost and "insufficient balance" in order.last_reason
    with pytest.raises(TypeError):
        await connector.buy("BTC-USDT", 0.1, "LIMIT", D("1"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await connector.buy("BTC-USDT", D("0.1"), "LIMIT")


async def test_depth_reconnect_resyncs_the_book(busy_server: MockExchangeServer, started: Start) -> None:
    connector: BinanceExchange = await started(make_spot(busy_server))
    exchange = busy_server.exchange
    depth = [c for c in exchange.connections.values() if c.path.startswith("/ws") and "api" not in c.path]
    assert len(depth) == 1
    await exchange.close_connection(depth[0])
    await wait_for(lambda: connector.stats()["market_reconnects"] >= 1, what="reconnect")
    await wait_for(lambda: all(connector.order_book_tracker.strategy(p).synced  # type: ignore[union-attr]
                               for p in connector.trading_pairs), what="resynced")
    stats = connector.stats()
    assert stats["resyncs"] >= 2  # both pairs
    for pair, symbol in (("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT")):
        assert_book_is_true(busy_server, symbol, connector.order_books[pair])


async def test_stop_cancels_everything(busy_server: MockExchangeServer) -> None:
    connector = make_spot(busy_server)
    await connector.start()
    await connector.wait_ready(10)
    assert len(connector._tasks) > 3
    await connector.stop()
    assert len(connector._tasks) == 0 and connector._session is None
    await wait_for(lambda: not busy_server.exchange.connections, what="server sees the sockets closed")
