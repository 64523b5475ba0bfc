"""Typed rejections. Each carries a stable `reason` a dialect maps to its own error code and text.

The engine raises one of these *before* it changes any state, so a rejected command leaves the
engine exactly as it was.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every rejection the engine raises."""

    reason = "ENGINE_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownMarket(EngineError):
    reason = "UNKNOWN_MARKET"


class UnknownAccount(EngineError):
    reason = "UNKNOWN_ACCOUNT"


class UnknownOrder(EngineError):
    reason = "UNKNOWN_ORDER"


class InvalidPrice(EngineError):
    """Missing, non-positive, off-tick or out-of-range price."""

    reason = "INVALID_PRICE"


class InvalidQuantity(EngineError):
    """Non-positive, off-lot or out-of-range quantity."""

    reason = "INVALID_QUANTITY"


class MinNotional(EngineError):
    reason = "MIN_NOTIONAL"


class InvalidOrder(EngineError):
    """A combination of order parameters the engine does not accept (e.g. MARKET with GTC)."""

    reason = "INVALID_ORDER"


class InsufficientBalance(EngineError):
    reason = "INSUFFICIENT_BALANCE"


class DuplicateClientOrderId(EngineError):
    reason = "DUPLICATE_CLIENT_ORDER_ID"


class PostOnlyWouldCross(EngineError):
    reason = "POST_ONLY_WOULD_CROSS"


class ReduceOnlyRejected(EngineError):
    reason = "REDUCE_ONLY_REJECTED"


class NotPerpetual(EngineError):
    reason = "NOT_PERPETUAL"


class InvalidLeverage(EngineError):
    reason = "INVALID_LEVERAGE"
