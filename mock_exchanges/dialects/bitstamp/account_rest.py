"""Bitstamp's private account API: balances, the WebSocket token, and the derivatives account (open
positions, leverage settings).

Positions follow OpenPositionSchema with the fields the engine can fill: `size` is unsigned and `side`
says `long` or `short` (the schema does not spell the values: our choice), `id` is
`<market>-<user id>` (the engine has one position per account and market), `margin_mode` is always
`CROSS`. Fields the engine does not model (liquidation prices, margin ratios, funding totals) are absent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from ...engine import Balance, MarketSpec
from .context import BitstampContext
from .endpoint import Call, Reply, Route, install_routes
from .errors import request_error
from .formats import currency, market_id, market_name, plain, price
from .tokens import VALID_S

ZERO = Decimal(0)


def balance_row(asset: str, balance: Balance) -> dict[str, str]:
    """AccountBalancesResponse: lowercase currency, total = available + reserved."""
    return {"currency": currency(asset), "total": plain(balance.total), "available": plain(balance.free),
            "reserved": plain(balance.locked)}


class AccountRest:
    def __init__(self, ctx: BitstampContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        routes: list[Route] = [
            ("POST", "/api/v2/account_balances/", self.balances, True),
            ("POST", "/api/v2/account_balances/{currency}/", self.balance, True),
            ("POST", "/api/v2/websockets_token/", self.websockets_token, True),
            ("GET", "/api/v2/open_positions/", self.open_positions, True),
            ("GET", "/api/v2/open_positions/{pair}/", self.open_positions, True),
            ("GET", "/api/v2/leverage_settings/", self.leverage_settings, True),
            ("POST", "/api/v2/leverage_settings/", self.set_leverage, True),
        ]
        install_routes(app, self.ctx, routes)

    def _balances(self, call: Call) -> dict[str, Balance]:
        held = self.ctx.engine.balances(call.account.account_id)
        return {asset: held.get(asset, Balance()) for asset in [*self.ctx.engine.assets(), *held]}

    async def balances(self, call: Call) -> list[dict[str, str]]:
        return [balance_row(asset, b) for asset, b in self._balances(call).items()]

    async def balance(self, call: Call) -> dict[str, str]:
        wanted = call.path("currency").upper()
        found = self._balances(call).get(wanted)
        if found is None:
            raise request_error("404.006")
        return balance_row(wanted, found)

    async def websockets_token(self, call: Call) -> dict[str, Any]:
        account_id = call.account.account_id
        return {"token": self.ctx.tokens.issue(account_id, self.ctx.now_ms()), "valid_sec": VALID_S,
                "user_id": account_id}

    def _perpetuals(self, call: Call, market: str | None) -> list[MarketSpec]:
        if market is not None:
            return [self.ctx.perpetual(market)]
        return [spec for spec in self.ctx.markets.values() if spec.is_perpetual]

    async def open_positions(self, call: Call) -> list[dict[str, Any]]:
        account_id = call.account.account_id
        out = []
        for spec in self._perpetuals(call, call.request.match_info.get("pair")):
            pos = self.ctx.engine.position(account_id, spec.symbol)
            if not pos.qty:
                continue
            size = abs(pos.qty)
            out.append({
                "id": f"{market_id(spec)}-{account_id}", "market": market_name(spec), "market_type": "PERPETUAL",
                "margin_mode": "CROSS", "settlement_currency": spec.quote,
                "entry_price": plain(pos.entry_price),
                "pnl_realized": plain(pos.realized_pnl), "pnl_unrealized": plain(pos.unrealized_pnl),
                "pnl": plain(pos.realized_pnl + pos.unrealized_pnl), "leverage": str(pos.leverage),
                "size": plain(size), "side": "long" if pos.qty > 0 else "short",
                "initial_margin": plain(pos.margin), "current_margin": plain(pos.margin + pos.unrealized_pnl),
                "mark_price": price(spec, pos.mark_price), "current_value": plain(size * pos.mark_price),
                "entry_value": plain(size * pos.entry_price),
            })
        return out

    def _setting(self, account_id: int, spec: MarketSpec) -> dict[str, str]:
        """LeverageSettingsDataSchema."""
        return {"margin_mode": "CROSS", "market": market_name(spec),
                "leverage_current": str(self.ctx.engine.position(account_id, spec.symbol).leverage),
                "leverage_max": str(spec.max_leverage)}

    async def leverage_settings(self, call: Call) -> list[dict[str, str]]:
        account_id = call.account.account_id
        return [self._setting(account_id, spec) for spec in self._perpetuals(call, call.params.text("market"))]

    async def set_leverage(self, call: Call) -> Reply:
        """`market` (name or URL symbol), `leverage`, `margin_mode`; answers 201 as the docs list it."""
        params = call.params
        market = params.text("market")
        if market is None:
            raise request_error("400.079")
        spec = self.ctx.perpetual(market)
        mode = (params.text("margin_mode") or "CROSS").upper()
        if mode not in ("CROSS", "ISOLATED"):
            raise request_error("400.007", "POST parameter(s) is malformed: margin_mode.")
        leverage = params.integer("leverage", "400.044")
        if leverage is None:
            raise request_error("400.044")
        self.ctx.engine.set_leverage(call.account.account_id, spec.symbol, leverage)
        return Reply([self._setting(call.account.account_id, spec)], status=201)
