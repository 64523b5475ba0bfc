"""Bitstamp's error bodies, as its API sends them, and the mapping of engine rejections to them.

Three shapes exist on the wire, and each is used where Bitstamp uses it:
- authentication: `{"status": "error", "reason": "Invalid nonce", "code": "API0004"}`, HTTP 403 (the
  API0001..API0021 table of the API docs' "Authentication" section);
- request errors: `{"status": "error", "reason": "Order not found.", "response_code": "404.002"}` (the
  docs' "Response codes" table; the HTTP status is the code's prefix);
- form validation of order requests (Django style): `{"status": "error", "reason": {"amount": ["Ensure that
  there are no more than 5 decimal places."], "__all__": [""]}, "response_code": "400.026"}` or with the
  message in `__all__` ("You have only 12.00 USDT available. Check your account balance for details.").
The texts are the documented ones where the docs list them (ccxt maps several of them exactly); where
the docs list none, the text is our choice and says so in the comment next to it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ...engine import errors as engine_errors


class BitstampError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body.get("reason")))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> web.Response:
        return web.Response(status=self.status, body=json.dumps(self.body).encode(),
                            headers={**self.headers, "Content-Type": "application/json"})


def auth_error(code: str) -> BitstampError:
    return BitstampError(403, {"status": "error", "reason": AUTH_REASONS[code], "code": code})


def request_error(response_code: str, reason: str | None = None) -> BitstampError:
    """`{"status":"error","reason":...,"response_code":"400.0xx"}`; the reason defaults to the docs' text."""
    text = reason if reason is not None else RESPONSE_CODES.get(response_code, "Unknown validation error.")
    return BitstampError(int(response_code.split(".")[0]),
                         {"status": "error", "reason": text, "response_code": response_code})


def form_error(response_code: str, message: str = "", field: str | None = None) -> BitstampError:
    """A Django form error: the message under `field` (then `__all__` is `[""]`) or under `__all__`."""
    reason: dict[str, list[str]] = {field: [message], "__all__": [""]} if field else {"__all__": [message]}
    return BitstampError(400, {"status": "error", "reason": reason, "response_code": response_code})


def derivatives_error(code: str, reason: str) -> BitstampError:
    """Derivatives endpoints answer `{"status":"error","reason":...,"code":"API55xx"}` with HTTP 400."""
    return BitstampError(400, {"status": "error", "reason": reason, "code": code})


AUTH_REASONS = {
    "API0001": "API key not found",
    "API0002": "IP address not allowed",
    "API0003": "No permission found",
    "API0004": "Invalid nonce",
    "API0005": "Invalid signature",
    "API0006": "Your account is frozen",
    "API0008": "Authentication failed",
    "API0010": "Invalid version",
    "API0011": "Wrong API key format",
    "API0012": "X-Auth header is required",
    "API0013": "X-Auth-Signature header is required",
    "API0014": "X-Auth-Nonce header is required",
    "API0015": "X-Auth-Timestamp header is required",
    "API0016": "X-Auth-Version header is required",
    "API0017": "X-Auth-Timestamp header is out of boundaries",
    "API0018": "X-Auth-Timestamp header is invalid",
    "API0019": "Content-Type header is not accepted",
    "API0020": "Content-Type header should not be present",
    "API0021": "Please make sure url query string is not too long",
}

RESPONSE_CODES = {
    "400.001": "Unknown validation error.",
    "400.002": "Request rejected due to exceeded rate limit.",
    "400.004": "POST parameter(s) is missing from request.",
    "400.005": "POST parameter(s) is missing from request: amount.",
    "400.006": "POST parameter(s) is missing from request: price.",
    "400.007": "POST parameter(s) is malformed.",
    "400.008": "POST parameter(s) is malformed: client_order_id.",
    "400.009": "Insufficient balance for provided user.",
    "400.010": "POST parameter(s) is malformed: offset.",
    "400.011": "POST parameter(s) is malformed: limit.",
    "400.012": "POST parameter(s) is malformed: sort.",
    "400.013": "POST parameter(s) is malformed: since_timestamp.",
    "400.018": "GET parameters not allowed for this request.",
    "400.019": "Provided client_order_id already exists.",
    "400.020": "Provided order size is lower than minimum order value.",
    "400.021": "Provided price is out of range.",
    "400.024": "Only one of optional parameters can be set.",
    "400.026": "POST parameter(s) is malformed: amount.",
    "400.034": "POST parameter(s) is malformed: until_timestamp.",
    "400.035": "POST parameter(s) is missing from request: id.",
    "400.036": "POST parameter(s) is malformed: id.",
    "400.038": "Provided order amount is too large.",
    "400.041": "POST parameter(s) is malformed: price.",
    "400.044": "POST parameter(s) is malformed: leverage.",
    "400.046": "Provided order amount is too low.",
    "400.057": "Reduce only not supported with provided order parameters.",
    "400.075": "Insufficient margin for provided user.",
    "400.079": "POST parameter(s) is missing from request: market.",
    "400.081": "POST parameter(s) is malformed: since_id.",
    "404.001": "Unknown not found error.",
    "404.002": "Order not found for corresponding request.",
    "404.005": "Order book not found.",
    "404.006": "Currency not found for corresponding request.",
    "404.007": "Market not found for corresponding request.",
    "405.001": "GET method not allowed.",
    "500.001": "Unknown server error.",
}

#: ccxt maps this text exactly to OrderNotFound; the docs spell it "Order not found" (cancel) and
#: "Order not found." (order status)
ORDER_NOT_FOUND = "Order not found."
ENTER_A_NUMBER = 'Enter a number. Use "." as a decimal point.'


def order_not_found() -> BitstampError:
    return request_error("404.002", ORDER_NOT_FOUND)


def decimal_places(field: str, places: int) -> BitstampError:
    """Django's DecimalField message (ccxt matches "Ensure that there are no more than" -> InvalidOrder)."""
    code = "400.026" if field == "amount" else "400.041"
    return form_error(code, f"Ensure that there are no more than {places} decimal places.", field)


def from_engine(error: engine_errors.EngineError) -> BitstampError:
    """The wire form of an engine rejection that the handler did not map with more context."""
    if isinstance(error, engine_errors.UnknownMarket):
        return request_error("404.007")
    if isinstance(error, engine_errors.UnknownOrder):
        return order_not_found()
    if isinstance(error, engine_errors.InvalidPrice):
        return form_error("400.021", RESPONSE_CODES["400.021"])
    if isinstance(error, engine_errors.InvalidQuantity):
        return form_error("400.026", RESPONSE_CODES["400.026"])
    if isinstance(error, engine_errors.DuplicateClientOrderId):
        # Bitstamp stopped rejecting duplicates in Nov 2023; the engine still does, so it answers so.
        return form_error("400.019", RESPONSE_CODES["400.019"])
    if isinstance(error, engine_errors.PostOnlyWouldCross):
        # Bitstamp accepts a maker-or-cancel order and cancels it; the engine rejects it before creating
        # it, so it is answered as a rejection (our text).
        return form_error("400.001", "Maker or cancel order would have been executed immediately.")
    if isinstance(error, engine_errors.ReduceOnlyRejected):
        return form_error("400.057", RESPONSE_CODES["400.057"])
    if isinstance(error, engine_errors.InvalidLeverage):
        return form_error("400.044", RESPONSE_CODES["400.044"], "leverage")
    if isinstance(error, engine_errors.NotPerpetual):
        return derivatives_error("API5504", "Selected market is not supported.")
    if isinstance(error, engine_errors.InsufficientBalance):
        return form_error("400.009", RESPONSE_CODES["400.009"])
    if isinstance(error, engine_errors.InvalidOrder):
        return form_error("400.007", RESPONSE_CODES["400.007"])
    return form_error("400.001", RESPONSE_CODES["400.001"])


def server_error() -> BitstampError:
    return request_error("500.001")
