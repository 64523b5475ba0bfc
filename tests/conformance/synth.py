"""Synthetic records for the checks' unit tests: small books, orders and funding samples built by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from conformance.observations import (
    BookSample,
    FinalState,
    FundingSample,
    FundingTruth,
    OrderSample,
    OrderTruth,
    PlacedOrder,
    PositionTruth,
    StaleLevel,
    TradeTruth,
    VenueRecord,
)
from conformance.protocol import (
    BalanceView,
    BookView,
    Capabilities,
    FundingView,
    Level,
    OrderStatus,
    OrderView,
    PositionView,
    Venue,
)

D = Decimal
S = OrderStatus


def levels(*rows: tuple[str, str]) -> tuple[Level, ...]:
    return tuple((D(p), D(q)) for p, q in rows)


BIDS = levels(("100.0", "1"), ("99.5", "2"), ("99.0", "3"))
ASKS = levels(("100.5", "1"), ("101.0", "2"))


def book(t: float, update_id: int | None, bids: tuple[Level, ...] = BIDS, asks: tuple[Level, ...] = ASKS,
         truth_last: int | None = None, truth_bids: tuple[Level, ...] | None = BIDS,
         truth_asks: tuple[Level, ...] | None = ASKS, note: str = "",
         stale: tuple[StaleLevel, ...] = ()) -> BookSample:
    if update_id is None:
        truth_bids = truth_asks = None
    last = truth_last if truth_last is not None else (update_id or 0)
    return BookSample(t, update_id, bids, asks, last, truth_bids, truth_asks, note, stale)


def record(venue: Venue = Venue.SPOT, update_ids: bool = True, trading: bool = True, **fields: Any) -> VenueRecord:
    assets = ("BTC", "USDT") if venue is Venue.SPOT else ("USDT",)
    symbol = "BTCUSDT" if venue is Venue.SPOT else "BTCUSDT-PERP"
    rec = VenueRecord(venue, "BTC-USDT", symbol, assets, Capabilities(trading=trading, update_ids=update_ids), 50)
    for name, value in fields.items():
        setattr(rec, name, value)
    return rec


def view(cid: str, state: OrderStatus, executed: str = "0", amount: str = "1", fees: Mapping[str, str] | None = None,
         trade_ids: Sequence[str] = (), transitions: Sequence[OrderStatus] | None = None,
         lost: bool = False) -> OrderView:
    return OrderView(cid, "1", "BTC-USDT", "BUY", D(amount), D("100"), state, D(executed),
                     {k: D(v) for k, v in (fees or {}).items()}, tuple(trade_ids),
                     tuple(transitions) if transitions is not None else None, lost)


def truth(cid: str, status: str, filled: str = "0", qty: str = "1", fee: str = "0", fee_asset: str = "BTC",
          order_id: int = 1) -> OrderTruth:
    return OrderTruth(cid, order_id, "BUY", D("100"), D(qty), D(filled), D(fee), fee_asset, status)


def orders(t: float, views: Sequence[OrderView], truths: Sequence[OrderTruth]) -> OrderSample:
    return OrderSample(t, {v.client_order_id: v for v in views}, {o.client_order_id: o for o in truths})


def placed(cid: str | None, t: float = 1.0) -> PlacedOrder:
    return PlacedOrder(t, t + 0.01, "BUY", D("1"), D("100"), "LIMIT", cid)


def final(t: float = 10.0, book_view: BookView | None = None, truth_book: BookView | None = None,
          views: Sequence[OrderView] = (), truths: Sequence[OrderTruth] = (),
          trades: Mapping[int, tuple[TradeTruth, ...]] | None = None, converged: bool = True,
          **fields: Any) -> FinalState:
    return FinalState(t=t, converged=converged, waited_s=0.1, differences=(),
                      book=book_view if book_view is not None else BookView(BIDS, ASKS, 5),
                      truth_book=truth_book if truth_book is not None else BookView(BIDS, ASKS, 5),
                      orders={v.client_order_id: v for v in views}, truth_orders={o.client_order_id: o for o in truths},
                      truth_trades=trades, **fields)


def trade(trade_id: str, order_id: int = 1, qty: str = "1", fee: str = "0.001") -> TradeTruth:
    return TradeTruth(trade_id, order_id, D("100"), D(qty), D(fee), "BTC")


def funding(t: float, rate: str | None, mark: str = "30000", next_ms: int = 1000, truth_rate: str = "0.0001",
            truth_mark: str = "30000", truth_next_ms: int = 1000) -> FundingSample:
    seen = None if rate is None else FundingView(D(rate), D(mark), next_ms)
    return FundingSample(t, seen, FundingTruth(D(truth_rate), D(truth_mark), truth_next_ms, D(truth_mark)))


__all__ = [
    "ASKS",
    "BIDS",
    "BalanceView",
    "BookView",
    "D",
    "PositionTruth",
    "PositionView",
    "S",
    "StaleLevel",
    "book",
    "final",
    "funding",
    "levels",
    "orders",
    "placed",
    "record",
    "trade",
    "truth",
    "view",
]
