"""What every Binance handler needs: the exchange, the venue's symbol tables, rate limits, and the
request plumbing (params, weight, auth, error responses) shared by the spot and futures REST APIs."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...engine import Account, BookSnapshot, EngineError, MarketSpec
from ...server.connection import ClientConnection
from ...server.exchange import MockExchange
from ...server.hub import Frame
from .auth import account_for_key, authenticate
from .errors import BAD_SYMBOL, BinanceError, from_engine
from .formats import fmt
from .listen_keys import ListenKeys
from .params import Params, read_params
from .rate_limit import RateLimiter

log = logging.getLogger(__name__)

Handler = Callable[["Call"], Awaitable[Any]]


class BinanceContext:
    def __init__(self, exchange: MockExchange) -> None:
        self.exchange = exchange
        self.engine = exchange.engine
        self.limiter = RateLimiter()
        #: Binance symbol -> engine market, separately for the spot and the USD-M venue
        self.spot: dict[str, MarketSpec] = {}
        self.futures: dict[str, MarketSpec] = {}
        for state in self.engine.markets.values():
            spec = state.spec
            table = self.futures if spec.is_perpetual else self.spot
            table[spec.base + spec.quote] = spec
        #: order id -> the client id of the cancel request being executed (executionReport `c`)
        self.cancel_ids: dict[int, str] = {}
        self._ids = random.Random(exchange.config.seed + 1)
        self.listen_keys = ListenKeys(exchange.config.seed + 2)
        self.venue_symbol = {spec.symbol: name for table in (self.spot, self.futures) for name, spec in table.items()}

    def exchange_connection(self, ws: web.WebSocketResponse, path: str,
                            render: Callable[[str, Frame], str | None]) -> ClientConnection:
        return self.exchange.open_connection(ws, path, render)

    async def release_connection(self, conn: ClientConnection) -> None:
        await self.exchange.close_connection(conn)

    def new_cancel_id(self) -> str:
        return format(self._ids.getrandbits(88), "022x")

    def now_ms(self) -> int:
        return self.engine.clock.now_us() // 1000

    def snapshot(self, spec: MarketSpec, limit: int) -> BookSnapshot:
        """The book a REST depth request gets: the current one, or an older one when the fault layer says so."""
        update_id = self.exchange.faults.snapshot_update_id(spec.symbol, limit)
        if update_id is None:
            return self.engine.book(spec.symbol, limit)
        return self.engine.book_at(spec.symbol, update_id, limit)

    def market(self, params: Params, futures: bool, name: str = "symbol") -> MarketSpec:
        symbol = params.required(name)
        spec = (self.futures if futures else self.spot).get(symbol.upper() if futures else symbol)
        if spec is None:
            raise BinanceError(*BAD_SYMBOL)
        return spec


class Call:
    """One request as a handler sees it."""

    def __init__(self, ctx: BinanceContext, request: web.Request, params: Params, account: Account | None) -> None:
        self.ctx = ctx
        self.request = request
        self.params = params
        self._account = account

    @property
    def account(self) -> Account:
        assert self._account is not None, "endpoint declared without auth"
        return self._account


Weight = int | Callable[[Params], int]


def endpoint(ctx: BinanceContext, handler: Handler, weight: Weight, auth: str = "none",
             futures: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: read params, charge weight, authenticate ("none", "key" or "signed"), map errors.

    `weight` is a number, or a function of the request's params where Binance's weight depends on them.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        headers: dict[str, str] = {}
        try:
            params = await read_params(request)
            api_key = request.headers.get("X-MBX-APIKEY")
            now = ctx.now_ms()
            caller = api_key or (request.remote or "?")
            used = ctx.limiter.charge(caller, weight if isinstance(weight, int) else weight(params), now)
            headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            account = None
            if auth == "signed":
                account = authenticate(ctx.engine, api_key, params, now)
            elif auth == "key":
                account = account_for_key(ctx.engine, api_key)
            result = await handler(Call(ctx, request, params, account))
            if isinstance(result, web.StreamResponse):
                return result
            return web.Response(text=json.dumps(result, separators=(",", ":")), content_type="application/json",
                                headers=headers)
        except BinanceError as error:
            return error_response(error, headers)
        except EngineError as error:
            return error_response(from_engine(error, futures=futures), headers)
        except Exception:  # a bug of ours, never the client's input: say so and keep serving
            log.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(BinanceError(-1000, "An unknown error occurred while processing the request.",
                                               status=500), headers)

    return handle


Route = tuple[str, str, Handler, Weight, str]


def install_routes(app: web.Application, ctx: BinanceContext, routes: list[Route], futures: bool = False) -> None:
    """Register `(method, path, handler, weight, auth)` rows, each wrapped by `endpoint`."""
    for method, path, handler, weight, auth in routes:
        app.router.add_route(method, path, endpoint(ctx, handler, weight, auth, futures=futures))


def error_response(error: BinanceError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=error.status,
        text=json.dumps(error.body(), separators=(",", ":")),
        content_type="application/json",
        headers={**(headers or {}), **error.headers},
    )


def depth_limit(params: Params, allowed: tuple[int, ...], default: int) -> int:
    limit = params.int("limit", default)
    assert limit is not None
    if limit not in allowed:
        if limit <= 0:
            raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '"
                               + ", ".join(map(str, allowed)) + "'.")
        limit = min((a for a in allowed if a >= limit), default=allowed[-1])
    return limit


def levels(rows: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[fmt(price), fmt(qty)] for price, qty in rows]
