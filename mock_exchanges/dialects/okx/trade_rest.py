"""OKX trade REST (`/api/v5/trade/*`): place (single and batch), cancel, query, pending orders, fills.

A malformed request is refused as a whole (HTTP 400, `OkxError`); an order the venue refuses is reported
per order with `sCode`/`sMsg` under `code` "1" (HTTP 200), as OKX does.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...engine import EngineError, OrderType, Side, TimeInForce
from .context import ANONYMOUS, OkxContext
from .endpoint import Call, Params, Reply, Route, install_routes
from .errors import CANCEL_FAILED, NO_SUCH_ORDER, OkxError, OrderRejected, bad, order_rejection
from .formats import fill_json
from .instruments import Instrument
from .views import rest_order

ORD_TYPES: dict[str, tuple[OrderType, TimeInForce]] = {
    "limit": (OrderType.LIMIT, TimeInForce.GTC), "market": (OrderType.MARKET, TimeInForce.IOC),
    "post_only": (OrderType.LIMIT_MAKER, TimeInForce.GTC), "fok": (OrderType.LIMIT, TimeInForce.FOK),
    "ioc": (OrderType.LIMIT, TimeInForce.IOC),
}
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG = re.compile(r"^[A-Za-z0-9]{1,16}$")
ORDER_ID = re.compile(r"^[0-9]{1,19}$")
BATCH_MAX = 20
ZERO = Decimal(0)


@dataclass(frozen=True)
class OrderRequest:
    inst: Instrument
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None
    client_id: str | None
    tag: str
    reduce_only: bool
    #: a quote-sized spot market buy: the quote amount as sent
    sent_sz: str | None


def quote_to_base(ctx: OkxContext, inst: Instrument, amount: Decimal) -> Decimal:
    """What a quote-sized market buy of `amount` buys on the book now, rounded down to the lot.

    The engine's market orders are sized in base currency; OKX's spot market buys default to a quote
    amount (tgtCcy quote_ccy). The rounding remainder stays unspent (our choice)."""
    spec = inst.spec
    remaining, qty = amount, ZERO
    for price, size in ctx.engine.book(inst.symbol).asks:
        cost = price * size
        if cost <= remaining:
            qty += size
            remaining -= cost
        else:
            qty += (remaining / price // spec.lot_size) * spec.lot_size
            break
    return qty


def parse_order(ctx: OkxContext, params: Params) -> OrderRequest:
    inst = ctx.instrument(params.required("instId"))
    td_mode = params.choice("tdMode", ("cash", "cross", "isolated", "spot_isolated"), required=True)
    if inst.is_swap and td_mode not in ("cross", "isolated"):
        raise bad("tdMode")
    if not inst.is_swap and td_mode != "cash":
        raise OrderRejected("51010", "You can't complete this request under your current account mode.")
    side = Side(str(params.choice("side", ("buy", "sell"), required=True)).upper())
    order_type, tif = ORD_TYPES[str(params.choice("ordType", tuple(ORD_TYPES), required=True))]
    sz = params.decimal("sz", required=True)
    assert sz is not None
    price = None if order_type is OrderType.MARKET else params.decimal("px", required=True)
    params.choice("posSide", ("net",))  # net mode only (ours): long/short are refused
    client_id = params.text("clOrdId")
    if client_id is not None and not CLIENT_ID.match(client_id):
        raise bad("clOrdId")
    tag = params.text("tag") or ""
    if tag and not TAG.match(tag):
        raise bad("tag")
    reduce_only = params.flag("reduceOnly")
    if reduce_only and not inst.is_swap:
        raise bad("reduceOnly")
    quote_sized = False
    if not inst.is_swap and order_type is OrderType.MARKET:
        default = "quote_ccy" if side is Side.BUY else "base_ccy"
        target = params.choice("tgtCcy", ("base_ccy", "quote_ccy")) or default
        if target == "quote_ccy" and side is Side.SELL:
            raise bad("tgtCcy")
        quote_sized = target == "quote_ccy"
    qty = quote_to_base(ctx, inst, sz) if quote_sized else inst.qty(sz)
    return OrderRequest(inst, side, order_type, tif, qty, price, client_id, tag, reduce_only,
                        params.required("sz") if quote_sized else None)


def failed_row(params: Params | None, code: str, msg: str, now_ms: int) -> dict[str, Any]:
    values = params.values if params is not None else {}
    client_id, tag = values.get("clOrdId", ""), values.get("tag", "")
    return {"clOrdId": client_id if isinstance(client_id, str) else "", "ordId": "", "sCode": code, "sMsg": msg,
            "tag": tag if isinstance(tag, str) else "", "ts": str(now_ms)}


class TradeRest:
    def __init__(self, ctx: OkxContext) -> None:
        self.ctx = ctx
        self._anonymous = itertools.count(1)

    def install(self, app: web.Application) -> None:
        install_routes(app, self.ctx, [
            Route("POST", "/api/v5/trade/order", self.place_order, 60, private=True),
            Route("POST", "/api/v5/trade/batch-orders", self.batch_orders, 300, private=True),
            Route("POST", "/api/v5/trade/cancel-order", self.cancel_order, 60, private=True),
            Route("GET", "/api/v5/trade/order", self.get_order, 60, private=True),
            Route("GET", "/api/v5/trade/orders-pending", self.orders_pending, 60, private=True),
            Route("GET", "/api/v5/trade/fills", self.fills, 60, private=True),
            Route("GET", "/api/v5/trade/fills-history", self.fills, 10, private=True),
            Route("GET", "/api/v5/trade/orders-history", self.orders_history, 40, private=True),
        ])

    # --- placing ----------------------------------------------------------------------------------
    def _place(self, account_id: int, request: OrderRequest) -> dict[str, Any]:
        ctx, inst = self.ctx, request.inst
        client_id = request.client_id or f"{ANONYMOUS}{next(self._anonymous)}"
        if request.sent_sz is not None:
            ctx.sent_sz[(account_id, client_id)] = request.sent_sz
        try:
            result = ctx.engine.place_order(account_id, inst.symbol, request.side, request.order_type, request.qty,
                                            request.price, request.tif, client_id, request.reduce_only)
        except EngineError as error:
            ctx.sent_sz.pop((account_id, client_id), None)
            spec = inst.spec
            ccy = spec.quote if (inst.is_swap or request.side is Side.BUY) else spec.base
            raise order_rejection(error, spec, request.qty, ccy) from error
        return {"clOrdId": request.client_id or "", "ordId": str(result.order.order_id), "sCode": "0",
                "sMsg": "Order placed", "tag": request.tag, "ts": str(ctx.now_ms())}

    async def place_order(self, call: Call) -> Reply:
        if not isinstance(call.body, dict):
            raise OkxError("50002", "Json data format error")
        try:
            row = self._place(call.account.account_id, parse_order(self.ctx, call.params))
        except OrderRejected as rejected:
            row = failed_row(call.params, rejected.code, rejected.msg, self.ctx.now_ms())
            return Reply([row], "1", "All operations failed", call.timing())
        return Reply([row], extra=call.timing())

    async def batch_orders(self, call: Call) -> Reply:
        """Up to 20 orders; each succeeds or fails on its own (a malformed one fails with its sCode)."""
        orders = call.body
        if not isinstance(orders, list) or not orders:
            raise OkxError("50002", "Json data format error")
        if len(orders) > BATCH_MAX:
            raise OkxError("51000", "Parameter data error")
        rows = []
        for item in orders:
            params = Params(item) if isinstance(item, dict) else None
            try:
                if params is None:
                    raise OkxError("50002", "Json data format error")
                rows.append(self._place(call.account.account_id, parse_order(self.ctx, params)))
            except (OkxError, OrderRejected) as error:
                rows.append(failed_row(params, error.code, error.msg, self.ctx.now_ms()))
        failed = sum(row["sCode"] != "0" for row in rows)
        if not failed:
            return Reply(rows, extra=call.timing())
        if failed == len(rows):
            return Reply(rows, "1", "All operations failed", call.timing())
        return Reply(rows, "2", "Batch operation partially succeeded", call.timing())

    # --- cancel and queries ----------------------------------------------------------------------
    def _order_ref(self, params: Params) -> tuple[int | None, str | None]:
        order_id, client_id = params.text("ordId"), params.text("clOrdId")
        if order_id is None and client_id is None:
            raise OkxError("50015", "Either parameter ordId or clOrdId is required.")
        if order_id is not None:
            if not ORDER_ID.match(order_id):
                raise bad("ordId")
            return int(order_id), None
        if client_id is not None and not CLIENT_ID.match(client_id):
            raise bad("clOrdId")
        return None, client_id

    async def cancel_order(self, call: Call) -> Reply:
        ctx, params = self.ctx, call.params
        inst = ctx.instrument(params.required("instId"))
        order_id, client_id = self._order_ref(params)
        account_id = call.account.account_id
        try:
            existing = ctx.engine.order(account_id, inst.symbol, order_id, client_id)
            if existing.status.is_terminal:
                raise OrderRejected(*CANCEL_FAILED)
            ctx.exchange.faults.before_cancel(inst.symbol, account_id, existing.order_id)
            order = ctx.engine.cancel_order(account_id, inst.symbol, existing.order_id)
        except (EngineError, OrderRejected):
            row = {"clOrdId": client_id or "", "ordId": str(order_id or ""), "sCode": CANCEL_FAILED[0],
                   "sMsg": CANCEL_FAILED[1], "ts": str(ctx.now_ms())}
            return Reply([row], "1", "All operations failed", call.timing())
        row = {"clOrdId": ctx.client_id(order.client_order_id), "ordId": str(order.order_id),
               "sCode": "0", "sMsg": "", "ts": str(ctx.now_ms())}
        return Reply([row], extra=call.timing())

    async def get_order(self, call: Call) -> list[Any]:
        inst = self.ctx.instrument(call.params.required("instId"))
        order_id, client_id = self._order_ref(call.params)
        try:
            order = self.ctx.engine.order(call.account.account_id, inst.symbol, order_id, client_id)
        except EngineError:
            raise OkxError(*NO_SUCH_ORDER, status=200) from None
        return [rest_order(self.ctx, inst, order)]

    def _filter(self, params: Params) -> list[Instrument]:
        inst_type = params.choice("instType", ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"))
        inst_id = params.text("instId")
        insts = list(self.ctx.instruments.values())
        if inst_id is not None:
            insts = [self.ctx.instrument(inst_id)]
        return [i for i in insts if inst_type is None or i.inst_type == inst_type]

    async def orders_pending(self, call: Call) -> list[Any]:
        """Open orders, newest first (at most `limit`, 100)."""
        params = call.params
        insts = self._filter(params)
        ord_type = params.choice("ordType", tuple(ORD_TYPES))
        wanted_state = params.choice("state", ("live", "partially_filled"))
        limit = min(max(params.integer("limit", 100), 1), 100)
        rows = []
        for inst in insts:
            for order in self.ctx.engine.open_orders(call.account.account_id, inst.symbol):
                row = rest_order(self.ctx, inst, order)
                if (ord_type is None or row["ordType"] == ord_type) and (
                        wanted_state is None or row["state"] == wanted_state):
                    rows.append(row)
        rows.sort(key=lambda row: (int(row["cTime"]), int(row["ordId"])), reverse=True)
        return rows[:limit]

    async def orders_history(self, call: Call) -> list[Any]:
        """Finished orders the engine still remembers, newest first (at most `limit`, 100); no paging (ours)."""
        params = call.params
        params.choice("instType", ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"), required=True)
        wanted_state = params.choice("state", ("canceled", "filled", "mmp_canceled"))
        limit = min(max(params.integer("limit", 100), 1), 100)
        rows = []
        for inst in self._filter(params):
            for order in self.ctx.engine.orders(call.account.account_id, inst.symbol):
                if order.status.is_terminal:
                    row = rest_order(self.ctx, inst, order)
                    if wanted_state is None or row["state"] == wanted_state:
                        rows.append(row)
        rows.sort(key=lambda row: (int(row["uTime"]), int(row["ordId"])), reverse=True)
        return rows[:limit]

    async def fills(self, call: Call) -> list[Any]:
        """The account's fills, newest first (at most `limit`, 100); no `after`/`before` paging (ours).
        Also serves fills-history: the engine keeps one trade history per account."""
        params = call.params
        insts = {inst.symbol: inst for inst in self._filter(params)}
        order_id = params.text("ordId")
        if order_id is not None and not ORDER_ID.match(order_id):
            raise bad("ordId")
        limit = min(max(params.integer("limit", 100), 1), 100)
        ctx = self.ctx
        rows = []
        for trade in reversed(ctx.engine.account_trades(call.account.account_id)):
            inst = insts.get(trade.symbol)
            if inst is None or (order_id is not None and str(trade.order_id) != order_id):
                continue
            rows.append(fill_json(inst, trade, ctx.client_id_of(trade.order_id)))
            if len(rows) >= limit:
                break
        return rows
