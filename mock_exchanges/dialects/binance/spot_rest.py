"""Binance spot REST API (`/api/v3`), as documented by Binance, served from the engine."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...engine import EngineError, MarketSpec, OrderState, OrderType, PlaceResult, Side, TimeInForce, Trade
from .context import BinanceContext, Call, Route, depth_limit, install_routes, levels
from .errors import BinanceError
from .formats import fmt, ms, size_filters, spot_cancel, spot_order
from .params import Params

CLIENT_ID = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
SPOT_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
KNOWN_TYPES = {"LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def depth_weight(params: Params) -> int:
    """Binance spot: 5 up to 100 levels, 25 up to 500, 50 up to 1000, 250 beyond."""
    limit = params.int("limit", 100) or 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def parse_side(params: Params) -> Side:
    value = params.required("side")
    if value not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    return Side(value)


def client_order_id(params: Params, name: str) -> str | None:
    value = params.str(name)
    if value is not None and not CLIENT_ID.match(value):
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                  "'^[a-zA-Z0-9-_]{1,36}$'.")
    return value


def order_ref(params: Params) -> tuple[int | None, str | None]:
    order_id = params.int("orderId")
    orig = params.str("origClientOrderId")
    if order_id is None and orig is None:
        raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    return order_id, orig


def symbol_info(spec: MarketSpec, name: str) -> dict[str, Any]:
    return {
        "symbol": name, "status": "TRADING", "baseAsset": spec.base, "baseAssetPrecision": 8,
        "quoteAsset": spec.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False, "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False, "cancelReplaceAllowed": False,
        "amendAllowed": False, "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            *size_filters(spec),
            {"filterType": "NOTIONAL", "minNotional": fmt(spec.min_notional), "applyMinToMarket": False,
             "maxNotional": fmt(Decimal("9000000")), "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
    }


def trade_json(trade: Trade) -> dict[str, Any]:
    return {"id": trade.trade_id, "price": fmt(trade.price), "qty": fmt(trade.qty),
            "quoteQty": fmt(trade.price * trade.qty), "time": ms(trade.time_us),
            "isBuyerMaker": trade.buyer_is_maker, "isBestMatch": True}


def ticker_24h(ctx: BinanceContext, spec: MarketSpec, name: str) -> dict[str, Any]:
    now = ctx.now_ms()
    since_us = (now - 86_400_000) * 1000
    trades = [t for t in ctx.engine.recent_trades(spec.symbol) if t.time_us >= since_us]
    book = ctx.engine.book(spec.symbol, 1)
    zero = Decimal(0)
    last = trades[-1].price if trades else zero
    first = trades[0].price if trades else zero
    volume = sum((t.qty for t in trades), zero)
    quote_volume = sum((t.qty * t.price for t in trades), zero)
    change = last - first
    return {
        "symbol": name, "priceChange": fmt(change),
        "priceChangePercent": f"{(change / first * 100 if first else zero):.3f}",
        "weightedAvgPrice": fmt((quote_volume / volume).quantize(spec.tick_size) if volume else zero),
        "prevClosePrice": fmt(first), "lastPrice": fmt(last),
        "lastQty": fmt(trades[-1].qty if trades else zero),
        "bidPrice": fmt(book.bids[0][0] if book.bids else zero), "bidQty": fmt(book.bids[0][1] if book.bids else zero),
        "askPrice": fmt(book.asks[0][0] if book.asks else zero), "askQty": fmt(book.asks[0][1] if book.asks else zero),
        "openPrice": fmt(first), "highPrice": fmt(max((t.price for t in trades), default=zero)),
        "lowPrice": fmt(min((t.price for t in trades), default=zero)),
        "volume": fmt(volume), "quoteVolume": fmt(quote_volume),
        "openTime": now - 86_400_000, "closeTime": now,
        "firstId": trades[0].trade_id if trades else -1, "lastId": trades[-1].trade_id if trades else -1,
        "count": len(trades),
    }


def book_ticker(ctx: BinanceContext, spec: MarketSpec, name: str) -> dict[str, Any]:
    book = ctx.engine.book(spec.symbol, 1)
    bid = book.bids[0] if book.bids else (Decimal(0), Decimal(0))
    ask = book.asks[0] if book.asks else (Decimal(0), Decimal(0))
    return {"symbol": name, "bidPrice": fmt(bid[0]), "bidQty": fmt(bid[1]), "askPrice": fmt(ask[0]),
            "askQty": fmt(ask[1])}


def last_price(ctx: BinanceContext, spec: MarketSpec, name: str) -> dict[str, Any]:
    trades = ctx.engine.recent_trades(spec.symbol)
    return {"symbol": name, "price": fmt(trades[-1].price if trades else Decimal(0))}


class SpotRest:
    def __init__(self, ctx: BinanceContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        routes: list[Route] = [
            ("GET", "/api/v3/ping", self.ping, 1, "none"),
            ("GET", "/api/v3/time", self.time, 1, "none"),
            ("GET", "/api/v3/exchangeInfo", self.exchange_info, 20, "none"),
            ("GET", "/api/v3/depth", self.depth, depth_weight, "none"),
            ("GET", "/api/v3/trades", self.trades, 25, "none"),
            ("GET", "/api/v3/ticker/24hr", self.ticker, 2, "none"),
            ("GET", "/api/v3/ticker/bookTicker", self.book_ticker, 2, "none"),
            ("GET", "/api/v3/ticker/price", self.ticker_price, 2, "none"),
            ("POST", "/api/v3/order", self.new_order, 1, "signed"),
            ("POST", "/api/v3/order/test", self.test_order, 1, "signed"),
            ("GET", "/api/v3/order", self.get_order, 4, "signed"),
            ("DELETE", "/api/v3/order", self.cancel_order, 1, "signed"),
            ("GET", "/api/v3/openOrders", self.open_orders, 6, "signed"),
            ("DELETE", "/api/v3/openOrders", self.cancel_open_orders, 1, "signed"),
            ("GET", "/api/v3/allOrders", self.all_orders, 20, "signed"),
            ("GET", "/api/v3/myTrades", self.my_trades, 20, "signed"),
            ("GET", "/api/v3/account", self.account, 20, "signed"),
            # Wallet endpoints some clients call on start; this mock has no wallet features to list.
            ("GET", "/sapi/v1/capital/config/getall", self.empty_list, 10, "signed"),
            ("GET", "/sapi/v1/margin/allPairs", self.empty_list, 1, "none"),
            ("GET", "/sapi/v1/margin/isolated/allPairs", self.empty_list, 10, "signed"),
        ]
        install_routes(app, self.ctx, routes)

    async def empty_list(self, call: Call) -> list[Any]:
        return []

    async def ping(self, call: Call) -> dict[str, Any]:
        return {}

    async def time(self, call: Call) -> dict[str, Any]:
        return {"serverTime": self.ctx.now_ms()}

    async def exchange_info(self, call: Call) -> dict[str, Any]:
        ctx, params = self.ctx, call.params
        names = list(ctx.spot)
        if params.str("symbol") is not None:
            names = [call.params.required("symbol")]
        elif params.str("symbols") is not None:
            names = _json_list(params, "symbols")
        for name in names:
            if name not in ctx.spot:
                raise BinanceError(-1121, "Invalid symbol.")
        return {"timezone": "UTC", "serverTime": ctx.now_ms(), "rateLimits": RATE_LIMITS, "exchangeFilters": [],
                "symbols": [symbol_info(ctx.spot[name], name) for name in names]}

    async def depth(self, call: Call) -> dict[str, Any]:
        spec = self.ctx.market(call.params, futures=False)
        limit = depth_limit(call.params, SPOT_DEPTH_LIMITS, 100)
        book = self.ctx.snapshot(spec, limit)
        return {"lastUpdateId": book.update_id, "bids": levels(book.bids), "asks": levels(book.asks)}

    async def trades(self, call: Call) -> list[dict[str, Any]]:
        spec = self.ctx.market(call.params, futures=False)
        limit = min(max(call.params.int("limit", 500) or 500, 1), 1000)
        return [trade_json(t) for t in self.ctx.engine.recent_trades(spec.symbol)[-limit:]]

    def _many(self, call: Call) -> list[tuple[MarketSpec, str]] | tuple[MarketSpec, str]:
        params = call.params
        if params.str("symbol") is not None:
            spec = self.ctx.market(params, futures=False)
            return spec, params.required("symbol")
        names = _json_list(params, "symbols") if params.str("symbols") is not None else list(self.ctx.spot)
        out = []
        for name in names:
            if name not in self.ctx.spot:
                raise BinanceError(-1121, "Invalid symbol.")
            out.append((self.ctx.spot[name], name))
        return out

    async def ticker(self, call: Call) -> Any:
        many = self._many(call)
        if isinstance(many, tuple):
            return ticker_24h(self.ctx, *many)
        return [ticker_24h(self.ctx, spec, name) for spec, name in many]

    async def book_ticker(self, call: Call) -> Any:
        many = self._many(call)
        if isinstance(many, tuple):
            return book_ticker(self.ctx, *many)
        return [book_ticker(self.ctx, spec, name) for spec, name in many]

    async def ticker_price(self, call: Call) -> Any:
        many = self._many(call)
        if isinstance(many, tuple):
            return last_price(self.ctx, *many)
        return [last_price(self.ctx, spec, name) for spec, name in many]

    # --- trading ---------------------------------------------------------------------------------
    def _order_args(self, call: Call) -> tuple[MarketSpec, dict[str, Any], str]:
        params = call.params
        spec = self.ctx.market(params, futures=False)
        side = parse_side(params)
        type_name = params.required("type")
        if type_name not in KNOWN_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        if type_name not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(-1014, "Unsupported order combination.")
        order_type = OrderType(type_name)
        tif_name = params.str("timeInForce")
        if order_type is OrderType.LIMIT:
            if tif_name is None:
                raise BinanceError(-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, "
                                          "or malformed.")
            if tif_name not in ("GTC", "IOC", "FOK"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        elif tif_name is not None:
            raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        if params.str("quoteOrderQty") is not None:
            raise BinanceError(-2010, "Quote order qty market orders are not support for this symbol.")
        qty = params.decimal("quantity", required=True)
        if order_type is OrderType.MARKET:
            if params.str("price") is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            price = None
        else:
            price = params.decimal("price", required=True)
        resp_type = params.str("newOrderRespType") or ("FULL" if order_type is not OrderType.LIMIT_MAKER else "ACK")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is "
                                      "'ACK, RESULT, FULL'.")
        kwargs = {
            "side": side, "order_type": order_type, "qty": qty, "price": price,
            "time_in_force": TimeInForce(tif_name or "GTC"),
            "client_order_id": client_order_id(params, "newClientOrderId"),
        }
        return spec, kwargs, resp_type

    async def test_order(self, call: Call) -> dict[str, Any]:
        self._order_args(call)
        return {}

    async def new_order(self, call: Call) -> dict[str, Any]:
        spec, kwargs, resp_type = self._order_args(call)
        result = self.ctx.engine.place_order(call.account.account_id, spec.symbol, **kwargs)
        return self.order_response(result, call.params.required("symbol"), resp_type)

    def order_response(self, result: PlaceResult, name: str, resp_type: str) -> dict[str, Any]:
        order = result.order
        body: dict[str, Any] = {"symbol": name, "orderId": order.order_id, "orderListId": -1,
                                "clientOrderId": order.client_order_id, "transactTime": ms(order.created_us)}
        if resp_type == "ACK":
            return body
        body.update({
            "price": fmt(order.price), "origQty": fmt(order.qty), "executedQty": fmt(order.filled_qty),
            "origQuoteOrderQty": fmt(Decimal(0)), "cummulativeQuoteQty": fmt(order.cum_quote),
            "status": order.status.value, "timeInForce": order.time_in_force.value, "type": order.order_type.value,
            "side": order.side.value, "workingTime": ms(order.created_us),
            "selfTradePreventionMode": "NONE",
        })
        if resp_type == "FULL":
            body["fills"] = [{"price": fmt(f.price), "qty": fmt(f.qty), "commission": fmt(f.fee),
                              "commissionAsset": f.fee_asset, "tradeId": f.trade_id} for f in result.fills]
        return body

    def _find(self, call: Call) -> tuple[MarketSpec, OrderState]:
        spec = self.ctx.market(call.params, futures=False)
        order_id, orig = order_ref(call.params)
        return spec, self.ctx.engine.order(call.account.account_id, spec.symbol, order_id, orig)

    async def get_order(self, call: Call) -> dict[str, Any]:
        _, order = self._find(call)
        return spot_order(order, call.params.required("symbol"))

    async def cancel_order(self, call: Call) -> dict[str, Any]:
        params = call.params
        spec = self.ctx.market(params, futures=False)
        order_id, orig = order_ref(params)
        cancel_id = client_order_id(params, "newClientOrderId") or self.ctx.new_cancel_id()
        try:
            existing = self.ctx.engine.order(call.account.account_id, spec.symbol, order_id, orig)
        except EngineError as error:
            raise BinanceError(-2011, "Unknown order sent.") from error
        self.ctx.exchange.faults.before_cancel(spec.symbol, call.account.account_id, existing.order_id)
        self.ctx.cancel_ids[existing.order_id] = cancel_id
        try:
            order = self.ctx.engine.cancel_order(call.account.account_id, spec.symbol, existing.order_id)
        except EngineError as error:
            raise BinanceError(-2011, "Unknown order sent.") from error
        finally:
            self.ctx.cancel_ids.pop(existing.order_id, None)
        return spot_cancel(order, params.required("symbol"), cancel_id, self.ctx.now_ms())

    async def open_orders(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        if params.str("symbol") is None:
            return [spot_order(o, self.ctx.venue_symbol[o.symbol])
                    for o in self.ctx.engine.open_orders(call.account.account_id)
                    if o.symbol in self.ctx.venue_symbol and not self.ctx.engine.markets[o.symbol].spec.is_perpetual]
        spec = self.ctx.market(params, futures=False)
        return [spot_order(o, params.required("symbol"))
                for o in self.ctx.engine.open_orders(call.account.account_id, spec.symbol)]

    async def cancel_open_orders(self, call: Call) -> list[dict[str, Any]]:
        spec = self.ctx.market(call.params, futures=False)
        name = call.params.required("symbol")
        now = self.ctx.now_ms()
        canceled = self.ctx.engine.cancel_all(call.account.account_id, spec.symbol)
        return [spot_cancel(o, name, self.ctx.new_cancel_id(), now) for o in canceled]

    async def all_orders(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        spec = self.ctx.market(params, futures=False)
        from_id = params.int("orderId", 0) or 0
        limit = min(max(params.int("limit", 500) or 500, 1), 1000)
        orders = [o for o in self.ctx.engine.orders(call.account.account_id, spec.symbol) if o.order_id >= from_id]
        return [spot_order(o, params.required("symbol")) for o in orders[:limit]]

    async def my_trades(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        spec = self.ctx.market(params, futures=False)
        order_id = params.int("orderId")
        from_id = params.int("fromId", 0) or 0
        limit = min(max(params.int("limit", 500) or 500, 1), 1000)
        rows = [t for t in self.ctx.engine.account_trades(call.account.account_id, spec.symbol)
                if (order_id is None or t.order_id == order_id) and t.trade_id >= from_id]
        name = params.required("symbol")
        return [{"symbol": name, "id": t.trade_id, "orderId": t.order_id, "orderListId": -1,
                 "price": fmt(t.price), "qty": fmt(t.qty), "quoteQty": fmt(t.quote_qty),
                 "commission": fmt(t.fee), "commissionAsset": t.fee_asset, "time": ms(t.time_us),
                 "isBuyer": t.is_buyer, "isMaker": t.is_maker, "isBestMatch": True} for t in rows[:limit]]

    async def account(self, call: Call) -> dict[str, Any]:
        spec = next(iter(self.ctx.spot.values()), None)
        maker = spec.maker_fee if spec else Decimal(0)
        taker = spec.taker_fee if spec else Decimal(0)
        omit_zero = call.params.bool("omitZeroBalances")
        balances = [{"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
                    for asset, b in self.ctx.engine.balances(call.account.account_id).items()
                    if not (omit_zero and not b.free and not b.locked)]
        return {
            "makerCommission": int(maker * 10000), "takerCommission": int(taker * 10000),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": fmt(maker), "taker": fmt(taker), "buyer": fmt(Decimal(0)),
                                "seller": fmt(Decimal(0))},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.ctx.now_ms(),
            "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": call.account.account_id,
        }


def _json_list(params: Params, name: str) -> list[str]:
    raw = params.required(name)
    try:
        value = json.loads(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value
