"""Engine objects -> Binance JSON. Every number that is a price, quantity or amount is a string."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...engine import MarketSpec, OrderState, OrderStatus, OrderUpdate

EIGHT = Decimal("0.00000001")
_ZEROS = tuple("0" * n for n in range(9))


#: fmt's answers by `str(value)`: a book's prices and sizes come back again and again, and a dict lookup of
#: the text is cheaper than padding it (and than hashing the Decimal). Forgotten all at once past the limit.
_PADDED: dict[str, str] = {}
_PADDED_LIMIT = 1 << 16


def fmt(value: Decimal) -> str:
    """At least 8 decimals as Binance prints them, more only when the exact value needs them."""
    text = str(value)
    padded = _PADDED.get(text)
    if padded is None:
        if len(_PADDED) >= _PADDED_LIMIT:
            _PADDED.clear()
        padded = _PADDED[text] = _pad(value, text)
    return padded


def _pad(value: Decimal, text: str) -> str:
    # Fast path (every price and quantity the engine makes): str() already gives the exact digits in plain
    # notation ("30000.12", "0.01234", "-5"); pad them to 8 decimals. (Short enough that quantize() below
    # would not run out of precision either.)
    if len(text) < 20 and "E" not in text and text[-1].isdigit():
        point = text.find(".")
        if point < 0:
            return text + ".00000000"
        decimals = len(text) - point - 1
        if decimals <= 8:
            return text + _ZEROS[8 - decimals]
    if value == value.quantize(EIGHT):
        return f"{value:.8f}"
    return f"{value.normalize():f}"


def size_filters(spec: MarketSpec) -> list[dict[str, Any]]:
    """The price and size filters spot and USD-M exchangeInfo spell the same way."""
    return [
        {"filterType": "PRICE_FILTER", "minPrice": fmt(spec.min_price), "maxPrice": fmt(spec.max_price),
         "tickSize": fmt(spec.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": fmt(spec.min_qty), "maxQty": fmt(spec.max_qty),
         "stepSize": fmt(spec.lot_size)},
        {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(spec.min_qty), "maxQty": fmt(spec.max_qty),
         "stepSize": fmt(spec.lot_size)},
    ]


def ms(time_us: int) -> int:
    return time_us // 1000


def status(value: OrderStatus) -> str:
    return value.value


def spot_order(order: OrderState, symbol: str) -> dict[str, Any]:
    """The order object of GET /api/v3/order, openOrders and allOrders."""
    working = not order.status.is_terminal and order.order_type.value != "MARKET"
    return {
        "symbol": symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.filled_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": status(order.status),
        "timeInForce": order.time_in_force.value,
        "type": order.order_type.value,
        "side": order.side.value,
        "stopPrice": fmt(Decimal(0)),
        "icebergQty": fmt(Decimal(0)),
        "time": ms(order.created_us),
        "updateTime": ms(order.updated_us),
        "isWorking": working,
        "workingTime": ms(order.created_us),
        "origQuoteOrderQty": fmt(Decimal(0)),
        "selfTradePreventionMode": "NONE",
    }


def spot_cancel(order: OrderState, symbol: str, cancel_client_id: str, now_ms: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": now_ms,
        "price": fmt(order.price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.filled_qty),
        "origQuoteOrderQty": fmt(Decimal(0)),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": status(order.status),
        "timeInForce": order.time_in_force.value,
        "type": order.order_type.value,
        "side": order.side.value,
        "selfTradePreventionMode": "NONE",
    }


def execution_report(update: OrderUpdate, symbol: str, cancel_client_id: str | None = None) -> dict[str, Any]:
    traded = update.trade_id is not None
    canceled = update.execution_type.value == "CANCELED"
    return {
        "e": "executionReport",
        "E": ms(update.time_us),
        "s": symbol,
        "c": cancel_client_id if (canceled and cancel_client_id) else update.client_order_id,
        "S": update.side.value,
        "o": update.order_type.value,
        "f": update.time_in_force.value,
        "q": fmt(update.qty),
        "p": fmt(update.price),
        "P": fmt(Decimal(0)),
        "F": fmt(Decimal(0)),
        "g": -1,
        "C": update.client_order_id if canceled else "",
        "x": update.execution_type.value,
        "X": update.status.value,
        "r": "NONE",
        "i": update.order_id,
        "l": fmt(update.last_qty),
        "z": fmt(update.filled_qty),
        "L": fmt(update.last_price),
        "n": fmt(update.last_fee) if traded else "0",
        "N": update.fee_asset if traded else None,
        "T": ms(update.time_us),
        "t": update.trade_id if traded else -1,
        "I": 0,
        "w": not update.status.is_terminal and update.order_type.value != "MARKET",
        "m": update.is_maker,
        "M": False,
        "O": ms(update.created_us),
        "Z": fmt(update.cum_quote),
        "Y": fmt(update.last_qty * update.last_price),
        "Q": fmt(Decimal(0)),
        "W": ms(update.created_us),
        "V": "NONE",
    }
