"""Offline REST mode (`mock_exchanges.offline`): a client's aiohttp calls to https://api.binance.com are
answered by the mock's own app and engine, with no socket, and say exactly what the live server says.

Equality with the live server is shown on twins: two exchanges built from the same seed on virtual clocks
at the same instant; one is served live on 127.0.0.1, the other offline; both get the same requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from mock_exchanges.engine import VirtualClock
from mock_exchanges.offline import offline_exchange
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

SEED = 99
START_US = 1_700_000_000_000_000
BINANCE = "https://api.binance.com"  # must never be contacted


def twin() -> MockExchange:
    exchange = MockExchange(MockExchangeConfig(seed=SEED), clock=VirtualClock(start_us=START_US))
    exchange.pause_flow()
    return exchange


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed(secret: str, params: list[tuple[str, str]]) -> str:
    payload = urlencode([*params, ("timestamp", str(START_US // 1000))])
    return f"{payload}&signature={hmac_hex(secret, payload)}"


@contextlib.contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to resolve a name or open a connection fails the test."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"offline mode tried to use the network: {args[1:]!r}")

    with monkeypatch.context() as patch:
        patch.setattr(asyncio.base_events.BaseEventLoop, "create_connection", refuse)
        patch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", refuse)
        yield


@pytest.fixture
async def live() -> AsyncIterator[MockExchangeServer]:
    async with MockExchangeServer(twin()) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def fetch(session: aiohttp.ClientSession, method: str, url: str, body: str | dict[str, Any] | None,
                headers: dict[str, str]) -> tuple[int, str, Any, str | None]:
    async with session.request(method, url, data=body, headers=headers) as response:
        text = await response.text()
        return response.status, response.content_type, text, response.headers.get("X-MBX-USED-WEIGHT-1M")


def conversation(key: str, secret: str) -> list[tuple[str, str, str | dict[str, Any] | None, dict[str, str]]]:
    """(method, path?query, body, headers): public, signed, form-in-body, errors, an unknown route."""
    auth = {"X-MBX-APIKEY": key}
    form = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    order = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
             ("quantity", "0.002"), ("price", "20000"), ("newClientOrderId", "offline-1")]
    hummingbot = {"symbol": "ETHUSDT", "side": "SELL", "quantity": "0.5000", "type": "MARKET",
                  "newClientOrderId": "x-MG43PCSNoffline2", "timestamp": START_US // 1000}
    hummingbot["signature"] = hmac_hex(secret, urlencode(hummingbot))
    return [
        ("GET", "/api/v3/depth?symbol=BTCUSDT&limit=20", None, {}),
        ("GET", "/api/v3/exchangeInfo?symbol=ETHUSDT", None, {}),
        ("GET", "/api/v3/ticker/bookTicker?symbol=BTCUSDT", None, {}),
        ("POST", "/api/v3/order", signed(secret, order), form),
        ("POST", "/api/v3/order", hummingbot, {**auth, "Content-Type": "application/json"}),
        ("GET", "/api/v3/order?" + signed(secret, [("symbol", "BTCUSDT"), ("origClientOrderId", "offline-1")]),
         None, auth),
        ("GET", "/api/v3/openOrders?" + signed(secret, [("symbol", "BTCUSDT")]), None, auth),
        ("GET", "/api/v3/myTrades?" + signed(secret, [("symbol", "ETHUSDT")]), None, auth),
        ("GET", "/api/v3/account?" + signed(secret, []), None, auth),
        ("DELETE", "/api/v3/order?" + signed(secret, [("symbol", "BTCUSDT"), ("origClientOrderId", "offline-1")]),
         None, auth),
        ("GET", "/api/v3/depth?symbol=NOPE", None, {}),
        ("POST", "/api/v3/order", signed("wrong", order), form),
        ("GET", "/api/v3/account?" + signed(secret, []), None, {}),
        ("GET", "/api/v3/no-such-endpoint", None, {}),
    ]


async def test_offline_answers_are_the_live_answers(live: MockExchangeServer, session: aiohttp.ClientSession,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    offline = twin()
    account = offline.trading_accounts[0]
    assert (account.api_key, account.api_secret) == (live.exchange.trading_accounts[0].api_key,
                                                      live.exchange.trading_accounts[0].api_secret)
    requests = conversation(account.api_key, account.api_secret)
    live_answers = [await fetch(session, m, live.base_url + p, b, h) for m, p, b, h in requests]
    with no_network(monkeypatch), offline_exchange(offline, base_url=BINANCE) as mock:
        offline_answers = [await fetch(session, m, BINANCE + p, b, h) for m, p, b, h in requests]
        assert sum(len(calls) for calls in mock.requests.values()) == len(requests)
    for request, live_answer, offline_answer in zip(requests, live_answers, offline_answers, strict=True):
        assert offline_answer == live_answer, request[:2]
    statuses = [answer[0] for answer in offline_answers]
    assert statuses == [200] * 10 + [400, 400, 401, 404]
    # The orders really went through the offline engine.
    assert offline.engine.order(account.account_id, "BTCUSDT", client_order_id="offline-1").status.value == "CANCELED"
    sold = offline.engine.order(account.account_id, "ETHUSDT", client_order_id="x-MG43PCSNoffline2")
    assert (sold.status.value, sold.filled_qty) == ("FILLED", Decimal("0.5"))


async def test_offline_refuses_other_hosts(session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    with no_network(monkeypatch), offline_exchange(twin(), base_url=BINANCE):
        with pytest.raises(aiohttp.ClientConnectionError, match="Connection refused"):
            await session.get("https://fapi.binance.com/fapi/v1/ping")
        async with session.get(BINANCE + "/api/v3/ping") as response:
            assert (response.status, await response.json()) == (200, {})


async def test_offline_serves_several_base_urls(session: aiohttp.ClientSession,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = twin()
    bases = [BINANCE, "https://fapi.binance.com", "https://example.invalid/prefix"]
    with no_network(monkeypatch), offline_exchange(exchange, base_url=bases):
        for base, path in ((BINANCE, "/api/v3/time"), (bases[1], "/fapi/v1/time"), (bases[2], "/api/v3/time")):
            async with session.get(base + path) as response:
                assert (response.status, await response.json()) == (200, {"serverTime": START_US // 1000})


async def test_ccxt_binance_through_offline_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """ccxt with its real URLs (https://api.binance.com/api/v3): markets, book, balance, a signed order."""
    exchange = MockExchange(MockExchangeConfig(seed=SEED))  # wall clock: ccxt signs with the real time
    engine = exchange.engine
    account = exchange.trading_accounts[0]
    client = ccxt_async.binance({"apiKey": account.api_key, "secret": account.api_secret,
                                 "options": {"fetchCurrencies": False, "fetchMargins": False,
                                             "fetchMarkets": {"types": ["spot"]}}})
    assert client.urls["api"]["public"] == BINANCE + "/api/v3"
    try:
        with no_network(monkeypatch), offline_exchange(exchange, base_url=BINANCE):
            await client.load_markets()
            assert sorted(client.markets) == ["BTC/USDT", "ETH/USDT"]
            book = await client.fetch_order_book("BTC/USDT", 50)
            truth = engine.book("BTCUSDT", 50)
            assert book["nonce"] == truth.update_id
            assert [[b[0], b[1]] for b in book["bids"]] == [[float(p), float(q)] for p, q in truth.bids]
            assert [[a[0], a[1]] for a in book["asks"]] == [[float(p), float(q)] for p, q in truth.asks]
            order = await client.create_order("BTC/USDT", "limit", "buy", 0.001, 20000)
            assert engine.order(account.account_id, "BTCUSDT", int(order["id"])).status.value == "NEW"
            balance = await client.fetch_balance()  # signed GET: verified over the raw query string
            assert balance["USDT"]["used"] == 20.0
            assert (await client.cancel_order(order["id"], "BTC/USDT"))["status"] == "canceled"
    finally:
        await client.close()
