"""The OKX dialect against the engine's truth: REST shapes and codes, auth, the books stream (seqId chain and
CRC32 checksum on every message), public and private pushes, funding, bad input, and ccxt as a real client.

Each test runs its own seeded server on 127.0.0.1 (free port) serving only the "okx" dialect.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import random
import re
import time
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from yarl import URL

from mock_exchanges.dialects.okx import OkxDialect, passphrase_for
from mock_exchanges.dialects.okx.books import BookViews, to_lots
from mock_exchanges.dialects.okx.instruments import fmt, instrument_table
from mock_exchanges.engine import Account, BookDelta, OrderType, Side, VirtualClock
from mock_exchanges.flow import FlowConfig
from mock_exchanges.serve import serve
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from mock_exchanges.server.app import DIALECTS_KEY

from .conftest import SEED, wait_for

RECEIVE_TIMEOUT = 5.0
SPOT, SWAP = "BTC-USDT", "BTC-USDT-SWAP"
SPOT_SYMBOL, SWAP_SYMBOL = "BTCUSDT", "BTCUSDT-PERP"
SWAP_CT_VAL = Decimal("0.001")  # the engine's perpetual lot size: one contract


# --- servers and clients --------------------------------------------------------------------------------
@pytest.fixture
async def quiet() -> AsyncIterator[MockExchangeServer]:
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None)), dialects=["okx"]) as srv:
        yield srv


@pytest.fixture
async def busy() -> AsyncIterator[MockExchangeServer]:
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=100, rate_per_s=400))
    async with MockExchangeServer(MockExchange(config), dialects=["okx"]) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def b64_hmac(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


class Okx:
    """A minimal OKX REST client: JSON bodies, signed headers for private calls."""

    def __init__(self, http: aiohttp.ClientSession, server: MockExchangeServer, account: Account | None = None):
        self.http, self.server, self.account = http, server, account

    def passphrase(self) -> str:
        assert self.account is not None
        return passphrase_for(SEED, self.account.api_key)

    def headers(self, method: str, request_path: str, body: str, **override: str) -> dict[str, str]:
        assert self.account is not None
        timestamp = override.pop("timestamp", iso(int(time.time() * 1000)))
        secret = override.pop("secret", self.account.api_secret)
        headers = {"OK-ACCESS-KEY": self.account.api_key, "OK-ACCESS-PASSPHRASE": self.passphrase(),
                   "OK-ACCESS-TIMESTAMP": timestamp,
                   "OK-ACCESS-SIGN": b64_hmac(secret, timestamp + method + request_path + body),
                   "Content-Type": "application/json"}
        headers.update(override)
        return headers

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
                   raw_body: str | None = None, signed: bool | None = None, **override: str) -> tuple[int, Any]:
        request_path = path
        if params:
            request_path += "?" + urlencode(params, quote_via=quote)
        text = raw_body if raw_body is not None else ("" if body is None else json.dumps(body))
        signed = self.account is not None if signed is None else signed
        headers = self.headers(method, request_path, text, **override) if signed else {}
        async with self.http.request(method, URL(self.server.base_url + request_path, encoded=True),
                                     data=text.encode() or None, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str, **params: Any) -> Any:
        status, reply = await self.call("GET", path, params)
        assert status == 200 and reply["code"] == "0", reply
        return reply["data"]

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body=body)


def levels(rows: list[tuple[Decimal, Decimal]], unit: Decimal = Decimal(1)) -> list[tuple[Decimal, Decimal]]:
    return [(price, qty / unit) for price, qty in rows]


def as_decimals(rows: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(row[0]), Decimal(row[1])) for row in rows]


def rest_on_book(server: MockExchangeServer, symbol: str, side: Side, price: str, qty: str) -> int:
    """A resting order from the last trading account (a counterparty the tests do not log in as)."""
    maker = server.exchange.trading_accounts[-1].account_id
    result = server.exchange.engine.place_order(maker, symbol, side, OrderType.LIMIT, Decimal(qty), Decimal(price))
    return result.order.order_id


# --- WebSocket helpers ----------------------------------------------------------------------------------
async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return msg.data if msg.data == "pong" else json.loads(msg.data)


async def reply_to(ws: aiohttp.ClientWebSocketResponse, payload: dict[str, Any]) -> Any:
    """Send a request and return the first event (ack, login or error), skipping pushes."""
    await ws.send_json(payload)
    while True:
        message = await receive(ws)
        if isinstance(message, dict) and "event" in message:
            return message


async def next_push(ws: aiohttp.ClientWebSocketResponse, channel: str,
                    accept: Callable[[dict[str, Any]], bool] = lambda item: True) -> dict[str, Any]:
    """The first data item pushed on `channel` that `accept`s."""
    while True:
        message = await receive(ws)
        if isinstance(message, dict) and message.get("arg", {}).get("channel") == channel and "data" in message:
            for item in message["data"]:
                if accept(item):
                    return item


async def login(ws: aiohttp.ClientWebSocketResponse, account: Account, **override: str) -> Any:
    timestamp = override.get("timestamp", str(int(time.time())))
    args = {"apiKey": account.api_key, "passphrase": override.get("passphrase", passphrase_for(SEED, account.api_key)),
            "timestamp": timestamp,
            "sign": b64_hmac(override.get("secret", account.api_secret), timestamp + "GET/users/self/verify")}
    return await reply_to(ws, {"op": "login", "args": [args]})


def okx_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """Written from OKX's description, independently of the server's code."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts.extend(bids[i])
        if i < len(asks):
            parts.extend(asks[i])
    value = zlib.crc32(":".join(parts).encode())
    return value - 2**32 if value > 2**31 - 1 else value


class LocalBook:
    """A client's book from `books*` pushes: checks the seqId chain and the checksum of every message."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}
        self.seq_id: int | None = None
        self.messages = 0

    def apply(self, message: dict[str, Any]) -> None:
        (data,) = message["data"]
        if message["action"] == "snapshot":
            assert data["prevSeqId"] == -1
            self.bids.clear()
            self.asks.clear()
        else:
            assert self.seq_id is not None and data["prevSeqId"] == self.seq_id, "a break in the seqId chain"
            assert data["seqId"] > data["prevSeqId"]
        for side, rows in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for px, sz, liquidated, count in rows:
                assert liquidated == "0" and int(count) >= 0
                if Decimal(sz) == 0:
                    side.pop(Decimal(px), None)
                else:
                    assert int(count) > 0
                    side[Decimal(px)] = (px, sz)
        self.seq_id = data["seqId"]
        self.messages += 1
        assert len(self.bids) <= self.depth and len(self.asks) <= self.depth
        bids = [self.bids[p] for p in sorted(self.bids, reverse=True)]
        asks = [self.asks[p] for p in sorted(self.asks)]
        assert data["checksum"] == okx_checksum(bids, asks), f"checksum mismatch at seqId {self.seq_id}"

    def rows(self, unit: Decimal = Decimal(1)) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = [(p, Decimal(self.bids[p][1]) * unit) for p in sorted(self.bids, reverse=True)]
        asks = [(p, Decimal(self.asks[p][1]) * unit) for p in sorted(self.asks)]
        return bids, asks


# --- REST: public -----------------------------------------------------------------------------------------
async def test_instruments_map_every_market(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    okx = Okx(http, quiet)
    spot = await okx.get("/api/v5/public/instruments", instType="SPOT")
    swap = await okx.get("/api/v5/public/instruments", instType="SWAP")
    assert {i["instId"] for i in spot} == {"BTC-USDT", "ETH-USDT"}
    assert {i["instId"] for i in swap} == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}
    btc = next(i for i in spot if i["instId"] == SPOT)
    assert (btc["instType"], btc["baseCcy"], btc["quoteCcy"], btc["tickSz"], btc["lotSz"], btc["minSz"],
            btc["state"]) == ("SPOT", "BTC", "USDT", "0.01", "0.00001", "0.00001", "live")
    perp = next(i for i in swap if i["instId"] == SWAP)
    assert (perp["ctType"], perp["ctVal"], perp["ctValCcy"], perp["settleCcy"], perp["uly"], perp["lotSz"],
            perp["minSz"], perp["tickSz"]) == ("linear", "0.001", "BTC", "USDT", "BTC-USDT", "1", "1", "0.1")
    assert await okx.get("/api/v5/public/instruments", instType="FUTURES") == []
    assert [i["instId"] for i in await okx.get("/api/v5/public/instruments", instType="SWAP", instId=SWAP)] == [SWAP]
    status, reply = await okx.call("GET", "/api/v5/public/instruments")
    assert status == 400 and reply == {"code": "50014", "msg": "Parameter instType can not be empty.", "data": []}
    status, reply = await okx.call("GET", "/api/v5/public/instruments", {"instType": "spot"})
    assert status == 400 and reply["code"] == "51000"
    now = int(time.time() * 1000)
    (ts,) = await okx.get("/api/v5/public/time")
    assert abs(int(ts["ts"]) - now) < 5000


async def test_books_and_tickers_match_the_engine(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine, okx = quiet.exchange.engine, Okx(http, quiet)
    for i in range(3):
        rest_on_book(quiet, SPOT_SYMBOL, Side.BUY, f"{29990 - i}", "0.5")
        rest_on_book(quiet, SPOT_SYMBOL, Side.SELL, f"{30010 + i}", "0.25")
        rest_on_book(quiet, SWAP_SYMBOL, Side.SELL, f"{30010 + i}", "0.007")
    rest_on_book(quiet, SPOT_SYMBOL, Side.BUY, "29990", "0.1")  # two orders at one level
    (book,) = await okx.get("/api/v5/market/books", instId=SPOT, sz=2)
    assert set(book) == {"asks", "bids", "ts"}, "OKX's REST book has no seqId"
    assert book["bids"][0] == ["29990", "0.6", "0", "2"] and book["asks"][0] == ["30010", "0.25", "0", "1"]
    assert as_decimals(book["bids"]) == engine.book(SPOT_SYMBOL, 2).bids
    (book,) = await okx.get("/api/v5/market/books", instId=SWAP, sz=400)
    assert as_decimals(book["asks"]) == levels(engine.book(SWAP_SYMBOL).asks, SWAP_CT_VAL)
    assert book["asks"][0][1] == "7" and book["bids"] == []
    (book,) = await okx.get("/api/v5/market/books", instId=SPOT)
    assert len(book["bids"]) == 1, "OKX's default depth is one level"

    taker = quiet.exchange.trading_accounts[0].account_id
    engine.place_order(taker, SPOT_SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.3"))
    (ticker,) = await okx.get("/api/v5/market/ticker", instId=SPOT)
    assert (ticker["instType"], ticker["last"], ticker["lastSz"], ticker["askPx"], ticker["askSz"],
            ticker["bidPx"], ticker["bidSz"]) == ("SPOT", "30011", "0.05", "30011", "0.2", "29990", "0.6")
    assert Decimal(ticker["vol24h"]) == Decimal("0.3") and Decimal(ticker["volCcy24h"]) == Decimal("9003.05")
    tickers = await okx.get("/api/v5/market/tickers", instType="SWAP")
    assert {t["instId"] for t in tickers} == {SWAP, "ETH-USDT-SWAP"}
    trades = await okx.get("/api/v5/market/trades", instId=SPOT)
    assert [(t["px"], t["sz"], t["side"]) for t in trades] == [("30011", "0.05", "buy"), ("30010", "0.25", "buy")]
    status, reply = await okx.call("GET", "/api/v5/market/books", {"instId": "NOPE-USDT"})
    assert status == 400 and reply["code"] == "51001"
    status, reply = await okx.call("GET", "/api/v5/market/books", {"instId": SPOT, "sz": "-1"})
    assert status == 400 and reply["code"] == "51000"


async def test_funding_and_mark_price(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine, okx = quiet.exchange.engine, Okx(http, quiet)
    engine.set_mark_price(SWAP_SYMBOL, Decimal("30100.5"))
    engine.set_funding_rate(SWAP_SYMBOL, Decimal("0.00021"))
    (rate,) = await okx.get("/api/v5/public/funding-rate", instId=SWAP)
    info = engine.funding_info(SWAP_SYMBOL)
    interval = engine.markets[SWAP_SYMBOL].spec.funding_interval_ms
    assert (rate["instType"], rate["instId"], rate["fundingRate"], rate["nextFundingRate"], rate["method"]) == (
        "SWAP", SWAP, "0.00021", "", "current_period")
    assert int(rate["fundingTime"]) == info.next_funding_time_ms
    assert int(rate["nextFundingTime"]) == info.next_funding_time_ms + interval
    marks = await okx.get("/api/v5/public/mark-price", instType="SWAP", instId=SWAP)
    assert [(m["instId"], m["markPx"]) for m in marks] == [(SWAP, "30100.5")]
    assert len(await okx.get("/api/v5/public/mark-price", instType="SWAP")) == 2
    assert await okx.get("/api/v5/public/funding-rate-history", instId=SWAP) == []
    engine.trigger_funding(SWAP_SYMBOL)
    engine.set_funding_rate(SWAP_SYMBOL, Decimal("-0.0003"))
    engine.trigger_funding(SWAP_SYMBOL)
    history = await okx.get("/api/v5/public/funding-rate-history", instId=SWAP)
    assert [(h["fundingRate"], h["realizedRate"]) for h in history] == [("-0.0003", "-0.0003"), ("0.00021", "0.00021")]
    (rate,) = await okx.get("/api/v5/public/funding-rate", instId=SWAP)
    assert rate["settFundingRate"] == "-0.0003"
    for path, params in (("/api/v5/public/funding-rate", {"instId": SPOT}),
                         ("/api/v5/public/mark-price", {"instType": "SPOT"}),
                         ("/api/v5/public/funding-rate", {})):
        status, reply = await okx.call("GET", path, params)
        assert status == 400 and reply["code"] in ("51000", "50014"), (path, reply)


# --- REST: trading ----------------------------------------------------------------------------------------
async def test_spot_order_lifecycle(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine = quiet.exchange.engine
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    status, placed = await okx.post("/api/v5/trade/order", {
        "instId": SPOT, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.02", "px": "25000",
        "clOrdId": "lifecycle1"})
    assert status == 200 and placed["code"] == "0" and {"inTime", "outTime"} <= placed.keys()
    (row,) = placed["data"]
    assert (row["clOrdId"], row["sCode"], row["sMsg"]) == ("lifecycle1", "0", "Order placed")
    order_id = int(row["ordId"])
    assert engine.order_by_id(order_id).client_order_id == "lifecycle1"

    (order,) = await okx.get("/api/v5/trade/order", instId=SPOT, ordId=order_id)
    assert (order["state"], order["ordType"], order["side"], order["px"], order["sz"], order["accFillSz"],
            order["tdMode"], order["clOrdId"], order["avgPx"], order["fee"]) == (
        "live", "limit", "buy", "25000", "0.02", "0", "cash", "lifecycle1", "", "0")
    pending = await okx.get("/api/v5/trade/orders-pending", instType="SPOT")
    assert [p["ordId"] for p in pending] == [str(order_id)]
    (balance,) = await okx.get("/api/v5/account/balance", ccy="USDT")
    (usdt,) = balance["details"]
    truth = engine.balances(account.account_id)["USDT"]
    assert (Decimal(usdt["availBal"]), Decimal(usdt["frozenBal"]), Decimal(usdt["cashBal"])) == (
        truth.free, truth.locked, truth.total) and truth.locked == Decimal(500)

    # a counterparty sells into it: half fills
    counterparty = quiet.exchange.trading_accounts[1].account_id
    engine.place_order(counterparty, SPOT_SYMBOL, Side.SELL, OrderType.MARKET, Decimal("0.01"))
    (order,) = await okx.get("/api/v5/trade/order", instId=SPOT, clOrdId="lifecycle1")
    assert (order["state"], order["accFillSz"], order["fillSz"], order["fillPx"], order["avgPx"]) == (
        "partially_filled", "0.01", "0.01", "25000", "25000")
    assert Decimal(order["fee"]) == -Decimal("0.00001") and order["feeCcy"] == "BTC"
    (fill,) = await okx.get("/api/v5/trade/fills", instId=SPOT)
    assert (fill["ordId"], fill["clOrdId"], fill["fillSz"], fill["execType"], fill["side"]) == (
        str(order_id), "lifecycle1", "0.01", "M", "buy")

    status, canceled = await okx.post("/api/v5/trade/cancel-order", {"instId": SPOT, "clOrdId": "lifecycle1"})
    assert status == 200 and canceled["code"] == "0"
    assert (canceled["data"][0]["ordId"], canceled["data"][0]["sCode"]) == (str(order_id), "0")
    (order,) = await okx.get("/api/v5/trade/order", instId=SPOT, ordId=order_id)
    assert order["state"] == "canceled" and await okx.get("/api/v5/trade/orders-pending") == []
    (finished,) = await okx.get("/api/v5/trade/orders-history", instType="SPOT")
    assert finished["ordId"] == str(order_id)
    status, again = await okx.post("/api/v5/trade/cancel-order", {"instId": SPOT, "ordId": str(order_id)})
    assert status == 200 and again["code"] == "1" and again["data"][0]["sCode"] == "51400"

    # without clOrdId OKX shows ""; the engine's own id never leaks
    status, placed = await okx.post("/api/v5/trade/order", {
        "instId": SPOT, "tdMode": "cash", "side": "sell", "ordType": "post_only", "sz": "0.001", "px": "31000"})
    assert placed["data"][0]["clOrdId"] == ""
    (order,) = await okx.get("/api/v5/trade/order", instId=SPOT, ordId=placed["data"][0]["ordId"])
    assert order["clOrdId"] == "" and order["ordType"] == "post_only"


async def test_rejections_use_okx_codes(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    base = {"instId": SPOT, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "25000"}
    rest_on_book(quiet, SPOT_SYMBOL, Side.SELL, "30000", "1")

    async def per_order(body: dict[str, Any]) -> str:
        status, reply = await okx.post("/api/v5/trade/order", body)
        assert status == 200 and reply["code"] == "1" and reply["msg"] == "All operations failed", reply
        (row,) = reply["data"]
        assert row["ordId"] == "" and row["sMsg"]
        return str(row["sCode"])

    assert await per_order({**base, "sz": "1000"}) == "51008"
    status, first = await okx.post("/api/v5/trade/order", {**base, "clOrdId": "dup1"})
    assert status == 200 and first["code"] == "0"
    assert await per_order({**base, "clOrdId": "dup1"}) == "51016"
    assert await per_order({**base, "sz": "0.000011"}) == "51121"
    assert await per_order({**base, "sz": "0.00001"}) == "51020"
    assert await per_order({**base, "px": "25000.001"}) == "51000"
    assert await per_order({**base, "ordType": "post_only", "px": "30000"}) == "51000"
    assert await per_order({**base, "tdMode": "cross"}) == "51010"
    swap = {"instId": SWAP, "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "1", "reduceOnly": True}
    assert await per_order(swap) == "51169"

    async def refused(body: Any = None, raw: str | None = None, path: str = "/api/v5/trade/order") -> str:
        status, reply = await okx.call("POST", path, body=body, raw_body=raw)
        assert status == 400 and reply["data"] == [], reply
        return str(reply["code"])

    assert await refused({**base, "sz": "abc"}) == "51000"
    assert await refused({**base, "sz": -1}) == "51000"
    assert await refused({k: v for k, v in base.items() if k != "px"}) == "50014"
    assert await refused({**base, "side": "BUY"}) == "51000"
    assert await refused({**base, "ordType": "optimal_limit_ioc"}) == "51000"
    assert await refused({**base, "instId": "DOGE-USDT"}) == "51001"
    assert await refused({**base, "clOrdId": "no_underscores"}) == "51000"
    assert await refused({**base, "instId": SWAP, "tdMode": "cash"}) == "51000"
    assert await refused({**base, "posSide": "long", "instId": SWAP, "tdMode": "cross"}) == "51000"
    assert await refused(raw="{not json") == "50002"
    assert await refused(raw="") == "50000"
    assert await refused(raw="[1, 2]") == "50002"
    assert await refused({"instId": SPOT}, path="/api/v5/trade/cancel-order") == "50015"
    assert await refused({"instId": SPOT, "ordId": "x1"}, path="/api/v5/trade/cancel-order") == "51000"
    status, reply = await okx.call("GET", "/api/v5/trade/order", {"instId": SPOT, "ordId": "999999"})
    assert (status, reply) == (200, {"code": "51603", "msg": "Order does not exist", "data": []})

    status, batch = await okx.post("/api/v5/trade/batch-orders", [
        {**base, "clOrdId": "batchok"}, {**base, "sz": "1000"}, {**base, "sz": "x"}, "not an order"])
    assert status == 200 and batch["code"] == "2"
    assert [row["sCode"] for row in batch["data"]] == ["0", "51008", "51000", "50002"]
    assert batch["data"][0]["clOrdId"] == "batchok" and batch["data"][1]["clOrdId"] == ""


async def test_swap_trading_positions_and_leverage(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine = quiet.exchange.engine
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    status, reply = await okx.post("/api/v5/account/set-leverage", {"instId": SWAP, "lever": "10", "mgnMode": "cross"})
    assert status == 200 and reply["data"] == [{"lever": "10", "mgnMode": "cross", "instId": SWAP, "posSide": ""}]
    for lever, code in (("500", "59102"), ("0", "51000"), ("2.5", "51000")):
        status, reply = await okx.post("/api/v5/account/set-leverage",
                                       {"instId": SWAP, "lever": lever, "mgnMode": "cross"})
        assert reply["code"] == code and status == (200 if code == "59102" else 400), reply
    rest_on_book(quiet, SWAP_SYMBOL, Side.SELL, "30000", "0.02")
    status, placed = await okx.post("/api/v5/trade/order", {
        "instId": SWAP, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "20", "clOrdId": "open1"})
    assert status == 200 and placed["code"] == "0", placed
    truth = engine.position(account.account_id, SWAP_SYMBOL)
    assert truth.qty == Decimal("0.02") and truth.leverage == 10
    (pos,) = await okx.get("/api/v5/account/positions", instType="SWAP")
    assert (pos["instId"], pos["pos"], pos["posSide"], pos["mgnMode"], pos["avgPx"], pos["lever"]) == (
        SWAP, "20", "net", "cross", "30000", "10")
    assert Decimal(pos["imr"]) == truth.margin and Decimal(pos["upl"]) == truth.unrealized_pnl
    assert Decimal(pos["fee"]) == -Decimal("0.3")  # 600 USDT notional at the 0.05% taker fee
    (order,) = await okx.get("/api/v5/trade/order", instId=SWAP, clOrdId="open1")
    assert (order["state"], order["sz"], order["accFillSz"], order["px"], order["lever"], order["posSide"]) == (
        "filled", "20", "20", "", "10", "net")
    (fill,) = await okx.get("/api/v5/trade/fills", instType="SWAP")
    assert (fill["fillSz"], fill["execType"], fill["fee"]) == ("20", "T", "-0.3")

    status, closed = await okx.post("/api/v5/trade/order", {
        "instId": SWAP, "tdMode": "cross", "side": "sell", "ordType": "limit", "sz": "20", "px": "31000",
        "reduceOnly": "true"})
    assert closed["code"] == "0"
    engine.place_order(quiet.exchange.trading_accounts[1].account_id, SWAP_SYMBOL, Side.BUY, OrderType.MARKET,
                       Decimal("0.02"))
    assert await okx.get("/api/v5/account/positions") == []
    (order,) = await okx.get("/api/v5/trade/order", instId=SWAP, ordId=closed["data"][0]["ordId"])
    assert (order["state"], order["reduceOnly"], order["pnl"]) == ("filled", "true", "20")
    (config,) = await okx.get("/api/v5/account/config")
    assert config["posMode"] == "net_mode" and config["uid"] == str(account.account_id)
    currencies = await okx.get("/api/v5/asset/currencies")
    assert {c["ccy"] for c in currencies} == {"BTC", "USDT", "ETH"}


async def test_quote_sized_market_buy(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    """OKX's spot market buy is sized in quote currency unless tgtCcy says base_ccy."""
    engine = quiet.exchange.engine
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    rest_on_book(quiet, SPOT_SYMBOL, Side.SELL, "30000", "0.01")
    rest_on_book(quiet, SPOT_SYMBOL, Side.SELL, "30010", "1")
    status, placed = await okx.post("/api/v5/trade/order", {
        "instId": SPOT, "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "600.2"})
    assert status == 200 and placed["code"] == "0", placed
    order_id = int(placed["data"][0]["ordId"])
    assert engine.order_by_id(order_id).filled_qty == Decimal("0.02")  # 300 at 30000, 300.1 buys 0.01 at 30010
    (order,) = await okx.get("/api/v5/trade/order", instId=SPOT, ordId=order_id)
    assert (order["sz"], order["tgtCcy"], order["accFillSz"], order["state"], order["ordType"]) == (
        "600.2", "quote_ccy", "0.02", "filled", "market")
    status, placed = await okx.post("/api/v5/trade/order", {
        "instId": SPOT, "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "0.5", "tgtCcy": "base_ccy"})
    assert engine.order_by_id(int(placed["data"][0]["ordId"])).filled_qty == Decimal("0.5")


async def test_auth_failures(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    path = "/api/v5/account/balance"
    now = int(time.time() * 1000)
    cases: list[tuple[dict[str, str], str]] = [
        ({"secret": "wrong-secret"}, "50113"),
        ({"timestamp": iso(now - 60_000)}, "50102"),
        ({"timestamp": iso(now + 60_000)}, "50102"),
        ({"timestamp": str(now)}, "50112"),
        ({"OK-ACCESS-KEY": "A" * 64}, "50111"),
        ({"OK-ACCESS-PASSPHRASE": "not-the-passphrase"}, "50105"),
        ({"OK-ACCESS-KEY": ""}, "50103"),
        ({"OK-ACCESS-PASSPHRASE": ""}, "50104"),
        ({"OK-ACCESS-SIGN": ""}, "50106"),
    ]
    for override, code in cases:
        status, reply = await okx.call("GET", path, **override)
        assert (status, reply["code"], reply["data"]) == (401, code, []), (override, reply)
    fees = quiet.exchange.engine.accounts[0]
    status, reply = await Okx(http, quiet, fees).call("GET", path)
    assert (status, reply["code"]) == (401, "50111"), "the fee account is no API user"
    status, reply = await okx.call("GET", path, signed=False)
    assert (status, reply["code"]) == (401, "50103")
    # the signature covers the query string and the body exactly as sent
    status, reply = await okx.call("GET", path, {"ccy": "BTC"})
    assert status == 200 and [d["ccy"] for d in reply["data"][0]["details"]] == ["BTC"]
    body = '{"instId":"BTC-USDT","ordId":"1"}'
    headers = okx.headers("POST", "/api/v5/trade/cancel-order", body)
    async with http.post(quiet.base_url + "/api/v5/trade/cancel-order", data=body.replace(":", ": "),
                         headers=headers) as response:
        assert response.status == 401 and (await response.json())["code"] == "50113"


async def test_rate_limit_and_fault_hooks(http: aiohttp.ClientSession) -> None:
    """The REST limit (a still clock keeps every request in one 2 s window), the dialect's fault-layer
    answers, and the snapshot / cancel hooks."""
    clock = VirtualClock(start_us=time.time_ns() // 1000)  # still, but near the real time signatures carry
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None), clock=clock),
                                  dialects=["okx"]) as server:
        okx = Okx(http, server)
        for _ in range(10):
            await okx.get("/api/v5/public/time")
        status, reply = await okx.call("GET", "/api/v5/public/time")
        assert (status, reply["code"]) == (429, "50011")
        clock.advance_ms(2000)
        await okx.get("/api/v5/public/time")

        (dialect,) = server.app[DIALECTS_KEY]
        assert isinstance(dialect, OkxDialect)
        routes = {(r.method, r.resource.canonical) for r in server.app.router.routes() if r.resource is not None}
        for role in ("create", "cancel", "snapshot"):
            assert set(dialect.rest_roles[role]) <= routes, role
        assert dialect.rest_roles["create"][0] == ("POST", "/api/v5/trade/order")
        expected = {"rate_limit": (429, "50011"), "ban": (429, "50011"), "server_error": (503, "50001"),
                    "unknown_status": (400, "50004")}
        for kind, (code_status, code) in expected.items():
            response = dialect.rest_error(kind, 7)
            assert response.text is not None
            assert (response.status, json.loads(response.text)["code"]) == (code_status, code), kind
        assert "does not mean that the request was successful" in str(dialect.rest_error("unknown_status", 1).text)
        assert dialect.rest_error("rate_limit", 7).headers["Retry-After"] == "7"
        with pytest.raises(ValueError):
            dialect.rest_error("frobnicate", 1)

        # a stale snapshot from the fault layer: REST books and the WS snapshot both serve the old book
        engine = server.exchange.engine
        rest_on_book(server, SPOT_SYMBOL, Side.BUY, "29000", "1")
        old = engine.last_update_id(SPOT_SYMBOL)
        rest_on_book(server, SPOT_SYMBOL, Side.BUY, "29500", "1")
        faults = server.exchange.faults
        original = faults.snapshot_update_id
        faults.snapshot_update_id = lambda symbol, levels=None: old if symbol == SPOT_SYMBOL else None  # type: ignore[method-assign]
        cancels: list[tuple[str, int, int]] = []
        faults.before_cancel = lambda s, a, o: cancels.append((s, a, o))  # type: ignore[method-assign]
        try:
            (book,) = await okx.get("/api/v5/market/books", instId=SPOT, sz=5)
            assert [b[0] for b in book["bids"]] == ["29000"]
            async with http.ws_connect(server.ws_url + "/ws/v5/public") as ws:
                await reply_to(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": SPOT}]})
                snapshot = await receive(ws)
                assert snapshot["action"] == "snapshot" and snapshot["data"][0]["seqId"] == old
                rest_on_book(server, SPOT_SYMBOL, Side.BUY, "29600", "1")
                update = await receive(ws)
                assert update["data"][0]["prevSeqId"] == old + 1 != snapshot["data"][0]["seqId"]
        finally:
            faults.snapshot_update_id = original  # type: ignore[method-assign]
        account = server.exchange.trading_accounts[0]
        trader = Okx(http, server, account)
        status, placed = await trader.post("/api/v5/trade/order", {
            "instId": SPOT, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "20000"})
        order_id = int(placed["data"][0]["ordId"])
        status, _ = await trader.post("/api/v5/trade/cancel-order", {"instId": SPOT, "ordId": str(order_id)})
        assert cancels == [(SPOT_SYMBOL, account.account_id, order_id)]


# --- WebSocket: books -------------------------------------------------------------------------------------
async def test_books_stream_chains_seq_ids_and_checksums(busy: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine = busy.exchange.engine
    books = {SPOT: LocalBook(400), SWAP: LocalBook(400)}
    async with http.ws_connect(busy.ws_url + "/ws/v5/public") as ws:
        ack = await reply_to(ws, {"id": "b1", "op": "subscribe", "args": [
            {"channel": "books", "instId": SPOT}, {"channel": "books-l2-tbt", "instId": SWAP}]})
        assert ack["id"] == "b1" and ack["event"] == "subscribe" and re.fullmatch(r"[0-9a-f]{8}", ack["connId"])
        while min(b.messages for b in books.values()) < 300:
            message = await receive(ws)
            if "data" in message:
                books[message["arg"]["instId"]].apply(message)
        busy.exchange.pause_flow()
        for inst_id, symbol in ((SPOT, SPOT_SYMBOL), (SWAP, SWAP_SYMBOL)):
            while books[inst_id].seq_id != engine.last_update_id(symbol):
                message = await receive(ws)
                if "data" in message:
                    books[message["arg"]["instId"]].apply(message)
    spot_bids, spot_asks = books[SPOT].rows()
    truth = engine.book(SPOT_SYMBOL)
    assert (spot_bids, spot_asks) == (truth.bids, truth.asks) and len(truth.bids) > 50
    swap_bids, swap_asks = books[SWAP].rows(SWAP_CT_VAL)
    truth = engine.book(SWAP_SYMBOL)
    assert (swap_bids, swap_asks) == (truth.bids, truth.asks)


async def test_depth_limited_channel_shows_exactly_the_top_50(
    busy: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    """`books50-l2-tbt` over a 100-level book: levels entering and leaving the top 50 are sent as such."""
    engine = busy.exchange.engine
    book = LocalBook(50)
    async with http.ws_connect(busy.ws_url + "/ws/v5/public") as ws:
        await reply_to(ws, {"op": "subscribe", "args": [{"channel": "books50-l2-tbt", "instId": SPOT}]})
        while book.messages < 400:
            book.apply(await receive(ws))
        assert len(book.bids) == 50 == len(book.asks)
        # a resubscription starts over from a new snapshot
        await reply_to(ws, {"op": "unsubscribe", "args": [{"channel": "books50-l2-tbt", "instId": SPOT}]})
        await reply_to(ws, {"op": "subscribe", "args": [{"channel": "books50-l2-tbt", "instId": SPOT}]})
        while True:
            message = await receive(ws)
            if message.get("action") == "snapshot":
                break
        book.apply(message)
        while book.messages < 500:
            book.apply(await receive(ws))
        busy.exchange.pause_flow()
        while book.seq_id != engine.last_update_id(SPOT_SYMBOL):
            book.apply(await receive(ws))
    truth = engine.book(SPOT_SYMBOL, 50)
    assert book.rows() == (truth.bids, truth.asks)


def test_book_views_track_every_depth_exactly() -> None:
    """The incremental views behind the depth-limited channels, over a seeded flow whose book hovers around
    the depths: after every delta each view equals the engine's top N and the checksum its top 25."""
    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=12, rate_per_s=1)),
                            clock=VirtualClock())
    engine = exchange.engine
    inst = instrument_table(engine)[SPOT]
    views = BookViews(engine)
    depths = {3, 12, 50}
    local: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    checked = 0

    def on_event(event: object) -> None:
        nonlocal checked
        if not isinstance(event, BookDelta) or event.symbol != SPOT_SYMBOL:
            return
        if not local:  # the views start from the book before their first delta, as a snapshot would
            for depth in depths:
                past = engine.book_at(SPOT_SYMBOL, event.first_update_id - 1, depth)
                local[depth] = (dict(to_lots(inst, past.bids)), dict(to_lots(inst, past.asks)))
        shown, check = views.apply(event, inst, depths)
        for depth, (bids, asks) in shown.items():
            if depth not in depths:
                continue
            for side, changes in zip(local[depth], (bids, asks), strict=True):
                for ticks, lots in changes:
                    if lots:
                        side[ticks] = lots
                    else:
                        assert side.pop(ticks, None) is not None, "a deletion of a level not shown"
            truth = engine.book(SPOT_SYMBOL, depth)
            assert sorted(local[depth][0].items(), reverse=True) == to_lots(inst, truth.bids), depth
            assert sorted(local[depth][1].items()) == to_lots(inst, truth.asks), depth
        top = engine.book(SPOT_SYMBOL, 25)
        assert check == okx_checksum([(fmt(p), fmt(q)) for p, q in top.bids], [(fmt(p), fmt(q)) for p, q in top.asks])
        checked += 1

    engine.subscribe(on_event)
    flow = exchange.flows[SPOT_SYMBOL]
    for _ in range(3000):
        flow.step()
    assert checked > 2500


async def test_checksum_can_be_switched_off(http: aiohttp.ClientSession) -> None:
    """OKX announced `checksum` is always 0 on its books channels from 2026-06-23; the chain still holds."""
    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=None))
    async with MockExchangeServer(exchange, dialects=[OkxDialect(checksum=False)]) as server:
        rest_on_book(server, SPOT_SYMBOL, Side.BUY, "29000", "1")
        async with http.ws_connect(server.ws_url + "/ws/v5/public") as ws:
            await reply_to(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": SPOT}]})
            snapshot = await receive(ws)
            rest_on_book(server, SPOT_SYMBOL, Side.BUY, "29001", "1")
            update = await receive(ws)
    assert snapshot["data"][0]["checksum"] == 0 == update["data"][0]["checksum"]
    assert update["data"][0]["prevSeqId"] == snapshot["data"][0]["seqId"]
    assert update["data"][0]["bids"] == [["29001", "1", "0", "1"]]


async def test_public_pushes_trades_tickers_mark_and_funding(
    quiet: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet.exchange.engine
    rest_on_book(quiet, SPOT_SYMBOL, Side.SELL, "30000", "1")
    rest_on_book(quiet, SPOT_SYMBOL, Side.BUY, "29999", "2")
    async with http.ws_connect(quiet.ws_url + "/ws/v5/public") as ws:
        for arg in ({"channel": "trades", "instId": SPOT}, {"channel": "funding-rate", "instId": SWAP},
                    {"channel": "mark-price", "instId": SWAP}, {"channel": "tickers", "instId": SPOT}):
            assert (await reply_to(ws, {"op": "subscribe", "args": [arg]}))["arg"] == arg
        first = await next_push(ws, "tickers")  # pushed right after the ack
        assert (first["bidPx"], first["askPx"], first["askSz"]) == ("29999", "30000", "1")
        taker = quiet.exchange.trading_accounts[0].account_id
        engine.place_order(taker, SPOT_SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.25"))
        trade = await next_push(ws, "trades")
        assert (trade["instId"], trade["px"], trade["sz"], trade["side"]) == (SPOT, "30000", "0.25", "buy")
        ticker = await next_push(ws, "tickers", lambda t: t["askSz"] == "0.75")
        assert (ticker["last"], ticker["lastSz"]) == ("30000", "0.25")
        engine.set_funding_rate(SWAP_SYMBOL, Decimal("0.00042"))
        funding = await next_push(ws, "funding-rate", lambda f: f["fundingRate"] == "0.00042")
        info = engine.funding_info(SWAP_SYMBOL)
        assert (funding["instId"], funding["fundingTime"], funding["nextFundingRate"]) == (
            SWAP, str(info.next_funding_time_ms), "")
        assert int(funding["nextFundingTime"]) > int(funding["fundingTime"])
        engine.set_mark_price(SWAP_SYMBOL, Decimal("31234.5"))
        mark = await next_push(ws, "mark-price", lambda m: m["markPx"] == "31234.5")
        assert mark["instType"] == "SWAP"
        # swap-only channels refuse spot instruments; private channels are not on the public URL
        for arg in ({"channel": "funding-rate", "instId": SPOT}, {"channel": "orders", "instType": "ANY"}):
            error = await reply_to(ws, {"op": "subscribe", "args": [arg]})
            assert (error["event"], error["code"]) == ("error", "60018")


# --- WebSocket: private -----------------------------------------------------------------------------------
async def test_private_stream_sees_order_ack_fill_account_and_positions(
    quiet: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet.exchange.engine
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    async with http.ws_connect(quiet.ws_url + "/ws/v5/private") as ws:
        refused = await reply_to(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]})
        assert (refused["event"], refused["code"]) == ("error", "60011")
        logged = await login(ws, account)
        assert (logged["event"], logged["code"]) == ("login", "0")
        uid = str(account.account_id)
        args = [{"channel": "orders", "instType": "ANY"}, {"channel": "account", "ccy": "USDT"},
                {"channel": "positions", "instType": "SWAP"}]
        await ws.send_json({"id": "s1", "op": "subscribe", "args": args})
        replies = [await receive(ws) for _ in range(5)]  # three acks; account and positions send their state
        assert [(r.get("event"), r["arg"]) for r in replies] == [
            ("subscribe", args[0]), ("subscribe", args[1]), (None, {**args[1], "uid": uid}),
            ("subscribe", args[2]), (None, {**args[2], "uid": uid})]
        assert [d["ccy"] for d in replies[2]["data"][0]["details"]] == ["USDT"] and replies[4]["data"] == []
        assert replies[0]["id"] == "s1"

        _, placed = await okx.post("/api/v5/trade/order", {
            "instId": SWAP, "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "5", "px": "30000",
            "clOrdId": "ws1"})
        assert placed["code"] == "0"
        ack = await next_push(ws, "orders")
        assert (ack["clOrdId"], ack["state"], ack["sz"], ack["fillSz"], ack["instType"], ack["ordId"]) == (
            "ws1", "live", "5", "0", "SWAP", placed["data"][0]["ordId"])
        locked = await next_push(ws, "account")
        assert Decimal(locked["details"][0]["frozenBal"]) == engine.balances(account.account_id)["USDT"].locked > 0

        counterparty = quiet.exchange.trading_accounts[1].account_id
        engine.place_order(counterparty, SWAP_SYMBOL, Side.SELL, OrderType.MARKET, Decimal("0.005"))
        fill = await next_push(ws, "orders")
        assert (fill["state"], fill["fillSz"], fill["fillPx"], fill["accFillSz"], fill["execType"]) == (
            "filled", "5", "30000", "5", "M")
        assert Decimal(fill["fillFee"]) == -Decimal("0.03") and fill["tradeId"] != ""
        after = await next_push(ws, "account")  # balance updates come before position updates
        truth = engine.balances(account.account_id)["USDT"]
        assert Decimal(after["details"][0]["cashBal"]) == truth.total
        pos = await next_push(ws, "positions")
        assert (pos["instId"], pos["pos"], pos["avgPx"]) == (SWAP, "5", "30000")


async def test_private_login_failures(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = quiet.exchange.trading_accounts[0]
    async with http.ws_connect(quiet.ws_url + "/ws/v5/private") as ws:
        cases = [({"secret": "nope"}, "60007"), ({"passphrase": "nope"}, "60024"),
                 ({"timestamp": str(int(time.time()) - 120)}, "60006"), ({"timestamp": "soon"}, "60004")]
        for override, code in cases:
            error = await login(ws, account, **override)
            assert (error["event"], error["code"]) == ("error", code), override
        stranger = Account(99, "x", "B" * 64, "s" * 64)
        assert (await login(ws, stranger))["code"] == "60005"
        assert (await reply_to(ws, {"op": "login", "args": [{"apiKey": 1}]}))["code"] == "60013"
        assert (await login(ws, account))["code"] == "0"
        assert (await login(ws, quiet.exchange.trading_accounts[1]))["code"] == "60021"
        for arg in ({"channel": "orders"}, {"channel": "orders", "instType": "SPOT", "instId": SWAP},
                    {"channel": "positions", "instType": "SPOT"}, {"channel": "books", "instId": SPOT}):
            assert (await reply_to(ws, {"op": "subscribe", "args": [arg]}))["code"] == "60018", arg


async def test_funding_payment_pushes_positions_and_account(
    quiet: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet.exchange.engine
    account = quiet.exchange.trading_accounts[0]
    rest_on_book(quiet, SWAP_SYMBOL, Side.SELL, "30000", "0.01")
    engine.place_order(account.account_id, SWAP_SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.01"))
    engine.set_mark_price(SWAP_SYMBOL, Decimal("30000"))
    engine.set_funding_rate(SWAP_SYMBOL, Decimal("0.001"))
    async with http.ws_connect(quiet.ws_url + "/ws/v5/private") as ws:
        await login(ws, account)
        await reply_to(ws, {"op": "subscribe", "args": [{"channel": "positions", "instType": "ANY"}]})
        (initial,) = (await receive(ws))["data"]
        assert (initial["pos"], initial["fundingFee"]) == ("10", "0")
        await reply_to(ws, {"op": "subscribe", "args": [{"channel": "account"}]})
        await receive(ws)  # the account snapshot
        before = engine.balances(account.account_id)["USDT"].total
        engine.trigger_funding(SWAP_SYMBOL)
        pos = await next_push(ws, "positions")
        assert Decimal(pos["fundingFee"]) == Decimal("-0.3")  # 0.01 BTC x 30000 x 0.1%, paid by the long
        assert Decimal(pos["realizedPnl"]) == Decimal(pos["fee"]) + Decimal("-0.3")
        balance = await next_push(ws, "account")
        assert Decimal(balance["details"][0]["cashBal"]) == before - Decimal("0.3")


# --- bad input, hooks, serve --------------------------------------------------------------------------------
async def test_websocket_bad_input_never_crashes(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(quiet.ws_url + "/ws/v5/public") as ws:
        await ws.send_str("ping")
        assert await receive(ws) == "pong"
        garbage = ["{not json", "[]", "null", '"op"', '{"op": "subscribe"}', '{"op": "subscribe", "args": []}',
                   '{"op": "subscribe", "args": "books"}', '{"op": "subscribe", "args": [1]}',
                   '{"op": 5, "args": [{}]}', '{"op": "frobnicate", "args": [{}]}',
                   '{"op": "subscribe", "args": [{"channel": "nope", "instId": "BTC-USDT"}]}',
                   '{"op": "subscribe", "args": [{"channel": "books", "instId": "NOPE"}]}',
                   '{"op": "subscribe", "args": [{"channel": ["books"]}]}', "[" * 5000 + "]" * 5000,
                   '{"op": "login", "args": [null]}', '{"op": "unsubscribe", "args": [{"channel": "books"}]}']
        codes = []
        for text in garbage:
            await ws.send_str(text)
            message = await receive(ws)
            assert message["event"] == "error" and message["msg"], text
            codes.append(message["code"])
        assert set(codes) <= {"60012", "60013", "60018", "60019"} and {"60012", "60018", "60019"} <= set(codes)
        await ws.send_bytes(b"\x00\x01")
        assert (await receive(ws))["code"] == "60012"
        rng = random.Random(SEED)
        for _ in range(100):
            await ws.send_str("".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(1, 80))))
            message = await receive(ws)
            assert message == "pong" or message["event"] == "error"
        ack = await reply_to(ws, {"op": "subscribe", "args": [{"channel": "trades", "instId": SPOT}]})
        assert ack["event"] == "subscribe"
    await Okx(http, quiet).get("/api/v5/public/time")


async def test_rest_fuzz_never_answers_500(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    """Seeded random parameters and bodies on every route: always a 2xx/4xx with an OKX body."""
    rng = random.Random(SEED)
    account = quiet.exchange.trading_accounts[0]
    okx = Okx(http, quiet, account)
    routes = [(r.method, r.resource.canonical) for r in quiet.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v5/") and r.method in ("GET", "POST")]
    names = ["instId", "instType", "sz", "px", "side", "ordType", "tdMode", "clOrdId", "ordId", "lever", "mgnMode",
             "ccy", "limit", "after", "before", "reduceOnly", "tgtCcy", "posSide", "state", "tag"]
    values: list[Any] = ["BTC-USDT", "BTC-USDT-SWAP", "SPOT", "SWAP", "ANY", "buy", "sell", "limit", "market",
                         "post_only", "cash", "cross", "0", "-1", "1e5", "NaN", "0.01", "30000", "", None, True, 1.5,
                         10**30, [], {}, "x" * 300, "\u00e9\u0000", "99999999999999999999"]
    for _ in range(300):
        method, path = rng.choice(routes)
        params = {rng.choice(names): rng.choice(values) for _ in range(rng.randrange(0, 6))}
        # the endpoint wrapper reads the rate-limit window from the engine clock: spread requests over routes
        if method == "GET":
            query = {k: v for k, v in params.items() if isinstance(v, str)}
            status, reply = await okx.call("GET", path, query)
        else:
            body: Any = rng.choice([params, [params], params, "raw"])
            raw = rng.choice(["{", "", "[]", "nul", '{"a":' * 50]) if body == "raw" else None
            status, reply = await okx.call("POST", path, body=None if raw is not None else body, raw_body=raw)
        assert status < 500 and isinstance(reply["code"], str) and isinstance(reply["data"], list), (path, reply)
    status, _ = await okx.call("GET", "/api/v5/public/time")
    assert status in (200, 429)


async def test_the_fault_layer_acts_on_okx_frames_and_routes(http: aiohttp.ClientSession) -> None:
    """Through the real fault layer: a dropped books frame breaks the seqId chain, TERMINATE is OKX's notice
    then a close, and an order created under UNKNOWN_STATUS exists although the answer is 50004."""
    from mock_exchanges.faults import FaultKind, FaultRule, Schedule

    schedule = Schedule(seed=1, rules=[FaultRule(FaultKind.DROP, channel="depth", at_message=20),
                                       FaultRule(FaultKind.TERMINATE, channel="depth", at_message=40),
                                       FaultRule(FaultKind.UNKNOWN_STATUS, role="create")])
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=50, rate_per_s=400), faults=schedule)
    async with MockExchangeServer(MockExchange(config), dialects=["okx"]) as server:
        book = LocalBook(400)
        async with http.ws_connect(server.ws_url + "/ws/v5/public") as ws:
            await reply_to(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": SPOT}]})
            with pytest.raises(AssertionError, match="seqId chain"):
                while True:
                    book.apply(await receive(ws))
            assert book.messages == 20  # the snapshot and 19 updates; the 20th update was dropped
            while True:
                message = await receive(ws)
                if "event" in message:
                    break
            assert (message["event"], message["code"]) == ("notice", "64008")
            assert (await ws.receive(timeout=RECEIVE_TIMEOUT)).type in (aiohttp.WSMsgType.CLOSE,
                                                                         aiohttp.WSMsgType.CLOSED)
        account = server.exchange.trading_accounts[0]
        status, reply = await Okx(http, server, account).post("/api/v5/trade/order", {
            "instId": SPOT, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "20000",
            "clOrdId": "unknown1"})
        assert (status, reply["code"]) == (400, "50004")
        assert server.exchange.engine.order(account.account_id, SPOT_SYMBOL, client_order_id="unknown1")


async def test_connection_hooks_notice_then_close(quiet: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(quiet.ws_url + "/ws/v5/public") as ws:
        await reply_to(ws, {"op": "subscribe", "args": [{"channel": "trades", "instId": SPOT}]})
        (conn,) = quiet.exchange.connections.values()
        assert conn.unknown_event is not None and conn.terminate is not None
        unknown = json.loads(conn.unknown_event())
        assert unknown["arg"]["channel"] not in ("books", "trades", "tickers") and unknown["data"]
        conn.terminate()
        notice = await receive(ws)
        assert (notice["event"], notice["code"]) == ("notice", "64008")
        closing = await ws.receive(timeout=RECEIVE_TIMEOUT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    await wait_for(lambda: not quiet.exchange.connections)


async def test_serve_prints_the_okx_passphrase(http: aiohttp.ClientSession) -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(["okx"], "127.0.0.1", 0, 7, quiet=True, rate=0, levels=10, accounts=1,
                                     out=out, stop=stop))
    try:
        await wait_for(lambda: "serving" in out.getvalue())
        text = out.getvalue()
        key = re.search(r"api key\s+(\S+)", text)
        phrase = re.search(r"passphrase\s+(\S+)", text)
        rest_url = re.search(r"OKX REST\s+(\S+)", text)
        assert key and phrase and rest_url and "OKX WS private" in text
        assert phrase.group(1) == passphrase_for(7, key.group(1))
        async with http.get(rest_url.group(1) + "/public/time") as response:
            assert response.status == 200
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0


def test_passphrases_are_seeded_and_per_account() -> None:
    assert passphrase_for(1, "key-a") == passphrase_for(1, "key-a")
    assert len({passphrase_for(1, "key-a"), passphrase_for(2, "key-a"), passphrase_for(1, "key-b")}) == 3
    with pytest.raises(RuntimeError):
        OkxDialect().accounts_info()


# --- ccxt as a real client ----------------------------------------------------------------------------------
def ccxt_client(cls: Callable[[dict[str, Any]], Any], server: MockExchangeServer, account: Account) -> Any:
    """ccxt okx unmodified: only `urls['api']` points at the server (REST base and WS base `/ws/v5`)."""
    client = cls({"apiKey": account.api_key, "secret": account.api_secret,
                  "password": passphrase_for(SEED, account.api_key),
                  "options": {"fetchMarkets": {"types": ["spot", "swap"]}}})
    client.urls["api"] = {"rest": server.base_url, "ws": server.ws_url + "/ws/v5"}
    return client


async def test_ccxt_rest_round_trip(busy: MockExchangeServer) -> None:
    import ccxt.async_support as ccxt_async

    engine = busy.exchange.engine
    account = busy.exchange.trading_accounts[0]
    client = ccxt_client(ccxt_async.okx, busy, account)
    try:
        await client.load_markets()
        assert {"BTC/USDT", "BTC/USDT:USDT"} <= set(client.markets)
        assert client.markets["BTC/USDT:USDT"]["contractSize"] == float(SWAP_CT_VAL)
        busy.exchange.pause_flow()
        book = await client.fetch_order_book("BTC/USDT", 20)
        truth = engine.book(SPOT_SYMBOL, 20)
        assert [(Decimal(str(p)), Decimal(str(q))) for p, q, *_ in book["bids"]] == truth.bids
        order = await client.create_order("BTC/USDT", "limit", "buy", 0.01, 25000)
        state = engine.order_by_id(int(order["id"]))
        assert (state.price, state.qty, state.client_order_id) == (Decimal(25000), Decimal("0.01"),
                                                                  order["clientOrderId"])
        fetched = await client.fetch_order(order["id"], "BTC/USDT")
        assert (fetched["status"], fetched["amount"], fetched["price"]) == ("open", 0.01, 25000)
        await client.cancel_order(order["id"], "BTC/USDT")
        assert engine.order_by_id(int(order["id"])).status.value == "CANCELED"
        assert (await client.fetch_order(order["id"], "BTC/USDT"))["status"] == "canceled"
        balance = await client.fetch_balance()
        truth_usdt = engine.balances(account.account_id)["USDT"]
        assert Decimal(str(balance["USDT"]["free"])) == truth_usdt.free
        rate = await client.fetch_funding_rate("BTC/USDT:USDT")
        assert rate["fundingTimestamp"] == engine.funding_info(SWAP_SYMBOL).next_funding_time_ms
        busy.exchange.resume_flow()
        await client.create_order("BTC/USDT:USDT", "market", "buy", 3)
        (position,) = await client.fetch_positions(["BTC/USDT:USDT"])
        assert position["contracts"] == 3 and position["side"] == "long"
        import ccxt

        with pytest.raises(ccxt.OrderNotFound):
            await client.cancel_order("123456789", "BTC/USDT")
        with pytest.raises(ccxt.InsufficientFunds):
            await client.create_order("BTC/USDT", "limit", "buy", 100, 25000)
    finally:
        await client.close()


async def test_ccxt_pro_watch_order_book_holds_the_engine_book(busy: MockExchangeServer) -> None:
    """ccxt.pro chains seqId/prevSeqId (it does not check OKX checksums); its nonce is the engine's update id."""
    import ccxt.pro as ccxt_pro

    engine = busy.exchange.engine
    client = ccxt_client(ccxt_pro.okx, busy, busy.exchange.trading_accounts[0])
    try:
        for symbol, engine_symbol, unit in (("BTC/USDT", SPOT_SYMBOL, Decimal(1)),
                                            ("BTC/USDT:USDT", SWAP_SYMBOL, SWAP_CT_VAL)):
            checked = 0
            while checked < 20:
                book = await asyncio.wait_for(client.watch_order_book(symbol), RECEIVE_TIMEOUT)
                truth = engine.book_at(engine_symbol, book["nonce"], 25)
                bids = [(Decimal(str(p)), Decimal(str(q)) * unit) for p, q in book["bids"][:25]]
                asks = [(Decimal(str(p)), Decimal(str(q)) * unit) for p, q in book["asks"][:25]]
                assert (bids, asks) == (truth.bids, truth.asks)
                checked += 1
    finally:
        await client.close()
