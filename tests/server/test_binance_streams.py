"""Binance WebSocket streams against the engine's truth: depth diffs, control messages, user data."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import aiohttp

from mock_exchanges.engine import BookDelta, OrderType, Side
from mock_exchanges.server import MockExchangeServer

from .conftest import rest, wait_for

RECEIVE_TIMEOUT = 5.0


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def request(ws: aiohttp.ClientWebSocketResponse, payload: dict[str, Any]) -> Any:
    """Send a control message and return its reply, skipping stream data in between."""
    await ws.send_json(payload)
    while True:
        reply = await receive_json(ws)
        if "id" in reply or "code" in reply:
            return reply


def apply(book: dict[str, dict[Decimal, Decimal]], levels: list[list[str]], side: str) -> None:
    for price, qty in levels:
        if Decimal(qty) == 0:
            book[side].pop(Decimal(price), None)
        else:
            book[side][Decimal(price)] = Decimal(qty)


async def test_spot_depth_stream_rebuilds_the_engine_book(
    busy_server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = busy_server.exchange.engine
    engine_ids: set[tuple[int, int]] = set()
    engine.subscribe(lambda e: engine_ids.add((e.first_update_id, e.last_update_id))
                     if isinstance(e, BookDelta) and e.symbol == "BTCUSDT" else None)
    async with http.ws_connect(busy_server.ws_url + "/ws") as ws:
        assert await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}) == {
            "result": None, "id": 1}
        status, snapshot = await rest(http, busy_server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5000})
        assert status == 200
        book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
        apply(book, snapshot["bids"], "b")
        apply(book, snapshot["asks"], "a")
        local_id = snapshot["lastUpdateId"]
        previous_u = None
        applied = 0
        while applied < 300:
            event = await receive_json(ws)
            assert event["e"] == "depthUpdate" and event["s"] == "BTCUSDT"
            if previous_u is not None:
                assert event["U"] == previous_u + 1, "a gap the fault layer did not schedule"
            previous_u = event["u"]
            assert (event["U"], event["u"]) in engine_ids
            if event["u"] <= local_id:
                continue
            assert event["U"] <= local_id + 1 <= event["u"]
            apply(book, event["b"], "b")
            apply(book, event["a"], "a")
            local_id = event["u"]
            applied += 1
    truth = engine.book_at("BTCUSDT", local_id)
    assert sorted(book["b"].items(), reverse=True) == truth.bids
    assert sorted(book["a"].items()) == truth.asks


async def test_futures_depth_chains_pu_and_combined_stream_wraps(
    busy_server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(busy_server.ws_url + "/fstream/public/stream?streams=btcusdt@depth@100ms") as ws:
        previous_u = None
        for _ in range(50):
            message = await receive_json(ws)
            assert message["stream"] == "btcusdt@depth@100ms"
            event = message["data"]
            assert event["e"] == "depthUpdate" and {"E", "T", "U", "u", "pu"} <= event.keys()
            if previous_u is not None:
                assert event["pu"] == previous_u
            previous_u = event["u"]


async def test_control_messages(quiet_server: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(quiet_server.ws_url + "/stream/ws/0") as ws:
        subscribe = {"method": "SUBSCRIBE", "params": ["btcusdt@depth", "btcusdt@trade"], "id": 7}
        assert await request(ws, subscribe) == {"result": None, "id": 7}
        assert await request(ws, {**subscribe, "id": 8}) == {"result": None, "id": 8}
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 9})
        assert sorted(listed["result"]) == ["btcusdt@depth", "btcusdt@trade"]
        assert quiet_server.exchange.hub.topics()["spot:btcusdt@depth"] == 1
        assert await request(ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 10}) == {
            "result": None, "id": 10}
        assert (await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 11}))["result"] == ["btcusdt@depth"]
        assert await request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 12}) == {
            "result": True, "id": 12}
        await ws.send_str("{not json")
        assert (await receive_json(ws))["code"] == 3
        bad = await request(ws, {"method": "FROB", "id": 13})
        assert bad["code"] == 2 and "unknown variant" in bad["msg"]
        assert (await request(ws, {"method": "SUBSCRIBE", "params": ["x"], "id": True}))["code"] == 2


async def test_mark_price_stream_follows_funding_changes(
    quiet_server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = quiet_server.exchange.engine
    async with http.ws_connect(quiet_server.ws_url + "/fstream/market/ws/btcusdt@markPrice@1s") as ws:
        await wait_for(lambda: quiet_server.exchange.hub.wants("usdm:btcusdt@markPrice@1s"))
        engine.set_funding_rate("BTCUSDT-PERP", Decimal("0.00012345"))
        while True:
            event = await receive_json(ws)
            if event["r"] == "0.00012345":
                break
        info = engine.funding_info("BTCUSDT-PERP")
        assert event["e"] == "markPriceUpdate" and event["s"] == "BTCUSDT"
        assert Decimal(event["p"]) == info.mark_price and event["T"] == info.next_funding_time_ms


async def test_agg_trade_streams_carry_every_trade_as_its_own_aggregate(
    quiet_server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    """`<symbol>@aggTrade` (spot and USD-M; Hummingbot's perpetual connector takes its trades only from it)."""
    engine = quiet_server.exchange.engine
    maker, taker = quiet_server.exchange.trading_accounts
    async with (
        http.ws_connect(quiet_server.ws_url + "/ws/btcusdt@aggTrade") as spot,
        http.ws_connect(quiet_server.ws_url + "/fstream/market/stream?streams=btcusdt@aggTrade") as usdm,
    ):
        await wait_for(lambda: quiet_server.exchange.hub.wants("spot:btcusdt@aggTrade")
                       and quiet_server.exchange.hub.wants("usdm:btcusdt@aggTrade"))
        for symbol in ("BTCUSDT", "BTCUSDT-PERP"):
            engine.place_order(maker.account_id, symbol, Side.SELL, OrderType.LIMIT, Decimal("0.25"),
                               Decimal("30000"))
            engine.place_order(taker.account_id, symbol, Side.BUY, OrderType.LIMIT, Decimal("0.25"),
                               Decimal("30000"))
        spot_event = await receive_json(spot)
        wrapped = await receive_json(usdm)
    for event, symbol in ((spot_event, "BTCUSDT"), (wrapped["data"], "BTCUSDT-PERP")):
        trade = engine.recent_trades(symbol)[-1]
        time_ms = trade.time_us // 1000
        assert event == {
            "e": "aggTrade", "E": time_ms, "s": "BTCUSDT", "a": trade.trade_id, "p": "30000.00000000",
            "q": "0.25000000", **({"nq": "0.25000000"} if symbol.endswith("-PERP") else {}),
            "f": trade.trade_id, "l": trade.trade_id, "T": time_ms, "m": False,
            **({} if symbol.endswith("-PERP") else {"M": True}),
        }
    assert wrapped["stream"] == "btcusdt@aggTrade"


async def test_spot_user_data_through_ws_api(quiet_server: MockExchangeServer, http: aiohttp.ClientSession) -> None:
    account = quiet_server.exchange.trading_accounts[0]
    params = {"apiKey": account.api_key, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(account.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    async with http.ws_connect(quiet_server.ws_url + "/ws-api/v3") as ws:
        reply = await request(ws, {"id": "sub-1", "method": "userDataStream.subscribe.signature", "params": params})
        assert reply == {"id": "sub-1", "status": 200, "result": {"subscriptionId": 0}}
        status, order = await rest(http, quiet_server, "POST", "/api/v3/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": "25000", "newClientOrderId": "ws-api-test"}, account)
        assert status == 200, order
        reports = []
        while len(reports) < 2:
            message = await receive_json(ws)
            assert message["subscriptionId"] == 0
            reports.append(message["event"])
        kinds = {r["e"] for r in reports}
        assert kinds == {"executionReport", "outboundAccountPosition"}
        new = next(r for r in reports if r["e"] == "executionReport")
        assert (new["x"], new["X"], new["c"], new["i"], new["t"]) == ("NEW", "NEW", "ws-api-test", order["orderId"], -1)
        status, canceled = await rest(http, quiet_server, "DELETE", "/api/v3/order", {
            "symbol": "BTCUSDT", "origClientOrderId": "ws-api-test", "newClientOrderId": "my-cancel"}, account)
        assert status == 200 and canceled["clientOrderId"] == "my-cancel"
        while True:
            event = (await receive_json(ws))["event"]
            if event["e"] == "executionReport":
                break
        assert (event["x"], event["X"], event["c"], event["C"]) == ("CANCELED", "CANCELED", "my-cancel", "ws-api-test")
        await ws.send_json({"id": 2, "method": "userDataStream.unsubscribe", "params": {}})
        terminated = None
        while True:
            message = await receive_json(ws)
            if message.get("event", {}).get("e") == "eventStreamTerminated":
                terminated = message
            if message.get("id") == 2:
                break
        assert message == {"id": 2, "status": 200, "result": {}}
        assert terminated is not None and terminated["subscriptionId"] == 0


async def test_a_stalled_client_is_cut_off_and_others_keep_up(http: aiohttp.ClientSession) -> None:
    from mock_exchanges.flow import FlowConfig
    from mock_exchanges.server import MockExchange, MockExchangeConfig

    config = MockExchangeConfig(seed=5, flow=FlowConfig(levels_per_side=100, rate_per_s=2000), max_pending_frames=50)
    async with MockExchangeServer(MockExchange(config)) as server:
        url = server.ws_url + "/ws/btcusdt@depth/ethusdt@depth/btcusdt@trade"
        stalled = await http.ws_connect(url, max_msg_size=0)
        stalled_conn = await wait_for(lambda: next(iter(server.exchange.connections.values()), None))
        # Stop the stalled client's socket from draining: its frames pile up in the server's queue.
        transport = stalled._response.connection.transport if stalled._response.connection else None
        assert transport is not None
        transport.pause_reading()
        async with http.ws_connect(server.ws_url + "/ws/btcusdt@depth") as healthy:
            previous_u = None
            received = 0
            while not stalled_conn.overflowed or received < 200:
                event = await receive_json(healthy)
                if previous_u is not None:
                    assert event["U"] == previous_u + 1
                previous_u = event["u"]
                received += 1
                assert received < 20_000, "the stalled client was never cut off"
        assert stalled_conn.connection_id not in server.exchange.connections or stalled_conn.overflowed
        transport.resume_reading()
        await stalled.close()
        await asyncio.sleep(0)


async def test_order_flow_events_are_all_delivered_in_order_to_many_clients(
    busy_server: MockExchangeServer, http: aiohttp.ClientSession
) -> None:
    engine = busy_server.exchange.engine
    truth: list[tuple[int, int]] = []
    engine.subscribe(lambda e: truth.append((e.first_update_id, e.last_update_id))
                     if isinstance(e, BookDelta) and e.symbol == "ETHUSDT" else None)
    sockets = [await http.ws_connect(busy_server.ws_url + "/ws/ethusdt@depth") for _ in range(10)]
    try:
        await wait_for(lambda: busy_server.exchange.hub.topics().get("spot:ethusdt@depth") == 10)
        start = len(truth)
        await wait_for(lambda: len(truth) >= start + 100)
        expected = truth[start:start + 100]
        for ws in sockets:
            seen: list[tuple[int, int]] = []
            while len(seen) < 100 or seen[-1][1] < expected[-1][1]:
                event = await receive_json(ws)
                seen.append((event["U"], event["u"]))
            assert [s for s in seen if expected[0][0] <= s[0] <= expected[-1][1]] == expected
    finally:
        for ws in sockets:
            await ws.close()
