"""The Bitstamp dialect (no nonce, no update id: only timestamps) against the engine's truth.

REST shapes and auth failures as Bitstamp answers them, a WebSocket client that splices diffs onto a
REST snapshot by `microtimestamp` and ends equal to the engine, private channels with a token, the
funding channel, the fault-layer hooks and tags, garbage input, and ccxt (unmodified) as a client.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_exchanges.dialects.bitstamp.dialect import BITSTAMP, BitstampDialect
from mock_exchanges.engine import Account, BookDelta, OrderType, Side
from mock_exchanges.faults import FaultKind, FaultRule, Schedule
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from mock_exchanges.server.hub import Channel, Frame, UserKind

from .conftest import SEED, wait_for

TIMEOUT = 5.0
Book = dict[str, dict[Decimal, Decimal]]


# --- fixtures and client helpers ---------------------------------------------------------------------
@pytest.fixture
async def quiet() -> AsyncIterator[MockExchangeServer]:
    """No synthetic flow: books move only when a test says so."""
    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=None))
    async with MockExchangeServer(exchange, dialects=["bitstamp"]) as server:
        yield server


@pytest.fixture
async def busy() -> AsyncIterator[MockExchangeServer]:
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=100, rate_per_s=400))
    async with MockExchangeServer(MockExchange(config), dialects=["bitstamp"]) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth_headers(account: Account, method: str, host: str, path: str, body: str = "", query: str = "",
                 nonce: str | None = None, timestamp: str | None = None, **override: str) -> dict[str, str]:
    """Bitstamp v2 headers, signed as the API docs' Python example signs (lowercase hex)."""
    nonce = nonce or str(uuid.uuid4())
    timestamp = timestamp or str(int(time.time() * 1000))
    content_type = "application/x-www-form-urlencoded" if body else ""
    message = ("BITSTAMP " + account.api_key + method + host + path + query + content_type + nonce + timestamp
               + "v2" + body)
    headers = {"X-Auth": "BITSTAMP " + account.api_key,
               "X-Auth-Signature": hmac.new(account.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest(),
               "X-Auth-Nonce": nonce, "X-Auth-Timestamp": timestamp, "X-Auth-Version": "v2"}
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(override)
    return {k: v for k, v in headers.items() if v != ""}


async def call(http: aiohttp.ClientSession, server: MockExchangeServer, method: str, path: str,
               params: dict[str, Any] | None = None, account: Account | None = None,
               **override: str) -> tuple[int, Any, dict[str, str]]:
    """A public GET (params in the query) or a private request (POST: params as a form body)."""
    host = f"{server.host}:{server.port}"
    body = urlencode(params or {}) if method == "POST" else ""
    query = urlencode(params or {}) if method == "GET" else ""
    headers = auth_headers(account, method, host, path, body, **override) if account is not None else {}
    url = server.base_url + path + (f"?{query}" if query else "")
    # aiohttp labels an empty POST `application/octet-stream`, which Bitstamp refuses (API0020): not here
    skip = () if body else ("Content-Type",)
    async with http.request(method, url, data=body.encode() if body else None, headers=headers,
                            skip_auto_headers=skip) as response:
        text = await response.text()
        return response.status, json.loads(text), dict(response.headers)


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def until(ws: aiohttp.ClientWebSocketResponse, event: str, channel: str | None = None) -> Any:
    """The next message with this event (and channel), skipping others."""
    while True:
        message = await receive(ws)
        if message["event"] == event and (channel is None or message["channel"] == channel):
            return message


async def subscribe(ws: aiohttp.ClientWebSocketResponse, channel: str, auth: str | None = None) -> Any:
    data: dict[str, Any] = {"channel": channel}
    if auth is not None:
        data["auth"] = auth
    await ws.send_json({"event": "bts:subscribe", "data": data})
    while True:
        message = await receive(ws)
        if message["event"] in ("bts:subscription_succeeded", "bts:error"):
            return message


def apply(book: Book, levels: list[list[str]], side: str) -> None:
    for price, qty in levels:
        if Decimal(qty) == 0:
            book[side].pop(Decimal(price), None)
        else:
            book[side][Decimal(price)] = Decimal(qty)


def from_snapshot(snapshot: dict[str, Any]) -> Book:
    book: Book = {"bids": {}, "asks": {}}
    apply(book, snapshot["bids"], "bids")
    apply(book, snapshot["asks"], "asks")
    return book


def equals_truth(book: Book, server: MockExchangeServer, symbol: str) -> bool:
    truth = server.exchange.engine.book(symbol)
    return (sorted(book["bids"].items(), reverse=True) == truth.bids
            and sorted(book["asks"].items()) == truth.asks)


def trader(server: MockExchangeServer, index: int = 0) -> Account:
    return server.exchange.trading_accounts[index]


# --- public REST -------------------------------------------------------------------------------------
async def test_markets_tickers_and_transactions(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    status, markets, _ = await call(http, quiet, "GET", "/api/v2/markets/")
    assert status == 200
    rows = {m["market_symbol"]: m for m in markets}
    assert set(rows) == {"btcusdt", "ethusdt", "btcusdt-perp", "ethusdt-perp"}
    spot, perp = rows["btcusdt"], rows["btcusdt-perp"]
    assert (spot["name"], spot["market_type"], spot["base_decimals"], spot["counter_decimals"]) == (
        "BTC/USDT", "SPOT", 5, 2)
    assert (perp["name"], perp["market_type"], perp["payoff_type"], perp["counter_decimals"]) == (
        "BTC/USDT-PERP", "PERPETUAL", "Linear", 1)
    assert len(spot["description"].split(" / ")) == 2  # ccxt's parse_currencies splits on it
    _, pairs, _ = await call(http, quiet, "GET", "/api/v2/trading-pairs-info/")
    assert {p["url_symbol"] for p in pairs} == set(rows) and pairs[0]["minimum_order"].endswith("USDT")

    maker, taker = trader(quiet, 0), trader(quiet, 1)
    engine = quiet.exchange.engine
    engine.place_order(maker.account_id, "BTCUSDT", Side.SELL, OrderType.LIMIT, Decimal("0.5"), Decimal("30000"))
    engine.place_order(taker.account_id, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.2"))
    status, ticker, _ = await call(http, quiet, "GET", "/api/v2/ticker/btcusdt/")
    assert status == 200 and ticker["last"] == "30000.00" and ticker["volume"] == "0.20000"
    assert ticker["ask"] == "30000.00" and ticker["side"] == "0" and ticker["market_type"] == "SPOT"
    _, tickers, _ = await call(http, quiet, "GET", "/api/v2/ticker/")
    assert {t["pair"] for t in tickers} == {m["name"] for m in markets}
    _, perp_ticker, _ = await call(http, quiet, "GET", "/api/v2/ticker/btcusdt-perp/")
    assert {"mark_price", "index_price", "open_interest", "open_interest_value"} <= perp_ticker.keys()
    _, trades, _ = await call(http, quiet, "GET", "/api/v2/transactions/btcusdt/", {"time": "minute"})
    assert trades == [{"date": trades[0]["date"], "tid": "1", "price": "30000.00", "amount": "0.20000", "type": "0"}]

    status, body, _ = await call(http, quiet, "GET", "/api/v2/ticker/nosuch/")
    assert status == 404 and body == {"status": "error", "reason": "Market not found for corresponding request.",
                                      "response_code": "404.007"}
    status, body, _ = await call(http, quiet, "GET", "/api/v2/transactions/btcusdt/", {"time": "week"})
    assert status == 400 and body["status"] == "error"


async def test_order_book_snapshot_is_the_engine_book_with_its_change_time(
    quiet: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet.exchange.engine
    times: list[int] = []
    engine.subscribe(lambda e: times.append(e.time_us) if isinstance(e, BookDelta) and e.symbol == "BTCUSDT" else None)
    account = trader(quiet)
    engine.place_order(account.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"), Decimal("29000"))
    status, snapshot, _ = await call(http, quiet, "GET", "/api/v2/order_book/btcusdt/")
    assert status == 200 and set(snapshot) == {"timestamp", "microtimestamp", "bids", "asks"}
    assert snapshot["microtimestamp"] == str(times[-1]) and snapshot["timestamp"] == str(times[-1] // 1_000_000)
    assert equals_truth(from_snapshot(snapshot), quiet, "BTCUSDT")
    assert all(len(p.split(".")[1]) == 2 and len(q.split(".")[1]) == 5 for p, q in snapshot["bids"])
    _, grouped, _ = await call(http, quiet, "GET", "/api/v2/order_book/btcusdt/", {"group": "1"})
    assert grouped == snapshot
    status, body, _ = await call(http, quiet, "GET", "/api/v2/order_book/btcusdt/", {"group": "2"})
    assert status == 400 and body["reason"] == "Invalid GET parameter."
    status, body, _ = await call(http, quiet, "GET", "/api/v2/order_book/nosuch/")
    assert status == 404 and body["response_code"] == "404.005"


async def test_stale_snapshot_hook_serves_the_old_book_dated_at_its_change(
    quiet: MockExchangeServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = quiet.exchange.engine
    deltas: list[BookDelta] = []
    engine.subscribe(lambda e: deltas.append(e) if isinstance(e, BookDelta) and e.symbol == "BTCUSDT" else None)
    account = trader(quiet)
    for price in ("29000", "29001", "29002"):
        engine.place_order(account.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"), Decimal(price))
    stale = deltas[0]
    monkeypatch.setattr(quiet.exchange.faults, "snapshot_update_id",
                        lambda symbol: stale.last_update_id if symbol == "BTCUSDT" else None)
    _, snapshot, _ = await call(http, quiet, "GET", "/api/v2/order_book/btcusdt/")
    truth = engine.book_at("BTCUSDT", stale.last_update_id)
    assert snapshot["microtimestamp"] == str(stale.time_us)
    assert [[Decimal(p), Decimal(q)] for p, q in snapshot["bids"]] == [[p, q] for p, q in truth.bids]
    monkeypatch.setattr(quiet.exchange.faults, "snapshot_update_id", lambda symbol: 10**9)  # out of range
    _, current, _ = await call(http, quiet, "GET", "/api/v2/order_book/btcusdt/")
    assert current["microtimestamp"] == str(deltas[-1].time_us) and equals_truth(from_snapshot(current), quiet,
                                                                                  "BTCUSDT")


async def test_funding_rate_rest(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine = quiet.exchange.engine
    engine.set_funding_rate("BTCUSDT-PERP", Decimal("0.000123"))
    status, body, _ = await call(http, quiet, "GET", "/api/v2/funding_rate/btcusdt-perp/")
    info = engine.funding_info("BTCUSDT-PERP")
    assert status == 200 and body["funding_rate"] == "0.000123" and body["market"] == "BTC/USDT-PERP"
    assert body["next_funding_time"] == str(info.next_funding_time_ms // 1000)
    engine.trigger_funding("BTCUSDT-PERP")
    _, history, _ = await call(http, quiet, "GET", "/api/v2/funding_rate_history/btcusdt-perp/")
    assert history["funding_rate_history"][-1]["funding_rate"] == "0.000123"
    status, body, _ = await call(http, quiet, "GET", "/api/v2/funding_rate/btcusdt/")
    assert status == 400 and body["code"] == "API5504"


# --- authentication ----------------------------------------------------------------------------------
async def test_auth_failures_get_bitstamp_codes(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = trader(quiet)
    path = "/api/v2/account_balances/"
    host = f"{quiet.host}:{quiet.port}"

    async def post(headers: dict[str, str], body: str = "") -> tuple[int, Any]:
        async with http.post(quiet.base_url + path, data=body.encode() if body else None, headers=headers,
                             skip_auto_headers=() if body else ("Content-Type",)) as r:
            return r.status, await r.json()

    def code_of(result: tuple[int, Any]) -> str:
        status, body = result
        assert status == 403 and body["status"] == "error", result
        return str(body["code"])

    assert code_of(await post({})) == "API0012"
    good = auth_headers(account, "POST", host, path)
    assert code_of(await post({**good, "X-Auth-Nonce": ""})) == "API0014"
    assert code_of(await post({**good, "X-Auth": "BITSTAMP"})) == "API0011"
    assert code_of(await post({**good, "X-Auth": "BITSTAMP " + "Z" * 64})) == "API0001"
    assert code_of(await post({**good, "X-Auth-Version": "v1"})) == "API0010"
    assert code_of(await post({**good, "X-Auth-Signature": "0" * 64})) == "API0005"
    old = str(int(time.time() * 1000) - 151_000)
    assert code_of(await post(auth_headers(account, "POST", host, path, timestamp=old))) == "API0017"
    assert code_of(await post(auth_headers(account, "POST", host, path, timestamp="soon"))) == "API0018"
    assert code_of(await post(auth_headers(account, "POST", host, path, nonce="short"))) == "API0004"
    assert code_of(await post({**good, "Content-Type": "application/x-www-form-urlencoded"})) == "API0020"
    json_body = auth_headers(account, "POST", host, path, body="offset=1", **{"Content-Type": "application/json"})
    assert code_of(await post(json_body, "offset=1")) == "API0019"

    status, body = await post(good)
    assert status == 200 and {row["currency"] for row in body} >= {"btc", "usdt", "eth"}
    assert code_of(await post(good)) == "API0004"  # the same nonce again
    upper = auth_headers(account, "POST", host, path)
    upper["X-Auth-Signature"] = upper["X-Auth-Signature"].upper()  # the docs' Java example sends uppercase
    assert (await post(upper))[0] == 200


async def test_answers_carry_the_server_signature(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = trader(quiet)
    host = f"{quiet.host}:{quiet.port}"
    headers = auth_headers(account, "POST", host, "/api/v2/account_balances/btc/")
    async with http.post(quiet.base_url + "/api/v2/account_balances/btc/", headers=headers,
                         skip_auto_headers=("Content-Type",)) as response:
        raw = await response.read()
        content_type = response.headers["Content-Type"]
        given = response.headers["X-Server-Auth-Signature"]
    expected = hmac.new(account.api_secret.encode(), (headers["X-Auth-Nonce"] + headers["X-Auth-Timestamp"]
                                                       + content_type).encode() + raw, hashlib.sha256).hexdigest()
    assert given == expected
    assert json.loads(raw) == {"currency": "btc", "total": "100.00000000", "available": "100.00000000",
                               "reserved": "0.00000000"}


# --- trading -----------------------------------------------------------------------------------------
async def test_limit_order_lifecycle(quiet: MockExchangeServer, http: aiohttp.ClientSession,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    account, other = trader(quiet, 0), trader(quiet, 1)
    engine = quiet.exchange.engine
    status, order, _ = await call(http, quiet, "POST", "/api/v2/buy/btcusdt/",
                                  {"amount": "0.01", "price": "29000", "client_order_id": "mine-1"}, account)
    assert status == 200, order
    assert {k: order[k] for k in ("market", "type", "price", "amount", "client_order_id")} == {
        "market": "BTC/USDT", "type": "0", "price": "29000.00", "amount": "0.01000", "client_order_id": "mine-1"}
    order_id = int(order["id"])
    assert engine.order_by_id(order_id).status.value == "NEW"

    _, listed, _ = await call(http, quiet, "POST", "/api/v2/open_orders/all/", None, account)
    assert [(o["id"], o["amount"], o["currency_pair"], o["client_order_id"]) for o in listed] == [
        (order["id"], "0.01000", "BTC/USDT", "mine-1")]
    _, for_pair, _ = await call(http, quiet, "POST", "/api/v2/open_orders/btcusdt/", None, account)
    assert [o["id"] for o in for_pair] == [order["id"]] and "currency_pair" not in for_pair[0]

    engine.place_order(other.account_id, "BTCUSDT", Side.SELL, OrderType.LIMIT, Decimal("0.004"), Decimal("29000"))
    _, state, _ = await call(http, quiet, "POST", "/api/v2/order_status/", {"client_order_id": "mine-1"}, account)
    assert state["status"] == "Open" and state["amount_remaining"] == "0.00600"
    assert [(t["price"], t["btc"], t["type"]) for t in state["transactions"]] == [("29000.00", "0.00400", 2)]

    hooked: list[tuple[str, int, int]] = []
    monkeypatch.setattr(quiet.exchange.faults, "before_cancel", lambda *args: hooked.append(args))
    status, cancelled, _ = await call(http, quiet, "POST", "/api/v2/cancel_order/", {"id": order_id}, account)
    assert status == 200 and hooked == [("BTCUSDT", account.account_id, order_id)]
    assert cancelled == {"id": order_id, "amount": "0.00600", "price": "29000.00", "type": 0, "market": "BTC/USDT",
                         "status": "Canceled"}
    _, state, _ = await call(http, quiet, "POST", "/api/v2/order_status/", {"id": order_id}, account)
    assert state["status"] == "Canceled"
    status, body, _ = await call(http, quiet, "POST", "/api/v2/cancel_order/", {"id": order_id}, account)
    assert status == 404 and body == {"status": "error", "reason": "Order not found.", "response_code": "404.002"}
    status, body, _ = await call(http, quiet, "POST", "/api/v2/order_status/", {"id": order_id}, other)
    assert status == 404  # another account's order does not exist for it

    _, mine, _ = await call(http, quiet, "POST", "/api/v2/user_transactions/", {"limit": 5}, account)
    assert [(t["type"], t["btc"], t["usdt"], t["order_id"]) for t in mine] == [
        ("2", "0.00400", "-116.00000000", order_id)]


async def test_market_orders_flags_and_cancel_all(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account, other = trader(quiet, 0), trader(quiet, 1)
    engine = quiet.exchange.engine
    engine.place_order(other.account_id, "BTCUSDT", Side.SELL, OrderType.LIMIT, Decimal("1"), Decimal("30000"))
    status, order, _ = await call(http, quiet, "POST", "/api/v2/buy/market/btcusdt/", {"amount": "0.25"}, account)
    assert status == 200 and order["price"] == "30000.00" and "client_order_id" not in order
    assert engine.order_by_id(int(order["id"])).status.value == "FILLED"

    status, ioc, _ = await call(http, quiet, "POST", "/api/v2/buy/btcusdt/",
                                {"amount": "0.01", "price": "29000", "ioc_order": "True"}, account)
    assert status == 200 and engine.order_by_id(int(ioc["id"])).status.value == "EXPIRED"
    _, state, _ = await call(http, quiet, "POST", "/api/v2/order_status/", {"id": ioc["id"]}, account)
    assert state["status"] == "Canceled"
    status, body, _ = await call(http, quiet, "POST", "/api/v2/buy/btcusdt/",
                                 {"amount": "0.01", "price": "31000", "moc_order": "True"}, account)
    assert status == 400 and body["status"] == "error"  # maker-or-cancel would take
    status, body, _ = await call(http, quiet, "POST", "/api/v2/buy/btcusdt/",
                                 {"amount": "0.01", "price": "29000", "ioc_order": "true", "fok_order": "true"},
                                 account)
    assert (status, body["response_code"]) == (400, "400.024")

    for price in ("29000", "29100"):
        await call(http, quiet, "POST", "/api/v2/buy/btcusdt/", {"amount": "0.01", "price": price}, account)
    await call(http, quiet, "POST", "/api/v2/sell/ethusdt/", {"amount": "0.01", "price": "2500"}, account)
    status, result, _ = await call(http, quiet, "POST", "/api/v2/cancel_all_orders/btcusdt/", None, account)
    assert status == 200 and result["success"] is True and len(result["canceled"]) == 2
    assert {c["currency_pair"] for c in result["canceled"]} == {"BTC/USDT"}
    _, left, _ = await call(http, quiet, "POST", "/api/v2/open_orders/all/", None, account)
    assert [o["market"] for o in left] == ["ETH/USDT"]
    _, result, _ = await call(http, quiet, "POST", "/api/v2/cancel_all_orders/", None, account)
    assert len(result["canceled"]) == 1 and not engine.open_orders(account.account_id)


async def test_order_rejections_are_bitstamp_errors(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = trader(quiet)

    async def buy(params: dict[str, Any], pair: str = "btcusdt") -> tuple[int, Any]:
        status, body, _ = await call(http, quiet, "POST", f"/api/v2/buy/{pair}/", params, account)
        return status, body

    assert await buy({"price": "29000"}) == (400, {"status": "error", "response_code": "400.005", "reason": {
        "__all__": ["Missing amount and/or price POST parameters"]}})
    status, body = await buy({"amount": "0.000001", "price": "29000"})
    assert status == 400 and body["reason"] == {
        "amount": ["Ensure that there are no more than 5 decimal places."], "__all__": [""]}
    status, body = await buy({"amount": "0.01", "price": "29000.001"})
    assert body["reason"]["price"] == ["Ensure that there are no more than 2 decimal places."]
    status, body = await buy({"amount": "abc", "price": "29000"})
    assert body["reason"]["amount"] == ['Enter a number. Use "." as a decimal point.']
    status, body = await buy({"amount": "0.0001", "price": "100"})
    assert body["reason"]["__all__"] == ["Minimum order size is 5 USDT."]
    status, body = await buy({"amount": "100", "price": "29000"})
    assert status == 400 and body["reason"]["__all__"] == [
        "You have only 1000000 USDT available. Check your account balance for details."]
    status, body = await buy({"amount": "0.01", "price": "29000", "gtd_order": "True", "expire_time": "1"})
    assert status == 400 and "not supported" in body["reason"]
    status, body = await buy({"amount": "0.01", "price": "29000", "client_order_id": "x" * 181})
    assert (status, body["response_code"]) == (400, "400.008")
    status, body = await buy({"amount": "0.01", "price": "29000"}, pair="nosuch")
    assert (status, body["response_code"]) == (404, "404.007")
    status, body, _ = await call(http, quiet, "POST", "/api/v2/cancel_order/", {}, account)
    assert status == 400 and body["response_code"] == "400.035"
    status, body, _ = await call(http, quiet, "POST", "/api/v2/cancel_order/", {"id": "12x"}, account)
    assert status == 400 and body["response_code"] == "400.036"


async def test_perpetual_orders_positions_and_leverage(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account, other = trader(quiet, 0), trader(quiet, 1)
    engine = quiet.exchange.engine
    engine.place_order(other.account_id, "BTCUSDT-PERP", Side.SELL, OrderType.LIMIT, Decimal("1"), Decimal("30000"))
    status, order, _ = await call(http, quiet, "POST", "/api/v2/buy/market/btcusdt-perp/",
                                  {"amount": "0.5", "leverage": "10", "margin_mode": "CROSS"}, account)
    assert status == 200 and order["leverage"] == "10" and order["market"] == "BTC/USDT-PERP"
    status, positions, _ = await call(http, quiet, "GET", "/api/v2/open_positions/", None, account)
    truth = engine.position(account.account_id, "BTCUSDT-PERP")
    assert status == 200 and len(positions) == 1
    assert (positions[0]["market"], positions[0]["side"], Decimal(positions[0]["size"]), positions[0]["leverage"]) == (
        "BTC/USDT-PERP", "long", truth.qty, "10")
    status, body, _ = await call(http, quiet, "GET", "/api/v2/open_positions/btcusdt/", None, account)
    assert status == 400 and body["code"] == "API5504"
    status, settings_, _ = await call(http, quiet, "POST", "/api/v2/leverage_settings/",
                                      {"market": "BTC/USDT-PERP", "leverage": "5", "margin_mode": "CROSS"}, account)
    assert status == 201 and settings_[0]["leverage_current"] == "5"
    assert engine.position(account.account_id, "BTCUSDT-PERP").leverage == 5
    status, listed, _ = await call(http, quiet, "GET", "/api/v2/leverage_settings/", None, account)
    assert {row["market"] for row in listed} == {"BTC/USDT-PERP", "ETH/USDT-PERP"}


async def test_fault_roles_and_error_shapes(quiet: MockExchangeServer) -> None:
    dialect = BitstampDialect()
    routes = {(r.method, r.resource.canonical) for r in quiet.app.router.routes() if r.resource is not None}
    for role in ("create", "cancel", "snapshot"):
        assert dialect.rest_roles[role] and set(dialect.rest_roles[role]) <= routes
    limited = dialect.rest_error("rate_limit", 7)
    assert limited.status == 400 and limited.headers["Retry-After"] == "7"
    assert isinstance(limited.body, bytes) and json.loads(limited.body)["response_code"] == "400.002"
    assert dialect.rest_error("ban", 60).status == 403
    assert dialect.rest_error("server_error", 1).status == 500
    assert dialect.rest_error("unknown_status", 1).status == 504


# --- WebSocket -----------------------------------------------------------------------------------------
async def test_diffs_spliced_onto_a_snapshot_rebuild_the_engine_book(
    busy: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    """The venue's documented sync: subscribe and buffer diffs, fetch the REST book, drop diffs with
    `microtimestamp <=` the book's, apply the rest in arrival order.

    The one ambiguity: several engine changes may share a microsecond, and then `<=` can drop a diff the
    snapshot does not contain. With the wall clock that needs two commands in one µs, so the spliced book
    is expected to be exact; had two diffs carried the snapshot's microtimestamp, only the final
    re-snapshot could be trusted, and only it is checked then.
    """
    async with http.ws_connect(busy.ws_url + "/") as ws:
        ack = await subscribe(ws, "diff_order_book_btcusdt")
        assert ack == {"event": "bts:subscription_succeeded", "channel": "diff_order_book_btcusdt", "data": {}}
        buffered = [(await until(ws, "data", "diff_order_book_btcusdt"))["data"] for _ in range(6)]
        _, snapshot, _ = await call(http, busy, "GET", "/api/v2/order_book/btcusdt/")  # lands mid-stream
        cut = int(snapshot["microtimestamp"])
        book = from_snapshot(snapshot)
        applied, dropped, at_cut, previous = 0, 0, 0, 0
        while applied < 200:
            diff = buffered.pop(0) if buffered else (await until(ws, "data", "diff_order_book_btcusdt"))["data"]
            stamp = int(diff["microtimestamp"])
            assert stamp >= previous and diff["timestamp"] == str(stamp // 1_000_000)
            assert all(len(level) == 2 for level in diff["bids"] + diff["asks"])
            previous = stamp
            at_cut += stamp == cut
            if stamp <= cut:
                dropped += 1
                continue
            apply(book, diff["bids"], "bids")
            apply(book, diff["asks"], "asks")
            applied += 1
        assert dropped >= 6  # the splice point was inside the stream, not before it
        busy.exchange.pause_flow()
        _, final = (await call(http, busy, "GET", "/api/v2/order_book/btcusdt/"))[:2]
        last = int(final["microtimestamp"])
        while previous < last:  # drain what the flow did before the pause
            diff = (await until(ws, "data", "diff_order_book_btcusdt"))["data"]
            previous = int(diff["microtimestamp"])
            apply(book, diff["bids"], "bids")
            apply(book, diff["asks"], "asks")
        assert equals_truth(from_snapshot(final), busy, "BTCUSDT")
        if at_cut <= 1:  # no two changes shared the snapshot's microsecond: the splice must be exact
            assert equals_truth(book, busy, "BTCUSDT"), "the spliced book drifted from the engine"
        # else: the documented ambiguity; only the re-snapshot above is trustworthy, and it was checked


async def test_control_messages(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(quiet.ws_url + "/") as ws:
        await ws.send_json({"event": "bts:heartbeat"})
        assert await receive(ws) == {"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}}
        await ws.send_str("{nope")
        assert await receive(ws) == {"event": "bts:error", "channel": "",
                                     "data": {"code": None, "message": "Incorrect JSON format."}}
        await ws.send_json({"event": "bts:ping"})
        assert (await receive(ws))["data"]["message"] == "Bad subscription string."
        await ws.send_json({"event": "bts:subscribe", "data": {}})
        assert (await receive(ws))["data"]["message"] == "Bad subscription string."
        for bad in ("order_book_BTCUSDT", "order_book_BTC/USDT", "live_orders_btcusdt", "nonsense"):
            assert (await subscribe(ws, bad))["data"]["message"] == "Invalid channel provided.", bad
        assert (await subscribe(ws, "live_trades_nosuch"))["event"] == "bts:subscription_succeeded"  # then silent
        for _ in range(2):
            assert (await subscribe(ws, "live_trades_btcusdt"))["event"] == "bts:subscription_succeeded"
        assert quiet.exchange.hub.topics()["bitstamp:live_trades_btcusdt"] == 1
        await ws.send_json({"event": "bts:unsubscribe", "data": {"channel": "live_trades_btcusdt"}})
        assert await receive(ws) == {"event": "bts:unsubscription_succeeded", "channel": "live_trades_btcusdt",
                                     "data": {}}
        assert "bitstamp:live_trades_btcusdt" not in quiet.exchange.hub.topics()
        denied = await subscribe(ws, f"private-my_orders_btcusdt-{trader(quiet).account_id}", auth="forged")
        assert denied["data"] == {"code": 4009, "message": "Connection is unauthorized."}
        await ws.send_str(json.dumps({"event": "bts:subscribe", "data": {"channel": "x" * 600}}))
        closed = await ws.receive(timeout=TIMEOUT)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1009  # over 512 bytes, as the real socket does

    async with http.get(quiet.base_url + "/") as page:
        assert page.status == 200 and (await page.json())["websocket"].startswith("ws://")


async def test_a_1025th_subscription_closes_the_socket(quiet: MockExchangeServer,
                                                       http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(quiet.ws_url + "/") as ws:
        for i in range(1024):
            await ws.send_json({"event": "bts:subscribe", "data": {"channel": f"live_trades_m{i}"}})
        for _ in range(1024):
            assert (await receive(ws))["event"] == "bts:subscription_succeeded"
        await ws.send_json({"event": "bts:subscribe", "data": {"channel": "live_trades_m1"}})  # not new: fine
        assert (await receive(ws))["event"] == "bts:subscription_succeeded"
        await ws.send_json({"event": "bts:subscribe", "data": {"channel": "live_trades_btcusdt"}})
        closed = await ws.receive(timeout=TIMEOUT)  # silently: no error event first
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

async def test_trades_and_order_book_channels(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine = quiet.exchange.engine
    maker, taker = trader(quiet, 0), trader(quiet, 1)
    async with http.ws_connect(quiet.ws_url + "/") as ws:
        await subscribe(ws, "live_trades_btcusdt")
        await subscribe(ws, "order_book_btcusdt")
        engine.place_order(maker.account_id, "BTCUSDT", Side.SELL, OrderType.LIMIT, Decimal("0.5"), Decimal("30000"))
        book = (await until(ws, "data", "order_book_btcusdt"))["data"]
        assert equals_truth(from_snapshot(book), quiet, "BTCUSDT")
        result = engine.place_order(taker.account_id, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.2"))
        trade = (await until(ws, "trade", "live_trades_btcusdt"))["data"]
        assert (trade["price_str"], trade["amount_str"], trade["type"], trade["buy_order_id"]) == (
            "30000.00", "0.20000", 0, result.order.order_id)
        assert trade["price"] == 30000.0 and trade["id"] == result.fills[0].trade_id


async def test_private_channels_with_a_token(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account, other = trader(quiet, 0), trader(quiet, 1)
    status, token, _ = await call(http, quiet, "POST", "/api/v2/websockets_token/", None, account)
    assert status == 200 and token["valid_sec"] == 60 and token["user_id"] == account.account_id
    orders = f"private-my_orders_btcusdt-{token['user_id']}"
    trades = f"private-my_trades_btcusdt-{token['user_id']}"
    async with http.ws_connect(quiet.ws_url + "/") as ws:
        foreign = await subscribe(ws, f"private-my_orders_btcusdt-{other.account_id}", auth=token["token"])
        assert foreign["data"]["code"] == 4009  # a token opens only its own user's channels
        assert (await subscribe(ws, orders, auth=token["token"]))["channel"] == orders
        assert (await subscribe(ws, trades, auth=token["token"]))["channel"] == trades
        _, placed, _ = await call(http, quiet, "POST", "/api/v2/sell/btcusdt/",
                                  {"amount": "0.01", "price": "30000", "client_order_id": "tok-1"}, account)
        created = await until(ws, "order_created", orders)
        data = created["data"]
        assert (data["id_str"], data["order_type"], data["order_subtype"], data["amount_str"], data["price_str"],
                data["client_order_id"]) == (placed["id"], 1, 0, "0.01000", "30000.00", "tok-1")
        assert "event_id" not in created and "pre_event_id" not in created  # no sequence of any kind
        quiet.exchange.engine.place_order(other.account_id, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.004"))
        changed = await until(ws, "order_changed", orders)
        assert (changed["data"]["amount_str"], changed["data"]["amount_traded"]) == ("0.00600", "0.00400")
        mine = await until(ws, "trade", trades)
        assert (mine["data"]["order_id"], mine["data"]["amount"], mine["data"]["price"], mine["data"]["side"]) == (
            placed["id"], "0.00400", "30000.00", "sell")
        await call(http, quiet, "POST", "/api/v2/cancel_order/", {"id": placed["id"]}, account)
        deleted = await until(ws, "order_deleted", orders)
        assert deleted["data"]["amount_str"] == "0.00600"


async def test_funding_channel_pushes_rate_mark_and_next_time(
    quiet: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet.exchange.engine
    async with http.ws_connect(quiet.ws_url + "/") as ws:
        assert (await subscribe(ws, "funding_rate_btcusdt-perp"))["event"] == "bts:subscription_succeeded"
        engine.set_funding_rate("BTCUSDT-PERP", Decimal("0.00025"))
        while True:
            message = await until(ws, "funding_rate_saved", "funding_rate_btcusdt-perp")
            if message["data"]["funding_rate"] == "0.00025":
                break
        info = engine.funding_info("BTCUSDT-PERP")
        assert message["data"] == {"market": "btcusdt-perp", "mark_price": f"{info.mark_price:.1f}",
                                   "index_price": f"{info.index_price:.1f}", "funding_rate": "0.00025",
                                   "timestamp": message["data"]["timestamp"],
                                   "next_funding_time": str(info.next_funding_time_ms // 1000)}


async def test_frames_carry_fault_tags_and_terminate_requests_a_reconnect(
    quiet: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet.exchange.engine
    account = trader(quiet)
    frames: list[Frame] = []

    class Recorder:
        def deliver(self, topic: str, frame: Frame) -> None:
            frames.append(frame)

    deltas: list[BookDelta] = []
    engine.subscribe(lambda e: deltas.append(e) if isinstance(e, BookDelta) else None)
    hub = quiet.exchange.hub
    recorder = Recorder()
    hub.subscribe("bitstamp:diff_order_book_btcusdt", recorder)
    hub.subscribe(f"bitstamp:private-my_orders_btcusdt-{account.account_id}", recorder)
    result = engine.place_order(account.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"),
                                Decimal("29000"))
    order, depth = frames  # the engine publishes order updates before the book delta
    assert (depth.channel, depth.symbol, depth.first_update_id, depth.last_update_id) == (
        Channel.DEPTH, "BTCUSDT", deltas[-1].first_update_id, deltas[-1].last_update_id)
    assert '"U"' not in depth.data and "update" not in depth.data  # the ids never reach the wire
    assert (order.channel, order.kind, order.order_id) == (Channel.USER, UserKind.ORDER, result.order.order_id)

    async with http.ws_connect(quiet.ws_url + "/") as ws:
        await subscribe(ws, "diff_order_book_btcusdt")
        conn = await wait_for(lambda: next(iter(quiet.exchange.connections.values()), None))
        assert conn.unknown_event is not None and json.loads(conn.unknown_event())["event"] == "bts:notice"
        assert conn.terminate is not None
        conn.terminate()
        assert await receive(ws) == {"event": "bts:request_reconnect", "channel": "", "data": None}
        closed = await ws.receive(timeout=TIMEOUT)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_book_times_survive_trimming() -> None:
    from mock_exchanges.dialects.bitstamp.book_times import BookTimes

    times = BookTimes(start_us=100, window=2, install_ids={"X": 10})
    assert times.at("X", 10) == 100 and times.latest("X") == 100
    for uid, when in ((12, 200), (13, 300), (15, 400), (16, 500), (20, 600)):
        times.record("X", uid, when)
    assert times.latest("X") == 600
    assert times.at("X", 14) == 400 and times.at("X", 15) == 400 and times.at("X", 20) == 600
    assert times.at("X", 11) == 300  # trimmed: the time of the last delta dropped (an upper bound)


async def test_the_fault_layer_speaks_bitstamp(http: aiohttp.ClientSession) -> None:
    """The real fault layer in front of this dialect: REST faults by route role in Bitstamp's words, the
    stale snapshot and cancel/fill race hooks, and a dropped diff that nothing on the wire reveals."""
    rules = (FaultRule(FaultKind.RATE_LIMIT, role="create", at_message=1),
             FaultRule(FaultKind.UNKNOWN_STATUS, role="create", at_message=2),
             FaultRule(FaultKind.STALE_SNAPSHOT, symbol="BTCUSDT", lag=1),
             FaultRule(FaultKind.CANCEL_FILL_RACE, symbol="BTCUSDT"),
             FaultRule(FaultKind.DROP, channel=Channel.DEPTH, at_message=2))
    config = MockExchangeConfig(seed=SEED, flow=None, faults=Schedule(seed=SEED, rules=rules))
    engine_deltas: list[BookDelta] = []
    async with MockExchangeServer(MockExchange(config), dialects=["bitstamp"]) as server:
        engine = server.exchange.engine
        engine.subscribe(lambda e: engine_deltas.append(e) if isinstance(e, BookDelta) else None)
        account = trader(server)
        order = {"amount": "0.01", "price": "29000"}
        async with http.ws_connect(server.ws_url + "/") as ws:
            await subscribe(ws, "diff_order_book_btcusdt")
            status, body, _ = await call(http, server, "POST", "/api/v2/buy/btcusdt/", order, account)
            assert (status, body["response_code"]) == (400, "400.002") and not engine.open_orders(account.account_id)
            async with http.post(server.base_url + "/api/v2/buy/btcusdt/", data=urlencode(order).encode(),
                                 headers=auth_headers(account, "POST", f"{server.host}:{server.port}",
                                                      "/api/v2/buy/btcusdt/", urlencode(order))) as response:
                assert response.status == 504 and "Gateway" in await response.text()
            assert len(engine.open_orders(account.account_id)) == 1  # executed; the answer was lost
            status, placed, _ = await call(http, server, "POST", "/api/v2/buy/btcusdt/",
                                           {"amount": "0.01", "price": "29001"}, account)
            assert status == 200
            engine.place_order(account.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"),
                               Decimal("28000"))
            first = (await until(ws, "data", "diff_order_book_btcusdt"))["data"]
            after = (await until(ws, "data", "diff_order_book_btcusdt"))["data"]
            assert [first["microtimestamp"], after["microtimestamp"]] == [
                str(engine_deltas[0].time_us), str(engine_deltas[2].time_us)]  # the second never came

        current = engine.last_update_id("BTCUSDT")
        _, stale, _ = await call(http, server, "GET", "/api/v2/order_book/btcusdt/")
        served = engine.book_at("BTCUSDT", current - 1)
        assert [(Decimal(p), Decimal(q)) for p, q in stale["bids"]] == served.bids
        assert stale["microtimestamp"] == str(engine_deltas[1].time_us)

        status, body, _ = await call(http, server, "POST", "/api/v2/cancel_order/", {"id": placed["id"]}, account)
        assert (status, body["reason"]) == (404, "Order not found.")  # the market filled it first
        assert engine.order_by_id(int(placed["id"])).status.value == "FILLED"


# --- garbage in ------------------------------------------------------------------------------------------
class ThreadedServer:
    """A Bitstamp server on its own loop in a thread, so Hypothesis can drive it from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self._main()), daemon=True)
        self.server: MockExchangeServer | None = None
        self._stop: asyncio.Event | None = None

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        config = MockExchangeConfig(seed=5, flow=FlowConfig(levels_per_side=30, rate_per_s=100))
        async with MockExchangeServer(MockExchange(config), dialects=["bitstamp"]) as server:
            self.server = server
            self.ready.set()
            await self._stop.wait()

    def start(self) -> MockExchangeServer:
        self.thread.start()
        assert self.ready.wait(10) and self.server is not None
        return self.server

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


@pytest.fixture(scope="module")
def threaded() -> Iterator[ThreadedServer]:
    threaded = ThreadedServer()
    threaded.start()
    yield threaded
    threaded.stop()


PATHS = ["/api/v2/markets/", "/api/v2/order_book/btcusdt/", "/api/v2/ticker/btcusdt-perp/",
         "/api/v2/transactions/btcusdt/", "/api/v2/funding_rate/btcusdt-perp/", "/api/v2/buy/btcusdt/",
         "/api/v2/sell/market/btcusdt-perp/", "/api/v2/cancel_order/", "/api/v2/cancel_all_orders/",
         "/api/v2/open_orders/all/", "/api/v2/order_status/", "/api/v2/user_transactions/",
         "/api/v2/account_balances/", "/api/v2/websockets_token/", "/api/v2/open_positions/",
         "/api/v2/leverage_settings/", "/api/v2/nowhere/", "/api/v2/buy/%ff/"]
NAMES = ["amount", "price", "id", "client_order_id", "ioc_order", "fok_order", "moc_order", "leverage", "market",
         "margin_mode", "limit", "offset", "sort", "since_id", "group", "time", "reduce_only", "gtd_order"]
VALUES = st.one_of(st.sampled_from(["0.01", "30000", "-1", "0", "1e10", "NaN", "True", "", "x" * 3000,
                                    "0.000000000000000000001", "99999999999999999999999"]),
                   st.text(max_size=30), st.integers(min_value=-(2**70), max_value=2**70).map(str))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), method=st.sampled_from(["GET", "POST", "DELETE"]),
       params=st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), VALUES, max_size=6),
       sign=st.booleans(), raw=st.binary(max_size=64))
def test_garbage_requests_get_4xx_bitstamp_errors(threaded: ThreadedServer, path: str, method: str,
                                                  params: dict[str, str], sign: bool, raw: bytes) -> None:
    server = threaded.server
    assert server is not None
    account = server.exchange.trading_accounts[0]

    async def exercise() -> tuple[int, bytes]:
        body = urlencode(params) if method != "GET" else ""
        if not params and raw:
            body = raw.decode("latin-1")
        host = f"{server.host}:{server.port}"
        headers = auth_headers(account, method, host, path, body) if sign else {"Content-Type": "text/plain"}
        query = urlencode(params) if method == "GET" else ""
        async with aiohttp.ClientSession() as session:
            url = server.base_url + path + (f"?{query}" if query else "")
            skip = () if body else ("Content-Type",)
            async with session.request(method, url, data=body.encode("latin-1", "replace") or None,
                                       headers=headers, skip_auto_headers=skip) as response:
                return response.status, await response.read()

    status, body = threaded.run(exercise())
    assert status < 500, (status, body[:300])
    if method == "GET" and len(urlencode(params)) > 8000:
        return  # over the HTTP parser's request-line limit: a plain 400 before any handler, as servers do
    if status >= 400:
        error = json.loads(body)
        assert error["status"] == "error" and "reason" in error


FRAMES = st.one_of(
    st.text(max_size=120),
    st.fixed_dictionaries({"event": st.one_of(st.sampled_from(["bts:subscribe", "bts:unsubscribe", "bts:heartbeat"]),
                                              st.text(max_size=12), st.integers(), st.none()),
                           "data": st.one_of(st.fixed_dictionaries({"channel": st.one_of(
                               st.sampled_from(["diff_order_book_btcusdt", "private-my_orders_btcusdt-1",
                                                "funding_rate_btcusdt-perp", "order_book_"]), st.text(max_size=40),
                               st.integers()), "auth": st.one_of(st.text(max_size=40), st.none())}),
                               st.lists(st.integers(), max_size=3), st.text(max_size=10))}).map(
        lambda frame: json.dumps(frame, ensure_ascii=False)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(FRAMES, min_size=1, max_size=5))
def test_garbage_frames_never_break_the_socket(threaded: ThreadedServer, frames: list[str]) -> None:
    server = threaded.server
    assert server is not None

    async def exercise() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/") as ws:
            for frame in frames:
                await ws.send_str(frame)
                await ws.send_json({"event": "bts:heartbeat"})
                while True:  # every frame gets an answer or none; the heartbeat always gets one
                    reply = await receive(ws)
                    assert isinstance(reply, dict) and "event" in reply
                    if reply["event"] == "bts:heartbeat":
                        break

    threaded.run(exercise())


# --- ccxt as a real client ---------------------------------------------------------------------------------
def ccxt_client(server: MockExchangeServer, account: Account) -> Any:
    """ccxt.pro bitstamp, unmodified: only `urls['api']` points at the server (ccxt appends `/v2/...`)."""
    import ccxt.pro as ccxt_pro

    client = ccxt_pro.bitstamp({"apiKey": account.api_key, "secret": account.api_secret})
    client.urls["api"] = {"public": server.base_url + "/api", "private": server.base_url + "/api",
                          "ws": server.ws_url}
    return client


def ccxt_book_equals(book: Any, server: MockExchangeServer, symbol: str) -> bool:
    truth = server.exchange.engine.book(symbol)
    bids = [(Decimal(str(p)), Decimal(str(q))) for p, q in book["bids"]]
    asks = [(Decimal(str(p)), Decimal(str(q))) for p, q in book["asks"]]
    return bids == truth.bids and asks == truth.asks


async def test_ccxt_rest_book_orders_and_funding(quiet: MockExchangeServer) -> None:
    account, other = trader(quiet, 0), trader(quiet, 1)
    engine = quiet.exchange.engine
    engine.place_order(other.account_id, "BTCUSDT", Side.SELL, OrderType.LIMIT, Decimal("0.5"), Decimal("30000"))
    client = ccxt_client(quiet, account)
    try:
        await client.load_markets()
        assert {"BTC/USDT", "BTC/USDT:USDT"} <= set(client.markets)
        book = await client.fetch_order_book("BTC/USDT")
        assert ccxt_book_equals(book, quiet, "BTCUSDT") and book["nonce"] > 0
        balance = await client.fetch_balance()
        assert Decimal(str(balance["USDT"]["free"])) == engine.balances(account.account_id)["USDT"].free
        order = await client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000)
        assert engine.order_by_id(int(order["id"])).status.value == "NEW"
        assert [o["id"] for o in await client.fetch_open_orders("BTC/USDT")] == [order["id"]]
        cancelled = await client.cancel_order(order["id"], "BTC/USDT")
        assert cancelled["id"] == order["id"] and engine.order_by_id(int(order["id"])).status.value == "CANCELED"
        assert (await client.fetch_order(order["id"], "BTC/USDT"))["status"] == "canceled"
        taken = await client.create_order("BTC/USDT", "market", "buy", 0.1)
        assert engine.order_by_id(int(taken["id"])).status.value == "FILLED"
        import ccxt

        with pytest.raises(ccxt.OrderNotFound):
            await client.cancel_order(order["id"], "BTC/USDT")
        with pytest.raises(ccxt.InsufficientFunds):
            await client.create_order("BTC/USDT", "limit", "buy", 100, 29000)
        engine.set_funding_rate("BTCUSDT-PERP", Decimal("0.0002"))
        funding = await client.fetch_funding_rate("BTC/USDT:USDT")
        assert funding["fundingRate"] == 0.0002
    finally:
        await client.close()


async def test_ccxt_pro_watch_order_book_holds_the_engine_book(busy: MockExchangeServer) -> None:
    """ccxt.pro splices on a diff whose microtimestamp equals the snapshot's (wire-dialects.md A9): the
    snapshot's microtimestamp is exactly the time of the diff that made it, so the splice is exact."""
    client = ccxt_client(busy, trader(busy))
    try:
        for _ in range(60):
            await asyncio.wait_for(client.watch_order_book("BTC/USDT"), TIMEOUT)
        busy.exchange.pause_flow()
        last = int(busy.app[BITSTAMP].book_times.latest("BTCUSDT"))
        await wait_for(lambda: client.orderbooks["BTC/USDT"]["nonce"] >= last, timeout=TIMEOUT)
        assert client.orderbooks["BTC/USDT"]["nonce"] == last
        assert ccxt_book_equals(client.orderbooks["BTC/USDT"], busy, "BTCUSDT")
    finally:
        await client.close()


async def test_ccxt_pro_watch_orders_and_funding(quiet: MockExchangeServer) -> None:
    account = trader(quiet)
    client = ccxt_client(quiet, account)
    try:
        await client.load_markets()
        watching = asyncio.ensure_future(client.watch_orders("BTC/USDT"))
        await wait_for(lambda: any(any(t.startswith("bitstamp:private-my_orders") for t in c.subscriptions)
                                   for c in quiet.exchange.connections.values()))
        order = await client.create_order("BTC/USDT", "limit", "sell", 0.01, 40000)
        seen = await asyncio.wait_for(watching, TIMEOUT)
        assert [(o["id"], o["side"], o["price"]) for o in seen] == [(order["id"], "sell", 40000.0)]
        quiet.exchange.engine.set_funding_rate("BTCUSDT-PERP", Decimal("0.0003"))
        funding = await asyncio.wait_for(client.watch_funding_rate("BTC/USDT:USDT"), TIMEOUT)
        while funding["fundingRate"] != 0.0003:
            funding = await asyncio.wait_for(client.watch_funding_rate("BTC/USDT:USDT"), TIMEOUT)
    finally:
        await client.close()
