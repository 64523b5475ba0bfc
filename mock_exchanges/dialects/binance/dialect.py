"""The Binance dialect: spot (`/api/v3`, streams, WS API) and USD-M futures (`/fapi`, `/fstream`)."""

from __future__ import annotations

from aiohttp import web

from ...server.exchange import MockExchange
from .context import BinanceContext, error_response
from .encoder import BinanceEncoder
from .errors import BinanceError
from .futures_rest import FuturesRest
from .spot_rest import SpotRest
from .streams import StreamEndpoints

BINANCE = web.AppKey("binance", BinanceContext)


class BinanceDialect:
    name = "binance"
    _ctx: BinanceContext
    #: `MockExchangeConfig.batch_depth` merges its depth streams per documented interval (`depth_batches`)
    depth_intervals = True
    #: the routes the fault layer targets by role
    rest_roles = {
        "create": [("POST", "/api/v3/order"), ("POST", "/fapi/v1/order")],
        "cancel": [("DELETE", "/api/v3/order"), ("DELETE", "/fapi/v1/order")],
        "snapshot": [("GET", "/api/v3/depth"), ("GET", "/fapi/v1/depth")],
        "query": [("GET", "/api/v3/order"), ("GET", "/fapi/v1/order")],
    }

    def rest_error(self, kind: str, retry_after_s: int) -> web.Response:
        """How Binance answers when a request is refused or its outcome is unknown (the fault layer's REST faults)."""
        retry = {"Retry-After": str(retry_after_s)}
        if kind == "rate_limit":
            error = BinanceError(-1003, "Too much request weight used; current limit is 6000 request weight per 1 "
                                 "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                                 status=429, headers=retry)
        elif kind == "ban":
            error = BinanceError(-1003, "Way too much request weight used; IP banned until "
                                 f"{self._ctx.now_ms() + retry_after_s * 1000}. Please use WebSocket Streams for "
                                 "live updates to avoid bans.", status=418, headers=retry)
        elif kind == "unknown_status":
            error = BinanceError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                                 "execution status unknown.", status=503)
        else:
            error = BinanceError(-1001, "Internal error; unable to process your request. Please try again.",
                                 status=500)
        return error_response(error)

    def install(self, app: web.Application, exchange: MockExchange) -> None:
        ctx = self._ctx = BinanceContext(exchange)
        app[BINANCE] = ctx
        SpotRest(ctx).install(app)
        FuturesRest(ctx).install(app)
        StreamEndpoints(ctx).install(app)
        encoder = BinanceEncoder(ctx, exchange.hub)
        exchange.hub.add_encoder(encoder)
        exchange.periodic.append(ctx.listen_keys.expire_due)
        exchange.periodic.append(encoder.flush_due)

    def describe(self, base_url: str) -> dict[str, str]:
        ws = base_url.replace("http://", "ws://").replace("https://", "wss://")
        return {
            "spot REST": f"{base_url}/api/v3",
            "spot WS streams": f"{ws}/ws (raw), {ws}/stream (combined)",
            "spot WS API": f"{ws}/ws-api/v3",
            "USD-M REST": f"{base_url}/fapi/v1",
            "USD-M WS streams": f"{ws}/fstream/public/ws, {ws}/fstream/market/ws (raw; /stream wrapped)",
            "USD-M user data": f"{ws}/fstream/private/ws?listenKey=<key>",
        }
