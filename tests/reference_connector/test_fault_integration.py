"""The reference connector against the mock's fault layer (seeded schedules): what the wire does wrong, the
connector must survive with books equal to the truth and orders equal to the engine's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from mock_exchanges.engine import Side as EngineSide
from mock_exchanges.faults import FaultRule, Schedule
from mock_exchanges.faults.schedule import FaultKind
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from reference_connector import BinanceExchange
from reference_connector.errors import RequestError
from reference_connector.types import OrderState

from .conftest import SEED, TUNING, account, assert_book_is_true, cross, make_spot, wait_for

D = Decimal
Start = Callable[..., Any]
K = FaultKind


@asynccontextmanager
async def faulty(*rules: FaultRule, busy: bool = True) -> AsyncIterator[MockExchangeServer]:
    flow = FlowConfig(levels_per_side=100, rate_per_s=300) if busy else None
    config = MockExchangeConfig(seed=SEED, flow=flow, faults=Schedule(seed=SEED, rules=tuple(rules)))
    print(f"fault schedule (seed={SEED}): {[r.describe() for r in rules]}")
    async with MockExchangeServer(MockExchange(config)) as server:
        yield server


def public_spot(server: MockExchangeServer, **tuning: Any) -> BinanceExchange:
    """No credentials: the depth stream is the connector's only WebSocket (connection ordinal 1)."""
    return BinanceExchange(server.base_url, server.ws_url, trading_pairs=["BTC-USDT"], **{**TUNING, **tuning})


def synced(connector: BinanceExchange) -> bool:
    tracker = connector.order_book_tracker
    return tracker is not None and all(tracker.strategy(p).synced for p in connector.trading_pairs)


async def settled_and_true(server: MockExchangeServer, connector: BinanceExchange, what: str) -> None:
    await wait_for(lambda: synced(connector), what=what)
    assert_book_is_true(server, "BTCUSDT", connector.order_books["BTC-USDT"])


# --- market data -----------------------------------------------------------------------------------------
async def test_dropped_diff_is_a_gap_then_a_resync(started: Start) -> None:
    async with faulty(FaultRule(K.DROP, channel="depth", symbol="BTCUSDT", at_message=40)) as server:
        connector = await started(public_spot(server))
        await wait_for(lambda: connector.stats()["resyncs"] >= 1, what="resync after the dropped diff")
        await settled_and_true(server, connector, "in sync again")
        assert connector.stats()["gaps_detected"] >= 1


async def test_reordered_diffs_are_held_and_applied_in_order(started: Start) -> None:
    async with faulty(FaultRule(K.REORDER, channel="depth", symbol="BTCUSDT", at_message=40, count=3,
                                hold=1)) as server:
        connector = await started(public_spot(server))
        await wait_for(lambda: connector.stats()["pairs"]["BTC-USDT"]["held"] == 0
                       and connector.stats()["pairs"]["BTC-USDT"]["applied"] > 60, what="past the reorders")
        stats = connector.stats()
        assert stats["pairs"]["BTC-USDT"]["gaps"] == 0 and stats["resyncs"] == 0
        assert_book_is_true(server, "BTCUSDT", connector.order_books["BTC-USDT"])


async def test_duplicated_diffs_are_dropped(started: Start) -> None:
    async with faulty(FaultRule(K.DUPLICATE, channel="depth", symbol="BTCUSDT", at_message=40, count=5)) as server:
        connector = await started(public_spot(server))
        await wait_for(lambda: connector.stats()["messages_dropped"] >= 5, what="duplicates dropped")
        assert connector.stats()["resyncs"] == 0
        assert_book_is_true(server, "BTCUSDT", connector.order_books["BTC-USDT"])


async def test_stale_snapshot_is_refetched(started: Start) -> None:
    async with faulty(FaultRule(K.STALE_SNAPSHOT, symbol="BTCUSDT", at_message=1, lag=200)) as server:
        connector = await started(public_spot(server))
        # Revealed by the buffered diffs, or (none buffered yet) by the first live diffs not joining it.
        await wait_for(lambda: connector.stats()["stale_snapshots"] >= 1, what="stale snapshot detected")
        await settled_and_true(server, connector, "in sync on a fresh snapshot")
        assert connector.stats()["pairs"]["BTC-USDT"]["snapshots_fetched"] >= 2


async def test_a_silent_socket_is_detected_as_stalled(started: Start) -> None:
    """No probe (probe_after > stall timeout): silence alone reconnects."""
    async with faulty(FaultRule(K.STALL, channel="depth", connection=1, at_message=30, duration_s=5)) as server:
        connector = await started(public_spot(server, probe_after_s=60, stall_timeout_s=0.5))
        await wait_for(lambda: connector.stats()["stalls"] >= 1, what="stall detected")
        await wait_for(lambda: connector.stats()["market_reconnects"] >= 1 and synced(connector),
                       what="reconnected and resynced")
        assert_book_is_true(server, "BTCUSDT", connector.order_books["BTC-USDT"])


async def test_data_stall_with_live_replies_is_recovered_by_gap_detection(started: Start) -> None:
    """The server still answers the probe, so the socket is alive; the frames lost meanwhile are a gap."""
    async with faulty(FaultRule(K.STALL, channel="depth", connection=1, at_message=30, duration_s=1.0)) as server:
        connector = await started(public_spot(server, probe_after_s=0.2, stall_timeout_s=2.0))
        await wait_for(lambda: connector.stats()["resyncs"] >= 1, what="gap after the stall, then a resync")
        await settled_and_true(server, connector, "in sync again")
        stats = connector.stats()
        assert stats["stalls"] == 0 and stats["streams"]["depth"]["probes"] >= 1


async def test_disconnect_reconnects_and_resyncs(started: Start) -> None:
    async with faulty(FaultRule(K.DISCONNECT, channel="depth", connection=1, at_message=30)) as server:
        connector = await started(public_spot(server))
        await wait_for(lambda: connector.stats()["market_reconnects"] >= 1, what="reconnect")
        await settled_and_true(server, connector, "resynced after the reconnect")
        assert connector.stats()["resyncs"] >= 1


# --- orders ----------------------------------------------------------------------------------------------
async def test_unknown_status_create_is_found_by_client_order_id(started: Start) -> None:
    async with faulty(FaultRule(K.UNKNOWN_STATUS, role="create", at_message=1), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"]))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("29000"))
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.OPEN, what="found by client order id")
        assert not order.lost and order.transitions[-1].source in ("rest:status", "ws")


async def test_create_that_never_happened_is_lost_only_on_the_exchanges_word(started: Start) -> None:
    async with faulty(FaultRule(K.RESET, role="create", at_message=1), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"]))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("29000"))
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.lost, what="declared lost")
        assert order.state is OrderState.FAILED and connector.stats()["orders"]["not_found_answers"] >= 2


async def test_server_error_on_an_executed_create_is_not_a_failure(started: Start) -> None:
    async with faulty(FaultRule(K.SERVER_ERROR, role="create", at_message=1, executed=True), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"]))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("29000"))
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.OPEN, what="found")
        assert not order.lost


async def test_cancel_with_an_unknown_outcome_is_resolved_by_a_query(started: Start) -> None:
    async with faulty(FaultRule(K.UNKNOWN_STATUS, role="cancel", at_message=1), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"]))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("29000"))
        try:
            await connector.cancel("BTC-USDT", client_id)
        except RequestError:
            pass  # the answer is lost; the cancel did happen
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.CANCELED, what="cancel confirmed by a query or the stream")
        assert [t.to_state for t in order.transitions][-2:] == [OrderState.PENDING_CANCEL, OrderState.CANCELED]


async def test_cancel_that_loses_the_race_to_a_fill_ends_filled(started: Start) -> None:
    async with faulty(FaultRule(K.CANCEL_FILL_RACE, symbol="BTCUSDT", at_message=1), busy=False) as server:
        engine = server.exchange.engine
        connector = await started(make_spot(server, ["BTC-USDT"]))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("30000"))
        assert not await connector.cancel("BTC-USDT", client_id)
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.FILLED and not order.missing_fills, what="filled")
        truth = engine.order(account(server).account_id, "BTCUSDT", client_order_id=client_id)
        assert order.executed_amount == truth.filled_qty and order.fees == {truth.fee_asset: truth.cum_fee}
        assert order.terminal_transitions() == 1


async def test_a_dropped_fill_event_is_reconciled(started: Start) -> None:
    async with faulty(FaultRule(K.DROP, channel="user", user_kind="fill", at_message=1), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"], long_poll_interval_s=1.0))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("30000"))
        order = connector.in_flight_orders[client_id]
        cross(server, "BTCUSDT", EngineSide.SELL, D("0.1"), D("30000"))
        await wait_for(lambda: order.state is OrderState.FILLED and order.executed_amount == D("0.1"),
                       what="fill found by REST reconciliation")
        assert {f.source for f in order.fills} == {"rest:trades"}


async def test_user_stream_termination_resubscribes(started: Start) -> None:
    async with faulty(FaultRule(K.TERMINATE, channel="user", at_message=1), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"]))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("29000"))  # its ack triggers the fault
        await wait_for(lambda: connector.stats()["user_stream"]["connections"] >= 2, what="resubscribed")
        order = connector.in_flight_orders[client_id]
        assert order.state is OrderState.OPEN
        assert await connector.cancel("BTC-USDT", client_id)


async def test_fill_before_ack_is_a_stale_update_not_an_error(started: Start) -> None:
    async with faulty(FaultRule(K.FILL_BEFORE_ACK, channel="user", at_message=1), busy=False) as server:
        connector = await started(make_spot(server, ["BTC-USDT"]))
        cross(server, "BTCUSDT", EngineSide.SELL, D("0.1"), D("30000"))
        client_id = await connector.buy("BTC-USDT", D("0.1"), "LIMIT", D("30000"))
        order = connector.in_flight_orders[client_id]
        await wait_for(lambda: order.state is OrderState.FILLED, what="filled")
        assert connector.stats()["orders"]["illegal_transitions"] == 0 and order.terminal_transitions() == 1
