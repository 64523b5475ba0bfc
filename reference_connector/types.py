"""Plain data the roles hand each other: order and fill updates, balances, positions, funding, rules.

Every amount is a `Decimal`; every time is exchange time in milliseconds unless said otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class OrderState(str, enum.Enum):
    PENDING_CREATE = "PENDING_CREATE"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.FAILED, OrderState.EXPIRED})


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, enum.Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"


@dataclass(frozen=True, slots=True)
class TradingRule:
    """A market as the exchange describes it: its pair ("BTC-USDT"), symbol ("BTCUSDT") and filters."""

    trading_pair: str
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_price: Decimal
    is_perpetual: bool = False
    #: base amount of one unit of the exchange's size (OKX swaps count contracts); amounts and book
    #: quantities the connector exposes are always in base units
    contract_size: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """What the exchange says about an order's state (REST answer or user-stream event)."""

    trading_pair: str
    client_order_id: str
    exchange_order_id: str | None
    state: OrderState
    time_ms: int
    #: cumulative executed base amount as reported by the exchange (None when the message has none)
    executed_amount: Decimal | None = None
    source: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TradeFill:
    trade_id: str
    trading_pair: str
    client_order_id: str | None
    exchange_order_id: str | None
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int
    is_maker: bool | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """Total and/or available amount of an asset as of exchange time `time_ms` (None: not in the message)."""

    asset: str
    total: Decimal | None
    available: Decimal | None
    time_ms: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class FundingInfo:
    rate: Decimal
    mark_price: Decimal
    #: None where the dialect publishes no index price (OKX)
    index_price: Decimal | None
    next_funding_time_ms: int


@dataclass(frozen=True, slots=True)
class FundingUpdate:
    """Some or all funding fields of a pair as of exchange time `time_ms` (None: not in this message; OKX
    sends the rate and the mark price on different channels)."""

    trading_pair: str
    time_ms: int
    rate: Decimal | None = None
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    next_funding_time_ms: int | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Position:
    """A one-way position: `amount` is signed (negative = short)."""

    trading_pair: str
    amount: Decimal
    entry_price: Decimal
    leverage: int
    unrealized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    trading_pair: str
    amount: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    leverage: int | None
    time_ms: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class LeverageUpdate:
    trading_pair: str
    leverage: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The user stream was ended by the exchange (e.g. `eventStreamTerminated`, `listenKeyExpired`)."""

    reason: str


@dataclass(frozen=True, slots=True)
class BalancesRefreshNeeded:
    """A user-stream event changed balances without saying all of them (e.g. USD-M available balance)."""

    reason: str


UserEvent = OrderUpdate | TradeFill | BalanceUpdate | PositionUpdate | LeverageUpdate | StreamEnded | \
    BalancesRefreshNeeded
