"""The plumbing every OKX REST endpoint shares: parameters, authentication, rate limits and the envelope
`{"code": "0", "msg": "", "data": [...]}`.

Parameters come from the query string for GET and from a JSON body for POST, as OKX reads them. Values
are strings on OKX; JSON numbers are accepted too (and booleans where OKX takes one, e.g. reduceOnly).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from ...engine import Account, EngineError
from .auth import authenticate_rest
from .context import OkxContext
from .errors import SYSTEM_ERROR, OkxError, bad, empty
from .formats import dumps

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_VALUE = 256
_DECIMAL = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_INT = re.compile(r"^[0-9]{1,18}$")


class Params:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise bad(name)
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_VALUE:
            raise bad(name)
        return text

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise empty(name)
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        value = self.required(name) if required else self.text(name)
        if value is None:
            return None
        if not _DECIMAL.match(value):
            raise bad(name)
        try:
            return Decimal(value)
        except InvalidOperation:
            raise bad(name) from None

    def integer(self, name: str, default: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not _INT.match(value):
            raise bad(name)
        return int(value)

    def choice(self, name: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
        value = self.required(name) if required else self.text(name)
        if value is not None and value not in allowed:
            raise bad(name)
        return value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad(name)


@dataclass
class Reply:
    """An answer other than plain success: a per-order outcome code ("1" all failed, "2" some failed) and
    OKX's trade-endpoint timing fields."""

    data: list[Any]
    code: str = "0"
    msg: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Call:
    """One request as a handler sees it: `params` for object bodies and queries, `body` as parsed."""

    def __init__(self, ctx: OkxContext, request: web.Request, params: Params, body: Any,
                 account: Account | None, in_time_us: int) -> None:
        self.ctx = ctx
        self.request = request
        self.params = params
        self.body = body
        self._account = account
        self.in_time_us = in_time_us

    @property
    def account(self) -> Account:
        assert self._account is not None, "endpoint declared public"
        return self._account

    def timing(self) -> dict[str, str]:
        return {"inTime": str(self.in_time_us), "outTime": str(self.ctx.engine.clock.now_us())}


Handler = Callable[[Call], Awaitable[Reply | list[Any]]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    #: requests per 2 s per caller (OKX's documented limit for the endpoint)
    limit: int
    private: bool = False


def error_response(error: OkxError) -> web.Response:
    return web.Response(status=error.status, text=dumps(error.body()), content_type="application/json",
                        headers=error.headers)


async def read_body(request: web.Request) -> str:
    if not request.can_read_body:
        return ""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise OkxError("50000", "Body for POST request is too large.", status=413)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise OkxError("50000", "Body for POST request is too large.", status=413)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OkxError("50002", "Json data format error") from None


def parse_body(raw: str) -> Any:
    if not raw.strip():
        raise OkxError("50000", "Body for POST request cannot be empty.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise OkxError("50002", "Json data format error") from None


def endpoint(ctx: OkxContext, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: authenticate private routes, charge the rate limit, read parameters, map errors."""

    async def handle(request: web.Request) -> web.StreamResponse:
        in_time_us = ctx.engine.clock.now_us()
        try:
            raw = await read_body(request) if request.method == "POST" else ""
            now = in_time_us // 1000
            account = None
            if route.private:
                account = authenticate_rest(ctx.engine, ctx.passphrase, request.headers, request.method,
                                            request.raw_path, raw, now)
            caller = account.api_key if account is not None else (request.remote or "?")
            ctx.limiter.charge(caller, f"{route.method} {route.path}", route.limit, now)
            if request.method == "POST":
                body = parse_body(raw)
            else:
                body = {key: request.query.getone(key) for key in request.query}
            params = Params(body if isinstance(body, dict) else {})
            result = await route.handler(Call(ctx, request, params, body, account, in_time_us))
            reply = result if isinstance(result, Reply) else Reply(result)
            return web.Response(text=dumps({"code": reply.code, "msg": reply.msg, "data": reply.data,
                                            **reply.extra}), content_type="application/json")
        except OkxError as error:
            return error_response(error)
        except EngineError as error:  # a rejection a handler did not map: still the client's request
            return error_response(OkxError("51000", f"Parameter error: {error.message}"))
        except Exception:  # a bug of ours, never the client's input: say so and keep serving
            log.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(OkxError(*SYSTEM_ERROR, status=500))

    return handle


def install_routes(app: web.Application, ctx: OkxContext, routes: list[Route]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, endpoint(ctx, route))
