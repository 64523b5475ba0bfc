"""A connector built on the exchange-connector architecture, which passes the conformance suite.

Public surface: per dialect a spot connector and a perpetual one (`BinanceExchange`,
`BinancePerpetualDerivative`, `OkxExchange`, `OkxPerpetualDerivative`, `BitstampExchange`,
`BitstampPerpetualDerivative`), their `OrderBook`s, `InFlightOrder`s and the data types they return.
"""

from .derivative import (
    BinancePerpetualDerivative,
    BitstampPerpetualDerivative,
    Derivative,
    OkxPerpetualDerivative,
)
from .exchange import BinanceExchange, BitstampExchange, Exchange, OkxExchange
from .in_flight_order import InFlightOrder, Transition
from .order_book import OrderBook
from .types import FundingInfo, OrderState, OrderType, Position, Side, TradeFill

__all__ = [
    "BinanceExchange",
    "BinancePerpetualDerivative",
    "BitstampExchange",
    "BitstampPerpetualDerivative",
    "Derivative",
    "Exchange",
    "FundingInfo",
    "InFlightOrder",
    "OkxExchange",
    "OkxPerpetualDerivative",
    "OrderBook",
    "OrderState",
    "OrderType",
    "Position",
    "Side",
    "TradeFill",
    "Transition",
]
