"""OKX's two error shapes, and the mapping of engine rejections to OKX codes.

- A request OKX cannot act on at all (missing or malformed parameters, unknown instrument, failed auth,
  rate limit) is refused as a whole: `{"code": "<code>", "msg": "...", "data": []}`, HTTP 4xx (`OkxError`).
- A well-formed trade request whose order the venue rejects (insufficient balance, duplicate clOrdId,
  cancel of an order that is gone) gets HTTP 200, `code` "1", and the reason per order in `sCode`/`sMsg`
  (`OrderRejected`), as OKX answers place/cancel requests.
Codes and texts follow OKX's v5 error-code tables; where the engine's reason has no exact OKX twin the
closest code is used and the docstring of `order_rejection` says so.
"""

from __future__ import annotations

from decimal import Decimal

from ...engine import MarketSpec
from ...engine import errors as engine_errors


class OkxError(Exception):
    def __init__(self, code: str, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg, "data": []}


class OrderRejected(Exception):
    """The venue refused one order (or one cancel): reported per order as `sCode`/`sMsg`."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def empty(name: str) -> OkxError:
    return OkxError("50014", f"Parameter {name} can not be empty.")


def bad(name: str) -> OkxError:
    return OkxError("51000", f"Parameter {name} error")


def unknown_instrument() -> OkxError:
    return OkxError("51001", "Instrument ID or Spread ID doesn't exist.")


RATE_LIMIT = ("50011", "Rate limit reached. Please refer to API documentation and throttle requests accordingly.")
UNAVAILABLE = ("50001", "Service temporarily unavailable. Please try again later.")
TIMEOUT_UNKNOWN = ("50004", "API endpoint request timeout (does not mean that the request was successful or "
                            "failed, please check the request result).")
SYSTEM_ERROR = ("50026", "System error. Try again later.")
CANCEL_FAILED = ("51400", "Order cancellation failed as the order has been filled, canceled or does not exist.")
NO_SUCH_ORDER = ("51603", "Order does not exist")


def order_rejection(error: engine_errors.EngineError, spec: MarketSpec, qty: Decimal, lock_ccy: str) -> OrderRejected:
    """The sCode/sMsg of a placement the engine refused.

    Our choices where OKX behaves differently: a post-only order that would take is *rejected* (sCode
    51000) where OKX accepts and then cancels it; a notional below the engine's minimum is 51020 like a
    size below `minSz` (OKX spot has no notional floor).
    """
    perp = spec.is_perpetual
    if isinstance(error, engine_errors.InsufficientBalance):
        what = "margin" if perp else "balance"
        return OrderRejected("51008", f"Order failed. Insufficient {lock_ccy} {what} in account.")
    if isinstance(error, engine_errors.DuplicateClientOrderId):
        return OrderRejected("51016", "Duplicated clOrdId")
    if isinstance(error, engine_errors.InvalidPrice):
        return OrderRejected("51000", "Parameter px error")
    if isinstance(error, engine_errors.InvalidQuantity):
        if qty < spec.min_qty:
            return OrderRejected("51020", "Your order should meet or exceed the minimum order amount.")
        if qty > spec.max_qty:
            return OrderRejected("51203", f"Order amount exceeds the limit {spec.max_qty}.")
        return OrderRejected("51121", "Order quantity must be a multiple of the lot size.")
    if isinstance(error, engine_errors.MinNotional):
        return OrderRejected("51020", "Your order should meet or exceed the minimum order amount.")
    if isinstance(error, engine_errors.PostOnlyWouldCross):
        return OrderRejected("51000", "Post-only order would take liquidity (rejected by this mock; OKX cancels it).")
    if isinstance(error, engine_errors.ReduceOnlyRejected):
        return OrderRejected("51169", "Order failed because you don't have any positions in this direction for "
                                      "this contract to reduce or close.")
    if isinstance(error, engine_errors.UnknownMarket):
        return OrderRejected("51001", "Instrument ID or Spread ID doesn't exist.")
    return OrderRejected("51000", f"Parameter error: {error.message}")
