"""ClientOrderTracker against a scripted fake REST API: lost-order rules, fill de-duplication, reconciliation."""

from __future__ import annotations

import asyncio
from collections import deque
from decimal import Decimal

import pytest

from reference_connector.client_order_tracker import ClientOrderTracker
from reference_connector.errors import OrderNotFound, RequestError
from reference_connector.in_flight_order import InFlightOrder
from reference_connector.types import OrderState, OrderType, OrderUpdate, Side, TradeFill

D = Decimal
S = OrderState

Answer = OrderUpdate | Exception


class FakeApi:
    """Answers status and trade queries from scripts; records every call."""

    def __init__(self) -> None:
        self.status: deque[Answer] = deque()
        self.trades: deque[list[TradeFill] | Exception] = deque()
        self.calls: list[str] = []

    async def fetch_order(self, order: InFlightOrder) -> OrderUpdate:
        self.calls.append(f"status {order.client_order_id}")
        answer = self.status.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def fetch_fills(self, order: InFlightOrder) -> list[TradeFill]:
        self.calls.append(f"trades {order.client_order_id}")
        answer = self.trades.popleft() if self.trades else []
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def order(client_id: str = "c1", amount: str = "1") -> InFlightOrder:
    return InFlightOrder(client_id, "BTC-USDT", Side.BUY, OrderType.LIMIT, D(amount), D("100"))


def update(state: OrderState, executed: str = "0", client_id: str = "c1", source: str = "rest:status") -> OrderUpdate:
    return OrderUpdate("BTC-USDT", client_id, "9", state, 1, D(executed), source)


def fill(trade_id: str, amount: str, client_id: str | None = "c1", source: str = "ws") -> TradeFill:
    return TradeFill(trade_id, "BTC-USDT", client_id, "9", D("100"), D(amount), D("0.01"), "USDT", 1, True, source)


def not_found() -> OrderNotFound:
    return OrderNotFound("HTTP 400 -2013 Order does not exist.", 400, -2013)


NETWORK_ERRORS: list[Exception] = [
    RequestError("GET /api/v3/order: ServerDisconnectedError"),
    RequestError("HTTP 503 -1007 Timeout waiting for response from backend server.", 503, -1007),
    RequestError("HTTP 500", 500),
    RequestError("HTTP 429 -1003", 429, -1003, retry_after_s=1),
    RequestError("GET /api/v3/order: TimeoutError"),
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def tracker(api: FakeApi, clock: Clock) -> ClientOrderTracker:
    return ClientOrderTracker(api, lost_after=2, lost_confirm_delay_s=0.5, retry_delay_s=1.0, clock=clock,
                              poll_interval=lambda: 5.0)


async def test_network_errors_never_make_an_order_lost(tracker: ClientOrderTracker, api: FakeApi) -> None:
    o = order()
    o.outcome_unknown = True  # e.g. the create request timed out
    tracker.start_tracking(o)
    for error in NETWORK_ERRORS * 3:
        api.status.append(error)
        await tracker.reconcile_order(o)
    assert o.state is S.PENDING_CREATE and not o.lost and o.outcome_unknown
    assert tracker.stats.lost_orders == 0 and tracker.stats.reconcile_errors == 15
    api.status.append(update(S.OPEN))  # the order did exist
    await tracker.reconcile_order(o)
    assert o.state is S.OPEN and not o.outcome_unknown and o.exchange_order_id == "9"


async def test_lost_only_after_the_exchange_says_so_twice(tracker: ClientOrderTracker, api: FakeApi) -> None:
    o = order()
    o.outcome_unknown = True
    tracker.start_tracking(o)
    api.status.extend([not_found(), NETWORK_ERRORS[0], not_found()])
    await tracker.reconcile_order(o)
    assert o.state is S.PENDING_CREATE and not o.lost  # one answer is not enough
    await tracker.reconcile_order(o)  # a network error neither counts nor resets
    assert not o.lost
    await tracker.reconcile_order(o)
    assert o.lost and o.state is S.FAILED and o.transitions[-1].reason.startswith("lost:")
    assert tracker.stats.lost_orders == 1 and tracker.stats.not_found_answers == 2


async def test_a_found_answer_resets_the_not_found_count(tracker: ClientOrderTracker, api: FakeApi) -> None:
    o = order()
    tracker.start_tracking(o)
    api.status.extend([not_found(), update(S.OPEN), not_found()])
    for _ in range(3):
        await tracker.reconcile_order(o)
    assert not o.lost and o.state is S.OPEN


async def test_a_late_fill_of_a_lost_order_is_applied(tracker: ClientOrderTracker, api: FakeApi) -> None:
    o = order()
    tracker.start_tracking(o)
    api.status.extend([not_found(), not_found()])
    await tracker.reconcile_order(o)
    await tracker.reconcile_order(o)
    assert o.lost
    assert tracker.process_fill(fill("t1", "0.4")) == "applied"
    assert o.executed_amount == D("0.4") and o.trade_ids == ["t1"] and o.state is S.FAILED
    assert tracker.stats.late_fills == 1 and tracker.stats.late_fills_on_lost_orders == 1


async def test_rest_and_ws_fills_are_deduplicated_by_trade_id(tracker: ClientOrderTracker, api: FakeApi) -> None:
    o = order()
    tracker.start_tracking(o)
    tracker.process_order_update(update(S.OPEN, source="rest:create"))
    tracker.process_fill(fill("t1", "0.5", source="ws"))
    api.status.append(update(S.FILLED, "1"))
    api.trades.append([fill("t1", "0.5", None, "rest:trades"), fill("t2", "0.5", None, "rest:trades")])
    await tracker.reconcile_order(o)  # FILLED with 0.5 missing: fetch the trades
    assert api.calls == ["status c1", "trades c1"]
    assert o.state is S.FILLED and o.executed_amount == D("1") and o.trade_ids == ["t1", "t2"]
    tracker.process_fill(fill("t2", "0.5"))  # the WS copy arrives last
    assert tracker.stats.duplicate_fills == 2 and o.executed_amount == D("1")


async def test_missing_fills_are_fetched_after_a_delay(tracker: ClientOrderTracker, api: FakeApi,
                                                       clock: Clock) -> None:
    o = order()
    tracker.start_tracking(o)
    tracker.process_order_update(update(S.FILLED, "1", source="rest:create"))  # USD-M RESULT: no fills
    assert o.missing_fills
    await tracker.reconcile_due()
    assert api.calls == []  # not yet: the WS may bring them
    clock.now += 1
    api.status.append(update(S.FILLED, "1"))
    api.trades.append([fill("t9", "1", None, "rest:trades")])
    await tracker.reconcile_due()
    assert o.executed_amount == D("1") and not o.missing_fills and tracker.stats.late_fills == 0


async def test_full_reconciliation_on_request_skips_orders_being_created(tracker: ClientOrderTracker,
                                                                          api: FakeApi) -> None:
    a, b, c = order("a"), order("b"), order("c")
    for o in (a, b, c):
        tracker.start_tracking(o)
    b.create_in_flight = True
    c.transition(S.CANCELED, "test")
    api.status.append(update(S.PARTIALLY_FILLED, "0", client_id="a"))
    tracker.request_full_reconciliation()
    await tracker.reconcile_due()
    assert api.calls == ["status a"] and a.state is S.PARTIALLY_FILLED
    assert tracker.stats.full_reconciliations == 1


async def test_pending_cancel_is_kept_while_the_cancel_is_in_flight(tracker: ClientOrderTracker) -> None:
    o = order()
    tracker.start_tracking(o)
    tracker.process_order_update(update(S.OPEN))
    o.transition(S.PENDING_CANCEL, "local")
    o.cancel_in_flight = True
    tracker.process_order_update(update(S.OPEN, source="ws"))
    assert o.state is S.PENDING_CANCEL
    o.cancel_in_flight = False  # the cancel failed with a network error; the exchange says it is open
    tracker.process_order_update(update(S.OPEN))
    assert o.state is S.OPEN


async def test_stale_and_contradictory_updates_are_counted_apart(tracker: ClientOrderTracker) -> None:
    o = order()
    tracker.start_tracking(o)
    tracker.process_order_update(update(S.FILLED, "1", source="ws"))
    tracker.process_order_update(update(S.OPEN, source="rest:create"))  # the create answer came last
    tracker.process_order_update(update(S.CANCELED, source="ws"))
    assert tracker.stats.stale_updates == 1 and tracker.stats.illegal_transitions == 1
    assert o.state is S.FILLED and o.terminal_transitions() == 1


async def test_unknown_orders_and_fills_are_counted(tracker: ClientOrderTracker) -> None:
    assert not tracker.process_order_update(update(S.OPEN, client_id="nope"))
    assert tracker.process_fill(fill("t1", "1", client_id="nope")) == "unknown"
    assert tracker.stats.unknown_order_updates == 1 and tracker.stats.unknown_fills == 1


async def test_run_loop_polls_and_can_be_cancelled(api: FakeApi) -> None:
    tracker = ClientOrderTracker(api, poll_interval=lambda: 0.01)
    o = order()
    tracker.start_tracking(o)
    api.status.extend([update(S.OPEN)] * 1000)
    task = asyncio.get_running_loop().create_task(tracker.run())
    for _ in range(200):
        if len(api.calls) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(api.calls) >= 3 and o.state is S.OPEN


def test_retention_forgets_old_terminal_orders_only(api: FakeApi) -> None:
    tracker = ClientOrderTracker(api, retention=3)
    orders = [order(f"o{i}") for i in range(5)]
    for o in orders[:3]:
        tracker.start_tracking(o)
    orders[0].transition(S.CANCELED, "test")
    for o in orders[3:]:
        tracker.start_tracking(o)
    assert "o0" not in tracker.orders and "o1" in tracker.orders and len(tracker.orders) == 4
