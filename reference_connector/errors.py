"""What can go wrong talking to an exchange, sorted by what it tells us about the request's effect.

The distinction that matters (Hummingbot issue #8457): a network error, a 5xx, a timeout or an
"execution status unknown" answer says *nothing* about whether an order exists; only an explicit answer
from the exchange ("Order does not exist.") does.
"""

from __future__ import annotations


class ConnectorError(Exception):
    pass


class RequestError(ConnectorError):
    """The request's effect is unknown: it may or may not have been executed (network, timeout, 5xx,
    rate limiting, Binance -1007/-1006)."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


class ExchangeRejected(ConnectorError):
    """The exchange answered and refused: the request had no effect."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class OrderNotFound(ExchangeRejected):
    """The exchange says the order does not exist (Binance -2013 on a query)."""


class CancelRejected(ExchangeRejected):
    """The exchange refused a cancel because the order is not open there (Binance -2011 "Unknown order
    sent."): it may not exist, or it may already be filled or canceled. Only a query tells which."""


class TimestampRejected(ExchangeRejected):
    """The request's timestamp was outside the exchange's window (Binance -1021): resync the clock, retry."""


class StreamError(ConnectorError):
    """A WebSocket stream misbehaved (login refused, stalled, closed): reconnect."""
