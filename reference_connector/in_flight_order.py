"""One order's life as an explicit state machine, with its fills and the history of its transitions.

Rules (each one a failure mode Hummingbot shows, see the project notes §3):

* Only transitions in `LEGAL_TRANSITIONS` happen; anything else is refused, logged and recorded in
  `refused` (a stale update going backwards, e.g. PARTIALLY_FILLED -> OPEN, or a contradiction, e.g.
  FILLED -> CANCELED). Hence at most one terminal state, ever.
* Fills are de-duplicated by trade id (REST and WebSocket report the same trade), and a fill that would
  take the executed amount above the order amount is refused.
* A fill is applied whatever the state, terminal included: a fill reported late (after a cancel, or for
  an order declared lost) still happened, and balances and positions depend on it. It moves the state
  forward only from a non-terminal state.
* Fees are kept per asset.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from .types import OrderState, OrderType, Side, TradeFill

log = logging.getLogger(__name__)

S = OrderState
LEGAL_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.PENDING_CREATE: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.FAILED,
                                 S.EXPIRED}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.FAILED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.FAILED, S.EXPIRED}),
    # A cancel that fails (the order is still there) goes back; one that loses a race ends FILLED.
    S.PENDING_CANCEL: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.FAILED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change (or a refused attempt), with where it came from and why."""

    from_state: OrderState | None
    to_state: OrderState
    source: str
    reason: str = ""
    #: local wall-clock time, ms
    time_ms: int = 0


class FillResult:
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    OVERFILL = "overfill"


@dataclass(eq=False)
class InFlightOrder:
    client_order_id: str
    trading_pair: str
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    time_in_force: str = "GTC"
    exchange_order_id: str | None = None
    state: OrderState = OrderState.PENDING_CREATE
    executed_amount: Decimal = Decimal(0)
    executed_quote: Decimal = Decimal(0)
    fees: dict[str, Decimal] = field(default_factory=dict)
    trade_ids: list[str] = field(default_factory=list)
    fills: list[TradeFill] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    #: refused transitions (stale or contradictory updates), kept for the conformance report
    refused: list[Transition] = field(default_factory=list)
    #: fills refused because they would execute more than the amount
    refused_fills: list[TradeFill] = field(default_factory=list)
    #: the highest cumulative executed amount the exchange has reported (fills may still be on their way)
    exchange_executed: Decimal = Decimal(0)
    #: declared lost: the exchange said the order does not exist
    lost: bool = False
    #: set while a create / cancel request is in flight (its answer is authoritative when it comes)
    create_in_flight: bool = False
    cancel_in_flight: bool = False
    #: the create request's outcome is unknown (network error, 5xx): reconcile by client order id
    outcome_unknown: bool = False
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    last_reason: str = ""

    def __post_init__(self) -> None:
        self._trade_id_set = set(self.trade_ids)
        if not self.transitions:
            self.transitions.append(Transition(None, self.state, "local", "tracking started", self.created_ms))

    # --- views ---------------------------------------------------------------------------------------
    @property
    def is_done(self) -> bool:
        return self.state.is_terminal

    @property
    def is_open(self) -> bool:
        return not self.state.is_terminal

    @property
    def remaining_amount(self) -> Decimal:
        return self.amount - self.executed_amount

    @property
    def average_price(self) -> Decimal | None:
        return self.executed_quote / self.executed_amount if self.executed_amount else None

    @property
    def missing_fills(self) -> bool:
        """The exchange reports more executed than the fills we have."""
        return self.exchange_executed > self.executed_amount

    # --- state machine -----------------------------------------------------------------------------
    def can_transition(self, new_state: OrderState) -> bool:
        return new_state in LEGAL_TRANSITIONS[self.state]

    def transition(self, new_state: OrderState, source: str, reason: str = "") -> bool:
        """Move to `new_state` if legal. Same state: no-op (True). Illegal: refused, logged (False)."""
        if new_state is self.state:
            return True
        now = int(time.time() * 1000)
        if new_state not in LEGAL_TRANSITIONS[self.state]:
            self.refused.append(Transition(self.state, new_state, source, reason, now))
            level = logging.DEBUG if self.is_stale_update(new_state) else logging.WARNING
            log.log(level, "order %s: refused transition %s -> %s from %s%s", self.client_order_id,
                    self.state.value, new_state.value, source, f" ({reason})" if reason else "")
            return False
        self.transitions.append(Transition(self.state, new_state, source, reason, now))
        self.state = new_state
        if reason:
            self.last_reason = reason
        return True

    def is_stale_update(self, new_state: OrderState) -> bool:
        """Would moving to `new_state` go backwards (an update that lags behind what the order went through)?"""
        return _rank(new_state) < _rank(self.state)

    def stale_refusals(self) -> int:
        """Refused updates that only lagged behind (the order had gone past them), as opposed to ones that
        contradict the order's history (e.g. FILLED -> CANCELED)."""
        return sum(1 for t in self.refused if t.from_state is not None and _rank(t.to_state) < _rank(t.from_state))

    # --- fills -------------------------------------------------------------------------------------
    def has_trade(self, trade_id: str) -> bool:
        return trade_id in self._trade_id_set

    def apply_fill(self, fill: TradeFill) -> str:
        """Record a fill once per trade id; never beyond the amount. Returns a `FillResult`."""
        if fill.trade_id in self._trade_id_set:
            return FillResult.DUPLICATE
        if self.executed_amount + fill.amount > self.amount:
            self.refused_fills.append(fill)
            log.warning("order %s: fill %s of %s refused, it would execute %s of %s", self.client_order_id,
                        fill.trade_id, fill.amount, self.executed_amount + fill.amount, self.amount)
            return FillResult.OVERFILL
        self._trade_id_set.add(fill.trade_id)
        self.trade_ids.append(fill.trade_id)
        self.fills.append(fill)
        self.executed_amount += fill.amount
        self.executed_quote += fill.amount * fill.price
        if fill.fee:
            self.fees[fill.fee_asset] = self.fees.get(fill.fee_asset, Decimal(0)) + fill.fee
        if self.exchange_executed < self.executed_amount:
            self.exchange_executed = self.executed_amount
        if fill.exchange_order_id and self.exchange_order_id is None:
            self.exchange_order_id = fill.exchange_order_id
        if not self.state.is_terminal:
            if self.executed_amount == self.amount:
                self.transition(OrderState.FILLED, fill.source or "fill", f"trade {fill.trade_id}")
            elif self.state in (S.PENDING_CREATE, S.OPEN):
                self.transition(OrderState.PARTIALLY_FILLED, fill.source or "fill", f"trade {fill.trade_id}")
        return FillResult.APPLIED

    def terminal_transitions(self) -> int:
        return sum(1 for t in self.transitions if t.to_state.is_terminal)


def _rank(state: OrderState) -> int:
    return {S.PENDING_CREATE: 0, S.OPEN: 1, S.PENDING_CANCEL: 2, S.PARTIALLY_FILLED: 2}.get(state, 9)
