"""OKX objects assembled from the engine's truth plus the dialect's own bookkeeping: orders with their
last fill, the account (balances with PnL and margin), positions, tickers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...engine import OrderState
from .context import OkxContext
from .formats import LastFill, OrderExtras, balance_detail, order_json, position_json
from .instruments import Instrument, fmt

ZERO = Decimal(0)
USD_LIKE = ("USD", "USDT", "USDC")
DAY_MS = 86_400_000


def order_fills(ctx: OkxContext, account_id: int, inst: Instrument, order_id: int) -> tuple[LastFill | None, Decimal]:
    """The order's last fill and the PnL all its fills realized, from the account's trade history."""
    last: LastFill | None = None
    pnl = ZERO
    for trade in ctx.engine.account_trades(account_id, inst.symbol):
        if trade.order_id == order_id:
            pnl += trade.realized_pnl
            last = LastFill(trade.price, trade.qty, trade.trade_id, trade.time_us, trade.fee, trade.fee_asset,
                            trade.realized_pnl, trade.is_maker)
    return last, pnl


def rest_order(ctx: OkxContext, inst: Instrument, order: OrderState) -> dict[str, Any]:
    fill, pnl = order_fills(ctx, order.account_id, inst, order.order_id) if order.filled_qty else (None, ZERO)
    extras = OrderExtras(ctx.client_id(order.client_order_id), ctx.lever(order.account_id, inst), pnl,
                         ctx.sent_sz.get((order.account_id, order.client_order_id)))
    return order_json(inst, order, order.updated_us, extras, fill)


def usd_price(ctx: OkxContext, ccy: str) -> Decimal:
    """A currency's USD value: 1 for USD stablecoins, else the mid (or last trade) of its spot market
    against one; 0 when there is none."""
    if ccy in USD_LIKE:
        return Decimal(1)
    for quote in USD_LIKE:
        inst = ctx.instruments.get(f"{ccy}-{quote}")
        if inst is None:
            continue
        book = ctx.engine.book(inst.symbol, 1)
        if book.best_bid is not None and book.best_ask is not None:
            return (book.best_bid + book.best_ask) / 2
        trades = ctx.engine.recent_trades(inst.symbol)
        if trades:
            return trades[-1].price
    return ZERO


def account_json(ctx: OkxContext, account_id: int, ccys: list[str] | None = None) -> dict[str, Any]:
    """GET /api/v5/account/balance's object (and the `account` channel's): `ccys` None means every currency."""
    engine = ctx.engine
    balances = engine.balances(account_id)
    upl: dict[str, Decimal] = {}
    margin: dict[str, Decimal] = {}
    for inst in ctx.instruments.values():
        if inst.is_swap:
            pos = engine.position(account_id, inst.symbol)
            if pos.qty or pos.margin:
                quote = inst.spec.quote
                upl[quote] = upl.get(quote, ZERO) + pos.unrealized_pnl
                margin[quote] = margin.get(quote, ZERO) + pos.margin
    now = ctx.now_ms()
    details = []
    total = ZERO
    for ccy in (ccys if ccys is not None else list(balances)):
        balance = balances.get(ccy)
        if balance is None:
            continue
        usd = usd_price(ctx, ccy)
        detail = balance_detail(ccy, balance, upl.get(ccy, ZERO), margin.get(ccy, ZERO), usd, now)
        total += (balance.total + upl.get(ccy, ZERO)) * usd
        details.append(detail)
    return {"adjEq": "", "borrowFroz": "", "details": details, "imr": "", "isoEq": "0", "mgnRatio": "", "mmr": "",
            "notionalUsd": "", "ordFroz": "", "totalEq": fmt(total), "uTime": str(now), "upl": ""}


def position(ctx: OkxContext, account_id: int, inst: Instrument) -> dict[str, Any]:
    engine = ctx.engine
    pos = engine.position(account_id, inst.symbol)
    info = engine.funding_info(inst.symbol)
    trades = engine.recent_trades(inst.symbol)
    last = trades[-1].price if trades else None
    position_id = str(account_id * 1000 + ctx.position_index[inst.inst_id])
    return position_json(inst, pos, ctx.ledger(account_id, inst.symbol), position_id, info.index_price, last,
                         usd_price(ctx, inst.spec.quote), ctx.now_ms())


def open_positions(ctx: OkxContext, account_id: int, insts: list[Instrument]) -> list[dict[str, Any]]:
    """Positions with a non-zero size, as GET /api/v5/account/positions lists them."""
    return [position(ctx, account_id, inst) for inst in insts
            if inst.is_swap and ctx.engine.position(account_id, inst.symbol).qty]


def ticker(ctx: OkxContext, inst: Instrument) -> dict[str, Any]:
    """GET /api/v5/market/ticker and the `tickers` channel. The 24 h figures come from the engine's recent
    trades (its last 1000 per market); `sodUtc0`/`sodUtc8` are the 24 h open (ours)."""
    now = ctx.now_ms()
    stats = _day_stats(ctx, inst, now)
    book = ctx.engine.book(inst.symbol, 1)
    bid = book.bids[0] if book.bids else None
    ask = book.asks[0] if book.asks else None
    return {
        "instType": inst.inst_type, "instId": inst.inst_id, **stats,
        "askPx": fmt(ask[0]) if ask else "", "askSz": inst.sz(ask[1]) if ask else "",
        "bidPx": fmt(bid[0]) if bid else "", "bidSz": inst.sz(bid[1]) if bid else "",
        "ts": str(now),
    }


def _day_stats(ctx: OkxContext, inst: Instrument, now_ms: int) -> dict[str, str]:
    trades = ctx.engine.recent_trades(inst.symbol)
    key = (trades[-1].trade_id if trades else 0, now_ms // 60_000)
    cached = ctx.ticker_stats.get(inst.symbol)
    if cached is not None and cached[0] == key:
        return cached[1]
    since_us = (now_ms - DAY_MS) * 1000
    day = [t for t in trades if t.time_us >= since_us]
    base = sum((t.qty for t in day), ZERO)
    quote = sum((t.qty * t.price for t in day), ZERO)
    last = trades[-1] if trades else None
    open_px = fmt(day[0].price) if day else (fmt(last.price) if last else "")
    stats = {
        "last": fmt(last.price) if last else "", "lastSz": inst.sz(last.qty) if last else "",
        "open24h": open_px, "high24h": fmt(max(t.price for t in day)) if day else open_px,
        "low24h": fmt(min(t.price for t in day)) if day else open_px,
        "volCcy24h": fmt(base) if inst.is_swap else fmt(quote), "vol24h": inst.sz(base),
        "sodUtc0": open_px, "sodUtc8": open_px,
    }
    ctx.ticker_stats[inst.symbol] = (key, stats)
    return stats
