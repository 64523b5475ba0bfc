"""The Bitstamp dialect module and connectors against the live Bitstamp-style mock: no update ids at all, so
books are compared with the truth after quiescence; a lost diff is repaired by the periodic snapshot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from mock_exchanges.engine import Side as EngineSide
from mock_exchanges.faults import FaultRule, Schedule
from mock_exchanges.faults.schedule import FaultKind
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from reference_connector import BitstampExchange, BitstampPerpetualDerivative
from reference_connector.book_sync import DiffMessage
from reference_connector.dialects.base import Ack, ReconnectRequested
from reference_connector.dialects.bitstamp import BitstampPerpetual, BitstampSpot, _market_of
from reference_connector.errors import CancelRejected, ExchangeRejected, OrderNotFound, RequestError
from reference_connector.rest import RestRequest
from reference_connector.types import FundingUpdate, OrderState, OrderUpdate, TradeFill, TradingRule

from .conftest import SEED, TUNING, account, cross, wait_for

D = Decimal
Start = Callable[..., Any]
RULE = TradingRule("BTC-USDT", "btcusdt", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D(5), D(0))


# --- unit -----------------------------------------------------------------------------------------------
def test_channel_names_and_messages() -> None:
    assert _market_of("diff_order_book_btcusdt") == "btcusdt"
    assert _market_of("private-my_orders_btcusdt-perp-17") == "btcusdt-perp"
    assert _market_of("private-my_trades_btcusdt-17") == "btcusdt"
    d = BitstampSpot("k", "s", "127.0.0.1:1")
    d.set_rules([RULE])
    stream = d.streams[0]
    diff = {"data": {"timestamp": "1", "microtimestamp": "1700000000123456", "bids": [["30000.00", "0.00000"]],
                     "asks": []}, "channel": "diff_order_book_btcusdt", "event": "data"}
    assert d.parse_market_message(stream, json.dumps(diff)) == (
        DiffMessage([["30000.00", "0.00000"]], [], None, None, None, 1700000000123456, None, "BTC-USDT"),)
    ack = '{"event":"bts:subscription_succeeded","channel":"diff_order_book_btcusdt","data":{}}'
    assert d.parse_market_message(stream, ack) == [Ack("diff_order_book_btcusdt", True)]
    assert d.parse_market_message(stream, '{"event":"bts:request_reconnect","channel":"","data":null}') == [
        ReconnectRequested("bts:request_reconnect")]


def test_private_events() -> None:
    d = BitstampSpot("k", "s", "h")
    d.set_rules([RULE])
    changed = {"data": {"id": 9, "amount_traded": "0.04000", "amount_at_create": "0.10000", "microtimestamp": "5000",
                        "client_order_id": "rc1"}, "channel": "private-my_orders_btcusdt-17", "event": "order_changed"}
    assert d.parse_user_message(json.dumps(changed))[0] == OrderUpdate(
        "BTC-USDT", "rc1", "9", OrderState.PARTIALLY_FILLED, 5, D("0.04"), "ws", "order_changed")
    deleted = {**changed, "event": "order_deleted"}
    assert d.parse_user_message(json.dumps(deleted))[0].state is OrderState.CANCELED  # type: ignore[union-attr]
    trade = {"data": {"id": 3, "amount": "0.04000", "price": "30000.00", "microtimestamp": "7000", "fee": "0.00004",
                      "fee_currency": "btc", "order_id": "9", "client_order_id": "rc1"},
             "channel": "private-my_trades_btcusdt-17", "event": "trade"}
    assert d.parse_user_message(json.dumps(trade))[0] == TradeFill(
        "3", "BTC-USDT", "rc1", "9", D("30000.00"), D("0.04"), D("0.00004"), "BTC", 7, None, "ws")


def test_errors() -> None:
    d = BitstampSpot("k", "s", "h")
    cancel = RestRequest("POST", "/api/v2/cancel_order/", op="order.cancel")
    status = RestRequest("POST", "/api/v2/order_status/", op="order.status")
    not_found = {"status": "error", "reason": "Order not found.", "response_code": "404.002"}
    assert type(d.map_error(cancel, 404, not_found)) is CancelRejected
    assert type(d.map_error(status, 404, not_found)) is OrderNotFound
    assert type(d.map_error(status, 504, None)) is RequestError  # gateway timeout page: outcome unknown
    assert type(d.map_error(status, 400, {"status": "error", "reason": "x", "response_code": "400.002"})) is \
        RequestError
    assert type(d.map_error(status, 403, {"status": "error", "reason": "Invalid signature", "code": "API0005"})) is \
        ExchangeRejected


def test_funding_message() -> None:
    d = BitstampPerpetual("k", "s", "h")
    d.set_rules([TradingRule("BTC-USDT", "btcusdt-perp", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(5), D(0),
                             True)])
    msg = {"data": {"market": "btcusdt-perp", "mark_price": "30000.1", "index_price": "30000.0",
                    "funding_rate": "0.0001", "timestamp": "1700000000", "next_funding_time": "1700003600"},
           "channel": "funding_rate_btcusdt-perp", "event": "funding_rate_saved"}
    assert d.parse_market_message(d.streams[0], json.dumps(msg)) == (FundingUpdate(
        "BTC-USDT", 1700000000000, D("0.0001"), D("30000.1"), D("30000.0"), 1700003600000, "ws"),)


# --- against the mock -------------------------------------------------------------------------------------
@asynccontextmanager
async def bitstamp_server(*rules: FaultRule, busy: bool = True) -> AsyncIterator[MockExchangeServer]:
    flow = FlowConfig(levels_per_side=100, rate_per_s=300) if busy else None
    config = MockExchangeConfig(seed=SEED, flow=flow, faults=Schedule(seed=SEED, rules=tuple(rules)))
    async with MockExchangeServer(MockExchange(config), dialects=["bitstamp"]) as server:
        yield server


def spot(server: MockExchangeServer, **tuning: Any) -> BitstampExchange:
    acct = account(server)
    return BitstampExchange(server.base_url, server.ws_url, acct.api_key, acct.api_secret, ["BTC-USDT"],
                            **{**TUNING, **tuning})


def perp(server: MockExchangeServer, **tuning: Any) -> BitstampPerpetualDerivative:
    acct = account(server)
    return BitstampPerpetualDerivative(server.base_url, server.ws_url, acct.api_key, acct.api_secret, ["BTC-USDT"],
                                       **{**TUNING, **tuning})


def equal_now(server: MockExchangeServer, symbol: str, connector: Any) -> bool:
    book = connector.order_books["BTC-USDT"]
    truth = server.exchange.engine.book(symbol)
    return bool(book.bids() == truth.bids and book.asks() == truth.asks)


async def test_bitstamp_book_is_true_after_quiescence(started: Start) -> None:
    async with bitstamp_server() as server:
        connector = await started(spot(server))
        await wait_for(lambda: connector.stats()["messages_applied"] > 50, what="diffs applied")
        assert connector.order_books["BTC-USDT"].update_id is None  # no ids: it claims none
        server.exchange.pause_flow()
        await wait_for(lambda: equal_now(server, "BTCUSDT", connector), what="book equals the truth when quiet")
        stats = connector.stats()
        assert stats["gaps_detected"] == 0 and stats["resyncs"] == 0


async def test_bitstamp_lost_diff_is_repaired_by_the_periodic_snapshot(started: Start) -> None:
    rules = [FaultRule(FaultKind.DROP, channel="depth", symbol="BTCUSDT", at_message=30, count=3)]
    async with bitstamp_server(*rules) as server:
        connector = await started(spot(server, snapshot_interval_no_ids_s=0.5))
        await wait_for(lambda: server.exchange.faults.fired >= 3, what="diffs dropped")
        server.exchange.pause_flow()
        await wait_for(lambda: equal_now(server, "BTCUSDT", connector), what="repaired by a snapshot")
        assert connector.stats()["pairs"]["BTC-USDT"]["periodic_snapshots"] >= 1


async def test_bitstamp_reordered_diffs_never_regress_a_level(started: Start) -> None:
    rules = [FaultRule(FaultKind.REORDER, channel="depth", symbol="BTCUSDT", start_s=0.5, end_s=2.5, hold=3,
                       probability=0.3)]
    async with bitstamp_server(*rules) as server:
        connector = await started(spot(server, snapshot_interval_no_ids_s=0))  # no repair: LWW alone
        await wait_for(lambda: server.exchange.faults.fired >= 100, what="diffs reordered")
        server.exchange.pause_flow()
        server.exchange.faults.quiesce()  # let go of a frame still held back for reordering
        await wait_for(lambda: equal_now(server, "BTCUSDT", connector), what="book equals the truth")


async def test_bitstamp_orders_balances_and_perpetual(started: Start) -> None:
    async with bitstamp_server(busy=False) as server:
        engine = server.exchange.engine
        me = account(server).account_id
        connector = await started(spot(server))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("30000"))
        order = connector.in_flight_orders[client_id]
        assert order.state is OrderState.OPEN
        cross(server, "BTCUSDT", EngineSide.SELL, D("0.1"), D("30000"))
        await wait_for(lambda: order.state is OrderState.FILLED and not order.missing_fills, what="filled")
        truth = engine.order(me, "BTCUSDT", client_order_id=client_id)
        assert order.fees == {truth.fee_asset: truth.cum_fee} and order.executed_amount == truth.filled_qty
        resting = await connector.sell("BTC-USDT", D("0.1"), "LIMIT", D("31000"))
        assert await connector.cancel("BTC-USDT", resting)
        balances = engine.balances(me)
        await wait_for(lambda: all(connector.get_balance(a) == b.total and connector.get_available_balance(a) == b.free
                                   for a, b in balances.items()), what="balances")
        derivative = await started(perp(server))
        engine.set_mark_price("BTCUSDT-PERP", D("30010"))
        info = engine.funding_info("BTCUSDT-PERP")
        await wait_for(lambda: derivative.get_funding_info("BTC-USDT") is not None
                       and derivative.get_funding_info("BTC-USDT").mark_price == info.mark_price, what="funding")
        funding = derivative.get_funding_info("BTC-USDT")
        assert (funding.rate, funding.index_price, funding.next_funding_time_ms) == (
            info.funding_rate, info.index_price, info.next_funding_time_ms)
        cross(server, "BTCUSDT-PERP", EngineSide.SELL, D("0.05"), D("30000"))
        bought = await derivative.buy("BTC-USDT", D("0.05"), "MARKET")
        await wait_for(lambda: derivative.in_flight_orders[bought].state is OrderState.FILLED, what="perp fill")
        position = engine.position(me, "BTCUSDT-PERP")
        await wait_for(lambda: "BTC-USDT" in derivative.account_positions, what="position")
        mine = derivative.account_positions["BTC-USDT"]
        assert (mine.amount, mine.entry_price) == (position.qty, position.entry_price)
        assert await derivative.set_leverage("BTC-USDT", 4) == 4 and engine.position(me, "BTCUSDT-PERP").leverage == 4
