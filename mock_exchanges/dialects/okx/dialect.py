"""The OKX dialect: REST under `/api/v5`, WebSockets under `/ws/v5`; serves alone on a server."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...engine import Account
from ...server.exchange import MockExchange
from .account_rest import AccountRest
from .context import OkxContext
from .encoder import OkxEncoder
from .endpoint import error_response
from .errors import RATE_LIMIT, TIMEOUT_UNKNOWN, UNAVAILABLE, OkxError
from .market_rest import MarketRest
from .trade_rest import TradeRest
from .ws import OkxStreams

OKX = web.AppKey("okx", OkxContext)


class OkxDialect:
    name = "okx"
    _ctx: OkxContext | None = None
    #: the routes the fault layer targets by role (batch-orders creates orders too)
    rest_roles = {
        "create": [("POST", "/api/v5/trade/order"), ("POST", "/api/v5/trade/batch-orders")],
        "cancel": [("POST", "/api/v5/trade/cancel-order")],
        "snapshot": [("GET", "/api/v5/market/books"), ("GET", "/api/v5/market/books-full")],
        "query": [("GET", "/api/v5/trade/order")],
    }

    def __init__(self, checksum: bool = True) -> None:
        """`checksum=False`: books pushes carry `"checksum": 0`, as OKX sends from 2026-06-23 (announced
        deprecation); clients must then rely on the seqId/prevSeqId chain alone."""
        self.checksum = checksum
        #: the dialect capability the `corrupt` fault needs (`mock_exchanges.faults.schedule.CAPABILITIES`): books
        #: pushes carry a CRC32 of the top 25 levels, so a push whose content is wrong can be told from a true one
        self.book_checksum = checksum

    def install(self, app: web.Application, exchange: MockExchange) -> None:
        ctx = self._ctx = OkxContext(exchange)
        ctx.send_checksum = self.checksum
        app[OKX] = ctx
        encoder = OkxEncoder(ctx)
        MarketRest(ctx).install(app)
        TradeRest(ctx).install(app)
        AccountRest(ctx).install(app)
        OkxStreams(ctx, encoder).install(app)
        exchange.hub.add_encoder(encoder)

    def describe(self, base_url: str) -> dict[str, str]:
        ws = base_url.replace("http://", "ws://").replace("https://", "wss://")
        return {
            "OKX REST": f"{base_url}/api/v5",
            "OKX WS public": f"{ws}/ws/v5/public",
            "OKX WS private": f"{ws}/ws/v5/private",
        }

    def rest_error(self, kind: str, retry_after_s: int) -> web.Response:
        """How OKX answers a refused request or one whose outcome is unknown (the fault layer's REST faults).

        OKX has no IP-ban status: "ban" is answered like "rate_limit" (429, 50011). "unknown_status" is
        50004, OKX's "endpoint request timeout (does not mean that the request was successful or failed)",
        with HTTP 400 as in OKX's error-code table.
        """
        retry = {"Retry-After": str(retry_after_s)}
        if kind in ("rate_limit", "ban"):
            error = OkxError(*RATE_LIMIT, status=429, headers=retry)
        elif kind == "unknown_status":
            error = OkxError(*TIMEOUT_UNKNOWN, status=400)
        elif kind == "server_error":
            error = OkxError(*UNAVAILABLE, status=503, headers=retry)
        else:
            raise ValueError(f"unknown REST fault kind {kind!r}")
        return error_response(error)

    def account_credentials(self, account: Account) -> dict[str, str]:
        """What an OKX client needs beyond the key and secret: the account's passphrase."""
        return {"passphrase": self._context().passphrase(account)}

    def accounts_info(self) -> list[dict[str, Any]]:
        """Every trading account's OKX credentials (key, secret, passphrase)."""
        ctx = self._context()
        return [{"account_id": a.account_id, "name": a.name, "api_key": a.api_key, "api_secret": a.api_secret,
                 "passphrase": ctx.passphrase(a)} for a in ctx.exchange.trading_accounts]

    def _context(self) -> OkxContext:
        if self._ctx is None:
            raise RuntimeError("the OKX dialect is not installed on a server yet")
        return self._ctx
