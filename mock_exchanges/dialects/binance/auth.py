"""Binance request authentication: API key header, HMAC-SHA256 over the raw query + body, timestamp window."""

from __future__ import annotations

import hashlib
import hmac
import re

from ...engine import Account, Engine
from .errors import (
    BAD_KEY_FORMAT,
    INVALID_SIGNATURE,
    REJECTED_KEY,
    TIMESTAMP_AHEAD,
    TIMESTAMP_OLD,
    BinanceError,
)
from .params import Params

_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{1,128}$")
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _without_signature(raw: str) -> str:
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


def signed_payload(params: Params) -> str:
    """totalParams: the query string followed directly by the body, each without `signature`."""
    return _without_signature(params.raw_query) + _without_signature(params.raw_body)


def account_for_key(engine: Engine, api_key: str | None) -> Account:
    if not api_key or not _KEY_FORMAT.match(api_key):
        raise BinanceError(*BAD_KEY_FORMAT, status=401)
    account = engine.account_by_api_key(api_key)
    if account is None or account.account_id == 0:
        raise BinanceError(*REJECTED_KEY, status=401)
    return account


def check_timestamp(now_ms: int, timestamp: int | None, recv_window: int | None) -> None:
    if timestamp is None:
        raise BinanceError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    window = DEFAULT_RECV_WINDOW_MS if recv_window is None else recv_window
    if window <= 0 or window > MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    if timestamp >= now_ms + 1000:
        raise BinanceError(*TIMESTAMP_AHEAD)
    if now_ms - timestamp > window:
        raise BinanceError(*TIMESTAMP_OLD)


def authenticate(engine: Engine, api_key: str | None, params: Params, now_ms: int) -> Account:
    """The account a SIGNED request acts for, or the Binance error it gets."""
    account = account_for_key(engine, api_key)
    signature = params.str("signature")
    if signature is None:
        raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    expected = sign(account.api_secret, signed_payload(params))
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(*INVALID_SIGNATURE)
    check_timestamp(now_ms, params.int("timestamp"), params.int("recvWindow"))
    return account


def ws_api_payload(params: dict[str, object]) -> str:
    """WS API signing: every param but `signature`, sorted by name, joined `k=v&...` (not url-encoded)."""
    return "&".join(f"{k}={_ws_value(v)}" for k, v in sorted(params.items()) if k != "signature")


def _ws_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
