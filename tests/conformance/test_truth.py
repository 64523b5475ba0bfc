"""The two truth sources agree (the engine in-process, the control API over HTTP), and quiescing the faults at
settle time stops them and lets held frames go (the kit's additions to the fault layer and control API)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from conformance.protocol import Venue
from conformance.truth import FutureUpdateId, InProcessTruth, RemoteTruth
from mock_exchanges.engine import OrderType, Side
from mock_exchanges.faults import FaultKind, FaultRule
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from tests.faults.conftest import faulty_server, raw_client, step

D = Decimal


async def test_in_process_and_remote_truth_agree() -> None:
    config = MockExchangeConfig(seed=5, flow=FlowConfig(levels_per_side=20, rate_per_s=1), history_window=100)
    exchange = MockExchange(config)
    exchange.flow_paused = True
    async with MockExchangeServer(exchange) as server, aiohttp.ClientSession() as session:
        engine = exchange.engine
        me, other = (a.account_id for a in exchange.trading_accounts)
        start_us = engine.clock.now_us()
        engine.place_order(other, "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.01"), D("31000"))
        engine.place_order(me, "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.004"), D("31000"), client_order_id="mine-1")
        engine.place_order(me, "BTCUSDT-PERP", Side.BUY, OrderType.MARKET, D("0.002"))
        local, remote = InProcessTruth(exchange), RemoteTruth(session, server.control_url)
        last = await local.last_update_id("BTCUSDT")
        assert last == await remote.last_update_id("BTCUSDT")
        for symbol in ("BTCUSDT", "BTCUSDT-PERP"):
            assert await local.book(symbol, 10) == await remote.book(symbol, 10)
            assert await local.orders(me, symbol, start_us) == await remote.orders(me, symbol, start_us)
            assert await local.trades(me, symbol) == await remote.trades(me, symbol)
        assert (await local.orders(me, "BTCUSDT", start_us))["mine-1"].status == "FILLED"
        assert await local.book_at("BTCUSDT", last - 3, 10) == await remote.book_at("BTCUSDT", last - 3, 10)
        assert await local.balances(me, ["BTC", "USDT", "XYZ"]) == await remote.balances(me, ["BTC", "USDT", "XYZ"])
        assert await local.position(me, "BTCUSDT-PERP") == await remote.position(me, "BTCUSDT-PERP")
        assert (await local.position(me, "BTCUSDT-PERP")).amount == D("0.002")
        assert await local.funding("BTCUSDT-PERP") == await remote.funding("BTCUSDT-PERP")
        assert await local.markets() == await remote.markets()
        assert {m.venue for m in await local.markets()} == {Venue.SPOT, Venue.PERPETUAL}
        for truth in (local, remote):
            with pytest.raises(FutureUpdateId):
                await truth.book_at("BTCUSDT", await truth.last_update_id("BTCUSDT") + 5, 10)
            step(server, 100)  # push the start of the book out of the 100-change history
            with pytest.raises(LookupError):
                await truth.book_at("BTCUSDT", 1, 10)
        status = await remote.status()
        assert status["faults_quiet"] is False
        await remote.quiesce_faults()
        assert exchange.faults.quiet and (await remote.status())["faults_quiet"] is True


async def test_quiescing_stops_faults_and_lets_held_frames_go() -> None:
    rules = (FaultRule(FaultKind.REORDER, channel="depth", hold=1000),  # every diff held (for 1000 more)
             FaultRule(FaultKind.RATE_LIMIT, path="/api/v3/depth"))
    async with (faulty_server(*rules) as server, aiohttp.ClientSession() as session,
                raw_client(session, server.ws_url + "/ws/btcusdt@depth") as client):
        step(server, 20)
        async with session.get(server.base_url + "/api/v3/depth", params={"symbol": "BTCUSDT"}) as answer:
            assert answer.status == 429
        assert client.events() == []
        server.exchange.faults.quiesce()
        await client.wait(lambda c: len(c.events()) >= 20)
        ids = [e["u"] for e in client.events()]
        assert ids == sorted(ids)
        async with session.get(server.base_url + "/api/v3/depth", params={"symbol": "BTCUSDT"}) as answer:
            assert answer.status == 200
        step(server, 5)
        await client.wait(lambda c: len(c.events()) >= 25)  # no longer held
