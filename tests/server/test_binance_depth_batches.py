"""Binance depth streams at their documented speed (`MockExchangeConfig(batch_depth=True)`): every change of
an interval merged into one frame whose U..u spans the interval's update ids."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from mock_exchanges.engine import OrderType, Side, VirtualClock
from mock_exchanges.flow import FlowConfig
from mock_exchanges.frames import Channel, Frame
from mock_exchanges.serve import serve
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

from .conftest import SEED, rest, wait_for
from .test_binance_streams import apply, receive_json, request

START_US = 1_700_000_000_000_000  # on a 1000 ms boundary


class Capture:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def deliver(self, topic: str, frame: Frame) -> None:
        self.frames.append(frame)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(frame.data) for frame in self.frames]


def quiet_exchange(batch_depth: bool = True) -> tuple[MockExchange, VirtualClock]:
    clock = VirtualClock(START_US)
    exchange = MockExchange(MockExchangeConfig(seed=SEED, flow=None, batch_depth=batch_depth), clock=clock)
    MockExchangeServer(exchange)  # installs the Binance dialect (its encoder and its tick job) without serving
    return exchange, clock


def tick(exchange: MockExchange, clock: VirtualClock) -> None:
    """What the exchange's tick loop does each tick, at the clock's time."""
    for job in exchange.periodic:
        job(clock.now_us() // 1000)


def place(exchange: MockExchange, side: Side, price: str, qty: str = "0.01") -> int:
    account = exchange.trading_accounts[0]
    result = exchange.engine.place_order(account.account_id, "BTCUSDT", side, OrderType.LIMIT, Decimal(qty),
                                         Decimal(price))
    return result.order.order_id


def test_changes_within_an_interval_go_out_as_one_frame_with_the_last_size_of_each_level() -> None:
    exchange, clock = quiet_exchange()
    fast, slow = Capture(), Capture()
    exchange.hub.subscribe("spot:btcusdt@depth@100ms", fast)
    exchange.hub.subscribe("spot:btcusdt@depth", slow)  # spot's plain @depth: every 1000 ms
    first = exchange.engine.markets["BTCUSDT"].last_update_id + 1
    place(exchange, Side.BUY, "29000")
    clock.advance_ms(10)
    place(exchange, Side.BUY, "29000")  # the same level again: the frame carries its last size only
    clock.advance_ms(10)
    to_cancel = place(exchange, Side.SELL, "31000")
    clock.advance_ms(10)
    exchange.engine.cancel_order(exchange.trading_accounts[0].account_id, "BTCUSDT", order_id=to_cancel)
    last = exchange.engine.markets["BTCUSDT"].last_update_id
    tick(exchange, clock)
    assert fast.frames == [] and slow.frames == []  # the window (ends at +100 ms) is still open

    clock.advance_ms(70)  # +100 ms: the window is over
    tick(exchange, clock)
    assert len(fast.frames) == 1 and slow.frames == []
    frame = fast.frames[0]
    assert (frame.channel, frame.symbol, frame.first_update_id, frame.last_update_id) == (
        Channel.DEPTH, "BTCUSDT", first, last)
    payload = fast.payloads()[0]
    assert (payload["e"], payload["U"], payload["u"], payload["E"]) == ("depthUpdate", first, last,
                                                                      (START_US // 1000) + 100)
    assert payload["b"] == [["29000.00000000", "0.02000000"]]
    assert payload["a"] == [["31000.00000000", "0.00000000"]]  # placed and canceled in the window: removed

    clock.advance_ms(900)
    tick(exchange, clock)
    assert len(slow.frames) == 1 and slow.payloads()[0]["U"] == first and slow.payloads()[0]["u"] == last


def test_a_change_after_the_window_sends_the_window_first_and_starts_the_next() -> None:
    exchange, clock = quiet_exchange()
    fast = Capture()
    exchange.hub.subscribe("spot:btcusdt@depth@100ms", fast)
    place(exchange, Side.BUY, "29000")
    clock.advance_ms(150)
    place(exchange, Side.BUY, "29001")  # no tick in between: the change itself closes the open window
    assert [(p["b"], p["u"] - p["U"]) for p in fast.payloads()] == [([["29000.00000000", "0.01000000"]], 0)]
    clock.advance_ms(50)  # the second window, [100, 200) ms, is over
    tick(exchange, clock)
    payloads = fast.payloads()
    assert len(payloads) == 2 and payloads[1]["U"] == payloads[0]["u"] + 1
    assert payloads[1]["b"] == [["29001.00000000", "0.01000000"]]


def test_usdm_frames_chain_pu_to_the_previous_frame_and_are_timed_at_their_window_end() -> None:
    exchange, clock = quiet_exchange()
    frames = Capture()
    exchange.hub.subscribe("usdm:btcusdt@depth", frames)  # USD-M's plain @depth: every 250 ms
    account = exchange.trading_accounts[0]
    for i in range(12):
        exchange.engine.place_order(account.account_id, "BTCUSDT-PERP", Side.BUY, OrderType.LIMIT,
                                    Decimal("0.01"), Decimal(29000 + i))
        clock.advance_ms(60)
        tick(exchange, clock)
    clock.advance_ms(250)
    tick(exchange, clock)
    payloads = frames.payloads()
    assert len(payloads) == 3  # 12 changes over 720 ms, in windows of 250 ms
    for before, after in itertools.pairwise(payloads):
        assert after["pu"] == before["u"] and after["U"] == before["u"] + 1
    assert sum(len(p["b"]) for p in payloads) == 12
    assert [p["E"] - START_US // 1000 for p in payloads] == [250, 500, 750]  # event time: the window's end


def test_without_batch_depth_every_change_is_its_own_frame() -> None:
    exchange, _ = quiet_exchange(batch_depth=False)
    frames = Capture()
    exchange.hub.subscribe("spot:btcusdt@depth@100ms", frames)
    for price in ("29000", "29001", "29002"):
        place(exchange, Side.BUY, price)
    assert [p["u"] - p["U"] for p in frames.payloads()] == [0, 0, 0]


async def test_snapshot_plus_merged_frames_rebuild_the_engine_book_over_the_wire(http: aiohttp.ClientSession) -> None:
    """Binance's own recipe against merged frames: the snapshot lands inside a frame's U..u, not between two."""
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=100, rate_per_s=400), batch_depth=True,
                                tick_interval_s=0.02)
    async with MockExchangeServer(MockExchange(config)) as server, http.ws_connect(server.ws_url + "/ws") as ws:
        assert await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}) == {
            "result": None, "id": 1}
        first = await receive_json(ws)  # buffered before the snapshot, as the recipe says
        status, snapshot = await rest(http, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5000})
        assert status == 200
        book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
        apply(book, snapshot["bids"], "b")
        apply(book, snapshot["asks"], "a")
        local_id = snapshot["lastUpdateId"]
        previous_u = first["u"]
        spans: list[int] = []
        straddled = 0
        while len(spans) < 20:
            event = await receive_json(ws)
            assert event["U"] == previous_u + 1, "merged frames still chain with no hole"
            previous_u = event["u"]
            if event["u"] <= local_id:
                continue
            assert event["U"] <= local_id + 1 <= event["u"]
            straddled += event["U"] < local_id + 1
            apply(book, event["b"], "b")
            apply(book, event["a"], "a")
            local_id = event["u"]
            spans.append(event["u"] - event["U"] + 1)
        truth = server.exchange.engine.book_at("BTCUSDT", local_id)
    assert sorted(book["b"].items(), reverse=True) == truth.bids
    assert sorted(book["a"].items()) == truth.asks
    assert sorted(spans)[len(spans) // 2] > 5  # ~400 changes/s: a 100 ms frame spans tens of update ids
    assert straddled <= 1


async def test_serve_batch_depth_serves_merged_frames(http: aiohttp.ClientSession) -> None:
    """`mock-exchange serve --batch-depth`: what a strategy developer gets to see the venue's real cadence."""
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(["binance"], "127.0.0.1", 0, SEED, quiet=False, rate=400, levels=50,
                                     accounts=1, out=out, stop=stop, batch_depth=True))
    try:
        await wait_for(lambda: "serving" in out.getvalue())
        assert "depth merged per stream interval" in out.getvalue()
        match = re.search(r"spot WS streams\s+(\S+) \(raw\)", out.getvalue())
        assert match is not None
        async with http.ws_connect(match.group(1) + "/btcusdt@depth@100ms") as ws:
            events = [await receive_json(ws) for _ in range(4)]
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
    assert all(after["U"] == before["u"] + 1 for before, after in itertools.pairwise(events))
    assert max(event["u"] - event["U"] for event in events) > 0  # 400 changes/s: frames span several ids
    assert all(after["E"] - before["E"] == 100 for before, after in itertools.pairwise(events))


def test_when_merging_stops_the_open_window_goes_out_before_the_next_change() -> None:
    """A scenario started on a running exchange switches merging off (or on): no update id goes missing."""
    exchange, clock = quiet_exchange()
    frames = Capture()
    exchange.hub.subscribe("spot:btcusdt@depth@100ms", frames)
    place(exchange, Side.BUY, "29000")
    place(exchange, Side.BUY, "29001")
    exchange.batch_depth = False
    clock.advance_ms(10)
    place(exchange, Side.BUY, "29002")
    payloads = frames.payloads()
    assert [(p["u"] - p["U"] + 1, len(p["b"])) for p in payloads] == [(2, 2), (1, 1)]
    assert payloads[1]["U"] == payloads[0]["u"] + 1


async def test_depth_merging_is_refused_where_no_served_dialect_can_merge(http: aiohttp.ClientSession) -> None:
    """OKX and Bitstamp push their own way: asking them to merge Binance-style is an error, not a silent no-op."""
    server = MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None, batch_depth=True)),
                                dialects=["okx"])
    with pytest.raises(ValueError, match=r"batch_depth needs .* okx has none \(dialects with it: binance\)"):
        await server.start()
    await server.close()
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None)),
                                  dialects=["bitstamp"]) as served:
        async with http.post(served.control_url + "/scenario", json={"name": "merged_depth"}) as response:
            assert response.status == 400
            assert "bitstamp dialect has none" in (await response.json())["error"]
        assert served.exchange.batch_depth is False and served.exchange.scenario_name == ""
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None))) as binance:
        async with http.post(binance.control_url + "/scenario", json={"name": "merged_depth"}) as response:
            assert response.status == 200
        assert binance.exchange.batch_depth is True


def test_a_window_nobody_listened_to_through_is_not_sent_to_a_later_subscriber() -> None:
    """Changes made while nobody listens are not merged: the window open before must not claim their ids."""
    exchange, clock = quiet_exchange()
    first, later = Capture(), Capture()
    exchange.hub.subscribe("spot:btcusdt@depth", first)
    order = place(exchange, Side.BUY, "29000")
    exchange.hub.unsubscribe("spot:btcusdt@depth", first)
    exchange.engine.cancel_order(exchange.trading_accounts[0].account_id, "BTCUSDT", order_id=order)
    exchange.hub.subscribe("spot:btcusdt@depth", later)
    snapshot_id = exchange.engine.markets["BTCUSDT"].last_update_id
    place(exchange, Side.BUY, "29500")
    clock.advance_ms(1000)
    tick(exchange, clock)
    assert first.frames == []
    payloads = later.payloads()
    assert len(payloads) == 1 and payloads[0]["U"] == snapshot_id + 1  # nothing from before the gap
    assert payloads[0]["b"] == [["29500.00000000", "0.01000000"]]


def test_a_window_sent_early_because_merging_stopped_is_timed_now() -> None:
    exchange, clock = quiet_exchange()
    frames = Capture()
    exchange.hub.subscribe("spot:btcusdt@depth", frames)  # 1000 ms windows
    place(exchange, Side.BUY, "29000")
    clock.advance_ms(200)
    exchange.batch_depth = False
    place(exchange, Side.BUY, "29001")
    times = [p["E"] - START_US // 1000 for p in frames.payloads()]
    assert times == [200, 200]  # not 1000 (the window's end) then 200: event times never go back
