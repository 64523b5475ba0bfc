"""The deterministic exchange engine: the ground truth every dialect serves and every check reads."""

from .accounts import Account, Balance, Position
from .clock import Clock, VirtualClock, WallClock
from .engine import FEE_ACCOUNT_ID, AccountTrade, Engine, EngineConfig, PositionState
from .errors import EngineError
from .events import (
    BalanceUpdate,
    BookDelta,
    Event,
    FundingPayment,
    MarkPriceUpdate,
    OrderUpdate,
    PositionUpdate,
    Trade,
)
from .market import MarketSpec, perpetual_market, spot_market
from .market_state import BookSnapshot, FundingInfo, FundingRecord
from .orders import Fill, OrderState, PlaceResult
from .types import BalanceReason, ExecutionType, MarketKind, OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "FEE_ACCOUNT_ID",
    "Account",
    "AccountTrade",
    "Balance",
    "BalanceReason",
    "BalanceUpdate",
    "BookDelta",
    "BookSnapshot",
    "Clock",
    "Engine",
    "EngineConfig",
    "EngineError",
    "Event",
    "ExecutionType",
    "Fill",
    "FundingInfo",
    "FundingPayment",
    "FundingRecord",
    "MarkPriceUpdate",
    "MarketKind",
    "MarketSpec",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "PlaceResult",
    "Position",
    "PositionState",
    "PositionUpdate",
    "Side",
    "TimeInForce",
    "Trade",
    "VirtualClock",
    "WallClock",
    "perpetual_market",
    "spot_market",
]
