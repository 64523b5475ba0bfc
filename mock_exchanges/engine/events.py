"""What the engine tells the world. Every field that is a price, quantity or amount is a Decimal.

Events of one command are delivered together, after the command has finished, in this order: order
updates and trades as they happened, then the book delta, then balance and position updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .types import BalanceReason, ExecutionType, OrderStatus, OrderType, Side, TimeInForce

Level = tuple[Decimal, Decimal]


@dataclass(slots=True)
class BookDelta:
    """Absolute quantities of the levels one command changed (qty 0 removes the level).

    Each level change has its own update id; `first_update_id..last_update_id` is contiguous and
    follows the previous delta of the market with no hole (Binance's U/u).
    """

    symbol: str
    first_update_id: int
    last_update_id: int
    bids: list[Level]
    asks: list[Level]
    time_us: int


@dataclass(slots=True)
class Trade:
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_order_id: int
    seller_order_id: int
    buyer_account_id: int
    seller_account_id: int
    taker_side: Side
    time_us: int

    @property
    def buyer_is_maker(self) -> bool:
        return self.taker_side is Side.SELL


@dataclass(slots=True)
class OrderUpdate:
    account_id: int
    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal
    qty: Decimal
    status: OrderStatus
    execution_type: ExecutionType
    filled_qty: Decimal
    cum_quote: Decimal
    cum_fee: Decimal
    fee_asset: str
    last_qty: Decimal
    last_price: Decimal
    last_fee: Decimal
    trade_id: int | None
    is_maker: bool
    reduce_only: bool
    created_us: int
    time_us: int
    #: perpetuals: the PnL this fill realized (0 when it only opened, and on spot)
    last_realized_pnl: Decimal = Decimal(0)


@dataclass(slots=True)
class BalanceUpdate:
    account_id: int
    asset: str
    free: Decimal
    locked: Decimal
    reason: BalanceReason
    time_us: int


@dataclass(slots=True)
class PositionUpdate:
    account_id: int
    symbol: str
    qty: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    leverage: int
    time_us: int


@dataclass(slots=True)
class MarkPriceUpdate:
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_time_ms: int
    time_us: int


@dataclass(slots=True)
class FundingPayment:
    """Signed: negative means the account paid."""

    account_id: int
    symbol: str
    amount: Decimal
    rate: Decimal
    mark_price: Decimal
    position_qty: Decimal
    time_us: int


Event = BookDelta | Trade | OrderUpdate | BalanceUpdate | PositionUpdate | MarkPriceUpdate | FundingPayment
MARKET_EVENTS = (BookDelta, Trade, MarkPriceUpdate)
ACCOUNT_EVENTS = (OrderUpdate, BalanceUpdate, PositionUpdate, FundingPayment)
