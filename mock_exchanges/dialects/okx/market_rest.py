"""OKX public REST: `/api/v5/public/*` (time, instruments, funding, mark price) and `/api/v5/market/*`
(order books, tickers, trades). Order books carry no seqId, as on OKX: the WebSocket snapshot is the
one a client chains updates to."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .books import book_rows
from .context import OkxContext
from .endpoint import Call, Params, Route, install_routes
from .errors import bad
from .formats import funding_json, mark_json, ms
from .instruments import Instrument, fmt
from .views import ticker

INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
BOOKS_MAX = 400
BOOKS_FULL_MAX = 5000


class MarketRest:
    def __init__(self, ctx: OkxContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        install_routes(app, self.ctx, [
            Route("GET", "/api/v5/public/time", self.time, 10),
            Route("GET", "/api/v5/public/instruments", self.instruments, 20),
            Route("GET", "/api/v5/public/funding-rate", self.funding_rate, 20),
            Route("GET", "/api/v5/public/funding-rate-history", self.funding_history, 10),
            Route("GET", "/api/v5/public/mark-price", self.mark_price, 10),
            Route("GET", "/api/v5/market/books", self.books, 40),
            Route("GET", "/api/v5/market/books-full", self.books_full, 10),
            Route("GET", "/api/v5/market/ticker", self.ticker, 20),
            Route("GET", "/api/v5/market/tickers", self.tickers, 20),
            Route("GET", "/api/v5/market/trades", self.trades, 100),
        ])

    def _instrument(self, params: Params) -> Instrument:
        return self.ctx.instrument(params.required("instId"))

    def _swap(self, params: Params) -> Instrument:
        inst = self._instrument(params)
        if not inst.is_swap:
            raise bad("instId")
        return inst

    def _of_type(self, params: Params) -> list[Instrument]:
        """The instruments an `instType` (+ optional `instId`) query asks for; none for types we lack."""
        inst_type = params.choice("instType", INST_TYPES, required=True)
        inst_id = params.text("instId")
        insts = [i for i in self.ctx.instruments.values() if i.inst_type == inst_type]
        if inst_id is not None:
            self.ctx.instrument(inst_id)
            insts = [i for i in insts if i.inst_id == inst_id]
        return insts

    async def time(self, call: Call) -> list[Any]:
        return [{"ts": str(self.ctx.now_ms())}]

    async def instruments(self, call: Call) -> list[Any]:
        return [inst.info(self.ctx.list_time_ms) for inst in self._of_type(call.params)]

    async def _book(self, call: Call, most: int) -> list[Any]:
        """`sz` levels a side (default 1, as OKX; more than `most` is served as `most`)."""
        inst = self._instrument(call.params)
        depth = call.params.integer("sz", 1)
        if depth < 1:
            raise bad("sz")
        stale = self.ctx.exchange.faults.snapshot_update_id(inst.symbol, depth)
        bids, asks, _ = book_rows(self.ctx.engine, inst, min(depth, most), stale)
        return [{"asks": asks, "bids": bids, "ts": str(self.ctx.now_ms())}]

    async def books(self, call: Call) -> list[Any]:
        return await self._book(call, BOOKS_MAX)

    async def books_full(self, call: Call) -> list[Any]:
        return await self._book(call, BOOKS_FULL_MAX)

    async def ticker(self, call: Call) -> list[Any]:
        return [ticker(self.ctx, self._instrument(call.params))]

    async def tickers(self, call: Call) -> list[Any]:
        return [ticker(self.ctx, inst) for inst in self._of_type(call.params)]

    async def trades(self, call: Call) -> list[Any]:
        inst = self._instrument(call.params)
        limit = min(max(call.params.integer("limit", 100), 1), 500)
        recent = self.ctx.engine.recent_trades(inst.symbol)[-limit:]
        return [{"instId": inst.inst_id, "side": t.taker_side.value.lower(), "sz": inst.sz(t.qty),
                 "px": fmt(t.price), "source": "0", "tradeId": str(t.trade_id), "ts": ms(t.time_us)}
                for t in reversed(recent)]

    async def funding_rate(self, call: Call) -> list[Any]:
        inst = self._swap(call.params)
        engine = self.ctx.engine
        info = engine.funding_info(inst.symbol)
        history = engine.funding_history(inst.symbol)
        settled = history[-1].rate if history else info.funding_rate
        return [funding_json(inst, info, settled, self.ctx.now_ms())]

    async def funding_history(self, call: Call) -> list[Any]:
        """Settled rates, newest first; `after`/`before` page by fundingTime (ms) as OKX does."""
        params = call.params
        inst = self._swap(params)
        after, before = params.integer("after", 0), params.integer("before", 0)
        limit = min(max(params.integer("limit", 100), 1), 400)
        rows = [r for r in reversed(self.ctx.engine.funding_history(inst.symbol))
                if (not after or r.funding_time_ms < after) and (not before or r.funding_time_ms > before)]
        return [{"instType": "SWAP", "instId": inst.inst_id, "formulaType": "noRate", "fundingRate": fmt(r.rate),
                 "realizedRate": fmt(r.rate), "fundingTime": str(r.funding_time_ms), "method": "current_period"}
                for r in rows[:limit]]

    async def mark_price(self, call: Call) -> list[Any]:
        if call.params.text("instType") == "SPOT":
            raise bad("instType")
        now = self.ctx.now_ms()
        return [mark_json(inst, self.ctx.engine.funding_info(inst.symbol).mark_price, now)
                for inst in self._of_type(call.params)]
