"""Engine objects -> OKX JSON. Every number is a string; sizes are in the instrument's units (contracts for swaps).

Fields OKX has but the engine does not model (algo orders, USD notionals of options, greeks, liabilities)
are present with OKX's empty value ("") so clients that read them find the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from ...engine import (
    AccountTrade,
    Balance,
    FundingInfo,
    OrderStatus,
    OrderType,
    PositionState,
    Side,
    TimeInForce,
)
from .instruments import Instrument, fmt

ZERO = Decimal(0)
#: the average fill price keeps this many decimals beyond the tick size
AVG_PX_EXTRA_DECIMALS = 8


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def ms(time_us: int) -> str:
    return str(time_us // 1000)


def ord_type(order_type: OrderType, tif: TimeInForce) -> str:
    if order_type is OrderType.MARKET:
        return "market"
    if order_type is OrderType.LIMIT_MAKER:
        return "post_only"
    return {TimeInForce.GTC: "limit", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok"}[tif]


def state(status: OrderStatus) -> str:
    """OKX order states; an engine EXPIRED order (IOC/FOK/market remainder) is "canceled" on OKX."""
    return {OrderStatus.NEW: "live", OrderStatus.PARTIALLY_FILLED: "partially_filled",
            OrderStatus.FILLED: "filled"}.get(status, "canceled")


class OrderLike(Protocol):
    """What OrderState (REST) and OrderUpdate (pushes) have in common."""

    @property
    def order_id(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def time_in_force(self) -> TimeInForce: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def filled_qty(self) -> Decimal: ...
    @property
    def cum_quote(self) -> Decimal: ...
    @property
    def cum_fee(self) -> Decimal: ...
    @property
    def fee_asset(self) -> str: ...
    @property
    def status(self) -> OrderStatus: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def created_us(self) -> int: ...


@dataclass(frozen=True)
class LastFill:
    price: Decimal
    qty: Decimal
    trade_id: int
    time_us: int
    fee: Decimal
    fee_asset: str
    pnl: Decimal
    is_maker: bool


@dataclass(frozen=True)
class OrderExtras:
    """What the engine's order does not know: the client id OKX shows ("" when none was sent), the
    leverage, the PnL its fills realized, and for a quote-sized market buy the size as the client sent it."""

    client_id: str
    lever: str
    pnl: Decimal
    sent_sz: str | None = None


def avg_px(inst: Instrument, order: OrderLike) -> str:
    if not order.filled_qty:
        return ""
    quantum = Decimal(1).scaleb(-(inst.spec.price_decimals + AVG_PX_EXTRA_DECIMALS))
    return fmt((order.cum_quote / order.filled_qty).quantize(quantum))


def order_json(inst: Instrument, order: OrderLike, updated_us: int, extras: OrderExtras,
               fill: LastFill | None) -> dict[str, Any]:
    """An order as GET /api/v5/trade/order returns it (the `orders` channel adds fill details)."""
    swap = inst.is_swap
    market = order.order_type is OrderType.MARKET
    return {
        "instType": inst.inst_type, "instId": inst.inst_id,
        "tgtCcy": "quote_ccy" if extras.sent_sz is not None else "", "ccy": "",
        "ordId": str(order.order_id), "clOrdId": extras.client_id, "tag": "",
        "px": "" if market else fmt(order.price), "pxUsd": "", "pxVol": "", "pxType": "",
        "sz": extras.sent_sz if extras.sent_sz is not None else inst.sz(order.qty),
        "pnl": fmt(extras.pnl), "ordType": ord_type(order.order_type, order.time_in_force),
        "side": order.side.value.lower(), "posSide": "net" if swap else "", "tdMode": "cross" if swap else "cash",
        "accFillSz": inst.sz(order.filled_qty),
        "fillPx": fmt(fill.price) if fill else "", "tradeId": str(fill.trade_id) if fill else "",
        "fillSz": inst.sz(fill.qty) if fill else "0", "fillTime": ms(fill.time_us) if fill else "",
        "avgPx": avg_px(inst, order), "state": state(order.status), "stpId": "", "stpMode": "cancel_maker",
        "lever": extras.lever, "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "",
        "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "feeCcy": order.fee_asset, "fee": fmt(-order.cum_fee), "rebateCcy": order.fee_asset, "rebate": "0",
        "source": "", "category": "normal", "reduceOnly": "true" if order.reduce_only else "false",
        "isTpLimit": "false", "cancelSource": "", "cancelSourceReason": "", "quickMgnType": "",
        "algoClOrdId": "", "algoId": "", "uTime": ms(updated_us), "cTime": ms(order.created_us),
    }


def fill_json(inst: Instrument, trade: AccountTrade, client_id: str) -> dict[str, Any]:
    """A row of GET /api/v5/trade/fills. `billId` is ours: order id and trade id, unique per fill."""
    return {
        "instType": inst.inst_type, "instId": inst.inst_id, "tradeId": str(trade.trade_id),
        "ordId": str(trade.order_id), "clOrdId": client_id, "billId": f"{trade.order_id}{trade.trade_id:010d}",
        "subType": "1" if trade.is_buyer else "2", "tag": "", "fillPx": fmt(trade.price),
        "fillSz": inst.sz(trade.qty), "fillIdxPx": "", "fillPnl": fmt(trade.realized_pnl), "fillPxVol": "",
        "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": "",
        "side": "buy" if trade.is_buyer else "sell", "posSide": "net" if inst.is_swap else "",
        "execType": "M" if trade.is_maker else "T", "feeCcy": trade.fee_asset, "fee": fmt(-trade.fee),
        "ts": ms(trade.time_us), "fillTime": ms(trade.time_us),
    }


def balance_detail(ccy: str, balance: Balance, upl: Decimal, margin: Decimal, usd: Decimal,
                   now_ms: int) -> dict[str, Any]:
    """One currency of the account: cash = free + locked; `frozenBal` = locked (orders and position
    margin), `ordFrozen` = the part locked by open orders."""
    eq = balance.total + upl
    return {
        "ccy": ccy, "eq": fmt(eq), "cashBal": fmt(balance.total), "availBal": fmt(balance.free),
        "availEq": fmt(balance.free), "frozenBal": fmt(balance.locked), "ordFrozen": fmt(balance.locked - margin),
        "upl": fmt(upl), "isoEq": "0", "isoUpl": "0", "disEq": fmt(eq * usd), "eqUsd": fmt(eq * usd),
        "liab": "0", "crossLiab": "0", "isoLiab": "0", "interest": "0", "twap": "0", "maxLoan": "",
        "mgnRatio": "", "notionalLever": "", "stgyEq": "0", "imr": fmt(margin), "mmr": "", "fixedBal": "0",
        "spotInUseAmt": "", "borrowFroz": "", "uTime": str(now_ms),
    }


@dataclass
class Ledger:
    """A perpetual position's fees (negative: paid) and funding (signed) as the engine's events told them;
    kept per account and instrument for its whole life (OKX resets them when a position closes)."""

    fee: Decimal = ZERO
    funding: Decimal = ZERO


def position_json(inst: Instrument, pos: PositionState, ledger: Ledger, position_id: str, index: Decimal,
                  last: Decimal | None, usd: Decimal, now_ms: int) -> dict[str, Any]:
    """A net-mode, cross-margin SWAP position (`pos` signed, in contracts). `imr` is the margin the engine
    holds for it; cTime/uTime are the time of the answer (the engine keeps no position timestamps)."""
    upl = pos.unrealized_pnl
    ratio = upl / pos.margin if pos.margin else ZERO
    return {
        "instType": "SWAP", "instId": inst.inst_id, "mgnMode": "cross", "posId": position_id, "posSide": "net",
        "pos": inst.sz(pos.qty), "posCcy": "", "ccy": inst.spec.quote, "availPos": "",
        "avgPx": fmt(pos.entry_price) if pos.qty else "", "markPx": fmt(pos.mark_price), "idxPx": fmt(index),
        "last": fmt(last) if last is not None else "", "lever": str(pos.leverage), "liqPx": "",
        "imr": fmt(pos.margin), "margin": "", "mmr": "", "mgnRatio": "", "notionalUsd":
        fmt(abs(pos.qty * pos.mark_price) * usd), "upl": fmt(upl), "uplLastPx": fmt(upl),
        "uplRatio": fmt(ratio.quantize(Decimal("1e-8"))), "uplRatioLastPx": fmt(ratio.quantize(Decimal("1e-8"))),
        "pnl": fmt(pos.realized_pnl), "fee": fmt(ledger.fee), "fundingFee": fmt(ledger.funding),
        "liqPenalty": "0", "realizedPnl": fmt(pos.realized_pnl + ledger.fee + ledger.funding),
        "adl": "", "bePx": "", "tradeId": "", "closeOrderAlgo": [], "interest": "", "liab": "", "liabCcy": "",
        "usdPx": "", "optVal": "", "deltaBS": "", "deltaPA": "", "gammaBS": "", "gammaPA": "", "thetaBS": "",
        "thetaPA": "", "vegaBS": "", "vegaPA": "", "cTime": str(now_ms), "uTime": str(now_ms),
    }


def funding_json(inst: Instrument, info: FundingInfo, settled: Decimal, now_ms: int) -> dict[str, Any]:
    """GET /api/v5/public/funding-rate and the `funding-rate` channel. Method "current_period": `fundingRate`
    is the rate to be settled at `fundingTime` (the next settlement), `nextFundingRate` is "" as OKX sends it
    for that method, `nextFundingTime` the settlement after."""
    spec = inst.spec
    premium = (info.mark_price - info.index_price) / info.index_price if info.index_price else ZERO
    return {
        "formulaType": "noRate", "fundingRate": fmt(info.funding_rate), "fundingTime": str(info.next_funding_time_ms),
        "impactValue": "", "instId": inst.inst_id, "instType": "SWAP", "interestRate": fmt(spec.base_funding_rate),
        "maxFundingRate": fmt(spec.funding_rate_cap), "method": "current_period",
        "minFundingRate": fmt(-spec.funding_rate_cap), "nextFundingRate": "",
        "nextFundingTime": str(info.next_funding_time_ms + spec.funding_interval_ms),
        "premium": fmt(premium.quantize(Decimal("1e-8"))), "settFundingRate": fmt(settled),
        "settState": "settled", "sign": "", "ts": str(now_ms),
    }


def mark_json(inst: Instrument, mark: Decimal, now_ms: int) -> dict[str, Any]:
    return {"instType": inst.inst_type, "instId": inst.inst_id, "markPx": fmt(mark), "ts": str(now_ms)}
