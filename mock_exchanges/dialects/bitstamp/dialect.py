"""The Bitstamp dialect: the venue without any nonce or update id, only timestamps.

REST under `/api/v2/` (HMAC-SHA256 v2 auth with X-Auth headers), WebSocket API v2 at the root path.
Spot markets are `btcusdt` / `BTC/USDT`; the engine's perpetuals are served as Bitstamp serves its own
(`btcusdt-perp` / `BTC/USDT-PERP`, `market_type` PERPETUAL) on the same endpoints, with the
`funding_rate_{market}` channel, `GET /api/v2/funding_rate/{market}/`, `/open_positions/` and
`/leverage_settings/`. It is meant to serve alone on a server: `create_app(exchange, ["bitstamp"])`.
"""

from __future__ import annotations

from aiohttp import web

from ...server.exchange import MockExchange
from .account_rest import AccountRest
from .context import BitstampContext
from .encoder import BitstampEncoder
from .endpoint import install_fallback
from .errors import request_error
from .public_rest import PublicRest
from .streams import StreamEndpoint
from .trading_rest import TradingRest

BITSTAMP = web.AppKey("bitstamp", BitstampContext)

_CDN_BLOCK = ("<html><head><title>Request Rejected</title></head><body>Request unsuccessful. Incapsula "
              "incident ID: 0-0 (mock exchange)</body></html>")
_GATEWAY_TIMEOUT = ("<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1>"
                    "</body></html>")


class BitstampDialect:
    name = "bitstamp"

    #: the routes that create orders, cancel them and serve book snapshots (aiohttp route patterns)
    rest_roles: dict[str, list[tuple[str, str]]] = {
        "create": [("POST", "/api/v2/buy/{pair}/"), ("POST", "/api/v2/sell/{pair}/"),
                   ("POST", "/api/v2/buy/market/{pair}/"), ("POST", "/api/v2/sell/market/{pair}/")],
        "cancel": [("POST", "/api/v2/cancel_order/")],
        "snapshot": [("GET", "/api/v2/order_book/{pair}/")],
        "query": [("POST", "/api/v2/order_status/")],
    }

    def install(self, app: web.Application, exchange: MockExchange) -> None:
        ctx = BitstampContext(exchange)
        app[BITSTAMP] = ctx
        PublicRest(ctx).install(app)
        TradingRest(ctx).install(app)
        AccountRest(ctx).install(app)
        StreamEndpoint(ctx).install(app)
        install_fallback(app)
        exchange.hub.add_encoder(BitstampEncoder(ctx))

    def describe(self, base_url: str) -> dict[str, str]:
        ws = base_url.replace("http://", "ws://").replace("https://", "wss://")
        return {"Bitstamp REST": f"{base_url}/api/v2/", "Bitstamp WS": f"{ws}/ (root path)"}

    def rest_error(self, kind: str, retry_after_s: int) -> web.Response:
        """How Bitstamp answers when a request is refused or lost, for the fault layer.

        - `rate_limit`: HTTP 400 with response code 400.002 "Request rejected due to exceeded rate limit."
          (the docs list it with status 400, not 429); `Retry-After` is our addition.
        - `ban`: Bitstamp publishes no ban rule; its CDN (Imperva/Incapsula, seen in its response headers)
          blocks abusive clients with an HTML "Request unsuccessful. Incapsula incident ID" page and 403.
        - `server_error` (and any other kind): HTTP 500 with response code 500.001 "Unknown server error.".
        - `unknown_status`: a gateway timeout (504, HTML) from the edge: the order may or may not exist.
          (Bitstamp's own form of it, 500.016 "Your request timed out before order confirmation", needs the
          order id, which a refused request has not got.)
        """
        retry = {"Retry-After": str(max(retry_after_s, 0))}
        if kind == "rate_limit":
            error = request_error("400.002")
            error.headers.update(retry)
            return error.response()
        if kind == "ban":
            return web.Response(status=403, text=_CDN_BLOCK, content_type="text/html", headers=retry)
        if kind == "unknown_status":
            return web.Response(status=504, text=_GATEWAY_TIMEOUT, content_type="text/html")
        return request_error("500.001").response()  # server_error, and any kind this dialect has no word for
