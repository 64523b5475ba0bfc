"""Bitstamp API v2 authentication, checked as the API docs' "Authentication" section describes it.

Headers: `X-Auth: BITSTAMP <api key>`, `X-Auth-Signature`, `X-Auth-Nonce` (a UUID: 36 characters),
`X-Auth-Timestamp` (ms, within 150 s of the server clock), `X-Auth-Version: v2`; `Content-Type` only when
there is a body (`application/x-www-form-urlencoded`), never on an empty one (API0020).

Signature: hex HMAC-SHA256(secret, "BITSTAMP " + key + METHOD + host + path + query + content type + nonce
+ timestamp + "v2" + body); the docs' Python example sends lowercase hex and its Java example uppercase,
so the comparison ignores case. A nonce may not be used again with the same key within 300 s (API0004).

Leniencies (our choice, each for a real client): the query may be signed with or without its leading
`?` (the docs' examples have none to show), and the host may carry a leading `http://`, because ccxt
strips only `https://` from the URL it signs, so over plain http it signs `http://host/path`.

Successful authenticated answers carry `X-Server-Auth-Signature`: hex HMAC-SHA256(secret, nonce +
timestamp + response Content-Type + response body), which the docs' examples verify.

Order of the checks (ours; the docs do not say): URL length, missing headers, key format, version,
key, timestamp, Content-Type, nonce format, signature, nonce reuse.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from ...engine import Account, Engine
from .errors import auth_error

TIMESTAMP_WINDOW_MS = 150_000
NONCE_WINDOW_MS = 300_000
MAX_URL = 2000
FORM = "application/x-www-form-urlencoded"
_KEY = re.compile(r"^BITSTAMP ([A-Za-z0-9]{1,128})$")
_NONCE = re.compile(r"^[A-Za-z0-9-]{36}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,16}$")


@dataclass(frozen=True)
class Authenticated:
    account: Account
    nonce: str
    timestamp: str


@dataclass
class NonceBook:
    """Nonces seen per API key in the last `window_ms`, oldest first, so expiry is cheap."""

    window_ms: int = NONCE_WINDOW_MS
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _order: deque[tuple[int, tuple[str, str]]] = field(default_factory=deque)

    def used(self, api_key: str, nonce: str, now_ms: int) -> bool:
        self._expire(now_ms)
        return (api_key, nonce) in self._seen

    def remember(self, api_key: str, nonce: str, now_ms: int) -> None:
        self._seen[(api_key, nonce)] = now_ms + self.window_ms
        self._order.append((now_ms + self.window_ms, (api_key, nonce)))

    def _expire(self, now_ms: int) -> None:
        order, seen = self._order, self._seen
        while order and order[0][0] <= now_ms:
            expires, entry = order.popleft()
            if seen.get(entry) == expires:
                del seen[entry]


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def server_signature(secret: str, nonce: str, timestamp: str, content_type: str, body: bytes) -> str:
    return sign(secret, (nonce + timestamp + content_type).encode() + body)


def signed_messages(request: web.Request, x_auth: str, content_type: str, nonce: str, timestamp: str,
                    version: str, body: bytes) -> list[bytes]:
    """Every string a correct client may have signed for this request (see the module docstring)."""
    path, _, query = request.raw_path.partition("?")
    queries = ["?" + query, query] if query else [""]
    hosts = [request.host, "http://" + request.host]
    tail = (content_type + nonce + timestamp + version).encode() + body
    return [(x_auth + request.method + host + path + q).encode() + tail for host in hosts for q in queries]


def authenticate(engine: Engine, nonces: NonceBook, request: web.Request, body: bytes,
                 now_ms: int) -> Authenticated:
    """The account a private request acts for, or the BitstampError (HTTP 403) it gets."""
    if len(request.raw_path) > MAX_URL:
        raise auth_error("API0021")
    headers = request.headers
    x_auth = headers.get("X-Auth")
    signature = headers.get("X-Auth-Signature")
    nonce = headers.get("X-Auth-Nonce")
    timestamp = headers.get("X-Auth-Timestamp")
    version = headers.get("X-Auth-Version")
    for value, code in ((x_auth, "API0012"), (signature, "API0013"), (nonce, "API0014"), (timestamp, "API0015"),
                        (version, "API0016")):
        if not value:
            raise auth_error(code)
    assert x_auth and signature and nonce and timestamp and version
    match = _KEY.match(x_auth)
    if match is None:
        raise auth_error("API0011")
    if version != "v2":
        raise auth_error("API0010")
    api_key = match.group(1)
    account = engine.account_by_api_key(api_key)
    if account is None or account.account_id == 0:
        raise auth_error("API0001")
    if not _TIMESTAMP.match(timestamp):
        raise auth_error("API0018")
    if abs(now_ms - int(timestamp)) > TIMESTAMP_WINDOW_MS:
        raise auth_error("API0017")
    content_type = headers.get("Content-Type", "")
    if not body and content_type:
        raise auth_error("API0020")
    if body and content_type.split(";")[0].strip().lower() != FORM:
        raise auth_error("API0019")
    if not _NONCE.match(nonce):
        raise auth_error("API0004")
    given = signature.lower().encode("utf-8", "replace")
    messages = signed_messages(request, x_auth, content_type, nonce, timestamp, version, body)
    if not any(hmac.compare_digest(sign(account.api_secret, m).encode(), given) for m in messages):
        raise auth_error("API0005")
    if nonces.used(api_key, nonce, now_ms):
        raise auth_error("API0004")
    nonces.remember(api_key, nonce, now_ms)
    return Authenticated(account, nonce, timestamp)
