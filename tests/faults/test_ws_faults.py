"""Each WebSocket fault, alone, observed by a raw client exactly where the schedule put it.

Connection 1 gets the fault; connection 2 (same stream, no fault) is the control that shows what the engine
produced, so every assertion compares the two message by message.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from mock_exchanges.faults import FaultKind, FaultRule
from mock_exchanges.server import MockExchangeServer
from tests.faults.conftest import RawClient, caught_up, faulty_server, raw_client, step, step_until, subscribed

DEPTH = "/ws/btcusdt@depth"
Diffs = list[dict[str, Any]]


def contiguous(diffs: Diffs) -> bool:
    return all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(diffs))


@asynccontextmanager
async def pair(*rules: FaultRule) -> AsyncIterator[tuple[MockExchangeServer, RawClient, RawClient]]:
    async with faulty_server(*rules) as server, aiohttp.ClientSession() as session, \
            raw_client(session, server.ws_url + DEPTH) as faulty:
        await subscribed(server, 1)
        async with raw_client(session, server.ws_url + DEPTH) as control:
            await subscribed(server, 2)
            yield server, faulty, control


async def two_clients_run(rule: FaultRule, diffs: int = 60) -> tuple[Diffs, Diffs]:
    """Run until the control has `diffs` diffs and the faulty one has caught up with it."""
    async with pair(rule) as (server, faulty, control):
        await step_until(server, control, lambda: len(control.events()) >= diffs)
        await caught_up(server, faulty)
        return faulty.events(), control.events()


async def test_drop_the_40th_diff_is_a_gap_at_exactly_that_message() -> None:
    faulty, control = await two_clients_run(FaultRule(FaultKind.DROP, channel="depth", connection=1, at_message=40))
    assert contiguous(control)
    assert faulty == control[:39] + control[40:]
    assert faulty[39]["U"] == control[39]["u"] + 1
    assert faulty[39]["U"] != faulty[38]["u"] + 1


async def test_duplicate_sends_the_same_diff_twice() -> None:
    faulty, control = await two_clients_run(
        FaultRule(FaultKind.DUPLICATE, channel="depth", connection=1, at_message=10, count=2))
    assert faulty == [*control[:10], control[9], control[10], control[10], *control[11:]]


async def test_reorder_holds_a_diff_behind_the_next_ones() -> None:
    faulty, control = await two_clients_run(
        FaultRule(FaultKind.REORDER, channel="depth", connection=1, at_message=20, hold=2))
    assert faulty[:19] == control[:19]
    assert faulty[19:22] == [control[20], control[21], control[19]]
    assert faulty[22:] == control[22:]


async def test_a_diff_is_targeted_by_update_id() -> None:
    async with faulty_server() as server:
        target = server.exchange.engine.last_update_id("BTCUSDT") + 30
    faulty, control = await two_clients_run(
        FaultRule(FaultKind.DROP, channel="depth", connection=1, at_update_id=target))
    dropped = [d for d in control if d not in faulty]
    assert len(dropped) == 1
    assert dropped[0]["U"] <= target <= dropped[0]["u"]


async def test_probability_drops_are_the_same_for_the_same_seed() -> None:
    rule = FaultRule(FaultKind.DROP, channel="depth", connection=1, probability=0.1, end_s=3600)
    first, control = await two_clients_run(rule, diffs=100)
    second, _ = await two_clients_run(rule, diffs=100)
    missing = [d["u"] for d in control if d not in first]
    print("dropped update ids:", missing)
    assert 3 <= len(missing) <= 25
    assert [d["u"] for d in first] == [d["u"] for d in second]


async def test_burst_holds_frames_then_sends_them_together() -> None:
    async with pair(FaultRule(FaultKind.BURST, channel="depth", connection=1, at_message=5, hold=10)) as (
            server, faulty, control):
        await step_until(server, control, lambda: len(control.events()) >= 8)
        assert len(faulty.events()) == 4  # 5th..8th held
        await step_until(server, control, lambda: len(control.events()) >= 20)
        await caught_up(server, faulty)
        assert faulty.events() == control.events()


async def test_unknown_event_arrives_before_the_scheduled_frame() -> None:
    async with pair(FaultRule(FaultKind.UNKNOWN_EVENT, channel="depth", connection=1, at_message=3)) as (
            server, faulty, control):
        await step_until(server, control, lambda: len(control.events()) >= 5)
        await caught_up(server, faulty)
        kinds = [m.get("e") for m in faulty.messages]
        assert kinds.index("mockUnknownEvent") == 2
        assert faulty.events() == control.events()


@pytest.mark.parametrize("kind", [FaultKind.DISCONNECT, FaultKind.CLOSE])
async def test_connection_ends_at_the_scheduled_message(kind: FaultKind) -> None:
    rule = FaultRule(kind, channel="depth", connection=1, at_message=5, close_code=4000, reason="maintenance")
    async with pair(rule) as (server, faulty, control):
        await step_until(server, control, lambda: faulty.closed.done() or len(control.events()) > 50)
        code, _ = await faulty.closed
        assert faulty.events() == control.events()[:4]
        if kind is FaultKind.CLOSE:
            assert code == 4000
        else:
            assert code != 4000


async def test_stall_sends_nothing_until_its_time_is_up() -> None:
    rule = FaultRule(FaultKind.STALL, channel="depth", connection=1, at_message=5, duration_s=1.0)
    async with pair(rule) as (server, faulty, control):
        await step_until(server, control, lambda: len(control.events()) >= 12)
        assert faulty.events() == control.events()[:4]
        server.exchange.engine.clock.advance_ms(1001)  # type: ignore[attr-defined]
        await step_until(server, control, lambda: len(control.events()) >= 15)
        await caught_up(server, faulty)
        resumed = faulty.events()[4]
        assert resumed["U"] > faulty.events()[3]["u"] + 1
        assert faulty.events()[4:] == control.events()[control.events().index(resumed):]


async def test_delay_holds_frames_in_order_until_released() -> None:
    rule = FaultRule(FaultKind.DELAY, channel="depth", connection=1, at_message=3, delay_ms=500)
    async with pair(rule) as (server, faulty, control):
        await step_until(server, control, lambda: len(control.events()) >= 8)
        assert faulty.events() == control.events()[:2]
        server.exchange.engine.clock.advance_ms(501)  # type: ignore[attr-defined]
        server.exchange.faults.poll(server.exchange.engine.clock.now_us())
        await caught_up(server, faulty)
        assert faulty.events() == control.events()


async def test_a_refused_handshake_then_admitted() -> None:
    rule = FaultRule(FaultKind.REFUSE_CONNECT, path="/ws", at_message=2)
    async with faulty_server(rule) as server, aiohttp.ClientSession() as session, \
            raw_client(session, server.ws_url + DEPTH):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(server.ws_url + DEPTH)
        assert refused.value.status == 503
        async with raw_client(session, server.ws_url + DEPTH):
            await subscribed(server, 2)
            step(server, 1)


async def test_a_stalled_stream_answers_no_requests_either() -> None:
    rule = FaultRule(FaultKind.STALL, channel="depth", connection=1, at_message=3, duration_s=1.0)
    async with pair(rule) as (server, faulty, control):
        await step_until(server, control, lambda: len(control.events()) >= 5)
        await faulty.ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 41})
        await control.ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 42})
        await control.wait(lambda c: any(m.get("id") == 42 for m in c.messages))
        server.exchange.engine.clock.advance_ms(1001)  # type: ignore[attr-defined]
        await faulty.ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 43})
        await faulty.wait(lambda c: any(m.get("id") == 43 for m in c.messages))
        assert not any(m.get("id") == 41 for m in faulty.messages)
