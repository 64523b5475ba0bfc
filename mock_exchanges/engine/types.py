"""Enumerations shared by the engine, the dialects and the checks."""

from __future__ import annotations

from enum import Enum


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class MarketKind(str, Enum):
    SPOT = "SPOT"
    PERPETUAL = "PERPETUAL"


class OrderType(str, Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    #: Post-only: rejected if any part of it would match on arrival.
    LIMIT_MAKER = "LIMIT_MAKER"


class TimeInForce(str, Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(str, Enum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED})


class ExecutionType(str, Enum):
    """Why an order update was emitted (Binance's `x` field has the same values)."""

    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class BalanceReason(str, Enum):
    ORDER = "ORDER"
    DEPOSIT = "DEPOSIT"
    FUNDING_FEE = "FUNDING_FEE"
