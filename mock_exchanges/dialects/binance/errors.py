"""Binance's error format `{"code": -NNNN, "msg": "..."}` and the mapping of engine rejections to it."""

from __future__ import annotations

from ...engine import errors as engine_errors


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")


BAD_SYMBOL = (-1121, "Invalid symbol.")
UNKNOWN_ORDER_CANCEL = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
INVALID_SIGNATURE = (-1022, "Signature for this request is not valid.")
BAD_KEY_FORMAT = (-2014, "API-key format invalid.")
REJECTED_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
TIMESTAMP_AHEAD = (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
TIMESTAMP_OLD = (-1021, "Timestamp for this request is outside of the recvWindow.")
INSUFFICIENT = "Account has insufficient balance for requested action."


def from_engine(error: engine_errors.EngineError, *, cancel: bool = False, query: bool = False,
                futures: bool = False) -> BinanceError:
    """The Binance code and text a rejection of the engine has on the wire."""
    if isinstance(error, engine_errors.UnknownMarket):
        return BinanceError(*BAD_SYMBOL)
    if isinstance(error, engine_errors.UnknownOrder):
        if cancel:
            return BinanceError(*UNKNOWN_ORDER_CANCEL)
        return BinanceError(*NO_SUCH_ORDER)
    if isinstance(error, engine_errors.InvalidPrice):
        return BinanceError(-1013, "Filter failure: PRICE_FILTER")
    if isinstance(error, engine_errors.InvalidQuantity):
        return BinanceError(-1013, "Filter failure: LOT_SIZE")
    if isinstance(error, engine_errors.MinNotional):
        if futures:
            return BinanceError(-4164, "Order's notional must be no smaller than 5 (unless you choose reduce only).")
        return BinanceError(-1013, "Filter failure: NOTIONAL")
    if isinstance(error, engine_errors.InsufficientBalance):
        if futures:
            return BinanceError(-2019, "Margin is insufficient.")
        return BinanceError(-2010, INSUFFICIENT)
    if isinstance(error, engine_errors.DuplicateClientOrderId):
        return BinanceError(-4116 if futures else -2010, "ClientOrderId is duplicated." if futures
                            else "Duplicate order sent.")
    if isinstance(error, engine_errors.PostOnlyWouldCross):
        if futures:
            return BinanceError(-5022, "Due to the order could not be executed as maker, the Post Only order "
                                       "will be rejected. The order will not be recorded in the order history")
        return BinanceError(-2010, "Order would immediately match and take.")
    if isinstance(error, engine_errors.ReduceOnlyRejected):
        return BinanceError(-2022, "ReduceOnly Order is rejected.")
    if isinstance(error, engine_errors.InvalidLeverage):
        return BinanceError(-4028, "Leverage is not valid")
    if isinstance(error, engine_errors.InvalidOrder):
        return BinanceError(-1014, "Unsupported order combination.")
    return BinanceError(-1000, "An unknown error occurred while processing the request.")
