"""Offline REST mode: answer a client's aiohttp REST calls from the mock exchange with no socket at all.

For connector unit tests that must not open ports. Every `aiohttp.ClientSession` request to one of the
given base URLs is intercepted by aioresponses and dispatched straight into the real aiohttp application
(`create_app`): the same routes, dialect code, engine and error mapping as the live server, so the reply is
the JSON the live server would send. Nothing is ever contacted; a request to any other URL fails with
aioresponses' "Connection refused".

    exchange = MockExchange(MockExchangeConfig(seed=1))
    with offline_exchange(exchange, base_url="https://api.binance.com") as mock:
        async with aiohttp.ClientSession() as session:
            async with session.get("https://api.binance.com/api/v3/depth?symbol=BTCUSDT") as resp:
                book = await resp.json()
        mock.requests  # what was sent, as aioresponses records it

How a request is dispatched (aiohttp 3.14): `app.router.resolve()` finds the handler, then the handler runs
on a request built with `aiohttp.test_utils.make_mocked_request`, whose payload is a `StreamReader` fed
with the body bytes exactly as aiohttp would have sent them. The app's middlewares are applied.
Two aioresponses 0.7.9 quirks are handled here: it hands callbacks a URL with its query re-sorted (and
signatures are verified over the raw query string), so a small subclass records the URL as the client
built it; and it builds responses without the `stream_writer` aiohttp 3.12+ requires, so responses are
built with a `ClientResponse` subclass that supplies one.

Limits: REST only (WebSocket routes cannot be served without a socket). The exchange is not started:
no flow task and no tick loop run unless the caller drives them (e.g. `exchange.flows[s].run_steps(n)`,
`exchange.engine.tick()`), which keeps offline tests deterministic.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlencode

from aiohttp import ClientResponse, ClientSession, hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.test_utils import make_mocked_request
from aioresponses import CallbackResult, aioresponses
from multidict import CIMultiDict
from yarl import URL

from .server.app import create_app
from .server.exchange import MockExchange

__all__ = ["OfflineExchange", "dispatch", "offline_exchange"]

_METHODS = (hdrs.METH_GET, hdrs.METH_POST, hdrs.METH_PUT, hdrs.METH_DELETE, hdrs.METH_PATCH)
_RAW_URL = "_offline_raw_url"


class _Response(ClientResponse):
    """aioresponses 0.7.9 builds responses without the `stream_writer` argument aiohttp >= 3.12 requires;
    supply a stand-in for an upload that has already finished (it is only asked its `output_size`)."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", cast(AbstractStreamWriter, SimpleNamespace(output_size=0)))
        super().__init__(method, url, **kwargs)


_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class OfflineExchange(aioresponses):
    """aioresponses that also passes each callback the URL exactly as the client built it."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app

    async def _request_mock(self, orig_self: ClientSession, method: str, url: URL | str, *args: Any,
                            **kwargs: Any) -> Any:
        raw = orig_self._build_url(url)
        params = kwargs.get("params")
        kwargs[_RAW_URL] = raw.extend_query(params) if params else raw
        return await super()._request_mock(orig_self, method, url, *args, **kwargs)


def _body_bytes(data: Any, json_body: Any) -> tuple[bytes, str | None]:
    """The request body as aiohttp would send it, and the Content-Type aiohttp would add by default."""
    if json_body is not None:
        return json.dumps(json_body).encode(), "application/json"
    if data is None:
        return b"", None
    if isinstance(data, bytes | bytearray):
        return bytes(data), "application/octet-stream"
    if isinstance(data, str):
        return data.encode(), "text/plain; charset=utf-8"
    if isinstance(data, Mapping):
        data = list(data.items())
    if isinstance(data, Sequence):  # what aiohttp's FormData does with a dict or a list of pairs
        return urlencode(list(data), doseq=True).encode(), "application/x-www-form-urlencoded"
    raise TypeError(f"offline mode cannot encode a request body of type {type(data).__name__}")


async def dispatch(app: web.Application, method: str, path_qs: str, headers: Mapping[str, str],
                   body: bytes) -> web.Response:
    """Run one request through `app`'s router and handler (and middlewares) without a network."""
    loop = asyncio.get_running_loop()
    payload: StreamReader = EMPTY_PAYLOAD
    if body:
        payload = StreamReader(BaseProtocol(loop), limit=2**16, loop=loop)
        payload.feed_data(body)
        payload.feed_eof()
    probe = make_mocked_request(method, path_qs, headers, app=app)
    match = await app.router.resolve(probe)
    request = make_mocked_request(method, path_qs, headers, match_info=dict(match), app=app, payload=payload)
    handler = match.handler
    for middleware in reversed(app.middlewares):
        handler = _bind(middleware, handler)
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes | None):
        raise NotImplementedError(f"offline mode serves plain REST responses only ({method} {path_qs})")
    return response


def _body_of(response: web.Response) -> bytes:
    body = response.body
    return body if isinstance(body, bytes) else b""


def _bind(middleware: Any, handler: Any) -> Any:
    async def run(request: web.Request) -> web.StreamResponse:
        result: web.StreamResponse = await middleware(request, handler)
        return result

    return run


@contextmanager
def offline_exchange(exchange: MockExchange, base_url: str | Sequence[str] = "https://api.binance.com",
                     dialects: Sequence[str] = ("binance",)) -> Iterator[OfflineExchange]:
    """Serve `exchange`'s REST API at `base_url` (one URL or several) to every aiohttp ClientSession in the
    block, through aioresponses: no socket is opened and no request leaves the process."""
    app = create_app(exchange, dialects)
    bases = [base_url] if isinstance(base_url, str) else list(base_url)
    # Longest base first, so "https://h/prefix" wins over "https://h" for the URLs under it.
    patterns = [(re.compile("^" + re.escape(b.rstrip("/")) + r"(/|\?|$)"), URL(b))
                for b in sorted(bases, key=len, reverse=True)]

    async def respond(url: URL, **kwargs: Any) -> CallbackResult:
        raw: URL = kwargs[_RAW_URL]
        method: str = kwargs["method"]
        base = next(b for pattern, b in patterns if pattern.match(str(raw)))
        path = raw.raw_path[len(base.raw_path.rstrip("/")):] or "/"
        path_qs = path + (f"?{raw.raw_query_string}" if raw.raw_query_string else "")
        body, default_type = _body_bytes(kwargs.get("data"), kwargs.get("json"))
        headers: CIMultiDict[str] = CIMultiDict(kwargs.get("headers") or {})
        if body:
            if hdrs.CONTENT_TYPE not in headers:
                headers[hdrs.CONTENT_TYPE] = default_type or "application/octet-stream"
            headers[hdrs.CONTENT_LENGTH] = str(len(body))
        response = await dispatch(app, method, path_qs, headers, body)
        reply_headers = {k: v for k, v in response.headers.items()
                         if k.lower() not in ("content-type", "content-length")}
        return CallbackResult(method=method, status=response.status, body=_body_of(response),
                              content_type=response.content_type, headers=reply_headers, reason=response.reason,
                              response_class=_Response)

    mock = OfflineExchange(app)
    with mock:
        for pattern, _ in patterns:
            for method in _METHODS:
                mock.add(pattern, method=method, callback=partial(respond, method=method), repeat=True)
        yield mock
