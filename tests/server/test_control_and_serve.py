"""The control API (ground truth + steering) and `mock-exchange serve`."""

from __future__ import annotations

import asyncio
import io
import re
from decimal import Decimal

import aiohttp

from mock_exchanges.engine import FundingPayment, OrderType, Side
from mock_exchanges.serve import serve
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

from .conftest import SEED, rest, wait_for


async def test_truth_endpoints_match_the_engine(busy_server: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    engine = busy_server.exchange.engine
    busy_server.exchange.pause_flow()
    async with http.get(busy_server.control_url + "/book/BTCUSDT?depth=5") as response:
        book = await response.json()
    truth = engine.book("BTCUSDT", 5)
    assert book["update_id"] == truth.update_id
    assert [[Decimal(p), Decimal(q)] for p, q in book["bids"]] == [list(level) for level in truth.bids]
    old = truth.update_id - 3
    async with http.get(busy_server.control_url + f"/book/BTCUSDT?update_id={old}") as response:
        past = await response.json()
    assert past["update_id"] == old
    past_truth = engine.book_at("BTCUSDT", old)
    assert [[Decimal(p), Decimal(q)] for p, q in past["asks"]] == [list(level) for level in past_truth.asks]
    async with http.get(busy_server.control_url + "/accounts") as response:
        accounts = await response.json()
    assert [a["api_key"] for a in accounts] == [a.api_key for a in busy_server.exchange.trading_accounts]
    async with http.get(busy_server.control_url + "/book/NOPE") as response:
        assert response.status == 404 and "error" in await response.json()
    async with http.get(busy_server.control_url + "/book/BTCUSDT?update_id=abc") as response:
        assert response.status == 400


async def test_steering_pause_funding_and_disconnect(
    busy_server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    exchange, engine = busy_server.exchange, busy_server.exchange.engine
    async with http.post(busy_server.control_url + "/flow/pause") as response:
        assert response.status == 200
    frozen = engine.last_update_id("BTCUSDT")
    status, _ = await rest(http, busy_server, "GET", "/api/v3/ping")  # let the loop run a little
    assert status == 200 and engine.last_update_id("BTCUSDT") == frozen
    async with http.post(busy_server.control_url + "/flow/resume") as response:
        assert response.status == 200
    await wait_for(lambda: engine.last_update_id("BTCUSDT") > frozen)

    buyer = exchange.trading_accounts[0].account_id
    engine.place_order(buyer, "BTCUSDT-PERP", Side.BUY, OrderType.MARKET, Decimal("0.01"))
    payments: list[FundingPayment] = []
    engine.subscribe(lambda e: payments.append(e) if isinstance(e, FundingPayment) else None)
    async with http.post(busy_server.control_url + "/funding_rate",
                         json={"symbol": "BTCUSDT-PERP", "rate": "0.0002"}) as response:
        assert response.status == 200
    async with http.post(busy_server.control_url + "/funding/trigger", json={"symbol": "BTCUSDT-PERP"}) as response:
        assert response.status == 200
    assert any(p.account_id == buyer and p.amount < 0 for p in payments)
    assert sum(p.amount for p in payments) == 0 and {p.rate for p in payments} == {Decimal("0.0002")}
    async with http.post(busy_server.control_url + "/funding_rate", json={"symbol": "BTCUSDT-PERP",
                                                                          "rate": "x"}) as response:
        assert response.status == 400

    async with http.ws_connect(busy_server.ws_url + "/ws/btcusdt@depth") as ws:
        conn_id = (await wait_for(lambda: list(exchange.connections)))[0]
        async with http.post(busy_server.control_url + f"/connections/{conn_id}/disconnect") as response:
            assert response.status == 200
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                break
        assert conn_id not in exchange.connections or (await wait_for(lambda: conn_id not in exchange.connections))


async def test_control_token_is_required_when_set(http: aiohttp.ClientSession) -> None:
    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=None))
    async with MockExchangeServer(exchange, control_token="s3cret") as server:
        async with http.get(server.control_url + "/status") as response:
            assert response.status == 401
        async with http.get(server.control_url + "/status", headers={"Authorization": "Bearer s3cret"}) as response:
            assert response.status == 200 and (await response.json())["seed"] == SEED


async def test_serve_prints_urls_and_keys_and_stops_cleanly(http: aiohttp.ClientSession) -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(["binance"], "127.0.0.1", 0, 7, quiet=True, rate=0, levels=10, accounts=1,
                                     out=out, stop=stop))
    await wait_for(lambda: "serving" in out.getvalue())
    text = out.getvalue()
    rest_url = re.search(r"spot REST\s+(\S+)", text)
    assert rest_url is not None and rest_url.group(1).startswith("http://127.0.0.1:")
    assert re.search(r"api key\s+[A-Za-z0-9]{64}", text) and "control token" not in text
    async with http.get(rest_url.group(1) + "/ping") as response:
        assert response.status == 200 and await response.json() == {}
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert out.getvalue().rstrip().endswith("stopped")
