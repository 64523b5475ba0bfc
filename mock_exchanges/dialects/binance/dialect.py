"""The Binance dialect: spot (`/api/v3`, streams, WS API) and USD-M futures (`/fapi`, `/fstream`)."""

from __future__ import annotations

from aiohttp import web

from ...server.exchange import MockExchange
from .context import BinanceContext
from .encoder import BinanceEncoder
from .futures_rest import FuturesRest
from .spot_rest import SpotRest
from .streams import StreamEndpoints

BINANCE = web.AppKey("binance", BinanceContext)


class BinanceDialect:
    name = "binance"

    def install(self, app: web.Application, exchange: MockExchange) -> None:
        ctx = BinanceContext(exchange)
        app[BINANCE] = ctx
        SpotRest(ctx).install(app)
        FuturesRest(ctx).install(app)
        StreamEndpoints(ctx).install(app)
        exchange.hub.add_encoder(BinanceEncoder(ctx))
        exchange.periodic.append(ctx.listen_keys.expire_due)

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
