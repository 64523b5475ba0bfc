"""Binance USD-M futures REST API (`/fapi`), served from the engine's perpetual markets.

One-way position mode and cross margin only: every position is the `BOTH` row of its symbol, and the
margin asset of a perpetual is its quote asset. Wallet balance, available balance, margins and PnL are
the engine's own numbers (see `_AssetView`); what the engine does not keep but USD-M reports (the
realized PnL of each fill, the income history, update times) is recorded from engine events by
`FuturesLedger`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...engine import (
    BalanceUpdate,
    Event,
    FundingPayment,
    MarketSpec,
    OrderState,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionState,
    PositionUpdate,
    Side,
    TimeInForce,
)
from ...engine import errors as engine_errors
from .context import BinanceContext, Call, Route, install_routes, levels
from .errors import BinanceError
from .formats import fmt, ms, size_filters
from .futures_formats import futures_order_query, futures_order_response
from .params import Params
from .spot_rest import book_ticker, last_price, order_ref, parse_side, ticker_24h

log = logging.getLogger(__name__)

ZERO = Decimal(0)
EIGHT = Decimal("0.00000001")
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
DEPTH_WEIGHTS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
#: Binance's deliveryDate of a perpetual, and an onboard date for every symbol of the mock
PERPETUAL_DELIVERY_MS = 4133404800000
ONBOARD_MS = 1569398400000
#: The one leverage bracket of every symbol: the engine has neither notional caps nor liquidations, so
#: there is one bracket up to the market's max leverage, and maintenance margin is reported at this ratio.
MAINT_MARGIN_RATIO = Decimal("0.004")
MAX_NOTIONAL = Decimal("1000000000")
CONDITIONAL_TYPES = {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]
INCOME_TYPES = {"TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION", "INSURANCE_CLEAR",
                "REFERRAL_KICKBACK", "COMMISSION_REBATE", "API_REBATE", "CONTEST_REWARD", "CROSS_COLLATERAL_TRANSFER",
                "OPTIONS_PREMIUM_FEE", "OPTIONS_SETTLE_PROFIT", "INTERNAL_TRANSFER", "AUTO_EXCHANGE",
                "DELIVERED_SETTELMENT", "COIN_SWAP_DEPOSIT", "COIN_SWAP_WITHDRAW", "POSITION_LIMIT_INCREASE_FEE",
                "STRATEGY_UMFUTURES_TRANSFER", "FEE_RETURN", "BFUSD_REWARD"}


def _q8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT)


def _limit(params: Params, default: int, maximum: int) -> int:
    value = params.int("limit", default)
    assert value is not None
    return min(max(value, 1), maximum)


# --- what the engine does not keep ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Income:
    symbol: str
    income_type: str
    income: Decimal
    asset: str
    time_ms: int
    tran_id: int
    trade_id: str


class FuturesLedger:
    """Income history (realized PnL, commission, funding) and update times, recorded from engine events."""

    INCOME_RETENTION = 10_000

    def __init__(self, ctx: BinanceContext) -> None:
        self.ctx = ctx
        engine = ctx.engine
        self._income: dict[int, deque[Income]] = {}
        self._next_tran_id = 1
        #: when balances no event has touched yet (starting balances) were last updated: the server start
        self.started_ms = ctx.now_ms()
        self.position_time_ms: dict[tuple[int, str], int] = {}
        self.balance_time_ms: dict[tuple[int, str], int] = {}
        engine.subscribe(self._on_event)

    def income(self, account_id: int) -> list[Income]:
        return list(self._income.get(account_id, ()))

    def _on_event(self, event: Event) -> None:
        try:  # a listener must never fail the engine command that produced the event
            if isinstance(event, OrderUpdate):
                if event.trade_id is not None and self.ctx.engine.markets[event.symbol].spec.is_perpetual:
                    self._fill(event)
            elif isinstance(event, PositionUpdate):
                self.position_time_ms[(event.account_id, event.symbol)] = ms(event.time_us)
            elif isinstance(event, BalanceUpdate):
                self.balance_time_ms[(event.account_id, event.asset)] = ms(event.time_us)
            elif isinstance(event, FundingPayment):
                spec = self.ctx.engine.markets[event.symbol].spec
                self._add_income(event.account_id, event.symbol, "FUNDING_FEE", event.amount, spec.quote,
                                 event.time_us, "")
        except Exception:
            log.exception("futures ledger failed on %r", event)

    def _fill(self, update: OrderUpdate) -> None:
        assert update.trade_id is not None
        realized = update.last_realized_pnl
        trade_id = str(update.trade_id)
        if realized:
            self._add_income(update.account_id, update.symbol, "REALIZED_PNL", realized, update.fee_asset,
                             update.time_us, trade_id)
        if update.last_fee:
            self._add_income(update.account_id, update.symbol, "COMMISSION", -update.last_fee, update.fee_asset,
                             update.time_us, trade_id)

    def _add_income(self, account_id: int, symbol: str, kind: str, amount: Decimal, asset: str, time_us: int,
                    trade_id: str) -> None:
        rows = self._income.get(account_id)
        if rows is None:
            rows = self._income[account_id] = deque(maxlen=self.INCOME_RETENTION)
        rows.append(Income(self.ctx.venue_symbol.get(symbol, symbol), kind, amount, asset, ms(time_us),
                           self._next_tran_id, trade_id))
        self._next_tran_id += 1


# --- account views -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _PositionView:
    name: str
    spec: MarketSpec
    state: PositionState
    notional: Decimal
    maint_margin: Decimal
    open_order_margin: Decimal
    bid_notional: Decimal
    ask_notional: Decimal
    open_orders: int
    update_ms: int

    @property
    def active(self) -> bool:
        return bool(self.state.qty) or self.open_orders > 0


@dataclass(frozen=True, slots=True)
class _AssetView:
    """One margin asset of an account, in the engine's terms.

    wallet = free + locked (fees, realized PnL and funding are paid into it); the locked part holds the
    position margins and the open orders' margins; `free` is what the engine lets new orders use, so it
    is both the available balance and the max withdraw amount (unrealized PnL is not spendable).
    """

    asset: str
    wallet: Decimal
    free: Decimal
    unrealized: Decimal
    position_margin: Decimal
    open_order_margin: Decimal
    maint_margin: Decimal
    update_ms: int

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet + self.unrealized

    @property
    def initial_margin(self) -> Decimal:
        return self.position_margin + self.open_order_margin


# --- the REST API ---------------------------------------------------------------------------------
class FuturesRest:
    def __init__(self, ctx: BinanceContext) -> None:
        self.ctx = ctx
        self.ledger = FuturesLedger(ctx)

    def install(self, app: web.Application) -> None:
        def by_symbol(with_symbol: int, without: int) -> Callable[[Params], int]:
            return lambda params: with_symbol if params.str("symbol") is not None else without

        routes: list[Route] = [
            ("GET", "/fapi/v1/ping", self.ping, 1, "none"),
            ("GET", "/fapi/v1/time", self.time, 1, "none"),
            ("GET", "/fapi/v1/exchangeInfo", self.exchange_info, 1, "none"),
            ("GET", "/fapi/v1/depth", self.depth, self._depth_weight, "none"),
            ("GET", "/fapi/v1/trades", self.trades, 5, "none"),
            ("GET", "/fapi/v1/aggTrades", self.agg_trades, 20, "none"),
            ("GET", "/fapi/v1/premiumIndex", self.premium_index, by_symbol(1, 10), "none"),
            ("GET", "/fapi/v1/fundingRate", self.funding_rate, 1, "none"),
            ("GET", "/fapi/v1/fundingInfo", self.funding_info, 0, "none"),
            ("GET", "/fapi/v1/ticker/24hr", self.ticker, by_symbol(1, 40), "none"),
            ("GET", "/fapi/v1/ticker/bookTicker", self.book_ticker, by_symbol(2, 5), "none"),
            ("GET", "/fapi/v1/ticker/price", self.ticker_price, by_symbol(1, 2), "none"),
            ("GET", "/fapi/v2/ticker/price", self.ticker_price, by_symbol(1, 2), "none"),
            ("POST", "/fapi/v1/order", self.new_order, 0, "signed"),
            ("POST", "/fapi/v1/order/test", self.test_order, 0, "signed"),
            ("GET", "/fapi/v1/order", self.get_order, 1, "signed"),
            ("DELETE", "/fapi/v1/order", self.cancel_order, 1, "signed"),
            ("GET", "/fapi/v1/openOrder", self.open_order, 1, "signed"),
            ("GET", "/fapi/v1/openOrders", self.open_orders, by_symbol(1, 40), "signed"),
            ("DELETE", "/fapi/v1/allOpenOrders", self.cancel_all, 1, "signed"),
            ("GET", "/fapi/v1/allOrders", self.all_orders, 5, "signed"),
            ("GET", "/fapi/v1/userTrades", self.user_trades, 5, "signed"),
            ("GET", "/fapi/v1/income", self.income, 30, "signed"),
            ("GET", "/fapi/v2/positionRisk", self.position_risk_v2, 5, "signed"),
            ("GET", "/fapi/v3/positionRisk", self.position_risk_v3, 5, "signed"),
            ("GET", "/fapi/v2/balance", self.balance_v2, 5, "signed"),
            ("GET", "/fapi/v3/balance", self.balance_v3, 5, "signed"),
            ("GET", "/fapi/v2/account", self.account_v2, 5, "signed"),
            ("GET", "/fapi/v3/account", self.account_v3, 5, "signed"),
            ("POST", "/fapi/v1/leverage", self.leverage, 1, "signed"),
            ("GET", "/fapi/v1/leverageBracket", self.leverage_bracket, 1, "signed"),
            ("GET", "/fapi/v1/symbolConfig", self.symbol_config, 5, "signed"),
            ("GET", "/fapi/v1/positionSide/dual", self.get_position_mode, 30, "signed"),
            ("POST", "/fapi/v1/positionSide/dual", self.set_position_mode, 1, "signed"),
            ("GET", "/fapi/v1/commissionRate", self.commission_rate, 20, "signed"),
            ("POST", "/fapi/v1/listenKey", self.new_listen_key, 1, "key"),
            ("PUT", "/fapi/v1/listenKey", self.keepalive_listen_key, 1, "key"),
            ("DELETE", "/fapi/v1/listenKey", self.delete_listen_key, 1, "key"),
        ]
        install_routes(app, self.ctx, routes, futures=True)

    # --- helpers -----------------------------------------------------------------------------------
    def _market(self, params: Params) -> tuple[MarketSpec, str]:
        spec = self.ctx.market(params, futures=True)
        return spec, self.ctx.venue_symbol[spec.symbol]

    def _markets(self, params: Params) -> list[tuple[MarketSpec, str]]:
        """The symbol sent, or every perpetual when none is."""
        if params.str("symbol") is not None:
            return [self._market(params)]
        return [(spec, name) for name, spec in self.ctx.futures.items()]

    # --- market data ---------------------------------------------------------------------------------
    async def ping(self, call: Call) -> dict[str, Any]:
        return {}

    async def time(self, call: Call) -> dict[str, Any]:
        return {"serverTime": self.ctx.now_ms()}

    async def exchange_info(self, call: Call) -> dict[str, Any]:
        margin_assets = sorted({spec.quote for spec in self.ctx.futures.values()})
        return {
            "timezone": "UTC", "serverTime": self.ctx.now_ms(), "futuresType": "U_MARGINED",
            "rateLimits": RATE_LIMITS, "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in margin_assets],
            "symbols": [self._symbol_info(spec, name) for name, spec in self.ctx.futures.items()],
        }

    @staticmethod
    def _symbol_info(spec: MarketSpec, name: str) -> dict[str, Any]:
        return {
            "symbol": name, "pair": name, "contractType": "PERPETUAL", "deliveryDate": PERPETUAL_DELIVERY_MS,
            "onboardDate": ONBOARD_MS, "status": "TRADING", "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": spec.base, "quoteAsset": spec.quote,
            "marginAsset": spec.quote, "pricePrecision": spec.price_decimals,
            "quantityPrecision": spec.qty_decimals, "baseAssetPrecision": 8, "quotePrecision": 8,
            "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
            "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
            "filters": [
                *size_filters(spec),
                {"filterType": "MIN_NOTIONAL", "notional": fmt(spec.min_notional)},
            ],
            "orderTypes": ["LIMIT", "MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }

    @staticmethod
    def _depth_limit(params: Params) -> int:
        limit = params.int("limit", 500)
        assert limit is not None
        if limit not in DEPTH_WEIGHTS:
            raise BinanceError(-4021, f"'{limit}' is not valid depth limit.")
        return limit

    def _depth_weight(self, params: Params) -> int:
        try:
            return DEPTH_WEIGHTS[self._depth_limit(params)]
        except BinanceError:
            return 2  # the handler answers the error

    async def depth(self, call: Call) -> dict[str, Any]:
        spec, _ = self._market(call.params)
        limit = self._depth_limit(call.params)
        book = self.ctx.snapshot(spec, limit)
        now = self.ctx.now_ms()
        return {"lastUpdateId": book.update_id, "E": now, "T": now, "bids": levels(book.bids),
                "asks": levels(book.asks)}

    async def trades(self, call: Call) -> list[dict[str, Any]]:
        spec, _ = self._market(call.params)
        limit = _limit(call.params, 500, 1000)
        return [{"id": t.trade_id, "price": fmt(t.price), "qty": fmt(t.qty), "quoteQty": fmt(t.price * t.qty),
                 "time": ms(t.time_us), "isBuyerMaker": t.buyer_is_maker}
                for t in self.ctx.engine.recent_trades(spec.symbol)[-limit:]]

    async def agg_trades(self, call: Call) -> list[dict[str, Any]]:
        """Every trade is its own aggregate (the engine keeps trades, not aggregates)."""
        params = call.params
        spec, _ = self._market(params)
        limit = _limit(params, 500, 1000)
        from_id = params.int("fromId")
        start, end = params.int("startTime"), params.int("endTime")
        rows = self.ctx.engine.recent_trades(spec.symbol)
        if from_id is not None:
            rows = [t for t in rows if t.trade_id >= from_id][:limit]
        elif start is not None or end is not None:
            rows = [t for t in rows if (start is None or ms(t.time_us) >= start)
                    and (end is None or ms(t.time_us) <= end)][:limit]
        else:
            rows = rows[-limit:]
        return [{"a": t.trade_id, "p": fmt(t.price), "q": fmt(t.qty), "f": t.trade_id, "l": t.trade_id,
                 "T": ms(t.time_us), "m": t.buyer_is_maker} for t in rows]

    def _premium(self, spec: MarketSpec, name: str) -> dict[str, Any]:
        info = self.ctx.engine.funding_info(spec.symbol)
        return {"symbol": name, "markPrice": fmt(info.mark_price), "indexPrice": fmt(info.index_price),
                "estimatedSettlePrice": fmt(info.index_price), "lastFundingRate": fmt(info.funding_rate),
                "interestRate": fmt(spec.base_funding_rate), "nextFundingTime": info.next_funding_time_ms,
                "time": self.ctx.now_ms()}

    async def premium_index(self, call: Call) -> Any:
        if call.params.str("symbol") is not None:
            return self._premium(*self._market(call.params))
        return [self._premium(spec, name) for spec, name in self._markets(call.params)]

    async def funding_rate(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        limit = _limit(params, 100, 1000)
        start, end = params.int("startTime"), params.int("endTime")
        rows: list[dict[str, Any]] = []
        for spec, name in self._markets(params):
            for record in self.ctx.engine.funding_history(spec.symbol):
                if (start is None or record.funding_time_ms >= start) and (end is None
                                                                           or record.funding_time_ms <= end):
                    rows.append({"symbol": name, "fundingRate": fmt(record.rate),
                                 "fundingTime": record.funding_time_ms, "markPrice": fmt(record.mark_price)})
        rows.sort(key=lambda r: (r["fundingTime"], r["symbol"]))
        return rows[:limit] if start is not None else rows[-limit:]

    async def funding_info(self, call: Call) -> list[dict[str, Any]]:
        return [{"symbol": name, "adjustedFundingRateCap": fmt(spec.funding_rate_cap),
                 "adjustedFundingRateFloor": fmt(-spec.funding_rate_cap),
                 "fundingIntervalHours": spec.funding_interval_ms // 3_600_000, "disclaimer": False}
                for name, spec in self.ctx.futures.items()]

    def _ticker(self, spec: MarketSpec, name: str) -> dict[str, Any]:
        body = ticker_24h(self.ctx, spec, name)
        for key in ("prevClosePrice", "bidPrice", "bidQty", "askPrice", "askQty"):
            del body[key]
        return body

    async def ticker(self, call: Call) -> Any:
        if call.params.str("symbol") is not None:
            return self._ticker(*self._market(call.params))
        return [self._ticker(spec, name) for spec, name in self._markets(call.params)]

    def _book_ticker(self, spec: MarketSpec, name: str) -> dict[str, Any]:
        return {**book_ticker(self.ctx, spec, name), "time": self.ctx.now_ms(),
                "lastUpdateId": self.ctx.engine.last_update_id(spec.symbol)}

    async def book_ticker(self, call: Call) -> Any:
        if call.params.str("symbol") is not None:
            return self._book_ticker(*self._market(call.params))
        return [self._book_ticker(spec, name) for spec, name in self._markets(call.params)]

    def _price(self, spec: MarketSpec, name: str) -> dict[str, Any]:
        return {**last_price(self.ctx, spec, name), "time": self.ctx.now_ms()}

    async def ticker_price(self, call: Call) -> Any:
        if call.params.str("symbol") is not None:
            return self._price(*self._market(call.params))
        return [self._price(spec, name) for spec, name in self._markets(call.params)]

    # --- orders --------------------------------------------------------------------------------------
    def _order_args(self, call: Call) -> tuple[MarketSpec, str, dict[str, Any], str]:
        params = call.params
        spec, name = self._market(params)
        side = parse_side(params)
        if params.str("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        type_name = params.required("type")
        if type_name in CONDITIONAL_TYPES:
            raise BinanceError(-4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                                      "endpoints instead.")
        if type_name not in ("LIMIT", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        reduce_only = params.bool("reduceOnly")
        if params.bool("closePosition"):
            raise BinanceError(-1106, "Parameter 'closePosition' sent when not required.")
        if params.str("priceMatch", "NONE") != "NONE":
            raise BinanceError(-1014, "Unsupported order combination.")
        if params.str("selfTradePreventionMode", "NONE") != "NONE":
            raise BinanceError(-1014, "Unsupported order combination.")
        qty = params.decimal("quantity", required=True)
        assert qty is not None
        self._check_qty(spec, qty)
        price: Decimal | None = None
        time_in_force = TimeInForce.GTC
        order_type = OrderType(type_name)
        if order_type is OrderType.LIMIT:
            tif_name = params.str("timeInForce")
            if tif_name is None:
                raise BinanceError(-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, "
                                          "or malformed.")
            if tif_name not in ("GTC", "IOC", "FOK", "GTX"):
                raise BinanceError(-1115, "Invalid timeInForce.")
            price = params.decimal("price", required=True)
            assert price is not None
            self._check_price(spec, price)
            if tif_name == "GTX":
                order_type = OrderType.LIMIT_MAKER
            else:
                time_in_force = TimeInForce(tif_name)
        elif params.str("price") is not None:
            raise BinanceError(-1106, "Parameter 'price' sent when not required.")
        resp_type = params.str("newOrderRespType", "ACK")
        if resp_type not in ("ACK", "RESULT"):
            raise BinanceError(-1136, "Invalid newOrderRespType.")
        kwargs = {"side": side, "order_type": order_type, "qty": qty, "price": price,
                  "time_in_force": time_in_force, "client_order_id": self._client_order_id(params),
                  "reduce_only": reduce_only}
        return spec, name, kwargs, resp_type

    @staticmethod
    def _client_order_id(params: Params) -> str | None:
        value = params.str("newClientOrderId")
        if value is None:
            return None
        if len(value) > 36:
            raise BinanceError(-4015, "Client order id length should not be more than 36 chars")
        if not CLIENT_ID.match(value):
            raise BinanceError(-4015, "Client order id is not valid.")
        return value

    @staticmethod
    def _check_price(spec: MarketSpec, price: Decimal) -> None:
        if max(0, -int(price.normalize().as_tuple().exponent)) > spec.price_decimals:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if price <= 0:
            raise BinanceError(-4001, "Price less than 0.")
        if price < spec.min_price:
            raise BinanceError(-4013, "Price less than min price.")
        if price > spec.max_price:
            raise BinanceError(-4016, "Price greater than max price.")
        if price % spec.tick_size:
            raise BinanceError(-4014, "Price not increased by tick size.")

    @staticmethod
    def _check_qty(spec: MarketSpec, qty: Decimal) -> None:
        if max(0, -int(qty.normalize().as_tuple().exponent)) > spec.qty_decimals:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty <= 0:
            raise BinanceError(-4003, "Quantity less than zero.")
        if qty < spec.min_qty:
            raise BinanceError(-4004, "Quantity less than min quantity.")
        if qty > spec.max_qty:
            raise BinanceError(-4005, "Quantity greater than max quantity.")
        if qty % spec.lot_size:
            raise BinanceError(-4023, "Qty not increased by step size.")

    def _pre_trade_checks(self, spec: MarketSpec, kwargs: dict[str, Any]) -> None:
        """USD-M checks the engine leaves to the venue: market-order notional at the mark price (reduce-only
        orders are exempt) and FOK orders that cannot fill completely (rejected, not recorded)."""
        qty: Decimal = kwargs["qty"]
        if kwargs["order_type"] is OrderType.MARKET and not kwargs["reduce_only"]:
            mark = self.ctx.engine.funding_info(spec.symbol).mark_price
            if mark and qty * mark < spec.min_notional:
                raise self._min_notional(spec)
        if kwargs["time_in_force"] is TimeInForce.FOK:
            available = self.ctx.engine.available_to_take(spec.symbol, kwargs["side"], kwargs["price"], qty)
            if available < qty:
                raise BinanceError(-5021, "Due to the order could not be filled immediately, the FOK order has "
                                          "been rejected.")

    @staticmethod
    def _min_notional(spec: MarketSpec) -> BinanceError:
        return BinanceError(-4164, f"Order's notional must be no smaller than {spec.min_notional.normalize():f} "
                                   "(unless you choose reduce only).")

    async def test_order(self, call: Call) -> dict[str, Any]:
        spec, _, kwargs, _ = self._order_args(call)
        self._pre_trade_checks(spec, kwargs)
        return {}

    async def new_order(self, call: Call) -> dict[str, Any]:
        spec, name, kwargs, resp_type = self._order_args(call)
        self._pre_trade_checks(spec, kwargs)
        try:
            result = self.ctx.engine.place_order(call.account.account_id, spec.symbol, **kwargs)
        except engine_errors.MinNotional:
            raise self._min_notional(spec) from None
        order = result.order
        if resp_type == "ACK":
            # Acknowledged, before matching: what a USD-M ACK says (RESULT gives the state after matching).
            order = dataclasses.replace(order, status=OrderStatus.NEW, filled_qty=ZERO, cum_quote=ZERO,
                                        cum_fee=ZERO, updated_us=order.created_us)
        return futures_order_response(order, name)

    def _find(self, call: Call) -> tuple[str, OrderState]:
        spec, name = self._market(call.params)
        order_id, orig = order_ref(call.params)
        try:
            return name, self.ctx.engine.order(call.account.account_id, spec.symbol, order_id, orig)
        except engine_errors.UnknownOrder:
            raise BinanceError(-2013, "Order does not exist.") from None

    async def get_order(self, call: Call) -> dict[str, Any]:
        name, order = self._find(call)
        return futures_order_query(order, name)

    async def open_order(self, call: Call) -> dict[str, Any]:
        name, order = self._find(call)
        if order.status.is_terminal:
            raise BinanceError(-2013, "Order does not exist.")
        return futures_order_query(order, name)

    async def cancel_order(self, call: Call) -> dict[str, Any]:
        spec, name = self._market(call.params)
        order_id, orig = order_ref(call.params)
        self.ctx.exchange.faults.before_cancel(spec.symbol, call.account.account_id, order_id, orig)
        try:
            order = self.ctx.engine.cancel_order(call.account.account_id, spec.symbol, order_id, orig)
        except engine_errors.UnknownOrder:
            raise BinanceError(-2011, "Unknown order sent.") from None
        return futures_order_response(order, name)

    async def open_orders(self, call: Call) -> list[dict[str, Any]]:
        account_id = call.account.account_id
        rows = []
        for spec, name in self._markets(call.params):
            rows += [futures_order_query(o, name) for o in self.ctx.engine.open_orders(account_id, spec.symbol)]
        return rows

    async def cancel_all(self, call: Call) -> dict[str, Any]:
        spec, _ = self._market(call.params)
        self.ctx.engine.cancel_all(call.account.account_id, spec.symbol)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def all_orders(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        spec, name = self._market(params)
        from_id = params.int("orderId")
        start, end = params.int("startTime"), params.int("endTime")
        limit = _limit(params, 500, 1000)
        rows = [o for o in self.ctx.engine.orders(call.account.account_id, spec.symbol)
                if (from_id is None or o.order_id >= from_id)
                and (start is None or ms(o.created_us) >= start) and (end is None or ms(o.created_us) <= end)]
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return [futures_order_query(o, name) for o in rows]

    async def user_trades(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        spec, name = self._market(params)
        account_id = call.account.account_id
        order_id, from_id = params.int("orderId"), params.int("fromId")
        start, end = params.int("startTime"), params.int("endTime")
        limit = _limit(params, 500, 1000)
        rows = [t for t in self.ctx.engine.account_trades(account_id, spec.symbol)
                if (order_id is None or t.order_id == order_id) and (from_id is None or t.trade_id >= from_id)
                and (start is None or ms(t.time_us) >= start) and (end is None or ms(t.time_us) <= end)]
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return [{"buyer": t.is_buyer, "commission": fmt(t.fee), "commissionAsset": t.fee_asset, "id": t.trade_id,
                 "maker": t.is_maker, "orderId": t.order_id, "price": fmt(t.price), "qty": fmt(t.qty),
                 "quoteQty": fmt(t.quote_qty),
                 "realizedPnl": fmt(t.realized_pnl),
                 "side": "BUY" if t.is_buyer else "SELL", "positionSide": "BOTH", "symbol": name,
                 "time": ms(t.time_us), "marginAsset": spec.quote} for t in rows]

    async def income(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        name = self._market(params)[1] if params.str("symbol") is not None else None
        kind = params.str("incomeType")
        if kind is not None and kind not in INCOME_TYPES:
            raise BinanceError(-1100, "Illegal characters found in parameter 'incomeType'.")
        start, end = params.int("startTime"), params.int("endTime")
        limit = _limit(params, 100, 1000)
        page = max(params.int("page", 1) or 1, 1)
        rows = [r for r in self.ledger.income(call.account.account_id)
                if (name is None or r.symbol == name) and (kind is None or r.income_type == kind)
                and (start is None or r.time_ms >= start) and (end is None or r.time_ms <= end)]
        if start is not None:  # pages forward from startTime
            rows = rows[(page - 1) * limit: page * limit]
        else:  # pages back from the newest
            stop = max(len(rows) - (page - 1) * limit, 0)
            rows = rows[max(stop - limit, 0): stop]
        return [{"symbol": r.symbol, "incomeType": r.income_type, "income": fmt(r.income), "asset": r.asset,
                 "info": r.income_type, "time": r.time_ms, "tranId": r.tran_id, "tradeId": r.trade_id}
                for r in rows]

    # --- account and positions -----------------------------------------------------------------------
    def _position(self, account_id: int, spec: MarketSpec, name: str) -> _PositionView:
        engine = self.ctx.engine
        state = engine.position(account_id, spec.symbol)
        notional = state.qty * state.mark_price
        resting = [o for o in engine.accounts[account_id].open_orders.values() if o.symbol == spec.symbol]
        states = engine.open_orders(account_id, spec.symbol)
        bids = sum((o.remaining_qty * o.price for o in states if o.side is Side.BUY), ZERO)
        asks = sum((o.remaining_qty * o.price for o in states if o.side is Side.SELL), ZERO)
        return _PositionView(
            name, spec, state, notional, _q8(abs(notional) * MAINT_MARGIN_RATIO),
            sum((o.locked for o in resting), ZERO), bids, asks, len(states),
            self.ledger.position_time_ms.get((account_id, spec.symbol), 0),
        )

    def _positions(self, account_id: int, params: Params | None = None) -> list[_PositionView]:
        markets = self._markets(params) if params is not None else [(s, n) for n, s in self.ctx.futures.items()]
        return [self._position(account_id, spec, name) for spec, name in markets]

    def _assets(self, account_id: int, positions: list[_PositionView]) -> list[_AssetView]:
        balances = self.ctx.engine.balances(account_id)
        views = []
        for asset in sorted({spec.quote for spec in self.ctx.futures.values()}):
            bal = balances.get(asset)
            mine = [p for p in positions if p.spec.quote == asset]
            views.append(_AssetView(
                asset, bal.total if bal else ZERO, bal.free if bal else ZERO,
                sum((p.state.unrealized_pnl for p in mine), ZERO), sum((p.state.margin for p in mine), ZERO),
                sum((p.open_order_margin for p in mine), ZERO), sum((p.maint_margin for p in mine), ZERO),
                self._balance_time(account_id, asset, bal.total if bal else ZERO),
            ))
        return views

    def _balance_time(self, account_id: int, asset: str, wallet: Decimal) -> int:
        """The asset's last update; 0 only for a balance that never held anything, as on Binance (ccxt skips
        assets whose updateTime is 0)."""
        seen = self.ledger.balance_time_ms.get((account_id, asset))
        if seen is not None:
            return seen
        return self.ledger.started_ms if wallet else 0

    @staticmethod
    def _position_base(p: _PositionView) -> dict[str, Any]:
        s = p.state
        return {"symbol": p.name, "positionAmt": fmt(s.qty), "entryPrice": fmt(s.entry_price),
                "breakEvenPrice": fmt(s.entry_price), "markPrice": fmt(s.mark_price),
                "unRealizedProfit": fmt(s.unrealized_pnl), "liquidationPrice": "0"}

    async def position_risk_v2(self, call: Call) -> list[dict[str, Any]]:
        rows = []
        for p in self._positions(call.account.account_id, call.params):
            rows.append({**self._position_base(p), "leverage": str(p.state.leverage),
                         "maxNotionalValue": fmt(MAX_NOTIONAL), "marginType": "cross", "isolatedMargin": "0.00000000",
                         "isAutoAddMargin": "false", "positionSide": "BOTH", "notional": fmt(p.notional),
                         "isolatedWallet": "0", "updateTime": p.update_ms})
        return rows

    async def position_risk_v3(self, call: Call) -> list[dict[str, Any]]:
        rows = []
        for p in self._positions(call.account.account_id, call.params):
            if not p.active:
                continue
            base = self._position_base(p)
            rows.append({"symbol": p.name, "positionSide": "BOTH", **{k: v for k, v in base.items() if k != "symbol"},
                         "isolatedMargin": "0", "notional": fmt(p.notional), "marginAsset": p.spec.quote,
                         "isolatedWallet": "0", "initialMargin": fmt(p.state.margin + p.open_order_margin),
                         "maintMargin": fmt(p.maint_margin), "positionInitialMargin": fmt(p.state.margin),
                         "openOrderInitialMargin": fmt(p.open_order_margin), "adl": 0,
                         "bidNotional": fmt(p.bid_notional), "askNotional": fmt(p.ask_notional),
                         "updateTime": p.update_ms})
        return rows

    @staticmethod
    def _alias(account_id: int) -> str:
        """Binance's short per-account alias; here derived from the account id."""
        letters = "SgsRFzoCTiAuXqmYbWkLpNhEdVjcaHeMwOGUvPnQIBxDtyrJZKfl"
        return "".join(letters[(account_id * 7 + i * 13) % len(letters)] for i in range(4))

    async def balance_v2(self, call: Call) -> list[dict[str, Any]]:
        account_id = call.account.account_id
        return [{"accountAlias": self._alias(account_id), "asset": a.asset, "balance": fmt(a.wallet),
                 "crossWalletBalance": fmt(a.wallet), "crossUnPnl": fmt(a.unrealized),
                 "availableBalance": fmt(a.free), "maxWithdrawAmount": fmt(a.free), "marginAvailable": True,
                 "updateTime": a.update_ms}
                for a in self._assets(account_id, self._positions(account_id))]

    async def balance_v3(self, call: Call) -> list[dict[str, Any]]:
        return await self.balance_v2(call)

    @staticmethod
    def _asset_row(a: _AssetView) -> dict[str, Any]:
        return {"asset": a.asset, "walletBalance": fmt(a.wallet), "unrealizedProfit": fmt(a.unrealized),
                "marginBalance": fmt(a.margin_balance), "maintMargin": fmt(a.maint_margin),
                "initialMargin": fmt(a.initial_margin), "positionInitialMargin": fmt(a.position_margin),
                "openOrderInitialMargin": fmt(a.open_order_margin), "crossWalletBalance": fmt(a.wallet),
                "crossUnPnl": fmt(a.unrealized), "availableBalance": fmt(a.free), "maxWithdrawAmount": fmt(a.free)}

    @staticmethod
    def _totals(assets: list[_AssetView]) -> dict[str, Any]:
        def total(get: Callable[[_AssetView], Decimal]) -> str:
            return fmt(sum((get(a) for a in assets), ZERO))

        return {
            "totalInitialMargin": total(lambda a: a.initial_margin),
            "totalMaintMargin": total(lambda a: a.maint_margin),
            "totalWalletBalance": total(lambda a: a.wallet),
            "totalUnrealizedProfit": total(lambda a: a.unrealized),
            "totalMarginBalance": total(lambda a: a.margin_balance),
            "totalPositionInitialMargin": total(lambda a: a.position_margin),
            "totalOpenOrderInitialMargin": total(lambda a: a.open_order_margin),
            "totalCrossWalletBalance": total(lambda a: a.wallet),
            "totalCrossUnPnl": total(lambda a: a.unrealized),
            "availableBalance": total(lambda a: a.free),
            "maxWithdrawAmount": total(lambda a: a.free),
        }

    async def account_v2(self, call: Call) -> dict[str, Any]:
        account_id = call.account.account_id
        positions = self._positions(account_id)
        assets = self._assets(account_id, positions)
        return {
            "feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True,
            "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1, **self._totals(assets),
            "assets": [{**self._asset_row(a), "marginAvailable": True, "updateTime": a.update_ms} for a in assets],
            "positions": [{"symbol": p.name, "initialMargin": fmt(p.state.margin + p.open_order_margin),
                           "maintMargin": fmt(p.maint_margin), "unrealizedProfit": fmt(p.state.unrealized_pnl),
                           "positionInitialMargin": fmt(p.state.margin),
                           "openOrderInitialMargin": fmt(p.open_order_margin), "leverage": str(p.state.leverage),
                           "isolated": False, "entryPrice": fmt(p.state.entry_price),
                           "breakEvenPrice": fmt(p.state.entry_price), "maxNotional": fmt(MAX_NOTIONAL),
                           "bidNotional": fmt(p.bid_notional), "askNotional": fmt(p.ask_notional),
                           "positionSide": "BOTH", "positionAmt": fmt(p.state.qty), "updateTime": p.update_ms}
                          for p in positions],
        }

    async def account_v3(self, call: Call) -> dict[str, Any]:
        account_id = call.account.account_id
        positions = self._positions(account_id)
        assets = self._assets(account_id, positions)
        return {
            **self._totals(assets),
            "assets": [{**self._asset_row(a), "updateTime": a.update_ms} for a in assets],
            "positions": [{"symbol": p.name, "positionSide": "BOTH", "positionAmt": fmt(p.state.qty),
                           "unrealizedProfit": fmt(p.state.unrealized_pnl), "isolatedMargin": "0",
                           "notional": fmt(p.notional), "isolatedWallet": "0",
                           "initialMargin": fmt(p.state.margin + p.open_order_margin),
                           "maintMargin": fmt(p.maint_margin), "updateTime": p.update_ms}
                          for p in positions if p.active],
        }

    async def leverage(self, call: Call) -> dict[str, Any]:
        spec, name = self._market(call.params)
        raw: str = call.params.required("leverage")
        if not raw.isdigit() or not 1 <= int(raw) <= spec.max_leverage:
            raise BinanceError(-4028, f"Leverage {raw} is not valid")
        try:
            leverage = self.ctx.engine.set_leverage(call.account.account_id, spec.symbol, int(raw))
        except engine_errors.InsufficientBalance:
            raise BinanceError(-2028, "Leverage is smaller than permitted: insufficient margin balance.") from None
        return {"leverage": leverage, "maxNotionalValue": fmt(MAX_NOTIONAL), "symbol": name}

    @staticmethod
    def _brackets(spec: MarketSpec, name: str) -> dict[str, Any]:
        return {"symbol": name, "notionalCoef": 1.0,
                "brackets": [{"bracket": 1, "initialLeverage": spec.max_leverage, "notionalCap": int(MAX_NOTIONAL),
                              "notionalFloor": 0, "maintMarginRatio": float(MAINT_MARGIN_RATIO), "cum": 0.0}]}

    async def leverage_bracket(self, call: Call) -> Any:
        if call.params.str("symbol") is not None:
            return self._brackets(*self._market(call.params))
        return [self._brackets(spec, name) for spec, name in self._markets(call.params)]

    async def symbol_config(self, call: Call) -> list[dict[str, Any]]:
        account_id = call.account.account_id
        return [{"symbol": name, "marginType": "CROSSED", "isAutoAddMargin": False,
                 "leverage": self.ctx.engine.position(account_id, spec.symbol).leverage,
                 "maxNotionalValue": fmt(MAX_NOTIONAL)} for spec, name in self._markets(call.params)]

    async def get_position_mode(self, call: Call) -> dict[str, Any]:
        return {"dualSidePosition": False}

    async def set_position_mode(self, call: Call) -> dict[str, Any]:
        if call.params.str("dualSidePosition") is None:
            raise BinanceError(-1102, "Mandatory parameter 'dualSidePosition' was not sent, was empty/null, "
                                      "or malformed.")
        if not call.params.bool("dualSidePosition"):
            raise BinanceError(-4059, "No need to change position side.")
        raise BinanceError(-4060, "Invalid position side. This exchange supports one-way mode only "
                                  "(dualSidePosition=false).")

    async def commission_rate(self, call: Call) -> dict[str, Any]:
        spec, name = self._market(call.params)
        return {"symbol": name, "makerCommissionRate": fmt(spec.maker_fee),
                "takerCommissionRate": fmt(spec.taker_fee)}

    # --- user data stream ----------------------------------------------------------------------------
    async def new_listen_key(self, call: Call) -> dict[str, Any]:
        return {"listenKey": self.ctx.listen_keys.create(call.account.account_id, self.ctx.now_ms())}

    async def keepalive_listen_key(self, call: Call) -> dict[str, Any]:
        account_id, now = call.account.account_id, self.ctx.now_ms()
        sent = call.params.str("listenKey")
        current = self.ctx.listen_keys.key_of(account_id, now)
        if current is None or (sent is not None and sent != current):
            raise BinanceError(-1125, "This listenKey does not exist.")
        self.ctx.listen_keys.keepalive(account_id, now)
        return {"listenKey": current}

    async def delete_listen_key(self, call: Call) -> dict[str, Any]:
        now = self.ctx.now_ms()
        key = self.ctx.listen_keys.key_of(call.account.account_id, now)
        if key is not None:
            self.ctx.listen_keys.expire(key, now)
        return {}
