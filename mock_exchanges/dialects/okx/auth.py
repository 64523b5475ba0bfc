"""OKX authentication: REST headers signed with HMAC-SHA256 (base64) over timestamp + METHOD + requestPath +
body, the WebSocket `login` op signed over timestamp + "GET" + "/users/self/verify", and passphrases.

OKX keys carry a third secret, the passphrase, chosen by the user. The engine's accounts have only a key
and a secret, so the passphrase is derived: `passphrase_for(seed, api_key)`, an HMAC of the key under the
exchange's seed. Deterministic for a seed, different per account, nothing to store; `mock-exchange serve`
prints it next to the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from ...engine import Account, Engine
from .errors import OkxError

#: OKX refuses a request whose OK-ACCESS-TIMESTAMP is more than 30 s away from its clock
REST_WINDOW_MS = 30_000
#: and a WS login whose timestamp (seconds) is more than 30 s away
WS_WINDOW_S = 30
WS_VERIFY_PATH = "/users/self/verify"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_SECONDS = re.compile(r"^\d{1,12}(\.\d{1,6})?$")


def sign(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


def passphrase_for(seed: int, api_key: str) -> str:
    digest = hmac.new(f"okx-passphrase:{seed}".encode(), api_key.encode(), hashlib.sha256).hexdigest()
    return "Pp" + digest[:14]


def iso_ms(text: str) -> int | None:
    """Milliseconds of an OK-ACCESS-TIMESTAMP like 2020-12-08T09:08:57.715Z, or None if malformed."""
    if not _ISO.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


Passphrase = Callable[[Account], str]


def authenticate_rest(engine: Engine, passphrase: Passphrase, headers: Mapping[str, str], method: str,
                      request_path: str, body: str, now_ms: int) -> Account:
    """The account a private REST request acts for, or the OKX error (HTTP 401) it gets.

    `request_path` is the path with its query string exactly as sent; `body` the raw body ("" for GET).
    """
    key, phrase = headers.get("OK-ACCESS-KEY"), headers.get("OK-ACCESS-PASSPHRASE")
    signature, timestamp = headers.get("OK-ACCESS-SIGN"), headers.get("OK-ACCESS-TIMESTAMP")
    if not key:
        raise OkxError("50103", 'Request header "OK-ACCESS-KEY" can not be empty.', 401)
    if not phrase:
        raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" can not be empty.', 401)
    if not signature:
        raise OkxError("50106", 'Request header "OK-ACCESS-SIGN" can not be empty.', 401)
    if not timestamp:
        raise OkxError("50107", 'Request header "OK-ACCESS-TIMESTAMP" can not be empty.', 401)
    sent_ms = iso_ms(timestamp)
    if sent_ms is None:
        raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401)
    if abs(now_ms - sent_ms) > REST_WINDOW_MS:
        raise OkxError("50102", "Timestamp request expired", 401)
    account = engine.account_by_api_key(key)
    if account is None or account.account_id == 0:
        raise OkxError("50111", "Invalid OK-ACCESS-KEY", 401)
    if not hmac.compare_digest(phrase, passphrase(account)):
        raise OkxError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
    expected = sign(account.api_secret, timestamp + method.upper() + request_path + body)
    if not hmac.compare_digest(expected, signature):
        raise OkxError("50113", "Invalid Sign", 401)
    return account


def authenticate_login(engine: Engine, passphrase: Passphrase, args: object, now_ms: int) -> Account:
    """The account of a WS `login` op's first arg, or the OKX error event's code and message (as OkxError)."""
    if not isinstance(args, dict):
        raise OkxError("60013", "Invalid args")
    fields = [args.get(name) for name in ("apiKey", "passphrase", "timestamp", "sign")]
    if not all(isinstance(value, str) and value for value in fields):
        raise OkxError("60013", "Invalid args")
    key, phrase, timestamp, signature = (str(value) for value in fields)
    if not _SECONDS.match(timestamp):
        raise OkxError("60004", "Invalid timestamp")
    try:
        sent_s = Decimal(timestamp)
    except InvalidOperation:
        raise OkxError("60004", "Invalid timestamp") from None
    if abs(Decimal(now_ms) / 1000 - sent_s) > WS_WINDOW_S:
        raise OkxError("60006", "Timestamp request expired")
    account = engine.account_by_api_key(key)
    if account is None or account.account_id == 0:
        raise OkxError("60005", "Invalid OK-ACCESS-KEY")
    if not hmac.compare_digest(phrase, passphrase(account)):
        raise OkxError("60024", "Wrong passphrase")
    if not hmac.compare_digest(sign(account.api_secret, timestamp + "GET" + WS_VERIFY_PATH), signature):
        raise OkxError("60007", "Invalid sign")
    return account
