"""Engine orders and fills -> Bitstamp's JSON order objects (REST answers and private WebSocket events).

Bitstamp's order `type` is the side (0 buy, 1 sell); `order_subtype` on the WebSocket is 0 limit,
2 market, 4 IOC limit, 6 FOK limit (as ccxt decodes it). The subtype of a maker-or-cancel order is not in
the stored docs: it is sent as 0 (limit), our choice. Order statuses: "Open", "Finished", "Canceled"
(and "Expired" for GTD orders, which this mock does not take). An IOC/FOK/market remainder that the engine
expires is "Canceled", as Bitstamp says such orders are cancelled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...engine import AccountTrade, MarketSpec, OrderState, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce
from .formats import amount, currency, datetime_str, market_name, plain, price

STATUS = {
    OrderStatus.NEW: "Open", OrderStatus.PARTIALLY_FILLED: "Open", OrderStatus.FILLED: "Finished",
    OrderStatus.CANCELED: "Canceled", OrderStatus.EXPIRED: "Canceled",
}


def side_code(side: Side) -> str:
    return "0" if side is Side.BUY else "1"


def subtype(order_type: OrderType, time_in_force: TimeInForce) -> int:
    if order_type is OrderType.MARKET:
        return 2
    return {TimeInForce.IOC: 4, TimeInForce.FOK: 6}.get(time_in_force, 0)


def created(spec: MarketSpec, order: OrderState, client_id: bool, price_shown: Decimal) -> dict[str, Any]:
    """BuySellOrderResponse: the answer to a new limit or market order."""
    body: dict[str, Any] = {
        "id": str(order.order_id), "market": market_name(spec), "datetime": datetime_str(order.created_us),
        "type": side_code(order.side), "price": price(spec, price_shown), "amount": amount(spec, order.qty),
    }
    if client_id:
        body["client_order_id"] = order.client_order_id
    return body


def open_order(spec: MarketSpec, order: OrderState, client_id: bool, with_pair: bool) -> dict[str, Any]:
    """OpenOrdersAllResponse / OpenOrdersPairResponse: `amount` is what remains."""
    body: dict[str, Any] = {
        "id": str(order.order_id), "datetime": datetime_str(order.created_us), "type": side_code(order.side),
        "price": price(spec, order.price), "amount": amount(spec, order.remaining_qty),
        "amount_at_create": amount(spec, order.qty),
    }
    if with_pair:
        body["currency_pair"] = market_name(spec)
    body["market"] = market_name(spec)
    if client_id:
        body["client_order_id"] = order.client_order_id
    return body


def canceled(spec: MarketSpec, order: OrderState, with_pair: bool = False) -> dict[str, Any]:
    """CancelOrderResponse (one order) and the entries of CancelAllOrdersResponse."""
    body: dict[str, Any] = {"id": order.order_id, "amount": amount(spec, order.remaining_qty),
                            "price": price(spec, order.price), "type": int(side_code(order.side))}
    if with_pair:
        body["currency_pair"] = market_name(spec)
    body["market"] = market_name(spec)
    if not with_pair:
        body["status"] = "Canceled"
    return body


def transaction(spec: MarketSpec, fill: AccountTrade) -> dict[str, Any]:
    """OrderTransaction: one fill of an order (`type` 2: market trade)."""
    return {"tid": fill.trade_id, "price": price(spec, fill.price), currency(spec.base): amount(spec, fill.qty),
            currency(spec.quote): plain(fill.quote_qty), "fee": plain(fill.fee),
            "datetime": datetime_str(fill.time_us, micro=True), "type": 2}


def status(spec: MarketSpec, order: OrderState, fills: list[AccountTrade] | None,
           client_id: bool) -> dict[str, Any]:
    """OrderStatusResponse."""
    body: dict[str, Any] = {
        "id": order.order_id, "datetime": datetime_str(order.created_us), "type": side_code(order.side),
        "status": STATUS[order.status], "market": market_name(spec),
        "transactions": [transaction(spec, f) for f in fills] if fills is not None else [],
        "amount_remaining": amount(spec, order.remaining_qty),
    }
    if client_id:
        body["client_order_id"] = order.client_order_id
    return body


def user_transaction(spec: MarketSpec, fill: AccountTrade) -> dict[str, Any]:
    """UserTransactionsResponse for a trade (`type` "2"): the account's signed base and quote amounts, and
    the `{base}_{quote}` exchange rate as the JSON number the docs' schema gives it (a float made here)."""
    sign = Decimal(1) if fill.is_buyer else Decimal(-1)
    return {
        "id": fill.trade_id, "datetime": datetime_str(fill.time_us, micro=True), "type": "2",
        "fee": plain(fill.fee), currency(spec.base): amount(spec, sign * fill.qty),
        currency(spec.quote): plain(-sign * fill.quote_qty),
        f"{currency(spec.base)}_{currency(spec.quote)}": float(fill.price), "order_id": fill.order_id,
    }


def ws_order(spec: MarketSpec, update: OrderUpdate, client_id: bool) -> dict[str, Any]:
    """PrivateOrderEventData. `amount`/`price` are JSON numbers as Bitstamp sends them (a float copy of the
    exact `_str` twin, made only here at the wire)."""
    remaining = update.qty - update.filled_qty
    data: dict[str, Any] = {
        "id": update.order_id, "id_str": str(update.order_id), "order_type": int(side_code(update.side)),
        "order_subtype": subtype(update.order_type, update.time_in_force),
        "datetime": str(update.time_us // 1_000_000), "microtimestamp": str(update.time_us),
        "amount": float(remaining), "amount_str": amount(spec, remaining),
        "amount_traded": amount(spec, update.filled_qty), "amount_at_create": amount(spec, update.qty),
        "price": float(update.price), "price_str": price(spec, update.price), "is_liquidation": False,
        "trade_account_id": 0,
    }
    if client_id:
        data["client_order_id"] = update.client_order_id
    if update.reduce_only:
        data["reduce_only"] = True
    return data


def ws_my_trade(spec: MarketSpec, update: OrderUpdate, client_id: bool) -> dict[str, Any]:
    """A `private-my_trades_*` trade. `fee_currency` is ours: Bitstamp charges fees in the counter
    currency, the engine charges a spot buyer in the base asset, so the asset is spelled out."""
    assert update.trade_id is not None
    data: dict[str, Any] = {
        "id": update.trade_id, "id_str": str(update.trade_id), "amount": amount(spec, update.last_qty),
        "price": price(spec, update.last_price), "microtimestamp": str(update.time_us),
        "fee": plain(update.last_fee), "fee_currency": currency(update.fee_asset),
        "order_id": str(update.order_id), "trade_account_id": 0,
        "side": "buy" if update.side is Side.BUY else "sell",
    }
    if client_id:
        data["client_order_id"] = update.client_order_id
    return data
