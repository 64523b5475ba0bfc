"""Engine events -> Bitstamp WebSocket messages, each encoded once, only for channels somebody listens to.

Message shape (key order as Bitstamp sends it): `{"data": {...}, "channel": "...", "event": "..."}`.
- `diff_order_book_{m}` (`data`): changed levels `[price, amount]` (amount 0 removes the level, printed
  at size precision), bids descending, asks ascending, `timestamp` (s) and `microtimestamp` (µs) of the
  change. No third element (order id): that is `detail_order_book`, which carries per-order rows.
- `order_book_{m}` (`data`): the top 100 levels a side after every change.
- `live_trades_{m}` (`trade`): `type` is the taker's side, 0 buy, 1 sell.
- `funding_rate_{m}` (`funding_rate_saved`): on every engine mark price update (1/s, as Bitstamp's).
- `private-my_orders_{m}-{uid}` (`order_created` / `order_changed` / `order_deleted`; a full fill is
  `order_deleted`, as ccxt records it) and `private-my_trades_{m}-{uid}` (`trade`).

Deliberately absent: update ids and sequence numbers of any kind. (Bitstamp added `event_id` /
`pre_event_id` to its order event streams in 2026; this dialect is the venue without a sequence, so it
leaves them out.) The engine's update ids still travel on each `Frame` (not on the wire) so the fault
layer can target book frames.
"""

from __future__ import annotations

import json
from typing import Any

from ...engine import BookDelta, ExecutionType, MarkPriceUpdate, OrderStatus, OrderUpdate, Trade
from ...server.hub import Channel, EventHub, Frame, Handler, UserKind
from . import channels
from .context import BitstampContext
from .formats import amount, levels, price, rate, seconds
from .orders import ws_my_trade, ws_order

TOP_LEVELS = 100


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def message(channel: str, event: str, data: dict[str, Any]) -> str:
    return dumps({"data": data, "channel": channel, "event": event})


class BitstampEncoder:
    def __init__(self, ctx: BitstampContext) -> None:
        self.ctx = ctx

    def routes(self) -> dict[type, Handler]:
        return {BookDelta: self._book, Trade: self._trade, OrderUpdate: self._order, MarkPriceUpdate: self._funding}

    def _book(self, delta: BookDelta, hub: EventHub) -> None:
        ctx = self.ctx
        ctx.book_times.record(delta.symbol, delta.last_update_id, delta.time_us)
        market = ctx.ids.get(delta.symbol)
        if market is None:  # a market added after install has no Bitstamp name
            return
        spec = ctx.markets[market]
        times = {"timestamp": seconds(delta.time_us), "microtimestamp": str(delta.time_us)}
        ids = (delta.first_update_id, delta.last_update_id)
        name = channels.public("diff_order_book", market)
        topic = channels.topic(name)
        if hub.wants(topic):
            data = {**times, "bids": levels(spec, sorted(delta.bids, reverse=True)),
                    "asks": levels(spec, sorted(delta.asks))}
            hub.emit(topic, Frame(name, message(name, "data", data), Channel.DEPTH, delta.symbol, *ids))
        name = channels.public("order_book", market)
        topic = channels.topic(name)
        if hub.wants(topic):
            book = ctx.engine.book(delta.symbol, TOP_LEVELS)
            data = {**times, "bids": levels(spec, book.bids), "asks": levels(spec, book.asks)}
            hub.emit(topic, Frame(name, message(name, "data", data), Channel.DEPTH, delta.symbol, *ids))

    def _trade(self, trade: Trade, hub: EventHub) -> None:
        market = self.ctx.ids.get(trade.symbol)
        if market is None:
            return
        name = channels.public("live_trades", market)
        topic = channels.topic(name)
        if not hub.wants(topic):
            return
        spec = self.ctx.markets[market]
        data = {"id": trade.trade_id, "id_str": str(trade.trade_id), "timestamp": seconds(trade.time_us),
                "amount": float(trade.qty), "amount_str": amount(spec, trade.qty),
                "price": float(trade.price), "price_str": price(spec, trade.price),
                "type": 1 if trade.buyer_is_maker else 0, "microtimestamp": str(trade.time_us),
                "buy_order_id": trade.buyer_order_id, "sell_order_id": trade.seller_order_id}
        hub.emit(topic, Frame(name, message(name, "trade", data), Channel.TRADE, trade.symbol))

    def _order(self, update: OrderUpdate, hub: EventHub) -> None:
        ctx = self.ctx
        market = ctx.ids.get(update.symbol)
        if market is None:
            return
        spec = ctx.markets[market]
        client_id = ctx.has_client_id(update.account_id, update.client_order_id)
        name = channels.private("my_orders", market, update.account_id)
        topic = channels.topic(name)
        kind = UserKind.FILL if update.last_qty else UserKind.ORDER
        if hub.wants(topic):
            body = dumps({"data": ws_order(spec, update, client_id), "channel": name, "event": order_event(update),
                          "trade_account_id": 0, "order_source": "orderbook"})
            hub.emit(topic, Frame(name, body, Channel.USER, update.symbol, kind=kind, order_id=update.order_id))
        if update.trade_id is None:
            return
        name = channels.private("my_trades", market, update.account_id)
        topic = channels.topic(name)
        if hub.wants(topic):
            body = dumps({"data": ws_my_trade(spec, update, client_id), "channel": name, "event": "trade",
                          "trade_account_id": 0})
            hub.emit(topic, Frame(name, body, Channel.USER, update.symbol, kind=UserKind.FILL,
                                  order_id=update.order_id))

    def _funding(self, update: MarkPriceUpdate, hub: EventHub) -> None:
        market = self.ctx.ids.get(update.symbol)
        if market is None:
            return
        name = channels.public("funding_rate", market)
        topic = channels.topic(name)
        if not hub.wants(topic):
            return
        spec = self.ctx.markets[market]
        data = {"market": market, "mark_price": price(spec, update.mark_price),
                "index_price": price(spec, update.index_price), "funding_rate": rate(update.funding_rate),
                "timestamp": seconds(update.time_us), "next_funding_time": str(update.next_funding_time_ms // 1000)}
        hub.emit(topic, Frame(name, message(name, "funding_rate_saved", data), Channel.MARK, update.symbol))


def order_event(update: OrderUpdate) -> str:
    if update.execution_type is ExecutionType.NEW:
        return "order_created"
    if update.execution_type is ExecutionType.TRADE and update.status is not OrderStatus.FILLED:
        return "order_changed"
    return "order_deleted"
