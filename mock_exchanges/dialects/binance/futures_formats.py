"""Engine objects -> Binance USD-M JSON (order objects, ORDER_TRADE_UPDATE, ACCOUNT_UPDATE)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...engine import OrderState, OrderUpdate, PositionUpdate
from .formats import fmt, ms

if TYPE_CHECKING:
    from .context import BinanceContext

ZERO = Decimal(0)


def avg_price(cum_quote: Decimal, filled: Decimal) -> str:
    return fmt(cum_quote / filled) if filled else "0"


def futures_order(order: OrderState, symbol: str) -> dict[str, Any]:
    """The order object of the USD-M order endpoints (GET adds `time`, POST/DELETE have `cumQty`)."""
    return {
        "orderId": order.order_id, "symbol": symbol, "status": order.status.value,
        "clientOrderId": order.client_order_id, "price": fmt(order.price), "avgPrice": avg_price(order.cum_quote,
                                                                                              order.filled_qty),
        "origQty": fmt(order.qty), "executedQty": fmt(order.filled_qty), "cumQty": fmt(order.filled_qty),
        "cumQuote": fmt(order.cum_quote), "timeInForce": _tif(order), "type": _type(order),
        "reduceOnly": order.reduce_only, "closePosition": False, "side": order.side.value, "positionSide": "BOTH",
        "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": _type(order),
        "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
        "time": ms(order.created_us), "updateTime": ms(order.updated_us),
    }


def _type(order: OrderState | OrderUpdate) -> str:
    # Binance USD-M has no LIMIT_MAKER type: post-only is a LIMIT order with timeInForce GTX.
    return "LIMIT" if order.order_type.value == "LIMIT_MAKER" else order.order_type.value


def _tif(order: OrderState | OrderUpdate) -> str:
    return "GTX" if order.order_type.value == "LIMIT_MAKER" else order.time_in_force.value


def order_trade_update(update: OrderUpdate, symbol: str) -> dict[str, Any]:
    traded = update.trade_id is not None
    now = ms(update.time_us)
    body: dict[str, Any] = {
        "s": symbol, "c": update.client_order_id, "S": update.side.value, "o": _type(update), "f": _tif(update),
        "q": fmt(update.qty), "p": fmt(update.price), "ap": avg_price(update.cum_quote, update.filled_qty),
        "sp": "0", "x": update.execution_type.value, "X": update.status.value, "i": update.order_id,
        "l": fmt(update.last_qty), "z": fmt(update.filled_qty), "L": fmt(update.last_price),
    }
    if traded:
        body.update({"N": update.fee_asset, "n": fmt(update.last_fee)})
    body.update({
        "T": now, "t": update.trade_id if traded else 0, "b": "0", "a": "0", "m": update.is_maker,
        "R": update.reduce_only, "wt": "CONTRACT_PRICE", "ot": _type(update), "ps": "BOTH", "cp": False,
        "rp": fmt(update.last_realized_pnl) if traded else "0",
        "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0, "er": "0",
    })
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": body}


def account_update(ctx: BinanceContext, account_id: int, reason: str, time_us: int,
                   positions: list[tuple[str, PositionUpdate]]) -> dict[str, Any]:
    engine = ctx.engine
    now = ms(time_us)
    margin_assets = sorted({engine.markets[u.symbol].spec.quote for _, u in positions}) or ["USDT"]
    balances = engine.balances(account_id)
    rows = []
    for asset in margin_assets:
        bal = balances.get(asset)
        wallet = bal.total if bal else ZERO
        rows.append({"a": asset, "wb": fmt(wallet), "cw": fmt(wallet), "bc": "0"})
    pos_rows = []
    for name, update in positions:
        state = engine.position(account_id, update.symbol)
        entry = fmt(update.entry_price)
        pos_rows.append({"s": name, "pa": fmt(update.qty), "ep": entry, "bep": entry, "cr": fmt(update.realized_pnl),
                         "up": fmt(state.unrealized_pnl), "mt": "cross", "iw": "0", "ps": "BOTH"})
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": reason, "B": rows, "P": pos_rows}}


def futures_order_response(order: OrderState, symbol: str) -> dict[str, Any]:
    """The order object of POST and DELETE /fapi/v1/order: with `cumQty`, without `time`."""
    body = futures_order(order, symbol)
    del body["time"]
    return body


def futures_order_query(order: OrderState, symbol: str) -> dict[str, Any]:
    """The order object of GET order/openOrder/openOrders/allOrders: with `time`, without `cumQty`."""
    body = futures_order(order, symbol)
    del body["cumQty"]
    return body
