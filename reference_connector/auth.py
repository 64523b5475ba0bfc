"""Request signing per dialect: REST requests and WebSocket logins.

Each auth turns `(method, path, params, level)` into what goes on the wire (`Prepared`): the path with its
query string, the body and the headers. `AuthLevel.NONE` is public, `KEY` sends the API key only (e.g.
Binance USER_STREAM endpoints), `SIGNED` adds a timestamp and a signature.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode


class AuthLevel(enum.Enum):
    NONE = "none"
    KEY = "key"
    SIGNED = "signed"


@dataclass(frozen=True)
class Prepared:
    method: str
    #: path plus `?query` when there is one
    target: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Auth(Protocol):
    def prepare(self, method: str, path: str, params: Mapping[str, Any], level: AuthLevel,
                now_ms: int) -> Prepared: ...


def hmac_sha256_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BinanceAuth:
    """Binance HMAC-SHA256: header `X-MBX-APIKEY`; signed params get `timestamp` (and `recvWindow`), and
    `signature` = hex HMAC over the url-encoded params exactly as sent, appended last. GET/DELETE/PUT send
    them in the query string, POST as a form body."""

    def __init__(self, api_key: str, api_secret: str, recv_window_ms: int | None = None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.recv_window_ms = recv_window_ms

    def prepare(self, method: str, path: str, params: Mapping[str, Any], level: AuthLevel,
                now_ms: int) -> Prepared:
        items = [(k, _text(v)) for k, v in params.items() if v is not None]
        headers: dict[str, str] = {}
        if level is not AuthLevel.NONE:
            headers["X-MBX-APIKEY"] = self.api_key
        if level is AuthLevel.SIGNED:
            if self.recv_window_ms is not None:
                items.append(("recvWindow", str(self.recv_window_ms)))
            items.append(("timestamp", str(now_ms)))
        encoded = urlencode(items)
        if level is AuthLevel.SIGNED:
            signature = hmac_sha256_hex(self.api_secret, encoded)
            encoded = f"{encoded}&signature={signature}" if encoded else f"signature={signature}"
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return Prepared(method, path, encoded, headers)
        return Prepared(method, f"{path}?{encoded}" if encoded else path, None, headers)

    def ws_api_params(self, params: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        """WebSocket API signed params: `apiKey` and `timestamp` added, `signature` = HMAC over every param
        sorted by name, `k=v&...`, not url-encoded."""
        signed: dict[str, Any] = {**params, "apiKey": self.api_key, "timestamp": now_ms}
        if self.recv_window_ms is not None:
            signed["recvWindow"] = self.recv_window_ms
        payload = "&".join(f"{k}={_text(v)}" for k, v in sorted(signed.items()))
        signed["signature"] = hmac_sha256_hex(self.api_secret, payload)
        return signed


class OkxAuth:
    """OKX v5: headers `OK-ACCESS-KEY`, `OK-ACCESS-SIGN` = base64(HMAC-SHA256(secret, timestamp + METHOD +
    requestPath[?query] + body)), `OK-ACCESS-TIMESTAMP` (ISO 8601 UTC with ms) and `OK-ACCESS-PASSPHRASE`.
    Bodies are JSON. The WebSocket login signs `timestamp + "GET" + "/users/self/verify"` (timestamp in s)."""

    def __init__(self, api_key: str, api_secret: str, passphrase: str = "") -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.passphrase = passphrase

    def sign(self, message: str) -> str:
        digest = hmac.new(self.api_secret.encode(), message.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    @staticmethod
    def iso_time(now_ms: int) -> str:
        moment = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now_ms % 1000:03d}Z"

    def prepare(self, method: str, path: str, params: Mapping[str, Any], level: AuthLevel,
                now_ms: int) -> Prepared:
        clean = {k: v for k, v in params.items() if v is not None}
        body: str | None = None
        target = path
        if method in ("GET", "DELETE"):
            if clean:
                target = f"{path}?{urlencode([(k, _text(v)) for k, v in clean.items()])}"
        else:
            body = json.dumps(clean, separators=(",", ":"))
        headers = {"Content-Type": "application/json"}
        if level is not AuthLevel.NONE:
            timestamp = self.iso_time(now_ms)
            headers.update({
                "OK-ACCESS-KEY": self.api_key,
                "OK-ACCESS-SIGN": self.sign(f"{timestamp}{method}{target}{body or ''}"),
                "OK-ACCESS-TIMESTAMP": timestamp,
                "OK-ACCESS-PASSPHRASE": self.passphrase,
            })
        return Prepared(method, target, body, headers)

    def ws_login(self, now_ms: int) -> dict[str, Any]:
        timestamp = str(now_ms // 1000)
        return {"op": "login", "args": [{
            "apiKey": self.api_key, "passphrase": self.passphrase, "timestamp": timestamp,
            "sign": self.sign(f"{timestamp}GET/users/self/verify"),
        }]}


class BitstampAuth:
    """Bitstamp v2: headers `X-Auth: BITSTAMP <key>`, `X-Auth-Signature` = hex HMAC-SHA256 over
    `"BITSTAMP " + key + METHOD + host + path + query + content type + nonce + timestamp + "v2" + body`,
    `X-Auth-Nonce` (a UUID), `X-Auth-Timestamp` (ms) and `X-Auth-Version: v2`. Bodies are form-encoded."""

    def __init__(self, api_key: str, api_secret: str, host: str, nonce: Any = None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.host = host
        self._nonce = nonce or (lambda: str(uuid.uuid4()))

    def prepare(self, method: str, path: str, params: Mapping[str, Any], level: AuthLevel,
                now_ms: int) -> Prepared:
        encoded = urlencode([(k, _text(v)) for k, v in params.items() if v is not None])
        query = ""
        body: str | None = None
        content_type = ""
        if method in ("GET", "DELETE"):
            query = f"?{encoded}" if encoded else ""
        elif encoded:
            body = encoded
            content_type = "application/x-www-form-urlencoded"
        headers: dict[str, str] = {"Content-Type": content_type} if content_type else {}
        if level is not AuthLevel.NONE:
            nonce = self._nonce()
            timestamp = str(now_ms)
            message = (f"BITSTAMP {self.api_key}{method}{self.host}{path}{query}{content_type}{nonce}"
                       f"{timestamp}v2{body or ''}")
            headers.update({
                "X-Auth": f"BITSTAMP {self.api_key}",
                "X-Auth-Signature": hmac_sha256_hex(self.api_secret, message),
                "X-Auth-Nonce": nonce,
                "X-Auth-Timestamp": timestamp,
                "X-Auth-Version": "v2",
            })
        return Prepared(method, f"{path}{query}", body, headers)
