"""Engine events -> Binance stream frames, each encoded once, only for topics somebody listens to.

Topics: `spot:<stream>` and `usdm:<stream>` for market streams (stream names as Binance spells them),
`spot-user:<account id>` and `usdm-user:<account id>` for user data.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ...engine import (
    BalanceUpdate,
    BookDelta,
    FundingPayment,
    MarkPriceUpdate,
    OrderUpdate,
    PositionUpdate,
    Trade,
)
from ...server.hub import Channel, EventHub, Frame, Handler, UserKind
from .context import BinanceContext
from .depth_batches import SPOT_INTERVALS_MS, USDM_INTERVALS_MS, DepthBatcher
from .formats import execution_report, fmt, ms
from .futures_formats import account_update, order_trade_update


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Venue:
    """How one engine market is named on Binance, and its stream topics, worked out once."""

    __slots__ = ("depth_topics", "futures", "name", "name_json", "prefix", "ticker_topic")

    def __init__(self, name: str, futures: bool) -> None:
        self.name = name
        self.name_json = dumps(name)
        self.futures = futures
        self.prefix = f"{'usdm' if futures else 'spot'}:{name.lower()}"
        #: (topic, stream name, update interval in ms) of each depth stream
        self.depth_topics = tuple((self.prefix + suffix, self.prefix.split(":", 1)[1] + suffix, interval)
                                  for suffix, interval in (USDM_INTERVALS_MS if futures else SPOT_INTERVALS_MS).items())
        self.ticker_topic = self.prefix + "@bookTicker"


def levels_json(levels: list[tuple[Decimal, Decimal]]) -> str:
    """`[["price","qty"],...]` as `dumps` writes it, without the outer brackets."""
    if not levels:
        return ""
    if len(levels) == 1:  # most deltas change one level
        price, qty = levels[0]
        return f'["{fmt(price)}","{fmt(qty)}"]'
    return ",".join([f'["{fmt(price)}","{fmt(qty)}"]' for price, qty in levels])


def depth_update(venue: Venue, delta: BookDelta) -> str:
    """The depthUpdate payload, written out directly: the same text `dumps` makes of the equivalent dict
    (keys in this order), without building the dict. Every value is an int or a plain-ASCII string."""
    now = delta.time_us // 1000
    bids, asks = levels_json(delta.bids), levels_json(delta.asks)
    if venue.futures:
        return (f'{{"e":"depthUpdate","E":{now},"T":{now},"s":{venue.name_json},"U":{delta.first_update_id},'
                f'"u":{delta.last_update_id},"pu":{delta.first_update_id - 1},"b":[{bids}],"a":[{asks}]}}')
    return (f'{{"e":"depthUpdate","E":{now},"s":{venue.name_json},"U":{delta.first_update_id},'
            f'"u":{delta.last_update_id},"b":[{bids}],"a":[{asks}]}}')


class BinanceEncoder:
    def __init__(self, ctx: BinanceContext, hub: EventHub) -> None:
        self.ctx = ctx
        self.hub = hub
        self._venues: dict[str, Venue] = {}
        #: depth streams at Binance's update speed (merged per interval; `exchange.batch_depth`), or one frame per
        #: engine delta
        self._batches = DepthBatcher()
        #: windows may be open in `_batches` (merging was on since they were last all sent)
        self._merging = False
        self._exchange = ctx.exchange

    def routes(self) -> dict[type, Handler]:
        return {BookDelta: self._depth, OrderUpdate: self._order, Trade: self._trade, BalanceUpdate: self._balance,
                PositionUpdate: self._position, MarkPriceUpdate: self._mark, FundingPayment: self._funding}

    def _venue(self, engine_symbol: str) -> Venue:
        venue = self._venues.get(engine_symbol)
        if venue is None:
            spec = self.ctx.engine.markets[engine_symbol].spec
            venue = self._venues[engine_symbol] = Venue(self.ctx.venue_symbol[engine_symbol], spec.is_perpetual)
        return venue

    def _depth(self, delta: BookDelta, hub: EventHub) -> None:
        venue = self._venue(delta.symbol)
        data: str | None = None
        batching = self._exchange.batch_depth
        if self._merging and not batching:
            self._flush(delta.time_us, everything=True)  # merging just stopped: what it still held goes out first
        for topic, stream, interval_ms in venue.depth_topics:
            if not hub.wants(topic):
                if batching:
                    self._batches.discard(topic)
                continue
            if batching:
                self._merging = True
                closed = self._batches.add(topic, delta.symbol, interval_ms, delta)
                if closed is not None:
                    self._emit_depth(hub, topic, stream, closed, depth_update(venue, closed))
                continue
            if data is None:
                data = depth_update(venue, delta)
            hub.emit(topic, Frame(stream, data, Channel.DEPTH, delta.symbol, delta.first_update_id,
                                  delta.last_update_id))
        ticker_topic = venue.ticker_topic
        if hub.wants(ticker_topic):
            name, futures = venue.name, venue.futures
            state = self.ctx.engine.markets[delta.symbol]
            book = state.snapshot(1)
            zero = "0.00000000"
            body: dict[str, Any] = {
                "u": delta.last_update_id, "s": name,
                "b": fmt(book.bids[0][0]) if book.bids else zero, "B": fmt(book.bids[0][1]) if book.bids else zero,
                "a": fmt(book.asks[0][0]) if book.asks else zero, "A": fmt(book.asks[0][1]) if book.asks else zero}
            if futures:
                body = {"e": "bookTicker", **body, "E": ms(delta.time_us), "T": ms(delta.time_us)}
            hub.emit(ticker_topic, Frame(ticker_topic.split(":", 1)[1], dumps(body), Channel.TICKER, delta.symbol,
                                         delta.last_update_id, delta.last_update_id))

    @staticmethod
    def _emit_depth(hub: EventHub, topic: str, stream: str, delta: BookDelta, data: str) -> None:
        hub.emit(topic, Frame(stream, data, Channel.DEPTH, delta.symbol, delta.first_update_id, delta.last_update_id))

    def flush_due(self, now_ms: int) -> None:
        """The exchange's tick: send the merged depth frames whose interval is over (all of them once merging
        has stopped)."""
        if self._merging:
            self._flush(now_ms * 1000, everything=not self._exchange.batch_depth)

    def _flush(self, now_us: int, everything: bool = False) -> None:
        """Send the merged frames due at `now_us` (`everything`: every open window)."""
        for topic, merged in self._batches.due(now_us, everything):
            venue = self._venue(merged.symbol)
            stream = topic.split(":", 1)[1]
            self._emit_depth(self.hub, topic, stream, merged, depth_update(venue, merged))
        if everything:
            self._merging = False

    def _trade(self, trade: Trade, hub: EventHub) -> None:
        venue = self._venue(trade.symbol)
        name, futures, prefix = venue.name, venue.futures, venue.prefix
        topic = prefix + "@trade"
        if hub.wants(topic):
            body = {"e": "trade", "E": ms(trade.time_us), "s": name, "t": trade.trade_id, "p": fmt(trade.price),
                    "q": fmt(trade.qty), "T": ms(trade.time_us), "m": trade.buyer_is_maker, "M": True}
            hub.emit(topic, Frame(topic.split(":", 1)[1], dumps(body), Channel.TRADE, trade.symbol))
        topic = prefix + "@aggTrade"
        if hub.wants(topic):
            # The engine keeps trades, not aggregates: each trade is its own aggregate (a = f = l = trade id),
            # as REST /fapi/v1/aggTrades answers. USD-M adds `nq` (qty without RPI orders) and has no `M`.
            body = {"e": "aggTrade", "E": ms(trade.time_us), "s": name, "a": trade.trade_id,
                    "p": fmt(trade.price), "q": fmt(trade.qty)}
            if futures:
                body["nq"] = fmt(trade.qty)
            body.update({"f": trade.trade_id, "l": trade.trade_id, "T": ms(trade.time_us), "m": trade.buyer_is_maker})
            if not futures:
                body["M"] = True
            hub.emit(topic, Frame(topic.split(":", 1)[1], dumps(body), Channel.TRADE, trade.symbol))

    def _order(self, update: OrderUpdate, hub: EventHub) -> None:
        if not (hub.wants_family("spot-user") or hub.wants_family("usdm-user")):
            return
        venue = self._venue(update.symbol)
        name = venue.name
        if venue.futures:
            topic = f"usdm-user:{update.account_id}"
            if hub.wants(topic):
                hub.emit(topic, user_frame(dumps(order_trade_update(update, name)), update))
            return
        topic = f"spot-user:{update.account_id}"
        if hub.wants(topic):
            body = execution_report(update, name, self.ctx.cancel_ids.get(update.order_id))
            hub.emit(topic, user_frame(dumps(body), update))

    def _balance(self, update: BalanceUpdate, hub: EventHub) -> None:
        if not hub.wants_family("spot-user"):
            return
        topic = f"spot-user:{update.account_id}"
        if not hub.wants(topic):
            return
        now = ms(update.time_us)
        body: dict[str, Any] = {"e": "outboundAccountPosition", "E": now, "u": now,
                                "B": [{"a": update.asset, "f": fmt(update.free), "l": fmt(update.locked)}]}
        hub.emit(topic, Frame("user", dumps(body), Channel.USER, kind=UserKind.BALANCE))
        if update.reason.value == "DEPOSIT":
            body = {"e": "balanceUpdate", "E": now, "a": update.asset, "d": fmt(update.free), "T": now}
            hub.emit(topic, Frame("user", dumps(body), Channel.USER, kind=UserKind.BALANCE))

    def _position(self, update: PositionUpdate, hub: EventHub) -> None:
        topic = f"usdm-user:{update.account_id}"
        if hub.wants(topic):
            name = self._venue(update.symbol).name
            hub.emit(topic, Frame("user", dumps(account_update(self.ctx, update.account_id, "ORDER", update.time_us,
                                                                 positions=[(name, update)])),
                                  Channel.USER, update.symbol, kind=UserKind.POSITION))

    def _funding(self, payment: FundingPayment, hub: EventHub) -> None:
        topic = f"usdm-user:{payment.account_id}"
        if hub.wants(topic):
            hub.emit(topic, Frame("user", dumps(account_update(self.ctx, payment.account_id, "FUNDING_FEE",
                                                                 payment.time_us, positions=[])),
                                  Channel.USER, payment.symbol, kind=UserKind.FUNDING))

    def _mark(self, update: MarkPriceUpdate, hub: EventHub) -> None:
        name = self._venue(update.symbol).name
        for suffix in ("@markPrice", "@markPrice@1s"):
            topic = f"usdm:{name.lower()}{suffix}"
            if hub.wants(topic):
                body = {"e": "markPriceUpdate", "E": ms(update.time_us), "s": name, "p": fmt(update.mark_price),
                        "i": fmt(update.index_price), "P": fmt(update.mark_price), "r": fmt(update.funding_rate),
                        "T": update.next_funding_time_ms}
                hub.emit(topic, Frame(topic.split(":", 1)[1], dumps(body), Channel.MARK, update.symbol))


def user_frame(data: str, update: OrderUpdate) -> Frame:
    """A user-stream order frame, tagged as a fill or a plain order event for the fault layer."""
    kind = UserKind.FILL if update.last_qty else UserKind.ORDER
    return Frame("user", data, Channel.USER, update.symbol, kind=kind, order_id=update.order_id)
