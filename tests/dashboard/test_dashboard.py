"""The dashboard without a browser: the page, the live snapshots against the engine, the fault log, credentials,
the token, and starting a scenario from the control API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from importlib import resources

import aiohttp
import pytest
from aiohttp import web

from mock_exchanges.dashboard import DASHBOARD_KEY, PAGE_PATH, dashboard_page
from mock_exchanges.engine import OrderType, Side, VirtualClock
from mock_exchanges.faults import FaultController, FaultKind, FaultRule, Schedule
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from tests.faults.conftest import faulty_server, raw_client, step
from tests.server.conftest import wait_for

from .conftest import market, viewer

SEED = 5
SHIPPED = ("index.html", "app.js", "style.css")


def shipped(name: str) -> str:
    return resources.files("mock_exchanges.dashboard").joinpath("static", name).read_text(encoding="utf-8")


@pytest.fixture
async def server() -> AsyncIterator[MockExchangeServer]:
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=60, rate_per_s=200))
    async with MockExchangeServer(MockExchange(config)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def levels(snapshot_side: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in snapshot_side]


async def test_the_page_and_its_files_are_served_and_reach_nothing_outside(
    server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    for name in SHIPPED:
        external = [u for u in re.findall(r"(?:https?|wss?)://[^\s\"'`)]*", shipped(name))
                    if not re.match(r"\w+://(localhost|127\.0\.0\.1|\[::1\])", u)]
        assert external == [], f"{name} refers to {external}"
    for path in ("/", PAGE_PATH):
        async with http.get(server.base_url + path) as response:
            assert response.status == 200 and response.content_type == "text/html"
            assert await response.text() == shipped("index.html")
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        async with http.get(f"{server.base_url}{PAGE_PATH}/static/{name}") as response:
            assert response.status == 200 and response.content_type == kind
            assert await response.text() == shipped(name)
    async with http.get(f"{server.base_url}{PAGE_PATH}/static/..%2Fsnapshot.py") as response:
        assert response.status == 404
    assert server.describe()["dashboard"] == server.base_url + "/"


async def test_snapshots_match_the_engine(server: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    exchange, engine = server.exchange, server.exchange.engine
    listeners = len(engine._listeners)
    async with raw_client(http, server.ws_url + "/ws/btcusdt@depth") as client, viewer(http, server) as live:
        assert len(engine._listeners) == listeners  # the dashboard polls; it is not on the engine's event path
        hello = live.hello
        assert [m["symbol"] for m in hello["markets"]] == list(engine.markets) and hello["seed"] == SEED
        offered = [s["name"] for s in hello["scenarios"]]  # what a Binance server can run: no corrupt_book
        assert "merged_depth" in offered and "corrupt_book" not in offered and offered[0] == "calm"
        taker = exchange.trading_accounts[0].account_id
        engine.place_order(taker, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        await wait_for(lambda: client.messages)
        exchange.pause_flow()
        truth = {symbol: engine.book(symbol, hello["ladder_depth"]) for symbol in engine.markets}
        snap = await live.snapshot(lambda s: s["flow_paused"] and all(
            market(s, sym)["update_id"] == book.update_id for sym, book in truth.items()))
        for symbol, book in truth.items():
            shown = market(snap, symbol)
            assert levels(shown["bids"]) == book.bids and levels(shown["asks"]) == book.asks
            assert levels(shown["bids"])[0][0] == engine.book(symbol, 1).best_bid
            trades = engine.recent_trades(symbol)
            if trades:
                assert shown["trades"][0][:3] == [trades[-1].trade_id, str(trades[-1].price), str(trades[-1].qty)]
            if engine.markets[symbol].spec.is_perpetual:
                info = engine.funding_info(symbol)
                assert shown["funding"]["next_funding_time_ms"] == info.next_funding_time_ms
                assert Decimal(shown["funding"]["funding_rate"]) == info.funding_rate
        conn = next(iter(exchange.connections.values()))
        [shown_conn] = snap["connections"]
        assert shown_conn["id"] == conn.connection_id and shown_conn["ordinal"] == conn.ordinal
        assert shown_conn["path"] == "/ws/btcusdt@depth" and shown_conn["subscriptions"] == ["spot:btcusdt@depth"]
        assert shown_conn["sent"] <= conn.sent
        engine.trigger_funding("BTCUSDT-PERP")
        after = len(live.snapshots())
        funded = await live.snapshot(lambda s: market(s, "BTCUSDT-PERP")["funding"]["settlements"] == 1, after)
        assert funded["faults_total"] == 0
    await wait_for(lambda: not exchange.connections)
    feed_task = server.app[DASHBOARD_KEY].feed._task
    await wait_for(lambda: feed_task is None or feed_task.done())  # no viewer: the timer stops


async def test_a_fired_fault_shows_in_the_live_log(http: aiohttp.ClientSession) -> None:
    async with faulty_server(FaultRule(FaultKind.DROP, channel="depth", at_message=3)) as server:
        async with viewer(http, server) as live, raw_client(http, server.ws_url + "/ws/btcusdt@depth") as client:
            conn = await wait_for(lambda: next(iter(server.exchange.connections.values()), None))
            await wait_for(lambda: conn.subscriptions)
            step(server, 40)
            await client.wait(lambda c: len(c.events()) >= 2)
            record = await wait_for(lambda: next((r for r in live.faults() if r["kind"] == "drop"), None))
            assert record["conn"] == conn.ordinal and record["ch"] == "depth" and record["i"] == 3
            assert record["rule"] == 0 and record["n"] == 1
            shown = await live.snapshot(lambda s: s["faults_total"] >= 1)
            assert shown["faults_total"] == server.exchange.faults.fired
        async with viewer(http, server) as late:  # a page opened later gets the log so far
            assert [r["kind"] for r in late.hello["faults"]] == ["drop"]


async def test_no_credentials_in_the_page_or_the_pushes(server: MockExchangeServer,
                                                        http: aiohttp.ClientSession) -> None:
    account = server.exchange.trading_accounts[0]
    async with http.post(server.base_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": account.api_key}) as reply:
        key = (await reply.json())["listenKey"]
    texts = [shipped(name) for name in SHIPPED]
    async with http.get(server.base_url + "/") as response:
        texts.append(await response.text())
    async with http.ws_connect(f"{server.ws_url}/fstream/private/ws/{key}") as private, viewer(http, server) as live:
        shown = await live.snapshot(lambda s: any(c["subscriptions"] for c in s["connections"]))
        assert shown["connections"][0]["path"] == f"/fstream/private/ws/{key[:4]}…"  # the listenKey is masked
        await private.close()
        texts.extend(live.texts)
    secrets = [key] + [s for a in server.exchange.engine.accounts.values() for s in (a.api_key, a.api_secret) if s]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert {a["name"] for a in live.hello["accounts"]} == {a.name for a in server.exchange.trading_accounts}


async def test_the_token_guards_the_page_and_the_socket(http: aiohttp.ClientSession) -> None:
    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=None))
    async with MockExchangeServer(exchange, control_token="s3cret") as server:
        for path in ("/", PAGE_PATH, "/?token=wrong"):
            async with http.get(server.base_url + path) as response:
                assert response.status == 401
        async with http.get(server.base_url + "/?token=s3cret") as response:
            assert response.status == 200
        async with http.get(server.base_url + PAGE_PATH, headers={"Authorization": "Bearer s3cret"}) as response:
            assert response.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(server.ws_url + "/_mock/live")
        assert refused.value.status == 401
        async with viewer(http, server, "?token=s3cret") as live:
            assert live.hello["type"] == "hello"
        assert server.describe()["dashboard"] == server.base_url + "/?token=s3cret"


async def test_post_scenario_starts_a_named_scenario(server: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    exchange = server.exchange
    async with raw_client(http, server.ws_url + "/ws/btcusdt@depth"):
        before = await wait_for(lambda: next(iter(exchange.connections.values()), None))
        async with http.post(server.control_url + "/scenario", json={"name": "gaps", "seed": 3}) as response:
            assert response.status == 200
            assert await response.json() == {"scenario": "gaps", "seed": 3, "fault_rules": 2, "actions": 0}
        assert exchange.faults.schedule.seed == 3 and exchange.scenario_name == "gaps"
        async with raw_client(http, server.ws_url + "/ws/btcusdt@depth"):
            after = await wait_for(lambda: [c for c in exchange.connections.values() if c is not before])
            assert before.faults is None and after[0].faults is not None  # from now on, new connections
    async with http.post(server.control_url + "/scenario", json={"name": "funding"}) as response:
        assert (await response.json())["seed"] == SEED
    await wait_for(lambda: any(r["kind"] == "action" for r in exchange.faults.recent), timeout=5)  # its actions run
    assert exchange.engine.funding_info("BTCUSDT-PERP").funding_rate == Decimal("0.0003")
    for body, status in (({"name": "nope"}, 404), ({"name": "gaps", "seed": "x"}, 400), ({}, 404)):
        async with http.post(server.control_url + "/scenario", json=body) as response:
            assert response.status == status and "error" in await response.json()
    async with viewer(http, server) as live:
        assert (await live.snapshot())["scenario"] == "funding"


def test_load_counts_the_new_rules_time_windows_from_now() -> None:
    clock = VirtualClock()
    exchange = MockExchange(MockExchangeConfig(flow=None), clock=clock)
    controller: FaultController = exchange.faults
    clock.advance_us(10_000_000)
    rules = (FaultRule(FaultKind.REFUSE_CONNECT, start_s=1.0, end_s=1.5), FaultRule(FaultKind.DROP, at_message=2))
    controller.load(Schedule(seed=9, rules=rules), "custom")
    assert controller.schedule.rules == (FaultRule(FaultKind.REFUSE_CONNECT, start_s=11.0, end_s=11.5), rules[1])
    assert controller.admit("/ws/x")
    clock.advance_us(1_200_000)
    assert not controller.admit("/ws/x")
    assert controller.recent[-1]["kind"] == "refuse_connect" and controller.fired == 1


async def test_a_dialect_that_owns_the_root_keeps_it_and_can_serve_the_page(http: aiohttp.ClientSession) -> None:
    class RootDialect:
        """Like Bitstamp: its WebSocket at `/`, and the dashboard for plain requests there."""

        name = "root"

        def install(self, app: web.Application, exchange: MockExchange) -> None:
            async def root(request: web.Request) -> web.StreamResponse:
                if request.headers.get("Upgrade", "").lower() == "websocket":
                    ws = web.WebSocketResponse()
                    await ws.prepare(request)
                    await ws.send_str("venue socket")
                    await ws.close()
                    return ws
                return await dashboard_page(request)

            app.router.add_get("/", root)

        def describe(self, base_url: str) -> dict[str, str]:
            return {}

    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=None))
    async with MockExchangeServer(exchange, dialects=[RootDialect()]) as server:
        async with http.ws_connect(server.ws_url + "/") as ws:
            assert (await ws.receive_str(timeout=5)) == "venue socket"
        for path in ("/", PAGE_PATH):
            async with http.get(server.base_url + path) as response:
                assert response.status == 200 and await response.text() == shipped("index.html")
        assert server.describe()["dashboard"] == server.base_url + PAGE_PATH


async def test_closing_the_server_closes_the_viewers(http: aiohttp.ClientSession) -> None:
    server = await MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None))).start()
    try:
        ws = await http.ws_connect(server.ws_url + "/_mock/live")
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
    finally:
        await server.close()
    while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
        pass  # snapshots pushed before the close
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001 and msg.extra == "server shutdown"
    await ws.close()
