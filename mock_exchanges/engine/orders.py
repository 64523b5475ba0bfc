"""The engine's mutable order record and the immutable view of it that leaves the engine."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .frozen import fast_init
from .market import MarketSpec
from .types import OrderStatus, OrderType, Side, TimeInForce


class Order:
    __slots__ = (
        "account_id",
        "client_order_id",
        "created_us",
        "cum_fee",
        "cum_quote",
        "fee_asset",
        "filled_lots",
        "lock_per_lot",
        "locked",
        "lots",
        "order_id",
        "order_type",
        "price",
        "price_ticks",
        "reduce_only",
        "side",
        "status",
        "symbol",
        "time_in_force",
        "updated_us",
    )

    def __init__(
        self,
        order_id: int,
        account_id: int,
        symbol: str,
        client_order_id: str,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        price_ticks: int,
        price: Decimal,
        lots: int,
        fee_asset: str,
        created_us: int,
        reduce_only: bool,
    ) -> None:
        self.order_id = order_id
        self.account_id = account_id
        self.symbol = symbol
        self.client_order_id = client_order_id
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.price_ticks = price_ticks
        #: `price_ticks` as a Decimal (tick size x ticks), made once
        self.price = price
        self.lots = lots
        self.filled_lots = 0
        self.cum_quote = Decimal(0)
        self.cum_fee = Decimal(0)
        self.fee_asset = fee_asset
        self.status = OrderStatus.NEW
        self.created_us = created_us
        self.updated_us = created_us
        self.reduce_only = reduce_only
        #: What this order still holds locked of its account's balance, and how much per lot.
        self.locked = Decimal(0)
        self.lock_per_lot = Decimal(0)

    @property
    def remaining_lots(self) -> int:
        return self.lots - self.filled_lots

    def state(self, market: MarketSpec) -> OrderState:
        return OrderState(
            self.order_id, self.account_id, self.symbol, self.client_order_id, self.side,
            self.order_type, self.time_in_force, self.price,
            market.lot_size * self.lots, market.lot_size * self.filled_lots, self.cum_quote,
            self.cum_fee, self.fee_asset, self.status, self.reduce_only, self.created_us, self.updated_us,
        )


@fast_init
@dataclass(frozen=True, slots=True)
class OrderState:
    """The truth about one order at one moment."""

    order_id: int
    account_id: int
    symbol: str
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal
    qty: Decimal
    filled_qty: Decimal
    cum_quote: Decimal
    cum_fee: Decimal
    fee_asset: str
    status: OrderStatus
    reduce_only: bool
    created_us: int
    updated_us: int

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty


@fast_init
@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: int
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool


@fast_init
@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: OrderState
    fills: tuple[Fill, ...]
