"""Per-market mutable state: the book, update ids, history, and the perpetual's price/funding state."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from .book import BookSide
from .events import Trade
from .frozen import fast_init
from .history import BookHistory
from .market import MarketSpec

RATE_QUANTUM = Decimal("0.00000001")


@fast_init
@dataclass(frozen=True, slots=True)
class BookSnapshot:
    symbol: str
    update_id: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


@dataclass(frozen=True, slots=True)
class FundingInfo:
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_time_ms: int


@dataclass(frozen=True, slots=True)
class FundingRecord:
    funding_time_ms: int
    rate: Decimal
    mark_price: Decimal


class MarketState:
    def __init__(self, spec: MarketSpec, history_window: int, now_ms: int) -> None:
        self.spec = spec
        #: `spec.is_perpetual`, asked on every command
        self.is_perpetual = spec.is_perpetual
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.last_update_id = 0
        self.last_trade_id = 0
        self.history = BookHistory(history_window)
        #: level changes of the command being executed: (is_bid, ticks, lots_after)
        self.pending: list[tuple[bool, int, int]] = []
        self.recent_trades: deque[Trade] = deque(maxlen=1000)
        self.last_trade_price: Decimal | None = None
        # Perpetual state.
        self.scripted_mark: Decimal | None = None
        self.index_price: Decimal | None = None
        self.scripted_funding_rate: Decimal | None = None
        interval = spec.funding_interval_ms
        self.next_funding_time_ms = (now_ms // interval + 1) * interval
        self.last_mark_emit_ms = 0
        self.funding_history: deque[FundingRecord] = deque(maxlen=1000)

    def record_level(self, is_bid: bool, ticks: int, before: int, after: int) -> None:
        self.last_update_id += 1
        self.history.record((self.last_update_id, is_bid, ticks, before, after))
        self.pending.append((is_bid, ticks, after))

    def snapshot(self, depth: int | None = None) -> BookSnapshot:
        spec = self.spec
        return BookSnapshot(
            symbol=spec.symbol,
            update_id=self.last_update_id,
            bids=[(spec.price(t), spec.qty(lots)) for t, lots in self.bids.depth(depth)],
            asks=[(spec.price(t), spec.qty(lots)) for t, lots in self.asks.depth(depth)],
        )

    def snapshot_at(self, update_id: int, depth: int | None = None) -> BookSnapshot:
        bids, asks = self.history.rewind(self.bids.lots, self.asks.lots, self.last_update_id, update_id)
        spec = self.spec
        bid_prices = sorted(bids, reverse=True)[:depth]
        ask_prices = sorted(asks)[:depth]
        return BookSnapshot(
            symbol=spec.symbol,
            update_id=update_id,
            bids=[(spec.price(t), spec.qty(bids[t])) for t in bid_prices],
            asks=[(spec.price(t), spec.qty(asks[t])) for t in ask_prices],
        )

    # --- perpetual prices -------------------------------------------------------------------
    def mark_price(self) -> Decimal:
        """Scripted if set, else the book mid (rounded to a tick), else the last trade, else the index."""
        if self.scripted_mark is not None:
            return self.scripted_mark
        bid, ask = self.bids.best(), self.asks.best()
        spec = self.spec
        if bid is not None and ask is not None:
            mid = (spec.price(bid) + spec.price(ask)) / 2
            return mid.quantize(spec.tick_size, rounding=ROUND_HALF_EVEN)
        if self.last_trade_price is not None:
            return self.last_trade_price
        if bid is not None:
            return spec.price(bid)
        if ask is not None:
            return spec.price(ask)
        return self.index_price or Decimal(0)

    def index(self) -> Decimal:
        return self.index_price if self.index_price is not None else self.mark_price()

    def funding_rate(self) -> Decimal:
        """Scripted if set, else the base rate plus the mark/index premium, capped."""
        if self.scripted_funding_rate is not None:
            return self.scripted_funding_rate
        spec = self.spec
        rate = spec.base_funding_rate
        index = self.index()
        if self.index_price is not None and index > 0:
            rate += (self.mark_price() - index) / index
        cap = spec.funding_rate_cap
        rate = max(-cap, min(cap, rate))
        return rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_EVEN)

    def funding_info(self) -> FundingInfo:
        return FundingInfo(
            symbol=self.spec.symbol,
            mark_price=self.mark_price(),
            index_price=self.index(),
            funding_rate=self.funding_rate(),
            next_funding_time_ms=self.next_funding_time_ms,
        )
