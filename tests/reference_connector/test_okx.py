"""The OKX dialect module and the OKX connectors against the live OKX-style mock: seqId/prevSeqId books with
CRC32 checksums and WebSocket snapshots, contract sizes, login, orders, positions, funding."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from mock_exchanges.dialects.okx.auth import authenticate_login, authenticate_rest, passphrase_for
from mock_exchanges.dialects.okx.dialect import OKX
from mock_exchanges.engine import Side as EngineSide
from mock_exchanges.faults import FaultRule, Schedule
from mock_exchanges.faults.schedule import FaultKind
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from reference_connector import OkxExchange, OkxPerpetualDerivative
from reference_connector.auth import AuthLevel, OkxAuth
from reference_connector.book_sync import DiffMessage, SnapshotMessage
from reference_connector.dialects.okx import OkxSpot, OkxSwap
from reference_connector.errors import CancelRejected, ExchangeRejected, OrderNotFound, RequestError
from reference_connector.in_flight_order import InFlightOrder
from reference_connector.rest import RestRequest
from reference_connector.types import (
    BalanceUpdate,
    FundingUpdate,
    OrderState,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TradeFill,
    TradingRule,
)

from .conftest import SEED, TUNING, account, cross, wait_for

D = Decimal
Start = Callable[..., Any]
SWAP_RULE = TradingRule("BTC-USDT", "BTC-USDT-SWAP", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(0), D(0),
                        True, D("0.001"))


# --- unit -----------------------------------------------------------------------------------------------
def test_rest_signature_and_ws_login_are_what_the_mock_verifies() -> None:
    from mock_exchanges.engine import Engine

    engine = Engine()
    acct = engine.create_account({})
    phrase = passphrase_for(1, acct.api_key)
    auth = OkxAuth(acct.api_key, acct.api_secret, phrase)
    now = 1_700_000_000_123
    prepared = auth.prepare("POST", "/api/v5/trade/order", {"instId": "BTC-USDT", "sz": "1"}, AuthLevel.SIGNED, now)
    assert prepared.headers["OK-ACCESS-TIMESTAMP"] == "2023-11-14T22:13:20.123Z"
    assert authenticate_rest(engine, lambda a: phrase, prepared.headers, "POST", prepared.target, prepared.body or "",
                             now) is acct
    get = auth.prepare("GET", "/api/v5/trade/order", {"instId": "BTC-USDT", "clOrdId": "a1"}, AuthLevel.SIGNED, now)
    assert authenticate_rest(engine, lambda a: phrase, get.headers, "GET", get.target, "", now) is acct
    assert authenticate_login(engine, lambda a: phrase, auth.ws_login(now)["args"][0], now) is acct


def test_envelope_errors_are_sorted() -> None:
    d = OkxSpot("k", "s", "p")
    cancel = RestRequest("POST", "/api/v5/trade/cancel-order", op="order.cancel")
    status = RestRequest("GET", "/api/v5/trade/order", op="order.status")
    create = RestRequest("POST", "/api/v5/trade/order", op="order.create")
    assert d.unwrap(status, {"code": "0", "msg": "", "data": [{"a": 1}]}) == [{"a": 1}]
    cases: list[tuple[RestRequest, dict[str, Any], type[Exception]]] = [
        (status, {"code": "51603", "msg": "Order does not exist", "data": []}, OrderNotFound),
        (cancel, {"code": "1", "msg": "All operations failed", "data": [{"sCode": "51400", "sMsg": "x"}]},
         CancelRejected),
        (create, {"code": "1", "msg": "", "data": [{"sCode": "51008", "sMsg": "Insufficient USDT balance"}]},
         ExchangeRejected),
    ]
    for request, payload, error in cases:
        try:
            d.unwrap(request, payload)
        except Exception as raised:
            assert type(raised) is error
        else:
            raise AssertionError(f"{payload} did not raise")
    assert type(d.map_error(create, 400, {"code": "50004", "msg": "timeout"})) is RequestError
    assert type(d.map_error(create, 429, {"code": "50011", "msg": "rate"})) is RequestError
    assert type(d.map_error(create, 401, {"code": "50113", "msg": "Invalid Sign"})) is ExchangeRejected


def test_books_messages_and_contract_sizes() -> None:
    d = OkxSwap("k", "s", "p")
    d.set_rules([SWAP_RULE])
    stream = d.streams[0]
    snapshot = {"arg": {"channel": "books", "instId": "BTC-USDT-SWAP"}, "action": "snapshot", "data": [
        {"asks": [["30000.1", "5", "0", "1"]], "bids": [["29999.9", "3", "0", "2"]], "ts": "7", "checksum": 12,
         "prevSeqId": -1, "seqId": 100}]}
    (snap,) = d.parse_market_message(stream, json.dumps(snapshot))
    assert snap == SnapshotMessage(100, [["29999.9", "3", "0", "2"]], [["30000.1", "5", "0", "1"]], 7, 12, "BTC-USDT")
    update = {**snapshot, "action": "update", "data": [{**snapshot["data"][0], "prevSeqId": 100, "seqId": 107}]}
    (diff,) = d.parse_market_message(stream, json.dumps(update))
    assert isinstance(diff, DiffMessage) and (diff.prev_id, diff.last_id) == (100, 107)
    assert d.parse_market_message(stream, "pong") == ()
    frames = d.subscribe_frames(stream, ["BTC-USDT"], 5)
    assert [json.loads(f.text)["args"][0]["channel"] for f in frames] == ["books", "funding-rate", "mark-price"]
    assert [f.request_id for f in frames] == [5, 6, 7]
    order = InFlightOrder("rc1", "BTC-USDT", Side.SELL, OrderType.LIMIT, D("0.05"), D("30000.5"))
    params = d.create_order_request(order).params
    assert params["sz"] == "50" and params["tdMode"] == "cross" and params["px"] == "30000.5"


def test_private_pushes() -> None:
    d = OkxSwap("k", "s", "p")
    d.set_rules([SWAP_RULE])
    orders = {"arg": {"channel": "orders", "instType": "SWAP", "uid": "17"}, "data": [{
        "instId": "BTC-USDT-SWAP", "ordId": "9", "clOrdId": "rc1", "state": "partially_filled", "accFillSz": "20",
        "tradeId": "44", "fillSz": "20", "fillPx": "30000.1", "fillFee": "-0.3", "fillFeeCcy": "USDT",
        "fillTime": "5", "execType": "T", "uTime": "6"}]}
    assert d.parse_user_message(json.dumps(orders)) == [
        TradeFill("44", "BTC-USDT", "rc1", "9", D("30000.1"), D("0.020"), D("0.3"), "USDT", 5, False, "ws"),
        OrderUpdate("BTC-USDT", "rc1", "9", OrderState.PARTIALLY_FILLED, 6, D("0.020"), "ws", "partially_filled"),
    ]
    account = {"arg": {"channel": "account", "uid": "17"}, "data": [
        {"uTime": "8", "details": [{"ccy": "USDT", "cashBal": "100", "availBal": "90", "uTime": "8"}]}]}
    assert d.parse_user_message(json.dumps(account)) == [BalanceUpdate("USDT", D(100), D(90), 8, "ws")]
    positions = {"arg": {"channel": "positions", "instType": "SWAP"}, "data": [
        {"instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "-50", "avgPx": "29999.1", "upl": "-0.035",
         "lever": "20", "uTime": "9"}]}
    assert d.parse_user_message(json.dumps(positions)) == [
        PositionUpdate("BTC-USDT", D("-0.050"), D("29999.1"), D("-0.035"), 20, 9, "ws")]
    funding = {"arg": {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"}, "data": [
        {"fundingRate": "0.0002", "fundingTime": "1000", "ts": "3"}]}
    assert d.parse_market_message(d.streams[0], json.dumps(funding)) == [
        FundingUpdate("BTC-USDT", 3, rate=D("0.0002"), next_funding_time_ms=1000, source="ws")]
    notice = '{"event":"notice","code":"64008","msg":"The connection will soon be closed","connId":"a"}'
    assert [type(e).__name__ for e in d.parse_user_message(notice)] == ["StreamEnded"]


# --- against the mock -------------------------------------------------------------------------------------
@asynccontextmanager
async def okx_server(*rules: FaultRule, busy: bool = True) -> AsyncIterator[MockExchangeServer]:
    flow = FlowConfig(levels_per_side=100, rate_per_s=300) if busy else None
    config = MockExchangeConfig(seed=SEED, flow=flow, faults=Schedule(seed=SEED, rules=tuple(rules)))
    async with MockExchangeServer(MockExchange(config), dialects=["okx"]) as server:
        yield server


def credentials(server: MockExchangeServer) -> tuple[str, str, str]:
    acct = account(server)
    return acct.api_key, acct.api_secret, server.app[OKX].passphrase(acct)


def okx_spot(server: MockExchangeServer, **tuning: Any) -> OkxExchange:
    key, secret, phrase = credentials(server)
    return OkxExchange(server.base_url, server.ws_url, key, secret, ["BTC-USDT"], passphrase=phrase,
                       **{**TUNING, **tuning})


def okx_swap(server: MockExchangeServer, **tuning: Any) -> OkxPerpetualDerivative:
    key, secret, phrase = credentials(server)
    return OkxPerpetualDerivative(server.base_url, server.ws_url, key, secret, ["BTC-USDT"], passphrase=phrase,
                                  **{**TUNING, **tuning})


def book_is_true(server: MockExchangeServer, symbol: str, connector: Any) -> None:
    book = connector.order_books["BTC-USDT"]
    update_id = book.update_id
    bids, asks = book.bids(), book.asks()
    truth = server.exchange.engine.book_at(symbol, update_id)
    assert (bids, asks) == (truth.bids[:400], truth.asks[:400]), f"differs at {update_id} (seed={SEED})"


async def test_okx_spot_books_orders_and_balances(started: Start) -> None:
    async with okx_server() as server:
        engine = server.exchange.engine
        connector = await started(okx_spot(server))
        for _ in range(20):
            book_is_true(server, "BTCUSDT", connector)
            last = connector.order_books["BTC-USDT"].update_id
            await wait_for(lambda last=last: connector.order_books["BTC-USDT"].update_id != last, what="moves")
        client_id = await connector.buy("BTC-USDT", D("0.02"), "MARKET")
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.FILLED and not order.missing_fills, what="filled")
        truth = engine.order(account(server).account_id, "BTCUSDT", client_order_id=client_id)
        assert order.executed_amount == truth.filled_qty and order.fees == {truth.fee_asset: truth.cum_fee}
        resting = await connector.sell("BTC-USDT", D("0.01"), "LIMIT", D("40000"))
        assert await connector.cancel("BTC-USDT", resting)
        balances = engine.balances(account(server).account_id)
        await wait_for(lambda: all(connector.get_balance(a) == b.total and connector.get_available_balance(a) == b.free
                                   for a, b in balances.items()), what="balances")
        stats = connector.stats()
        assert stats["checksum_failures"] == 0 and stats["gaps_detected"] == 0 and stats["messages_applied"] > 0


async def test_okx_dropped_update_breaks_the_chain_and_resubscribes(started: Start) -> None:
    async with okx_server(FaultRule(FaultKind.DROP, channel="depth", symbol="BTCUSDT", at_message=40)) as server:
        connector = await started(okx_spot(server))
        await wait_for(lambda: connector.stats()["resyncs"] >= 1, what="resubscribed after the gap")
        tracker = connector.order_book_tracker
        await wait_for(lambda: tracker.strategy("BTC-USDT").synced, what="in sync on the new WS snapshot")
        book_is_true(server, "BTCUSDT", connector)
        assert connector.stats()["gaps_detected"] + connector.stats()["stale_snapshots"] >= 1


async def test_okx_swap_positions_funding_and_leverage(started: Start) -> None:
    async with okx_server(busy=False) as server:
        engine = server.exchange.engine
        me = account(server).account_id
        engine.set_mark_price("BTCUSDT-PERP", D("30000"))
        connector = await started(okx_swap(server))
        info = engine.funding_info("BTCUSDT-PERP")
        funding = connector.get_funding_info("BTC-USDT")
        assert funding is not None and (funding.rate, funding.mark_price, funding.next_funding_time_ms) == (
            info.funding_rate, info.mark_price, info.next_funding_time_ms) and funding.index_price is None
        engine.set_funding_rate("BTCUSDT-PERP", D("0.00025"))
        await wait_for(lambda: connector.get_funding_info("BTC-USDT").rate == D("0.00025"), what="funding push")
        cross(server, "BTCUSDT-PERP", EngineSide.BUY, D("0.05"), D("30000"))
        client_id = await connector.sell("BTC-USDT", D("0.05"), "MARKET")
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.FILLED and not order.missing_fills, what="filled")
        truth = engine.position(me, "BTCUSDT-PERP")
        await wait_for(lambda: connector.account_positions.get("BTC-USDT") is not None
                       and connector.account_positions["BTC-USDT"].amount == truth.qty, what="position")
        position = connector.account_positions["BTC-USDT"]
        assert position.entry_price == truth.entry_price and position.unrealized_pnl == truth.unrealized_pnl
        assert await connector.set_leverage("BTC-USDT", 7) == 7 and engine.position(me, "BTCUSDT-PERP").leverage == 7
        await wait_for(lambda: connector.get_balance("USDT") == engine.balances(me)["USDT"].total
                       and connector.get_available_balance("USDT") == engine.balances(me)["USDT"].free,
                       what="USDT wallet and available")
