"""Engine events -> OKX pushes, each encoded once per subscription arg and only when somebody listens.

Books: one `update` per engine delta with `seqId` = the delta's last update id and `prevSeqId` = its first
update id - 1, so the chain is unbroken exactly when no frame was lost (the engine's ids are contiguous
per market) and frames stay shareable across connections. The checksum is over the top 25 levels of the
live book after the delta, which is what a client holding every update has. A delta that changes nothing
a depth-limited channel shows still gets an update, with empty `bids`/`asks` (OKX sends such updates too).

The encoder also keeps the dialect's per-position fee and funding ledgers, from every fill and payment.
"""

from __future__ import annotations

from typing import Any

from ...engine import (
    BalanceReason,
    BalanceUpdate,
    BookDelta,
    FundingPayment,
    MarkPriceUpdate,
    OrderUpdate,
    PositionUpdate,
    Trade,
)
from ...server.hub import Channel, EventHub, Frame, Handler, UserKind
from .books import BookViews, render
from .channels import (
    BOOK_DEPTHS,
    account_topic,
    orders_topic,
    positions_topic,
    private_arg,
    public_arg,
    public_topic,
    push,
)
from .context import OkxContext
from .formats import LastFill, OrderExtras, dumps, funding_json, mark_json, ms, order_json
from .instruments import Instrument, fmt
from .views import account_json, order_fills, position, ticker


class OkxEncoder:
    def __init__(self, ctx: OkxContext) -> None:
        self.ctx = ctx
        self.views = BookViews(ctx.engine)
        #: best bid and ask (ticks, lots) last pushed on `tickers`, per market
        self._bbo: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] = {}

    def routes(self) -> dict[type, Handler]:
        return {BookDelta: self._book, OrderUpdate: self._order, Trade: self._trade, BalanceUpdate: self._balance,
                PositionUpdate: self._position_update, MarkPriceUpdate: self._mark,
                FundingPayment: self._funding_payment}

    def _position_update(self, update: PositionUpdate, hub: EventHub) -> None:
        self._position(update.account_id, update.symbol, UserKind.POSITION, hub)

    def _funding_payment(self, payment: FundingPayment, hub: EventHub) -> None:
        self.ctx.ledger(payment.account_id, payment.symbol).funding += payment.amount
        self._position(payment.account_id, payment.symbol, UserKind.FUNDING, hub)

    # --- public --------------------------------------------------------------------------------------
    def _book(self, delta: BookDelta, hub: EventHub) -> None:
        inst = self.ctx.by_symbol.get(delta.symbol)
        if inst is None:
            return
        wanted = [(channel, depth) for channel, depth in BOOK_DEPTHS.items()
                  if hub.wants(public_topic(channel, inst.inst_id))]
        if wanted:
            market = self.ctx.engine.markets[delta.symbol]
            shown, checksum = self.views.apply(delta, inst, {depth for _, depth in wanted})
            checksum = checksum if self.ctx.send_checksum else 0
            tail = (f',"ts":"{ms(delta.time_us)}","checksum":{checksum},'
                    f'"prevSeqId":{delta.first_update_id - 1},"seqId":{delta.last_update_id}}}]')
            for depth in sorted({depth for _, depth in wanted}):
                bids, asks = shown[depth]
                data = (f'[{{"asks":{dumps(render(inst, market.asks, asks))},'
                        f'"bids":{dumps(render(inst, market.bids, bids))}' + tail)
                for channel in (c for c, d in wanted if d == depth):
                    hub.emit(public_topic(channel, inst.inst_id),
                             Frame(channel, push(public_arg(channel, inst.inst_id), data, "update"), Channel.DEPTH,
                                   delta.symbol, delta.first_update_id, delta.last_update_id))
        else:
            self.views.forget(delta.symbol)
        self._ticker(inst, hub, delta.last_update_id, on_trade=False)

    def _ticker(self, inst: Instrument, hub: EventHub, update_id: int, on_trade: bool) -> None:
        """Push `tickers` when the best bid/ask changed, and on every trade (the last price moved)."""
        topic = public_topic("tickers", inst.inst_id)
        if not hub.wants(topic):
            self._bbo.pop(inst.symbol, None)
            return
        bbo = self._best(inst)
        if not on_trade and self._bbo.get(inst.symbol) == bbo:
            return
        self._bbo[inst.symbol] = bbo
        hub.emit(topic, Frame("tickers", push(public_arg("tickers", inst.inst_id), dumps([ticker(self.ctx, inst)])),
                              Channel.TICKER, inst.symbol, update_id, update_id))

    def first_ticker(self, inst: Instrument) -> dict[str, Any]:
        """The ticker pushed right after a `tickers` subscription; later ones follow its best bid/ask."""
        self._bbo[inst.symbol] = self._best(inst)
        return ticker(self.ctx, inst)

    def _best(self, inst: Instrument) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        market = self.ctx.engine.markets[inst.symbol]
        bid, ask = market.bids.best(), market.asks.best()
        return (None if bid is None else (bid, market.bids.lots[bid]),
                None if ask is None else (ask, market.asks.lots[ask]))

    def _trade(self, trade: Trade, hub: EventHub) -> None:
        inst = self.ctx.by_symbol.get(trade.symbol)
        if inst is None:
            return
        topic = public_topic("trades", inst.inst_id)
        if hub.wants(topic):
            data = [{"instId": inst.inst_id, "tradeId": str(trade.trade_id), "px": fmt(trade.price),
                     "sz": inst.sz(trade.qty), "side": trade.taker_side.value.lower(), "ts": ms(trade.time_us),
                     "count": "1", "source": "0"}]
            hub.emit(topic, Frame("trades", push(public_arg("trades", inst.inst_id), dumps(data)), Channel.TRADE,
                                  trade.symbol))
        self._ticker(inst, hub, self.ctx.engine.markets[trade.symbol].last_update_id, on_trade=True)

    def _mark(self, update: MarkPriceUpdate, hub: EventHub) -> None:
        inst = self.ctx.by_symbol.get(update.symbol)
        if inst is None:
            return
        now = update.time_us // 1000
        topic = public_topic("funding-rate", inst.inst_id)
        if hub.wants(topic):
            info = self.ctx.engine.funding_info(update.symbol)
            history = self.ctx.engine.funding_history(update.symbol)
            settled = history[-1].rate if history else info.funding_rate
            data = dumps([funding_json(inst, info, settled, now)])
            hub.emit(topic, Frame("funding-rate", push(public_arg("funding-rate", inst.inst_id), data),
                                  Channel.MARK, update.symbol))
        topic = public_topic("mark-price", inst.inst_id)
        if hub.wants(topic):
            data = dumps([mark_json(inst, update.mark_price, now)])
            hub.emit(topic, Frame("mark-price", push(public_arg("mark-price", inst.inst_id), data), Channel.MARK,
                                  update.symbol))

    # --- private -------------------------------------------------------------------------------------
    def _order(self, update: OrderUpdate, hub: EventHub) -> None:
        inst = self.ctx.by_symbol.get(update.symbol)
        if inst is None:
            return
        if inst.is_swap and update.last_fee:
            self.ctx.ledger(update.account_id, update.symbol).fee -= update.last_fee
        if update.account_id not in self.ctx.logged_in:
            return
        topics = [(orders_topic(update.account_id, t, i), t, i)
                  for t in ("ANY", inst.inst_type) for i in ("", inst.inst_id)]
        topics = [row for row in topics if hub.wants(row[0])]
        if not topics:
            return
        data = dumps([self.order_push(inst, update)])
        uid = str(update.account_id)
        kind = UserKind.FILL if update.last_qty else UserKind.ORDER
        for topic, inst_type, inst_id in topics:
            hub.emit(topic, Frame("orders", push(private_arg("orders", inst_type, inst_id, uid=uid), data),
                                  Channel.USER, update.symbol, kind=kind, order_id=update.order_id))

    def order_push(self, inst: Instrument, update: OrderUpdate) -> dict[str, Any]:
        """The `orders` channel's object: the REST order plus the details of the fill that caused it."""
        ctx = self.ctx
        traded = update.trade_id is not None
        fill = LastFill(update.last_price, update.last_qty, update.trade_id or 0, update.time_us, update.last_fee,
                        update.fee_asset, update.last_realized_pnl, update.is_maker) if traded else None
        pnl = order_fills(ctx, update.account_id, inst, update.order_id)[1] if inst.is_swap and traded else (
            update.last_realized_pnl)
        extras = OrderExtras(ctx.client_id(update.client_order_id), ctx.lever(update.account_id, inst), pnl,
                             ctx.sent_sz.get((update.account_id, update.client_order_id)))
        body = order_json(inst, update, update.time_us, extras, fill)
        body.update({
            "fillPnl": fmt(update.last_realized_pnl) if traded else "0",
            "fillFee": fmt(-update.last_fee) if traded else "0", "fillFeeCcy": update.fee_asset if traded else "",
            "execType": ("M" if update.is_maker else "T") if traded else "", "lastPx": fmt(update.last_price)
            if traded else "", "fillNotionalUsd": "", "notionalUsd": "", "fillMarkPx": "", "fillIdxPx": "",
            "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "amendResult": "", "reqId": "",
            "amendSource": "", "code": "0", "msg": "",
        })
        return body

    def _balance(self, update: BalanceUpdate, hub: EventHub) -> None:
        if update.account_id not in self.ctx.logged_in:
            return
        topics = [(account_topic(update.account_id, ccy), ccy) for ccy in ("", update.asset)]
        topics = [row for row in topics if hub.wants(row[0])]
        if not topics:
            return
        data = dumps([account_json(self.ctx, update.account_id, [update.asset])])
        kind = UserKind.FUNDING if update.reason is BalanceReason.FUNDING_FEE else UserKind.BALANCE
        uid = str(update.account_id)
        for topic, ccy in topics:
            hub.emit(topic, Frame("account", push(private_arg("account", ccy=ccy, uid=uid), data), Channel.USER,
                                  kind=kind))

    def _position(self, account_id: int, symbol: str, kind: str, hub: EventHub) -> None:
        inst = self.ctx.by_symbol.get(symbol)
        if inst is None or account_id not in self.ctx.logged_in:
            return
        topics = [(positions_topic(account_id, t, i), t, i) for t in ("ANY", "SWAP") for i in ("", inst.inst_id)]
        topics = [row for row in topics if hub.wants(row[0])]
        if not topics:
            return
        data = dumps([position(self.ctx, account_id, inst)])
        uid = str(account_id)
        for topic, inst_type, inst_id in topics:
            hub.emit(topic, Frame("positions", push(private_arg("positions", inst_type, inst_id, uid=uid), data),
                                  Channel.USER, symbol, kind=kind))
