"""BinancePerpetualDerivative against the live mock (USD-M): books (pu chain), funding info, positions,
leverage, balances, listenKey expiry."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from mock_exchanges.dialects.binance.dialect import BINANCE
from mock_exchanges.engine import Side as EngineSide
from mock_exchanges.server import MockExchangeServer
from reference_connector import BinancePerpetualDerivative, FundingInfo
from reference_connector.errors import ExchangeRejected
from reference_connector.types import FundingUpdate, OrderState

from .conftest import account, assert_book_is_true, cross, make_perp, wait_for

D = Decimal
Start = Callable[..., Any]
PERP = "BTCUSDT-PERP"


def engine_funding(server: MockExchangeServer, symbol: str = PERP) -> FundingInfo:
    info = server.exchange.engine.funding_info(symbol)
    return FundingInfo(info.funding_rate, info.mark_price, info.index_price, info.next_funding_time_ms)


async def test_perpetual_books_follow_the_pu_chain(busy_server: MockExchangeServer, started: Start) -> None:
    connector: BinancePerpetualDerivative = await started(make_perp(busy_server, ["BTC-USDT", "ETH-USDT"]))
    for _ in range(25):
        assert_book_is_true(busy_server, PERP, connector.order_books["BTC-USDT"])
        assert_book_is_true(busy_server, "ETHUSDT-PERP", connector.order_books["ETH-USDT"])
        last = connector.order_books["BTC-USDT"].update_id
        await wait_for(lambda last=last: connector.order_books["BTC-USDT"].update_id != last, what="book moves")
    stats = connector.stats()
    assert stats["gaps_detected"] == 0 and stats["messages_applied"] > 0


async def test_funding_info_follows_the_engine(quiet_server: MockExchangeServer, started: Start) -> None:
    engine = quiet_server.exchange.engine
    connector: BinancePerpetualDerivative = await started(make_perp(quiet_server))
    assert connector.get_funding_info("BTC-USDT") == engine_funding(quiet_server)
    engine.set_mark_price(PERP, D("31000"))
    engine.set_index_price(PERP, D("30990.5"))
    engine.set_funding_rate(PERP, D("0.00031234"))
    await wait_for(lambda: connector.get_funding_info("BTC-USDT") == engine_funding(quiet_server),
                   what="funding info from the mark price stream")
    tracker = connector.order_book_tracker
    assert tracker is not None
    held = tracker.funding.time_ms("BTC-USDT")
    assert held is not None
    stale = FundingUpdate("BTC-USDT", held - 1, D("0.5"), D("1"), D("1"), 0, "ws")
    tracker.on_funding(stale)  # an older event, arriving late: ignored
    assert connector.get_funding_info("BTC-USDT") == engine_funding(quiet_server)
    assert connector.stats()["funding_stale_updates"] == 1


async def test_funding_is_refetched_by_rest_after_a_reconnect(quiet_server: MockExchangeServer,
                                                              started: Start) -> None:
    exchange = quiet_server.exchange
    connector: BinancePerpetualDerivative = await started(make_perp(quiet_server))
    fetches = connector.stats()["funding_fetches"]
    market = next(c for c in exchange.connections.values() if c.path.startswith("/fstream/market"))
    await exchange.close_connection(market)
    await wait_for(lambda: connector.stats()["funding_fetches"] > fetches, what="REST refetch after reconnect")
    assert connector.get_funding_info("BTC-USDT") == engine_funding(quiet_server)


async def test_position_leverage_and_balances_equal_the_engine(quiet_server: MockExchangeServer,
                                                               started: Start) -> None:
    engine = quiet_server.exchange.engine
    me = account(quiet_server).account_id
    connector: BinancePerpetualDerivative = await started(make_perp(quiet_server))
    engine.set_mark_price(PERP, D("30000"))
    cross(quiet_server, PERP, EngineSide.SELL, D("0.5"), D("30000"))  # liquidity from another account
    client_id = await connector.buy("BTC-USDT", D("0.2"), "MARKET")
    order = connector.in_flight_orders[client_id]
    await wait_for(lambda: order.state is OrderState.FILLED and not order.missing_fills, what="filled")
    truth_order = engine.order(me, PERP, client_order_id=client_id)
    assert order.fees == {truth_order.fee_asset: truth_order.cum_fee}
    truth = engine.position(me, PERP)
    await wait_for(lambda: "BTC-USDT" in connector.account_positions, what="position")
    position = connector.account_positions["BTC-USDT"]
    assert (position.amount, position.entry_price, position.leverage) == (truth.qty, truth.entry_price,
                                                                          truth.leverage)
    assert position.unrealized_pnl == truth.unrealized_pnl
    assert await connector.set_leverage("BTC-USDT", 7) == 7
    assert engine.position(me, PERP).leverage == 7 and connector.account_positions["BTC-USDT"].leverage == 7
    usdt = engine.balances(me)["USDT"]
    await wait_for(lambda: connector.get_balance("USDT") == engine.balances(me)["USDT"].total
                   and connector.get_available_balance("USDT") == engine.balances(me)["USDT"].free,
                   what=f"USDT wallet {usdt.total} / available {usdt.free}")
    sold = await connector.sell("BTC-USDT", D("0.2"), "LIMIT", D("29000"))  # closes against account 1's bid
    cross(quiet_server, PERP, EngineSide.BUY, D("0.2"), D("29000"))
    await wait_for(lambda: connector.in_flight_orders[sold].state is OrderState.FILLED, what="closing fill")
    await wait_for(lambda: "BTC-USDT" not in connector.account_positions, what="position closed")
    assert engine.position(me, PERP).qty == 0
    with pytest.raises(ExchangeRejected):
        await connector.set_position_mode(True)  # the mock supports one-way mode only


async def test_listen_key_expiry_gets_a_new_key(quiet_server: MockExchangeServer, started: Start) -> None:
    connector: BinancePerpetualDerivative = await started(make_perp(quiet_server))
    ctx = quiet_server.app[BINANCE]
    me = account(quiet_server).account_id
    key = ctx.listen_keys.key_of(me, ctx.now_ms())
    assert key is not None
    ctx.listen_keys.expire(key, ctx.now_ms())
    await wait_for(lambda: connector.stats()["user_stream"]["connections"] >= 2, what="reconnected with a new key")
    assert connector.stats()["user_stream"]["stream_ends"] == 1
    assert ctx.listen_keys.key_of(me, ctx.now_ms()) not in (None, key)
    cross(quiet_server, PERP, EngineSide.SELL, D("0.1"), D("30000"))
    client_id = await connector.buy("BTC-USDT", D("0.1"), "MARKET")
    order = connector.in_flight_orders[client_id]
    await wait_for(lambda: order.state is OrderState.FILLED and "ws" in {f.source for f in order.fills},
                   what="fill on the new stream")
