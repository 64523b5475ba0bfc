"""Bounded load test on loopback: 100 WebSocket clients on depth, trades and a user stream while the flow runs.

Every client must receive every event of its streams, in order, with no gap (checked against the engine's
own event log), and memory stays bounded. (A stalled client being cut off without delaying the others is
`test_binance_streams.py::test_a_stalled_client_is_cut_off_and_others_keep_up`: it needs a push rate that
fills loopback socket buffers, which this test's realistic rate would take minutes to do.)
Duration: LOAD_TEST_SECONDS (default 60).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import resource
import time
from decimal import Decimal
from typing import Any

import aiohttp

from mock_exchanges.engine import BookDelta, OrderType, OrderUpdate, Side, Trade
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

from .conftest import wait_for

CLIENTS = int(os.environ.get("LOAD_TEST_CLIENTS", "100"))
SECONDS = float(os.environ.get("LOAD_TEST_SECONDS", "60"))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_hundred_clients_receive_everything_in_order() -> None:
    # aiohttp's default connector caps a session at 100 connections; this test opens 200.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await run_load(http)


async def run_load(http: aiohttp.ClientSession) -> None:
    config = MockExchangeConfig(seed=21, flow=FlowConfig(levels_per_side=100, rate_per_s=60), max_pending_frames=2000)
    async with MockExchangeServer(MockExchange(config)) as server:
        engine = server.exchange.engine
        account = server.exchange.trading_accounts[0]
        deltas: list[tuple[int, int]] = []
        trades: list[int] = []
        updates: list[tuple[int, str, str]] = []

        def record(event: Any) -> None:
            if isinstance(event, BookDelta) and event.symbol == "BTCUSDT":
                deltas.append((event.first_update_id, event.last_update_id))
            elif isinstance(event, Trade) and event.symbol == "BTCUSDT":
                trades.append(event.trade_id)
            elif isinstance(event, OrderUpdate) and event.account_id == account.account_id:
                updates.append((event.order_id, event.execution_type.value, event.status.value))

        engine.subscribe(record)
        received: list[dict[str, list[Any]]] = [{"depth": [], "trade": [], "user": []} for _ in range(CLIENTS)]

        async def market_client(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                wrapped = json.loads(msg.data)
                data = wrapped.get("data", {})
                if data.get("e") == "depthUpdate":
                    received[i]["depth"].append((data["U"], data["u"]))
                elif data.get("e") == "trade":
                    received[i]["trade"].append(data["t"])

        async def user_client(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                event = json.loads(msg.data).get("event", {})
                if event.get("e") == "executionReport":
                    received[i]["user"].append((event["i"], event["x"], event["X"]))

        tasks = []
        sockets = []
        streams = "btcusdt@depth@100ms/btcusdt@trade"
        for i in range(CLIENTS):
            ws = await http.ws_connect(f"{server.ws_url}/stream?streams={streams}")
            api = await http.ws_connect(f"{server.ws_url}/ws-api/v3")
            params: dict[str, Any] = {"apiKey": account.api_key, "timestamp": int(time.time() * 1000)}
            payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
            params["signature"] = hmac.new(account.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            await api.send_json({"id": i, "method": "userDataStream.subscribe.signature", "params": params})
            assert (await api.receive_json(timeout=5))["status"] == 200
            sockets += [ws, api]
            tasks += [asyncio.create_task(market_client(i, ws)), asyncio.create_task(user_client(i, api))]
        hub = server.exchange.hub
        await wait_for(lambda: hub.topics().get("spot:btcusdt@depth@100ms") == CLIENTS)
        start_delta, start_trade, start_update = len(deltas), len(trades), len(updates)
        rss_start = rss_mb()

        # The trading account places and cancels orders so its user stream carries events.
        deadline = time.monotonic() + SECONDS
        placed = 0
        while time.monotonic() < deadline:
            best_bid = engine.book("BTCUSDT", 1).bids[0][0]
            result = engine.place_order(account.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                                        best_bid - Decimal("1"))
            engine.cancel_order(account.account_id, "BTCUSDT", order_id=result.order.order_id)
            placed += 1
            await asyncio.sleep(0.05)
        end_delta, end_trade, end_update = len(deltas), len(trades), len(updates)
        expected_deltas = deltas[start_delta:end_delta]
        expected_trades = trades[start_trade:end_trade]
        expected_updates = updates[start_update:end_update]
        await wait_for(lambda: all(
            r["depth"] and r["depth"][-1][1] >= expected_deltas[-1][1] and len(r["user"]) >= len(expected_updates)
            for r in received), timeout=30)
        for task in tasks:
            task.cancel()
        for ws in sockets:
            await ws.close()

        first, last = expected_deltas[0][0], expected_deltas[-1][1]
        for r in received:
            window = [d for d in r["depth"] if first <= d[0] <= last]
            assert window == expected_deltas
            assert [t for t in r["trade"] if expected_trades and expected_trades[0] <= t <= expected_trades[-1]] == (
                expected_trades)
            assert r["user"][-len(expected_updates):] == expected_updates
        growth = rss_mb() - rss_start
        print(f"load: {CLIENTS} clients x {SECONDS:g}s: {len(expected_deltas)} depth events, {len(expected_trades)} "
              f"trades, {len(expected_updates)} user events each ({placed} orders); RSS growth {growth:.0f} MB")
        assert growth < 300
