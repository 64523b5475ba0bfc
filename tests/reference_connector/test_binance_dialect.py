"""The Binance dialect module: signing (known-answer vectors), requests, and parsing of every message kind."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from mock_exchanges.dialects.binance.auth import sign as mock_sign
from mock_exchanges.dialects.binance.auth import ws_api_payload
from reference_connector.auth import AuthLevel, BinanceAuth
from reference_connector.book_sync import DiffMessage
from reference_connector.config import Backoff, ConnectorConfig
from reference_connector.dialects.base import Ack, MarketStream
from reference_connector.dialects.binance import BinanceSpot, BinanceUsdm
from reference_connector.errors import (
    CancelRejected,
    ExchangeRejected,
    OrderNotFound,
    RequestError,
    TimestampRejected,
)
from reference_connector.in_flight_order import InFlightOrder
from reference_connector.rest import RestRequest
from reference_connector.types import (
    BalancesRefreshNeeded,
    BalanceUpdate,
    FundingUpdate,
    LeverageUpdate,
    OrderState,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    StreamEnded,
    TradeFill,
    TradingRule,
)

D = Decimal
RULES = [TradingRule("BTC-USDT", "BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("5"),
                     D("1000000"))]


def spot() -> BinanceSpot:
    dialect = BinanceSpot("key", "secret")
    dialect.set_rules(RULES)
    return dialect


def usdm() -> BinanceUsdm:
    dialect = BinanceUsdm("key", "secret")
    dialect.set_rules(RULES)
    return dialect


def order(kind: OrderType = OrderType.LIMIT, price: str | None = "30000.5") -> InFlightOrder:
    return InFlightOrder("rc1", "BTC-USDT", Side.BUY, kind, D("0.01"), D(price) if price else None)


# --- signing -----------------------------------------------------------------------------------------
def test_spot_known_answer_vector() -> None:
    auth = BinanceAuth("k", "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", recv_window_ms=5000)
    params = {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
              "price": "0.1"}
    prepared = auth.prepare("POST", "/api/v3/order", params, AuthLevel.SIGNED, 1499827319559)
    assert prepared.body is not None and prepared.headers["X-MBX-APIKEY"] == "k"
    assert prepared.body.endswith("&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    assert prepared.target == "/api/v3/order"


def test_futures_known_answer_vector_in_the_query_string() -> None:
    auth = BinanceAuth("k", "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9", 5000)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "9000",
              "timeInForce": "GTC"}
    prepared = auth.prepare("DELETE", "/fapi/v1/order", params, AuthLevel.SIGNED, 1591702613943)
    assert prepared.body is None
    assert prepared.target.endswith("signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9")


def test_key_only_and_public_requests() -> None:
    auth = BinanceAuth("k", "s")
    assert auth.prepare("GET", "/api/v3/depth", {"symbol": "X", "limit": 5}, AuthLevel.NONE, 1).target == \
        "/api/v3/depth?symbol=X&limit=5"
    prepared = auth.prepare("PUT", "/fapi/v1/listenKey", {"listenKey": "abc"}, AuthLevel.KEY, 1)
    assert prepared.target == "/fapi/v1/listenKey?listenKey=abc" and prepared.headers == {"X-MBX-APIKEY": "k"}


def test_ws_api_signature_is_what_the_mock_verifies() -> None:
    auth = BinanceAuth("key", "secret")
    params = auth.ws_api_params({}, 1700000000000)
    assert params["apiKey"] == "key" and params["timestamp"] == 1700000000000
    assert params["signature"] == mock_sign("secret", ws_api_payload(params))


# --- requests ----------------------------------------------------------------------------------------
def test_spot_create_requests_per_order_type() -> None:
    d = spot()
    limit = d.create_order_request(order())
    assert (limit.method, limit.path, limit.auth, limit.op) == ("POST", "/api/v3/order", AuthLevel.SIGNED,
                                                                "order.create")
    assert limit.params == {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                            "price": "30000.5", "timeInForce": "GTC", "newClientOrderId": "rc1",
                            "newOrderRespType": "FULL"}
    market = d.create_order_request(order(OrderType.MARKET, None)).params
    assert "price" not in market and "timeInForce" not in market
    maker = d.create_order_request(order(OrderType.LIMIT_MAKER)).params
    assert maker["type"] == "LIMIT_MAKER" and "timeInForce" not in maker


def test_usdm_create_maps_post_only_to_gtx() -> None:
    params = usdm().create_order_request(order(OrderType.LIMIT_MAKER)).params
    assert params["type"] == "LIMIT" and params["timeInForce"] == "GTX" and params["newOrderRespType"] == "RESULT"
    assert usdm().snapshot_request("BTC-USDT", 300).params["limit"] == 500
    assert spot().snapshot_request("BTC-USDT", 9000).params["limit"] == 5000


# --- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, status, body, error", [
    ("order.status", 400, {"code": -2013, "msg": "Order does not exist."}, OrderNotFound),
    ("order.cancel", 400, {"code": -2011, "msg": "Unknown order sent."}, CancelRejected),
    ("order.create", 400, {"code": -2011, "msg": "Unknown order sent."}, ExchangeRejected),
    ("order.create", 503, {"code": -1007, "msg": "Timeout waiting for response from backend server."},
     RequestError),
    ("order.create", 400, {"code": -1007, "msg": "Timeout"}, RequestError),
    ("order.create", 500, None, RequestError),
    ("order.create", 429, {"code": -1003, "msg": "Too much request weight used"}, RequestError),
    ("order.create", 400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
     TimestampRejected),
    ("order.create", 400, {"code": -2010, "msg": "Account has insufficient balance for requested action."},
     ExchangeRejected),
])
def test_errors_are_sorted_by_what_they_say_about_the_request(op: str, status: int, body: Any,
                                                              error: type[Exception]) -> None:
    result = spot().map_error(RestRequest("GET", "/x", op=op), status, body)
    assert type(result) is error


# --- market messages ---------------------------------------------------------------------------------
def test_depth_and_control_messages() -> None:
    d = spot()
    stream = MarketStream("depth", "/ws", depth=True)
    text = ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":157,"u":160,"b":[["0.0024","10"]],'
            '"a":[["0.0026","100"]]}')
    (diff,) = d.parse_market_message(stream, text)
    assert isinstance(diff, DiffMessage)
    assert (diff.first_id, diff.last_id, diff.prev_id, diff.trading_pair) == (157, 160, None, "BTC-USDT")
    assert diff.bids == [["0.0024", "10"]]
    assert d.parse_market_message(stream, '{"result":null,"id":3}') == (Ack(3, True, ""),)
    assert d.parse_market_message(stream, '{"code":2,"msg":"bad","id":4}') == (Ack(4, False, "bad"),)
    assert d.parse_market_message(stream, '{"e":"trade","s":"BTCUSDT"}') == ()
    assert d.parse_market_message(stream, text.replace("BTCUSDT", "XYZ")) == ()
    wrapped = json.dumps({"stream": "btcusdt@depth", "data": json.loads(text)})
    assert isinstance(d.parse_market_message(stream, wrapped)[0], DiffMessage)
    assert json.loads(d.subscribe_frames(stream, ["BTC-USDT"], 7)[0].text) == {
        "method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 7}


def test_usdm_depth_and_mark_price() -> None:
    d = usdm()
    text = '{"e":"depthUpdate","E":2,"T":1,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[],"a":[]}'
    (diff,) = d.parse_market_message(d.streams[0], text)
    assert isinstance(diff, DiffMessage) and diff.prev_id == 149
    mark = ('{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091",'
            '"P":"11784.25641265","r":"0.00038167","T":1562306400000}')
    (update,) = d.parse_market_message(d.streams[1], mark)
    assert update == FundingUpdate("BTC-USDT", 1562305380000, D("0.00038167"), D("11794.15000000"),
                                   D("11784.62659091"), 1562306400000, "ws")
    assert json.loads(d.subscribe_frames(d.streams[1], ["BTC-USDT"], 1)[0].text)["params"] == [
        "btcusdt@markPrice@1s"]


# --- user stream ---------------------------------------------------------------------------------------
def execution_report(**fields: Any) -> str:
    body = {"e": "executionReport", "E": 5, "s": "BTCUSDT", "c": "rc1", "S": "BUY", "x": "TRADE",
            "X": "PARTIALLY_FILLED", "i": 42, "l": "0.004", "z": "0.006", "L": "30000.5", "n": "0.000004",
            "N": "BTC", "T": 4, "t": 77, "m": True, "C": ""}
    body.update(fields)
    return json.dumps({"subscriptionId": 0, "event": body})


def test_spot_execution_report_gives_the_fill_before_the_state() -> None:
    events = spot().parse_user_message(execution_report())
    assert events == [
        TradeFill("77", "BTC-USDT", "rc1", "42", D("30000.5"), D("0.004"), D("0.000004"), "BTC", 4, True, "ws"),
        OrderUpdate("BTC-USDT", "rc1", "42", OrderState.PARTIALLY_FILLED, 5, D("0.006"), "ws", "PARTIALLY_FILLED"),
    ]
    canceled = spot().parse_user_message(execution_report(x="CANCELED", X="CANCELED", c="cancel-id", C="rc1",
                                                          t=-1))
    assert canceled == [OrderUpdate("BTC-USDT", "rc1", "42", OrderState.CANCELED, 5, D("0.006"), "ws", "CANCELED")]


def test_spot_balances_termination_and_replies() -> None:
    d = spot()
    balances = d.parse_user_message(json.dumps({"subscriptionId": 0, "event": {
        "e": "outboundAccountPosition", "E": 9, "u": 9, "B": [{"a": "BTC", "f": "1.5", "l": "0.5"}]}}))
    assert balances == [BalanceUpdate("BTC", D("2.0"), D("1.5"), 9, "ws")]
    assert d.parse_user_message('{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1}}') == (
        StreamEnded("eventStreamTerminated"),)
    assert d.parse_user_message('{"id":3,"status":200,"result":{}}') == ()
    assert d.parse_login_reply('{"id":1,"status":200,"result":{"subscriptionId":0}}') == Ack(1, True, "")
    refused = d.parse_login_reply('{"id":1,"status":401,"error":{"code":-2015,"msg":"Invalid API-key"}}')
    assert refused is not None and not refused.ok and "-2015" in refused.error
    login = json.loads(d.user_stream_login(1, 1700000000000, None)[0].text)
    assert login["method"] == "userDataStream.subscribe.signature" and login["params"]["apiKey"] == "key"


def test_usdm_user_events() -> None:
    d = usdm()
    trade = {"e": "ORDER_TRADE_UPDATE", "E": 8, "T": 8, "o": {
        "s": "BTCUSDT", "c": "rc1", "S": "SELL", "o": "LIMIT", "x": "TRADE", "X": "FILLED", "i": 8886774,
        "l": "0.001", "z": "0.001", "L": "7103.04", "N": "USDT", "n": "0.0014", "T": 7, "t": 31, "m": False}}
    events = d.parse_user_message(json.dumps(trade))
    assert events[0] == TradeFill("31", "BTC-USDT", "rc1", "8886774", D("7103.04"), D("0.001"), D("0.0014"),
                                  "USDT", 7, False, "ws")
    assert isinstance(events[1], OrderUpdate) and events[1].state is OrderState.FILLED
    assert isinstance(events[2], BalancesRefreshNeeded)
    new = dict(trade, o={**trade["o"], "x": "NEW", "X": "NEW", "t": 0, "l": "0", "z": "0"})
    assert [type(e) for e in d.parse_user_message(json.dumps(new))] == [OrderUpdate, BalancesRefreshNeeded]
    account = {"e": "ACCOUNT_UPDATE", "E": 9, "T": 9, "a": {"m": "ORDER", "B": [
        {"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50"}], "P": [
        {"s": "BTCUSDT", "pa": "-0.02", "ep": "6563.66500", "bep": "0", "cr": "0", "up": "2.85", "mt": "cross",
         "iw": "0", "ps": "BOTH"}]}}
    assert d.parse_user_message(json.dumps(account)) == [
        BalanceUpdate("USDT", D("122624.12345678"), None, 9, "ws"),
        PositionUpdate("BTC-USDT", D("-0.02"), D("6563.66500"), D("2.85"), None, 9, "ws"),
        BalancesRefreshNeeded("ORDER"),
    ]
    config = {"e": "ACCOUNT_CONFIG_UPDATE", "E": 3, "T": 3, "ac": {"s": "BTCUSDT", "l": 25}}
    assert d.parse_user_message(json.dumps(config)) == [LeverageUpdate("BTC-USDT", 25, 3)]
    assert d.parse_user_message('{"e":"listenKeyExpired","E":1,"listenKey":"k"}') == (
        StreamEnded("listenKeyExpired"),)
    assert d.user_stream_path("abc") == "/fstream/private/ws?listenKey=abc"


def test_rules_from_exchange_info() -> None:
    payload = {"symbols": [
        {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5"}]},
        {"symbol": "OLDUSDT", "status": "BREAK", "baseAsset": "OLD", "quoteAsset": "USDT", "filters": []},
    ]}
    (rule,) = BinanceSpot("k", "s").parse_trading_rules(payload)
    assert rule == TradingRule("BTC-USDT", "BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"),
                               D("5"), D("1000000"))
    futures = {"symbols": [{**payload["symbols"][0], "contractType": "PERPETUAL", "filters": [
        {"filterType": "MIN_NOTIONAL", "notional": "100"}]}, {**payload["symbols"][0], "symbol": "BTCUSDT_240628",
                                                             "contractType": "CURRENT_QUARTER"}]}
    (perp,) = BinanceUsdm("k", "s").parse_trading_rules(futures)
    assert perp.min_notional == D("100") and perp.is_perpetual


def test_order_fills_and_balances_from_rest() -> None:
    d = spot()
    o = order()
    o.exchange_order_id = "42"
    trades = [{"symbol": "BTCUSDT", "id": 7, "orderId": 42, "price": "30000.5", "qty": "0.01", "commission": "0.00001",
               "commissionAsset": "BTC", "time": 3, "isBuyer": True, "isMaker": True},
              {"symbol": "BTCUSDT", "id": 8, "orderId": 43, "price": "1", "qty": "1", "commission": "0",
               "commissionAsset": "BTC", "time": 3, "isBuyer": True, "isMaker": True}]
    assert [f.trade_id for f in d.parse_order_fills(o, trades)] == ["7"]
    assert dict(parse_qsl(BinanceAuth("k", "s").prepare("GET", "/p", d.order_fills_request(o).params,
                                                        AuthLevel.NONE, 0).target.split("?")[1])) == {
        "symbol": "BTCUSDT", "orderId": "42"}
    updates, time_ms = d.parse_balances({"updateTime": 5, "balances": [{"asset": "BTC", "free": "1", "locked": "2"}]})
    assert updates == [BalanceUpdate("BTC", D(3), D(1), 5, "rest")] and time_ms == 5


# --- config ---------------------------------------------------------------------------------------------
def test_backoff_is_bounded_jittered_and_seeded() -> None:
    a, b = Backoff(0.1, 2.0, random.Random("s")), Backoff(0.1, 2.0, random.Random("s"))
    delays = [a.next_delay() for _ in range(12)]
    assert delays == [b.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 2.0 for d in delays) and delays[-1] >= 1.0
    a.reset()
    assert a.next_delay() <= 0.1


def test_unknown_tuning_is_refused() -> None:
    assert ConnectorConfig().with_overrides(seed=3).seed == 3
    with pytest.raises(TypeError, match="stall_timeout_s"):
        ConnectorConfig().with_overrides(stall_timeout=3)
