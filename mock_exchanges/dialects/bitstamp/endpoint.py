"""Request plumbing shared by every Bitstamp route: body and parameters, request limits,
authentication, the JSON answer (signed with `X-Server-Auth-Signature` when authenticated) and the
mapping of every failure to a Bitstamp error body. Nothing a client sends can make it answer 500;
only a bug of ours does, and then with Bitstamp's own 500.001 body."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ...engine import Account, EngineError
from .auth import Authenticated, authenticate, server_signature
from .context import BitstampContext
from .errors import ENTER_A_NUMBER, BitstampError, form_error, from_engine, request_error, server_error

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_DECIMAL = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_INT = re.compile(r"^[0-9]{1,18}$")
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


class Params:
    """Form (POST) or query (GET) parameters; a repeated name keeps its last value, as Django does."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None or value == "" else value

    def decimal(self, name: str, missing: str) -> Decimal:
        """A positive-or-zero decimal; `missing` is the response code when it is absent."""
        value = self.text(name)
        if value is None:
            raise form_error(missing, "Missing amount and/or price POST parameters")
        if not _DECIMAL.match(value):
            raise form_error("400.026" if name == "amount" else "400.041", ENTER_A_NUMBER, name)
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
            raise form_error("400.007", ENTER_A_NUMBER, name) from None

    def integer(self, name: str, code: str) -> int | None:
        """A non-negative integer, or None when absent; `code` is the response code when malformed."""
        value = self.text(name)
        if value is None:
            return None
        if not _INT.match(value):
            raise request_error(code)
        return int(value)

    def count(self, name: str, code: str, default: int) -> int:
        value = self.integer(name, code)
        return default if value is None else value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if value is None:
            return False
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise request_error("400.007", f"POST parameter(s) is malformed: {name}.")


@dataclass
class Call:
    """One request as a handler sees it."""

    ctx: BitstampContext
    request: web.Request
    params: Params
    auth: Authenticated | None

    @property
    def account(self) -> Account:
        assert self.auth is not None, "route declared public"
        return self.auth.account

    def path(self, name: str) -> str:
        return self.request.match_info[name]


@dataclass(frozen=True)
class Reply:
    """A handler's answer when it is not a plain 200."""

    body: Any
    status: int = 200


Handler = Callable[[Call], Awaitable[Any]]
Route = tuple[str, str, Handler, bool]  # method, path, handler, private


async def read_body(request: web.Request) -> bytes:
    if not request.can_read_body:
        return b""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise request_error("400.007", "Request body too large.")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise request_error("400.007", "Request body too large.")
    return body


def parse_form(raw: str) -> dict[str, str]:
    try:
        return dict(parse_qsl(raw, keep_blank_values=True))
    except ValueError:
        raise request_error("400.007") from None


def endpoint(ctx: BitstampContext, handler: Handler, private: bool) -> Callable[[web.Request],
                                                                               Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request)
            now = ctx.now_ms()
            x_auth = request.headers.get("X-Auth", "")
            ctx.limiter.charge(x_auth or request.remote or "?", now)
            auth = authenticate(ctx.engine, ctx.nonces, request, body, now) if private else None
            query = request.raw_path.partition("?")[2]
            if request.method == "POST":
                if private and query:
                    raise request_error("400.018")
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise request_error("400.007") from None
                values = parse_form(text)
            else:
                values = parse_form(query)
            result = await handler(Call(ctx, request, Params(values), auth))
            reply = result if isinstance(result, Reply) else Reply(result)
            return answer(reply, auth)
        except BitstampError as error:
            return error.response()
        except EngineError as error:
            return from_engine(error).response()
        except Exception:  # a bug of ours, never the client's input: say so and keep serving
            log.exception("unhandled error in %s %s", request.method, request.path)
            return server_error().response()

    return handle


def answer(reply: Reply, auth: Authenticated | None) -> web.Response:
    body = json.dumps(reply.body).encode()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["X-Server-Auth-Signature"] = server_signature(auth.account.api_secret, auth.nonce, auth.timestamp,
                                                              headers["Content-Type"], body)
    return web.Response(status=reply.status, body=body, headers=headers)


def install_routes(app: web.Application, ctx: BitstampContext, routes: list[Route]) -> None:
    for method, path, handler, private in routes:
        app.router.add_route(method, path, endpoint(ctx, handler, private))


def install_fallback(app: web.Application) -> None:
    """Bitstamp-shaped answers for `/api/v2/` paths no route serves: 405 for a known path with another
    method ("GET method not allowed.", 405.001), 404 otherwise. Install after every other route."""
    own = [r for r in app.router.resources() if r.canonical.startswith("/api/v2/")]

    async def fallback(request: web.Request) -> web.StreamResponse:
        for resource in own:
            match, allowed = await resource.resolve(request)
            if match is None and allowed:
                return request_error("405.001", f"{request.method} method not allowed.").response()
        return request_error("404.001", "Not found.").response()

    app.router.add_route("*", "/api/v2/{tail:.*}", fallback)
