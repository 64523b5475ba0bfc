"""Bitstamp's private order API: limit and market orders, cancels, open orders, order status and the
account's trades. Every route is a signed POST with a form body, as Bitstamp's are.

Limit orders take `amount`, `price`, `client_order_id` and one of the flags `ioc_order`, `fok_order`,
`moc_order` (maker or cancel); more than one flag is 400.024. Not taken (our choice, 400.007 with a
text that says so): `gtd_order`/`expire_time`, `daily_order`, `limit_price`, and stop/trailing
parameters. Perpetual orders also take `leverage` (applied to the account's market setting first, as
the engine keeps one leverage per account and market), `margin_mode` (`CROSS` or `ISOLATED`, echoed; the
engine has one margin model) and `reduce_only`.

A market order's answer carries the average fill price (the engine knows it; Bitstamp's answer has a
`price` too), or 0 when nothing filled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from ...engine import EngineError, MarketSpec, OrderState, OrderType, PlaceResult, Side, TimeInForce
from ...engine import errors as engine_errors
from .context import BitstampContext
from .endpoint import Call, Params, Route, install_routes
from .errors import decimal_places, form_error, order_not_found, request_error
from .orders import canceled, created, open_order, status, user_transaction

_UNSUPPORTED = ("gtd_order", "daily_order", "limit_price", "expire_time", "stop_price", "activation_price",
                "trailing_delta", "trigger")
_MAX_CLIENT_ID = 180


def places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class TradingRest:
    def __init__(self, ctx: BitstampContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        routes: list[Route] = [
            ("POST", "/api/v2/buy/market/{pair}/", self.buy_market, True),
            ("POST", "/api/v2/sell/market/{pair}/", self.sell_market, True),
            ("POST", "/api/v2/buy/{pair}/", self.buy_limit, True),
            ("POST", "/api/v2/sell/{pair}/", self.sell_limit, True),
            ("POST", "/api/v2/cancel_order/", self.cancel_order, True),
            ("POST", "/api/v2/cancel_all_orders/", self.cancel_all, True),
            ("POST", "/api/v2/cancel_all_orders/{pair}/", self.cancel_all, True),
            ("POST", "/api/v2/open_orders/all/", self.open_orders, True),
            ("POST", "/api/v2/open_orders/", self.open_orders, True),
            ("POST", "/api/v2/open_orders/{pair}/", self.open_orders, True),
            ("POST", "/api/v2/order_status/", self.order_status, True),
            ("POST", "/api/v2/user_transactions/", self.user_transactions, True),
            ("POST", "/api/v2/user_transactions/{pair}/", self.user_transactions, True),
        ]
        install_routes(app, self.ctx, routes)

    # --- new orders --------------------------------------------------------------------------
    async def buy_limit(self, call: Call) -> dict[str, Any]:
        return self._place(call, Side.BUY, market=False)

    async def sell_limit(self, call: Call) -> dict[str, Any]:
        return self._place(call, Side.SELL, market=False)

    async def buy_market(self, call: Call) -> dict[str, Any]:
        return self._place(call, Side.BUY, market=True)

    async def sell_market(self, call: Call) -> dict[str, Any]:
        return self._place(call, Side.SELL, market=True)

    def _place(self, call: Call, side: Side, market: bool) -> dict[str, Any]:
        ctx, params = self.ctx, call.params
        spec = ctx.market(call.path("pair"))
        qty = params.decimal("amount", "400.005")
        if places(qty) > spec.qty_decimals:
            raise decimal_places("amount", spec.qty_decimals)
        if qty < spec.min_qty:
            raise form_error("400.046", "Provided order amount is too low.")
        if qty > spec.max_qty:
            raise form_error("400.038", "Provided order amount is too large.")
        limit_price: Decimal | None = None
        if not market:
            limit_price = params.decimal("price", "400.006")
            if places(limit_price) > spec.price_decimals:
                raise decimal_places("price", spec.price_decimals)
            if qty * limit_price < spec.min_notional:
                raise form_error("400.020", f"Minimum order size is {spec.min_notional:f} {spec.quote}.")
        order_type, tif = self._kind(params, market)
        client_id = params.text("client_order_id")
        if client_id is not None and len(client_id) > _MAX_CLIENT_ID:
            raise request_error("400.008")
        reduce_only = False
        if spec.is_perpetual:
            reduce_only = params.flag("reduce_only")
            self._leverage(call, spec, params)
        if client_id is not None:
            ctx.remember_client_id(call.account.account_id, client_id)
        try:
            result = ctx.engine.place_order(call.account.account_id, spec.symbol, side, order_type, qty,
                                            limit_price, tif, client_id, reduce_only)
        except engine_errors.InsufficientBalance:
            raise self._insufficient(call, spec, side) from None
        except engine_errors.InvalidOrder as error:
            if client_id is not None and "client order id" in error.message:
                raise request_error("400.008") from None
            raise
        body = created(spec, result.order, client_id is not None, limit_price or average_price(result))
        if spec.is_perpetual:
            body["margin_mode"] = (params.text("margin_mode") or "CROSS").upper()
            body["leverage"] = str(ctx.engine.position(call.account.account_id, spec.symbol).leverage)
        return body

    @staticmethod
    def _kind(params: Params, market: bool) -> tuple[OrderType, TimeInForce]:
        for name in _UNSUPPORTED:
            if params.text(name) is not None and (not name.endswith("_order") or params.flag(name)):
                raise request_error("400.007", f"POST parameter(s) is malformed: {name} is not supported by this "
                                               "mock exchange.")
        flags = [name for name in ("ioc_order", "fok_order", "moc_order") if params.flag(name)]
        if len(flags) > 1:
            raise request_error("400.024")
        if market:
            return OrderType.MARKET, TimeInForce.IOC
        if flags == ["ioc_order"]:
            return OrderType.LIMIT, TimeInForce.IOC
        if flags == ["fok_order"]:
            return OrderType.LIMIT, TimeInForce.FOK
        if flags == ["moc_order"]:
            return OrderType.LIMIT_MAKER, TimeInForce.GTC
        return OrderType.LIMIT, TimeInForce.GTC

    def _leverage(self, call: Call, spec: MarketSpec, params: Params) -> None:
        mode = params.text("margin_mode")
        if mode is not None and mode.upper() not in ("CROSS", "ISOLATED"):
            raise request_error("400.007", "POST parameter(s) is malformed: margin_mode.")
        leverage = params.text("leverage")
        if leverage is None:
            return
        try:
            value = Decimal(leverage)
        except ArithmeticError:
            raise request_error("400.044") from None
        if not value.is_finite() or value != value.to_integral_value() or not 1 <= value <= 10_000:
            raise request_error("400.044")
        account_id = call.account.account_id
        if self.ctx.engine.position(account_id, spec.symbol).leverage != int(value):
            try:
                self.ctx.engine.set_leverage(account_id, spec.symbol, int(value))
            except engine_errors.InvalidLeverage:
                raise request_error("400.044") from None

    def _insufficient(self, call: Call, spec: MarketSpec, side: Side) -> Exception:
        if spec.is_perpetual:
            return form_error("400.075", "Insufficient margin for provided user.")
        asset = spec.quote if side is Side.BUY else spec.base
        held = self.ctx.engine.balances(call.account.account_id).get(asset)
        available = held.free if held is not None else Decimal(0)
        return form_error("400.009", f"You have only {available:f} {asset} available. Check your account balance "
                                     "for details.")

    # --- cancels -------------------------------------------------------------------------------
    def _own_order(self, call: Call) -> OrderState:
        """The account's order named by `id` or `client_order_id` (else "Order not found.")."""
        params = call.params
        order_id = params.integer("id", "400.036")
        client_id = params.text("client_order_id")
        if order_id is None and client_id is None:
            raise form_error("400.035", "Missing id POST param")
        account = call.account
        if order_id is None:
            assert client_id is not None
            order_id = account.client_ids.get(client_id)
            if order_id is None:
                raise order_not_found()
        try:
            order = self.ctx.engine.order_by_id(order_id)
        except EngineError:
            raise order_not_found() from None
        if order.account_id != account.account_id or (client_id is not None and order.client_order_id != client_id):
            raise order_not_found()
        return order

    async def cancel_order(self, call: Call) -> dict[str, Any]:
        order = self._own_order(call)
        ctx = self.ctx
        ctx.exchange.faults.before_cancel(order.symbol, order.account_id, order.order_id)
        try:
            done = ctx.engine.cancel_order(order.account_id, order.symbol, order.order_id)
        except engine_errors.UnknownOrder:
            raise order_not_found() from None
        return canceled(ctx.markets[ctx.ids[done.symbol]], done)

    async def cancel_all(self, call: Call) -> dict[str, Any]:
        ctx = self.ctx
        account_id = call.account.account_id
        pair = call.request.match_info.get("pair")
        symbols = [ctx.market(pair).symbol] if pair is not None else list(ctx.engine.markets)
        done: list[dict[str, Any]] = []
        for symbol in symbols:
            for order in ctx.engine.open_orders(account_id, symbol):
                ctx.exchange.faults.before_cancel(symbol, account_id, order.order_id)
            spec = ctx.markets[ctx.ids[symbol]]
            done += [canceled(spec, o, with_pair=True) for o in ctx.engine.cancel_all(account_id, symbol)]
        return {"canceled": done, "success": True}

    # --- queries -------------------------------------------------------------------------------
    async def open_orders(self, call: Call) -> list[dict[str, Any]]:
        """Always current (Bitstamp caches this answer for up to 10 s; the mock does not)."""
        ctx = self.ctx
        pair = call.request.match_info.get("pair")
        spec = ctx.market(pair) if pair is not None else None
        orders = ctx.engine.open_orders(call.account.account_id, spec.symbol if spec else None)
        return [open_order(ctx.markets[ctx.ids[o.symbol]], o, ctx.has_client_id(o.account_id, o.client_order_id),
                           with_pair=spec is None) for o in orders]

    async def order_status(self, call: Call) -> dict[str, Any]:
        ctx = self.ctx
        order = self._own_order(call)
        spec = ctx.markets[ctx.ids[order.symbol]]
        omit = call.params.flag("omit_transactions")
        fills = None if omit else [f for f in ctx.engine.account_trades(order.account_id, order.symbol)
                                   if f.order_id == order.order_id]
        return status(spec, order, fills, ctx.has_client_id(order.account_id, order.client_order_id))

    async def user_transactions(self, call: Call) -> list[dict[str, Any]]:
        """The account's trades (type 2); deposits and the rest do not exist in the mock. `offset`, `limit`
        (1..1000, default 100), `sort` (`desc` default), `since_timestamp`, `until_timestamp` (seconds),
        `since_id` (a trade id: `limit` then becomes 1000, as the docs say)."""
        ctx, params = self.ctx, call.params
        pair = call.request.match_info.get("pair")
        spec = ctx.market(pair) if pair is not None else None
        offset = params.count("offset", "400.010", 0)
        limit = params.count("limit", "400.011", 100)
        since_id = params.integer("since_id", "400.081")
        since = params.integer("since_timestamp", "400.013")
        until = params.integer("until_timestamp", "400.034")
        order = params.text("sort") or "desc"
        if order not in ("asc", "desc"):
            raise request_error("400.012")
        if offset > 200_000:
            raise request_error("400.010")
        if since_id is not None:
            limit = 1000
        if not 1 <= limit <= 1000:
            raise request_error("400.011")
        fills = ctx.engine.account_trades(call.account.account_id, spec.symbol if spec else None)
        fills = [f for f in fills
                 if (since_id is None or f.trade_id >= since_id)
                 and (since is None or f.time_us >= since * 1_000_000)
                 and (until is None or f.time_us <= until * 1_000_000)]
        if order == "desc":
            fills.reverse()
        return [user_transaction(ctx.markets[ctx.ids[f.symbol]], f) for f in fills[offset:offset + limit]]


def average_price(result: PlaceResult) -> Decimal:
    filled = sum((f.qty for f in result.fills), Decimal(0))
    if not filled:
        return Decimal(0)
    cost = sum((f.qty * f.price for f in result.fills), Decimal(0))
    return cost / filled

