"""The checks changed because a broken connector got through them, on synthetic records: each change shown to pass
what the reference does and to fail what the broken connector did.

`orders.tracked` only asked whether an order had ever been tracked, so a connector that tracked an order and then
dropped it (its create answer lost: `forgets_unknown_creates` in `broken.py`) while the exchange still had it open
passed every check (`orders.reconciled` only fails it if the divergence outlasts `reconcile_s`, which it need not).
"""

from __future__ import annotations

from typing import Any

from conformance.checks import Bounds, Status, get_check
from tests.conformance.synth import S, final, orders, placed, record, truth, view


def run_tracked(**fields: Any) -> tuple[Status, str]:
    outcome = get_check("orders.tracked").function(record(**fields), Bounds())
    return outcome.status, outcome.message


def test_orders_tracked_fails_for_an_order_dropped_while_the_exchange_still_has_it_open() -> None:
    samples = [orders(1.0, [view("a", S.PENDING_CREATE)], [truth("a", "NEW", order_id=7)]),
               orders(1.6, [], [truth("a", "NEW", order_id=7)])]
    status, message = run_tracked(placed=[placed("a", 0.9)], orders=samples)
    assert status is Status.FAIL
    assert "tracked order a from t=1.000s and then dropped it" in message and "still had it NEW (order id 7" in message


def test_orders_tracked_fails_when_the_drop_shows_only_after_settling() -> None:
    samples = [orders(1.0, [view("a", S.OPEN)], [truth("a", "PARTIALLY_FILLED", "0.5")])]
    status, message = run_tracked(placed=[placed("a", 0.9)], orders=samples,
                                  final=final(truths=[truth("a", "PARTIALLY_FILLED", "0.5")]))
    assert status is Status.FAIL and "at t=10.000s the exchange still had it PARTIALLY_FILLED" in message


def test_orders_tracked_lets_a_connector_forget_an_order_once_it_has_ended() -> None:
    samples = [orders(1.0, [view("a", S.OPEN)], [truth("a", "NEW")]),
               orders(1.5, [view("a", S.FILLED, "1")], [truth("a", "FILLED", "1")]),
               orders(2.0, [], [truth("a", "FILLED", "1")])]
    status, message = run_tracked(placed=[placed("a", 0.9)], orders=samples,
                                  final=final(truths=[truth("a", "FILLED", "1")]))
    assert status is Status.PASS, message
