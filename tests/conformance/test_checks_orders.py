"""Order checks on synthetic records: each one shown to pass, and to fail with a message naming the order."""

from __future__ import annotations

from conformance.checks import Bounds, Status, get_check
from conformance.checks.orders import LEGAL_TRANSITIONS, REACHABLE
from conformance.observations import VenueRecord

from .synth import S, final, orders, placed, record, trade, truth, view

BOUNDS = Bounds()


def run(name: str, rec: VenueRecord) -> tuple[Status, str]:
    outcome = get_check(name).function(rec, BOUNDS)
    return outcome.status, outcome.message


def healthy() -> VenueRecord:
    """An order placed, filled in two trades, fees right, everything agreeing with the exchange."""
    steps = (S.PENDING_CREATE, S.OPEN, S.PARTIALLY_FILLED, S.FILLED)
    samples = [
        orders(1.0, [view("a", S.OPEN, transitions=steps[:2])], [truth("a", "NEW")]),
        orders(1.5, [view("a", S.PARTIALLY_FILLED, "0.4", trade_ids=["7"], fees={"BTC": "0.0004"},
                          transitions=steps[:3])], [truth("a", "PARTIALLY_FILLED", "0.4", fee="0.0004")]),
        orders(2.0, [view("a", S.FILLED, "1", trade_ids=["7", "8"], fees={"BTC": "0.001"}, transitions=steps)],
               [truth("a", "FILLED", "1", fee="0.001")]),
    ]
    end = final(views=[view("a", S.FILLED, "1", trade_ids=["7", "8"], fees={"BTC": "0.001"}, transitions=steps)],
                truths=[truth("a", "FILLED", "1", fee="0.001")],
                trades={1: (trade("7", qty="0.4", fee="0.0004"), trade("8", qty="0.6", fee="0.0006"))})
    return record(placed=[placed("a", 0.9)], orders=samples, final=end)


def test_a_healthy_order_passes_every_order_check() -> None:
    rec = healthy()
    for name in ("orders.tracked", "orders.legal_transitions", "orders.single_terminal", "orders.no_overfill",
                 "orders.unique_fills", "orders.fills_truth", "orders.state_truth", "orders.no_false_loss",
                 "orders.reconciled"):
        status, message = run(name, rec)
        assert status is Status.PASS, f"{name}: {message}"


def test_the_transition_table_has_no_way_out_of_a_terminal_state_and_no_way_back_from_a_fill() -> None:
    for state in (S.FILLED, S.CANCELED, S.FAILED, S.EXPIRED):
        assert not LEGAL_TRANSITIONS[state] and not REACHABLE[state]
    assert S.OPEN not in LEGAL_TRANSITIONS[S.PARTIALLY_FILLED]
    assert S.OPEN in LEGAL_TRANSITIONS[S.PENDING_CANCEL]  # a refused cancel goes back


def test_orders_tracked_fails_for_an_order_never_tracked_and_for_one_only_the_exchange_knows() -> None:
    status, message = run("orders.tracked", record(placed=[placed("gone", 1.0)], orders=[orders(1.5, [], [])]))
    assert status is Status.FAIL and "order gone" in message and "never among" in message
    untracked = record(orders=[orders(1.5, [], [truth("x-1", "FILLED", "1", order_id=42)])])
    status, message = run("orders.tracked", untracked)
    assert status is Status.FAIL and "order x-1 (order id 42" in message and "never tracked it" in message


def test_orders_legal_transitions_fails_on_a_recorded_step_back_and_on_a_sampled_one() -> None:
    recorded = [orders(1.0, [view("a", S.OPEN, "0.5", transitions=(S.PENDING_CREATE, S.PARTIALLY_FILLED, S.OPEN))],
                       [truth("a", "PARTIALLY_FILLED", "0.5")])]
    status, message = run("orders.legal_transitions", record(orders=recorded))
    assert status is Status.FAIL and "went PARTIALLY_FILLED -> OPEN" in message
    sampled = [orders(1.0, [view("a", S.FILLED, "1")], []), orders(1.1, [view("a", S.OPEN, "1")], [])]
    status, message = run("orders.legal_transitions", record(orders=sampled))
    assert status is Status.FAIL and "was FILLED and then OPEN" in message


def test_orders_single_terminal_fails_on_filled_then_canceled() -> None:
    twice = (S.PENDING_CREATE, S.OPEN, S.FILLED, S.CANCELED)
    status, message = run("orders.single_terminal",
                          record(orders=[orders(1.0, [view("a", S.CANCELED, "1", transitions=twice)], [])]))
    assert status is Status.FAIL and "FILLED -> CANCELED" in message
    sampled = [orders(1.0, [view("a", S.FILLED, "1")], []), orders(1.2, [view("a", S.CANCELED, "1")], [])]
    status, message = run("orders.single_terminal", record(orders=sampled))
    assert status is Status.FAIL and "ended FILLED" in message and "CANCELED at t=1.200s" in message


def test_orders_no_overfill() -> None:
    status, message = run("orders.no_overfill", record(orders=[orders(1.0, [view("a", S.FILLED, "1.5")], [])]))
    assert status is Status.FAIL and "executed 1.5 of 1" in message


def test_orders_unique_fills_fails_on_a_trade_applied_twice_and_on_a_trade_the_exchange_never_made() -> None:
    twice = record(orders=[orders(1.0, [view("a", S.PARTIALLY_FILLED, "0.8", trade_ids=["7", "7"])], [])])
    status, message = run("orders.unique_fills", twice)
    assert status is Status.FAIL and "applied trade 7 2 times" in message
    invented = record(final=final(views=[view("a", S.FILLED, "1", trade_ids=["7", "99"])],
                                  truths=[truth("a", "FILLED", "1")], trades={1: (trade("7"),)}))
    status, message = run("orders.unique_fills", invented)
    assert status is Status.FAIL and "trade 99, which the exchange did not make" in message


def test_orders_fills_truth_fails_on_a_missing_fill_and_on_wrong_fees() -> None:
    missing = record(final=final(views=[view("a", S.FILLED, "0.4", trade_ids=["7"], fees={"BTC": "0.0004"})],
                                 truths=[truth("a", "FILLED", "1", fee="0.001")],
                                 trades={1: (trade("7", qty="0.4"), trade("8", qty="0.6"))}))
    status, message = run("orders.fills_truth", missing)
    assert status is Status.FAIL
    assert "executed 0.4 (exchange 1)" in message and "missing trades 8" in message and "0.001 BTC" in message
    fees = record(final=final(views=[view("a", S.FILLED, "1", fees={"USDT": "0.1"})],
                              truths=[truth("a", "FILLED", "1", fee="0.001")]))
    status, message = run("orders.fills_truth", fees)
    assert status is Status.FAIL and "fees 0.1 USDT (exchange 0.001 BTC)" in message
    assert run("orders.fills_truth", record())[0] is Status.SKIP


def test_orders_state_truth() -> None:
    expired_as_canceled = record(final=final(views=[view("a", S.CANCELED)], truths=[truth("a", "EXPIRED")]))
    assert run("orders.state_truth", expired_as_canceled)[0] is Status.PASS
    status, message = run("orders.state_truth", record(final=final(views=[view("a", S.OPEN, "1")],
                                                                    truths=[truth("a", "FILLED", "1")])))
    assert status is Status.FAIL and "order a is OPEN, the exchange has it FILLED" in message
    phantom = record(final=final(views=[view("b", S.OPEN)]))
    status, message = run("orders.state_truth", phantom)
    assert status is Status.FAIL and "order b is OPEN, the exchange has no such order" in message
    rejected = record(final=final(views=[view("c", S.FAILED)]))
    assert run("orders.state_truth", rejected)[0] is Status.PASS


def test_orders_no_false_loss() -> None:
    rejected = record(orders=[orders(1.0, [view("a", S.FAILED)], [])])
    assert run("orders.no_false_loss", rejected)[0] is Status.PASS
    lost = record(orders=[orders(2.0, [view("a", S.FAILED)], [truth("a", "NEW", order_id=42)])])
    status, message = run("orders.no_false_loss", lost)
    assert status is Status.FAIL
    assert "declared FAILED at t=2.000s while the exchange had it (NEW, order id 42" in message
    flagged = record(orders=[orders(2.0, [view("a", S.OPEN, lost=True)], [truth("a", "NEW")])])
    assert run("orders.no_false_loss", flagged)[0] is Status.FAIL


def test_orders_reconciled_allows_a_short_lag_and_fails_a_dropped_fill_never_recovered() -> None:
    short = [orders(1.0, [view("a", S.OPEN)], [truth("a", "FILLED", "1")]),
             orders(2.0, [view("a", S.FILLED, "1")], [truth("a", "FILLED", "1")])]
    assert run("orders.reconciled", record(orders=short))[0] is Status.PASS
    long = [orders(1.0 + i, [view("a", S.OPEN)], [truth("a", "FILLED", "1")]) for i in range(7)]
    status, message = run("orders.reconciled", record(orders=long))
    assert status is Status.FAIL
    assert "from t=1.000s (state OPEN (exchange FILLED), executed 0 (exchange 1))" in message and "> 5s" in message
