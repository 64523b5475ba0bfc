"""REST calls: sign, send, and sort the outcome into success, a definitive refusal, or "unknown".

Network errors, timeouts, 5xx and rate limiting raise `RequestError` (the request may or may not have
taken effect); a refusal the exchange explains raises the dialect's `ExchangeRejected` subclass. A
timestamp refusal resynchronises the clock with the server and retries once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from .auth import Auth, AuthLevel
from .errors import ConnectorError, ExchangeRejected, RequestError, TimestampRejected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestRequest:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    auth: AuthLevel = AuthLevel.NONE
    #: what the call does ("order.create", "order.status", "order.cancel", ...): errors mean different
    #: things for different calls (Binance -2011 vs -2013)
    op: str = ""


class ErrorMapper(Protocol):
    def __call__(self, request: RestRequest, status: int, payload: Any) -> ConnectorError: ...


class TimeSync:
    """The exchange's clock as seen from here: local time plus an offset measured against the server."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.offset_ms = 0
        self.synced = False

    def now_ms(self) -> int:
        return int(self.clock() * 1000) + self.offset_ms

    async def sync(self, fetch_server_ms: Callable[[], Awaitable[int]]) -> None:
        before = self.clock()
        server_ms = await fetch_server_ms()
        after = self.clock()
        self.offset_ms = server_ms - int((before + after) / 2 * 1000)
        self.synced = True


def default_error(request: RestRequest, status: int, payload: Any) -> ConnectorError:
    text = json.dumps(payload) if payload is not None else ""
    if status >= 500 or status in (408, 418, 429):
        return RequestError(f"HTTP {status} {text}", status=status)
    return ExchangeRejected(f"HTTP {status} {text}", status=status)


class RestClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, auth: Auth, map_error: ErrorMapper,
                 timeout_s: float = 10.0, time_sync: TimeSync | None = None,
                 server_time: Callable[[], Awaitable[int]] | None = None,
                 unwrap: Callable[[RestRequest, Any], Any] | None = None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.map_error = map_error
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.time = time_sync or TimeSync()
        self.server_time = server_time
        self.unwrap = unwrap or (lambda request, payload: payload)
        self.requests = 0
        self.failures = 0

    async def request(self, request: RestRequest) -> Any:
        for attempt in range(2):
            try:
                return await self.send_once(request)
            except TimestampRejected:
                if attempt or self.server_time is None:
                    raise
                log.info("timestamp refused on %s %s: resyncing the clock", request.method, request.path)
                await self.sync_time()
        raise AssertionError("unreachable")

    async def sync_time(self) -> None:
        if self.server_time is not None:
            await self.time.sync(self.server_time)

    async def send_once(self, request: RestRequest) -> Any:
        prepared = self.auth.prepare(request.method, request.path, request.params, request.auth,
                                     self.time.now_ms())
        self.requests += 1
        try:
            # No body, no Content-Type (aiohttp would add one to a body-less POST; Bitstamp refuses that).
            skip = ("Content-Type",) if prepared.body is None and "Content-Type" not in prepared.headers else ()
            async with self.session.request(prepared.method, self.base_url + prepared.target, data=prepared.body,
                                            headers=prepared.headers, timeout=self.timeout,
                                            skip_auto_headers=skip) as response:
                status = response.status
                text = await response.text()
                retry_after = response.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            self.failures += 1
            raise RequestError(f"{request.method} {request.path}: {type(error).__name__}: {error}") from error
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
            if 200 <= status < 300:
                self.failures += 1
                raise RequestError(f"{request.method} {request.path}: malformed JSON in a {status} answer",
                                   status=status) from None
        if 200 <= status < 300:
            try:
                return self.unwrap(request, payload)
            except ConnectorError:
                self.failures += 1
                raise
        self.failures += 1
        failure = self.map_error(request, status, payload)
        if isinstance(failure, RequestError) and retry_after is not None and failure.retry_after_s is None:
            try:
                failure.retry_after_s = float(retry_after)
            except ValueError:
                pass
        raise failure
