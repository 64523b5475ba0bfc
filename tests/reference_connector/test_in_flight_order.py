"""InFlightOrder: the state machine's rules, and a hypothesis state machine throwing arbitrary update and
fill sequences at it (invariants: legal transitions only, one terminal state at most, no duplicate trade,
executed within the amount, fees summed per asset)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from reference_connector.in_flight_order import LEGAL_TRANSITIONS, FillResult, InFlightOrder
from reference_connector.types import OrderState, OrderType, Side, TradeFill

D = Decimal
S = OrderState


def new_order(amount: str = "1") -> InFlightOrder:
    return InFlightOrder("c1", "BTC-USDT", Side.BUY, OrderType.LIMIT, D(amount), D("100"))


def fill(trade_id: str, amount: str, fee: str = "0.001", asset: str = "BTC") -> TradeFill:
    return TradeFill(trade_id, "BTC-USDT", "c1", "9", D("100"), D(amount), D(fee), asset, 1, False, "test")


def test_history_starts_pending_create_and_records_each_change() -> None:
    order = new_order()
    assert [t.to_state for t in order.transitions] == [S.PENDING_CREATE]
    assert order.transition(S.OPEN, "rest:create")
    assert order.transition(S.OPEN, "ws")  # same state: no-op, not recorded
    assert order.transition(S.PENDING_CANCEL, "local")
    assert order.transition(S.CANCELED, "rest:cancel", "CANCELED")
    assert [(t.from_state, t.to_state) for t in order.transitions] == [
        (None, S.PENDING_CREATE), (S.PENDING_CREATE, S.OPEN), (S.OPEN, S.PENDING_CANCEL),
        (S.PENDING_CANCEL, S.CANCELED)]
    assert order.terminal_transitions() == 1


def test_illegal_and_stale_transitions_are_refused_and_kept() -> None:
    order = new_order()
    order.transition(S.PARTIALLY_FILLED, "ws")
    assert not order.transition(S.OPEN, "rest")  # stale
    assert order.is_stale_update(S.OPEN)
    order.transition(S.FILLED, "ws")
    assert not order.transition(S.CANCELED, "ws")  # contradiction: second terminal state
    assert order.state is S.FILLED
    assert [(t.from_state, t.to_state) for t in order.refused] == [(S.PARTIALLY_FILLED, S.OPEN), (S.FILLED, S.CANCELED)]
    assert order.stale_refusals() == 1


def test_fills_dedup_cap_fees_and_drive_the_state() -> None:
    order = new_order("1")
    order.transition(S.OPEN, "rest")
    assert order.apply_fill(fill("t1", "0.4", "0.0004", "BTC")) == FillResult.APPLIED
    assert order.state is S.PARTIALLY_FILLED
    assert order.apply_fill(fill("t1", "0.4")) == FillResult.DUPLICATE
    assert order.apply_fill(fill("t2", "0.7")) == FillResult.OVERFILL
    assert order.apply_fill(fill("t3", "0.6", "1.5", "USDT")) == FillResult.APPLIED
    assert order.state is S.FILLED and order.executed_amount == D("1")
    assert order.fees == {"BTC": D("0.0004"), "USDT": D("1.5")}
    assert order.trade_ids == ["t1", "t3"] and len(order.refused_fills) == 1
    assert order.average_price == D("100")


def test_late_fill_on_a_canceled_order_is_applied_without_changing_its_state() -> None:
    order = new_order("1")
    order.transition(S.OPEN, "rest")
    order.transition(S.CANCELED, "rest")
    assert order.apply_fill(fill("t1", "0.3")) == FillResult.APPLIED
    assert order.state is S.CANCELED and order.executed_amount == D("0.3")


def test_a_fill_while_cancel_is_pending_stays_pending_unless_it_completes() -> None:
    order = new_order("1")
    order.transition(S.OPEN, "rest")
    order.transition(S.PENDING_CANCEL, "local")
    order.apply_fill(fill("t1", "0.5"))
    assert order.state is S.PENDING_CANCEL
    order.apply_fill(fill("t2", "0.5"))
    assert order.state is S.FILLED


def test_exchange_executed_ahead_of_fills_means_missing_fills() -> None:
    order = new_order("1")
    order.exchange_executed = D("0.5")
    assert order.missing_fills
    order.apply_fill(fill("t1", "0.5"))
    assert not order.missing_fills


class OrderMachine(RuleBasedStateMachine):
    """Any sequence of state updates and fills, from any source, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.order = new_order("1")
        self.accepted_fills: dict[str, Decimal] = {}
        self.fees: dict[str, Decimal] = {}
        self.offered: dict[str, tuple[Decimal, Decimal, str]] = {}

    @rule(state=st.sampled_from(list(OrderState)))
    def update(self, state: OrderState) -> None:
        before = self.order.state
        applied = self.order.transition(state, "test")
        assert applied == (state is before or state in LEGAL_TRANSITIONS[before])

    @rule(trade=st.integers(0, 8), amount=st.sampled_from(["0.1", "0.25", "0.5", "1"]),
          fee=st.sampled_from(["0", "0.01"]), asset=st.sampled_from(["BTC", "USDT"]))
    def fill(self, trade: int, amount: str, fee: str, asset: str) -> None:
        trade_id = f"t{trade}"
        # The same trade id always carries the same trade (as on an exchange).
        first = self.offered.setdefault(trade_id, (D(amount), D(fee), asset))
        result = self.order.apply_fill(fill(trade_id, str(first[0]), str(first[1]), first[2]))
        if result == FillResult.APPLIED:
            self.accepted_fills[trade_id] = first[0]
            if first[1]:
                self.fees[first[2]] = self.fees.get(first[2], D(0)) + first[1]

    @invariant()
    def history_is_legal(self) -> None:
        transitions = self.order.transitions
        assert transitions[0].from_state is None
        for t in transitions[1:]:
            assert t.from_state is not None and t.to_state in LEGAL_TRANSITIONS[t.from_state]
        for previous, current in itertools.pairwise(transitions):
            assert previous.to_state is current.from_state
        assert transitions[-1].to_state is self.order.state

    @invariant()
    def at_most_one_terminal_state(self) -> None:
        assert self.order.terminal_transitions() <= 1
        if self.order.terminal_transitions():
            assert self.order.state.is_terminal

    @invariant()
    def fills_are_unique_capped_and_summed(self) -> None:
        order = self.order
        assert len(order.trade_ids) == len(set(order.trade_ids))
        assert order.executed_amount == sum(self.accepted_fills.values(), D(0)) <= order.amount
        assert order.fees == self.fees
        if order.executed_amount == order.amount and order.terminal_transitions() == 1:
            assert order.state in (S.FILLED, S.CANCELED, S.FAILED, S.EXPIRED)


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
