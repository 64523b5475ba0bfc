"""Order checks: the connector's tracked orders against the exchange's orders and fills.

During the run the sampler records, at each tick, every order the connector tracks and every order the
exchange has for the account on the market (orders created in this run only). After settling, the final state
adds the exchange's fills. Invariants (legal transitions, one terminal state, no overfill, unique fills) hold at
every sample; equality with the truth is required at the end, and divergences during the run must heal within
the reconcile bound.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from ..levels import ConformanceLevel
from ..observations import OrderTruth, VenueRecord
from ..protocol import OrderStatus, OrderView
from .base import Bounds, Outcome, check, failed, fmt_t, passed, skipped
from .books import settle_words

L = ConformanceLevel.ORDERS
S = OrderStatus
ZERO = Decimal(0)

#: one legal step of an order's life. A cancel that fails goes back (PENDING_CANCEL -> OPEN/PARTIALLY_FILLED);
#: nothing leaves a terminal state.
LEGAL_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_CREATE: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.FAILED,
                                 S.EXPIRED}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.FAILED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.FAILED, S.EXPIRED}),
    S.PENDING_CANCEL: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.FAILED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
}

#: the connector states that agree with an exchange status (an IOC/FOK that did not fill is EXPIRED on the
#: exchange; a connector without an EXPIRED state may call it CANCELED)
AGREES: dict[str, frozenset[OrderStatus]] = {
    "NEW": frozenset({S.OPEN}),
    "PARTIALLY_FILLED": frozenset({S.PARTIALLY_FILLED}),
    "FILLED": frozenset({S.FILLED}),
    "CANCELED": frozenset({S.CANCELED}),
    "EXPIRED": frozenset({S.EXPIRED, S.CANCELED}),
}


def _reachable() -> dict[OrderStatus, frozenset[OrderStatus]]:
    out: dict[OrderStatus, frozenset[OrderStatus]] = {}
    for start in OrderStatus:
        seen: set[OrderStatus] = set()
        todo = list(LEGAL_TRANSITIONS[start])
        while todo:
            state = todo.pop()
            if state not in seen:
                seen.add(state)
                todo.extend(LEGAL_TRANSITIONS[state])
        out[start] = frozenset(seen)
    return out


#: what a sampler may see an order go to from a state, with steps in between missed
REACHABLE = _reachable()


def disagreement(view: OrderView | None, truth: OrderTruth) -> str | None:
    """Why the connector's view of an order disagrees with the exchange's (None: it agrees)."""
    if view is None:
        return "not tracked"
    reasons = []
    if view.state not in AGREES.get(truth.status, frozenset()):
        reasons.append(f"state {view.state.value} (exchange {truth.status})")
    if view.executed_amount != truth.filled_qty:
        reasons.append(f"executed {view.executed_amount} (exchange {truth.filled_qty})")
    return ", ".join(reasons) or None


def fee_disagreement(view: OrderView, truth: OrderTruth) -> str | None:
    paid = {asset: fee for asset, fee in view.fees.items() if fee}
    expected = {truth.fee_asset: truth.cum_fee} if truth.cum_fee else {}
    if paid != expected:
        return f"fees {_fees(paid)} (exchange {_fees(expected)})"
    return None


def _fees(fees: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{amount} {asset}" for asset, amount in sorted(fees.items())) or "none"


def _order_histories(record: VenueRecord) -> dict[str, list[tuple[float, OrderView]]]:
    histories: dict[str, list[tuple[float, OrderView]]] = {}
    for sample in record.orders:
        for client_id, view in sample.views.items():
            histories.setdefault(client_id, []).append((sample.t, view))
    if record.final is not None:
        for client_id, view in record.final.orders.items():
            histories.setdefault(client_id, []).append((record.final.t, view))
    return histories


def _recorded(history: Sequence[tuple[float, OrderView]]) -> tuple[OrderStatus, ...] | None:
    """The longest transition history the connector reported for an order (None: it reports none)."""
    recorded = [view.transitions for _, view in history if view.transitions is not None]
    return max(recorded, key=len) if recorded else None


def _sampled_states(history: Iterable[tuple[float, OrderView]]) -> list[tuple[float, OrderStatus]]:
    states: list[tuple[float, OrderStatus]] = []
    for t, view in history:
        if not states or states[-1][1] is not view.state:
            states.append((t, view.state))
    return states


@check("orders.tracked", L, needs=("trading",))
def orders_tracked(record: VenueRecord, bounds: Bounds) -> Outcome:
    """Every order placed through the connector is tracked by it (within `tracked_s` of the placement
    returning), every order the exchange has for the account was known to the connector, and none is dropped
    while the exchange still has it open.

    An order the exchange has and the connector forgot (its create timed out, it was declared lost and dropped)
    is an untracked position in the making (Hummingbot #8457). A connector may forget an order once it has ended,
    never one that is still open (NEW or PARTIALLY_FILLED) on the exchange.
    """
    histories = _order_histories(record)
    for placed in record.placed:
        cid = placed.client_order_id
        if cid is None:
            continue
        seen = [t for t, _ in histories.get(cid, [])]
        if not seen:
            return failed(f"{record.label}: order {cid} ({placed.side} {placed.amount} @ {placed.price}, placed at "
                          f"{fmt_t(placed.t_request)}) was never among the connector's tracked orders", placed.t_return,
                          client_order_id=cid)
        late = [t for t in seen if t >= placed.t_return]
        if late and not [t for t in seen if t <= placed.t_return + bounds.tracked_s + record.sample_interval_s]:
            return failed(f"{record.label}: order {cid} placed at {fmt_t(placed.t_request)} showed in the tracked "
                          f"orders only at {fmt_t(late[0])} (> {bounds.tracked_s:g}s)", placed.t_return,
                          client_order_id=cid)
    truth_seen: dict[str, tuple[float, OrderTruth]] = {}
    for sample in record.orders:
        for cid, truth in sample.truth.items():
            truth_seen.setdefault(cid, (sample.t, truth))
    if record.final is not None:
        for cid, truth in record.final.truth_orders.items():
            truth_seen.setdefault(cid, (record.final.t, truth))
    for cid, (t, truth) in sorted(truth_seen.items(), key=lambda item: item[1][0]):
        if cid not in histories:
            final = record.final.truth_orders.get(cid, truth) if record.final is not None else truth
            return failed(f"{record.label}: the exchange has order {cid} (order id {final.order_id}, {final.side} "
                          f"{final.qty} @ {final.price}, {final.status}, filled {final.filled_qty}) since {fmt_t(t)}; "
                          f"the connector never tracked it", t, client_order_id=cid, order_id=final.order_id)
    dropped = _dropped_while_open(record)
    if dropped is not None:
        return dropped
    count = sum(1 for p in record.placed if p.client_order_id is not None)
    return passed(f"{count} orders placed, all tracked")


#: exchange statuses of an order that is still open (a connector must keep tracking it)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


def _dropped_while_open(record: VenueRecord) -> Outcome | None:
    """The first order the connector tracked and then no longer did while the exchange still had it open."""
    samples = [(s.t, s.views, s.truth) for s in record.orders]
    if record.final is not None:
        samples.append((record.final.t, record.final.orders, record.final.truth_orders))
    known: dict[str, float] = {}
    for t, views, truth in samples:
        for cid in views:
            known.setdefault(cid, t)
        for cid, order in truth.items():
            if cid in known and cid not in views and order.status in OPEN_STATUSES:
                return failed(f"{record.label}: the connector tracked order {cid} from {fmt_t(known[cid])} and then "
                              f"dropped it; at {fmt_t(t)} the exchange still had it {order.status} (order id "
                              f"{order.order_id}, {order.side} {order.qty} @ {order.price}, filled {order.filled_qty})",
                              t, client_order_id=cid, order_id=order.order_id)
    return None


@check("orders.legal_transitions", L, needs=("trading",))
def orders_legal_transitions(record: VenueRecord, bounds: Bounds) -> Outcome:
    """An order only ever makes legal state transitions (e.g. never PARTIALLY_FILLED -> OPEN, never out of a
    terminal state).

    When the connector records each order's transitions they are checked step by step; otherwise the states
    seen at consecutive samples must be reachable from one another by legal steps.
    """
    for cid, history in _order_histories(record).items():
        recorded = _recorded(history)
        if recorded is not None:
            for index, (before, after) in enumerate(itertools.pairwise(recorded)):
                if before is not after and after not in LEGAL_TRANSITIONS[before]:
                    return failed(f"{record.label}: order {cid} went {before.value} -> {after.value} "
                                  f"(transition {index + 1} of {len(recorded) - 1}: {_path(recorded)})", history[-1][0],
                                  client_order_id=cid, transitions=[s.value for s in recorded])
        states = _sampled_states(history)
        for (_, before), (t, after) in itertools.pairwise(states):
            if after not in REACHABLE[before]:
                return failed(f"{record.label}: order {cid} was {before.value} and then {after.value} at {fmt_t(t)}: "
                              f"not a legal transition", t, client_order_id=cid)
    return passed()


def _path(states: Sequence[OrderStatus]) -> str:
    return " -> ".join(s.value for s in states)


@check("orders.single_terminal", L, needs=("trading",))
def orders_single_terminal(record: VenueRecord, bounds: Bounds) -> Outcome:
    """An order reaches at most one terminal state (FILLED, CANCELED, FAILED, EXPIRED), and nothing happens to
    its state after it.

    A FILLED order that later reads CANCELED (a late cancel confirmation applied over the fill) is the classic
    failure: two terminal events for one order.
    """
    for cid, history in _order_histories(record).items():
        recorded = _recorded(history)
        if recorded is not None:
            terminal = [s for s in recorded if s.is_terminal]
            first = next((i for i, s in enumerate(recorded) if s.is_terminal), None)
            if len(terminal) > 1 or (first is not None and first < len(recorded) - 1):
                return failed(f"{record.label}: order {cid} changed after it ended: {_path(recorded)}", history[-1][0],
                              client_order_id=cid, transitions=[s.value for s in recorded])
        ended: tuple[float, OrderStatus] | None = None
        for t, view in history:
            if ended is None:
                if view.state.is_terminal:
                    ended = (t, view.state)
            elif view.state is not ended[1]:
                return failed(f"{record.label}: order {cid} ended {ended[1].value} at {fmt_t(ended[0])} and was "
                              f"{view.state.value} at {fmt_t(t)}", t, client_order_id=cid)
    return passed()


@check("orders.no_overfill", L, needs=("trading",))
def orders_no_overfill(record: VenueRecord, bounds: Bounds) -> Outcome:
    """An order's executed amount never exceeds its amount.

    Fills counted twice (the same trade from REST and from the user stream under two shapes) show up here first.
    """
    for cid, history in _order_histories(record).items():
        for t, view in history:
            if view.executed_amount > view.amount:
                return failed(f"{record.label}: order {cid} executed {view.executed_amount} of {view.amount} at "
                              f"{fmt_t(t)}", t, client_order_id=cid)
    return passed()


@check("orders.unique_fills", L, needs=("trading",))
def orders_unique_fills(record: VenueRecord, bounds: Bounds) -> Outcome:
    """Fills are unique by trade id across REST and the user stream, and every fill the connector applied is a
    trade the exchange made for that order.

    A duplicated fill event (the duplicates scenario delivers each fill twice about half the time) must be
    applied once.
    """
    for cid, history in _order_histories(record).items():
        for t, view in history:
            repeated = [trade for trade, n in Counter(view.trade_ids).items() if n > 1]
            if repeated:
                return failed(f"{record.label}: order {cid} applied trade {repeated[0]} "
                              f"{Counter(view.trade_ids)[repeated[0]]} times (seen at {fmt_t(t)})", t,
                              client_order_id=cid, trade_id=repeated[0])
    final = record.final
    if final is not None and final.truth_trades is not None:
        for cid, view in final.orders.items():
            truth = final.truth_orders.get(cid)
            if truth is None:
                if view.trade_ids:
                    return failed(f"{record.label}: order {cid} applied trades {', '.join(view.trade_ids[:3])} but the "
                                  f"exchange has no such order", final.t, client_order_id=cid)
                continue
            made = {trade.trade_id for trade in final.truth_trades.get(truth.order_id, ())}
            unknown = [trade for trade in view.trade_ids if trade not in made]
            if unknown:
                return failed(f"{record.label}: order {cid} applied trade {unknown[0]}, which the exchange did not "
                              f"make for it (its trades: {', '.join(sorted(made)) or 'none'})", final.t,
                              client_order_id=cid, trade_id=unknown[0])
    return passed()


@check("orders.fills_truth", L, needs=("trading",))
def orders_fills_truth(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After settling, every order's executed amount and fees (by asset) equal the exchange's, and it has
    exactly the exchange's fills.

    A fill lost with a dropped user-stream event must have been recovered (by the order's status or its trades
    over REST) by then.
    """
    final = record.final
    if final is None:
        return skipped("the run did not reach the settle phase")
    problems: list[str] = []
    for cid, truth in final.truth_orders.items():
        view = final.orders.get(cid)
        if view is None:
            continue  # orders.tracked reports it
        reasons = []
        if view.executed_amount != truth.filled_qty:
            reasons.append(f"executed {view.executed_amount} (exchange {truth.filled_qty})")
        fee = fee_disagreement(view, truth)
        if fee:
            reasons.append(fee)
        if final.truth_trades is not None:
            made = {trade.trade_id for trade in final.truth_trades.get(truth.order_id, ())}
            missing = sorted(made - set(view.trade_ids))
            if missing:
                reasons.append(f"missing trades {', '.join(missing[:5])}")
        if reasons:
            problems.append(f"order {cid} (order id {truth.order_id}): {'; '.join(reasons)}")
    if problems:
        return failed(f"{record.label}: {settle_words(record, bounds)} {len(problems)} orders disagree with the "
                      f"exchange: {' | '.join(problems[:3])}", final.t, problems=problems[:20])
    return passed(f"{len(final.truth_orders)} orders")


@check("orders.state_truth", L, needs=("trading",))
def orders_state_truth(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After settling, every order's state agrees with the exchange's (NEW is OPEN, EXPIRED may be CANCELED), and
    an order the exchange does not have is not shown as open or filled.
    """
    final = record.final
    if final is None:
        return skipped("the run did not reach the settle phase")
    problems: list[str] = []
    for cid, truth in final.truth_orders.items():
        view = final.orders.get(cid)
        if view is not None and view.state not in AGREES.get(truth.status, frozenset()):
            problems.append(f"order {cid} is {view.state.value}, the exchange has it {truth.status}")
    for cid, view in final.orders.items():
        if cid not in final.truth_orders and view.state not in (S.FAILED, S.CANCELED, S.EXPIRED):
            problems.append(f"order {cid} is {view.state.value}, the exchange has no such order")
    if problems:
        return failed(f"{record.label}: {settle_words(record, bounds)} {'; '.join(problems[:3])}"
                      f"{f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''}", final.t,
                      problems=problems[:20])
    return passed()


@check("orders.no_false_loss", L, needs=("trading",))
def orders_no_false_loss(record: VenueRecord, bounds: Bounds) -> Outcome:
    """No order is declared lost (FAILED, or flagged lost) while the exchange has it.

    Timeouts, resets, 5xx and 429 answers say nothing about an order: a connector that counts them as "not
    found" drops live orders (Hummingbot #8457). Only the exchange saying the order does not exist may.
    """
    samples = [(s.t, s.views, s.truth) for s in record.orders]
    if record.final is not None:
        samples.append((record.final.t, record.final.orders, record.final.truth_orders))
    for t, views, truth in samples:
        for cid, view in views.items():
            exchange = truth.get(cid)
            if (view.state is S.FAILED or view.lost) and exchange is not None:
                return failed(f"{record.label}: order {cid} was declared {'lost' if view.lost else 'FAILED'} at "
                              f"{fmt_t(t)} while the exchange had it ({exchange.status}, order id {exchange.order_id}, "
                              f"filled {exchange.filled_qty})", t, client_order_id=cid, order_id=exchange.order_id)
    return passed()


@check("orders.reconciled", L, needs=("trading",))
def orders_reconciled(record: VenueRecord, bounds: Bounds) -> Outcome:
    """Whenever an order's state or executed amount on the exchange differs from the connector's, the connector
    catches up within `reconcile_s` (a dropped user-stream event is reconciled, by REST if need be).

    Measured at every sample, during the run and while settling.
    """
    samples = [(s.t, s.views, s.truth) for s in record.orders]
    if record.final is not None:
        samples.append((record.final.t, record.final.orders, record.final.truth_orders))
    diverged: dict[str, tuple[float, str]] = {}
    longest = 0.0
    for t, views, truth in samples:
        for cid, exchange in truth.items():
            reason = disagreement(views.get(cid), exchange)
            if reason is None:
                healed = diverged.pop(cid, None)
                if healed is not None:
                    longest = max(longest, t - healed[0])
                continue
            start = diverged.setdefault(cid, (t, reason))
            if t - start[0] > bounds.reconcile_s:
                return failed(f"{record.label}: order {cid} (order id {exchange.order_id}) disagreed with the exchange "
                              f"from {fmt_t(start[0])} ({start[1]}) and still at {fmt_t(t)} ({reason}): "
                              f"{t - start[0]:.2f}s > {bounds.reconcile_s:g}s", start[0],
                              client_order_id=cid, since=start[0], until=t)
    return passed(f"longest disagreement {longest:.2f}s")
