"""What a run records, per venue: the connector's views next to the truth at the same moment.

The checks read only these records, so each check can be exercised on synthetic data. Times `t` are seconds
since the exchange started (in-process: the same clock as the transcript's `t`, which is in microseconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .protocol import BalanceView, BookView, Capabilities, FundingView, Level, OrderView, PositionView, Venue


@dataclass(frozen=True, slots=True)
class StaleLevel:
    """A level the connector shows at a quantity the truth had only at an older update id."""

    side: str  # "bid" | "ask"
    price: Decimal
    shown: Decimal  # 0: the connector does not show the level
    truth: Decimal  # the truth at the claimed id (0: no such level)
    older_id: int  # an older update id at which the truth had `shown`


@dataclass(frozen=True, slots=True)
class BookSample:
    """The connector's book at `t`, and the truth at the update id it claimed (read in the same instant)."""

    t: float
    update_id: int | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    #: the exchange's last update id at `t`
    truth_last_id: int
    #: the truth at `update_id` to the run's depth (None: not compared, see `note`)
    truth_bids: tuple[Level, ...] | None = None
    truth_asks: tuple[Level, ...] | None = None
    #: why the truth is missing: "no id claimed", "older than the exchange's history", "beyond the exchange's last id"
    note: str = ""
    #: on a mismatch: levels that show an older state of the book (see `book.no_stale_diff`)
    stale_levels: tuple[StaleLevel, ...] = ()
    #: the exchange's best bid and ask at `t`, read only when there is no truth at the claimed id (for the
    #: reports' timelines; no check uses it)
    truth_top: tuple[Decimal | None, Decimal | None] | None = None


@dataclass(frozen=True, slots=True)
class OrderTruth:
    """The exchange's order, as the engine (or the control API) reports it."""

    client_order_id: str
    order_id: int
    side: str
    price: Decimal
    qty: Decimal
    filled_qty: Decimal
    cum_fee: Decimal
    fee_asset: str
    status: str  # the engine's: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED


@dataclass(frozen=True, slots=True)
class TradeTruth:
    trade_id: str
    order_id: int
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str


@dataclass(frozen=True, slots=True)
class OrderSample:
    """The connector's orders and the exchange's orders of the account on the venue's market, at `t`."""

    t: float
    views: Mapping[str, OrderView]
    truth: Mapping[str, OrderTruth]


@dataclass(frozen=True, slots=True)
class FundingTruth:
    rate: Decimal
    mark_price: Decimal
    next_funding_time_ms: int
    index_price: Decimal


@dataclass(frozen=True, slots=True)
class FundingSample:
    t: float
    view: FundingView | None
    truth: FundingTruth


@dataclass(frozen=True, slots=True)
class PositionTruth:
    amount: Decimal
    entry_price: Decimal
    leverage: int


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An order the driver asked the connector to place."""

    t_request: float
    t_return: float
    side: str
    amount: Decimal
    price: Decimal | None
    order_type: str
    client_order_id: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRequest:
    t_request: float
    t_return: float
    client_order_id: str
    error: str | None = None


@dataclass(frozen=True)
class FinalState:
    """Everything compared after settling: the flow paused, faults off, the connector given time to converge."""

    t: float
    #: the connector matched the truth in everything below before the settle bound ran out
    converged: bool
    waited_s: float
    #: what still differed when the wait ended (empty when converged)
    differences: tuple[str, ...]
    book: BookView | None
    truth_book: BookView
    orders: Mapping[str, OrderView]
    truth_orders: Mapping[str, OrderTruth]
    #: the exchange's fills by order id (None: the truth source cannot say)
    truth_trades: Mapping[int, tuple[TradeTruth, ...]] | None
    balances: Mapping[str, BalanceView | None] = field(default_factory=dict)
    truth_balances: Mapping[str, BalanceView] = field(default_factory=dict)
    positions: Mapping[str, PositionView] | None = None
    truth_position: PositionTruth | None = None
    funding: FundingView | None = None
    truth_funding: FundingTruth | None = None


@dataclass
class VenueRecord:
    """One connector instance's run: what it showed, when, and the truth beside it."""

    venue: Venue
    trading_pair: str
    symbol: str
    assets: tuple[str, ...]
    capabilities: Capabilities
    depth: int
    #: set when the connector did not become ready (the scenario then has nothing else to check)
    ready_error: str | None = None
    ready_s: float | None = None
    #: when the run phase started (connector ready) and when settling started
    run_t: float = 0.0
    settle_t: float | None = None
    books: list[BookSample] = field(default_factory=list)
    orders: list[OrderSample] = field(default_factory=list)
    funding: list[FundingSample] = field(default_factory=list)
    placed: list[PlacedOrder] = field(default_factory=list)
    cancels: list[CancelRequest] = field(default_factory=list)
    final: FinalState | None = None
    stop_error: str | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: the sampler's period, seconds (bounds are measured at this resolution)
    sample_interval_s: float = 0.1
    #: when the exchange served a book snapshot of this venue's market (None: unknown, an exchange out of process)
    snapshots_served: tuple[float, ...] | None = None
    #: when a fault fired that may oblige a connector to a fresh snapshot (a lost or reordered diff, a cut or
    #: stalled stream, a stale, late or refused snapshot...), on any of the run's connections
    snapshot_causes: tuple[float, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.venue.value} {self.trading_pair}"
