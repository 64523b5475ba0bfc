"""Where the truth comes from: the engine in this process, or a mock exchange's control API (`/_mock`).

Both implement `Truth`. The in-process one answers without suspending (its coroutines never await), so a
connector's view read just before is compared with the engine in the same instant; the remote one reads the
exchange over HTTP, which is fine for everything the checks compare because the engine keeps the history
(a book at an update id does not change after the fact).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from .observations import FundingTruth, OrderTruth, PositionTruth, TradeTruth
from .protocol import BalanceView, BookView, Level, Venue

if TYPE_CHECKING:
    from mock_exchanges.engine import OrderState
    from mock_exchanges.server import MockExchange

ZERO = Decimal(0)


class FutureUpdateId(ValueError):
    """A book claims an update id the exchange has not reached."""


@dataclass(frozen=True)
class MarketInfo:
    symbol: str
    base: str
    quote: str
    venue: Venue
    tick_size: Decimal
    lot_size: Decimal

    @property
    def trading_pair(self) -> str:
        return f"{self.base}-{self.quote}"


class Truth(Protocol):
    def elapsed_s(self) -> float:
        """Seconds since the exchange started (in-process: the transcript's clock)."""
        ...

    async def exchange_time_us(self) -> int:
        """The exchange's clock now (orders created before a run's start are not the run's)."""
        ...

    async def markets(self) -> list[MarketInfo]: ...

    async def last_update_id(self, symbol: str) -> int: ...

    async def book(self, symbol: str, depth: int | None) -> BookView:
        """The book now; its `update_id` is the exchange's last."""
        ...

    async def book_at(self, symbol: str, update_id: int, depth: int | None) -> BookView:
        """The book right after `update_id`. LookupError: older than the history; FutureUpdateId: not reached."""
        ...

    async def orders(self, account_id: int, symbol: str, since_us: int) -> dict[str, OrderTruth]:
        """The account's orders in the market created at or after `since_us`, by client order id."""
        ...

    async def trades(self, account_id: int, symbol: str) -> dict[int, tuple[TradeTruth, ...]] | None:
        """The account's fills in the market by order id (None: this source cannot say)."""
        ...

    async def balances(self, account_id: int, assets: Iterable[str]) -> dict[str, BalanceView]: ...

    async def position(self, account_id: int, symbol: str) -> PositionTruth: ...

    async def funding(self, symbol: str) -> FundingTruth: ...

    async def pause_flow(self) -> None: ...

    async def quiesce_faults(self) -> None: ...


def _levels(rows: Iterable[tuple[Decimal, Decimal]]) -> tuple[Level, ...]:
    return tuple((p, q) for p, q in rows)


def order_truth(order: OrderState) -> OrderTruth:
    return OrderTruth(order.client_order_id, order.order_id, order.side.value, order.price, order.qty,
                      order.filled_qty, order.cum_fee, order.fee_asset, order.status.value)


class InProcessTruth:
    """The engine of a `MockExchange` running in this process."""

    def __init__(self, exchange: MockExchange) -> None:
        self.exchange = exchange
        self.engine = exchange.engine

    def elapsed_s(self) -> float:
        return (self.engine.clock.now_us() - self.exchange.faults.start_us) / 1e6

    async def exchange_time_us(self) -> int:
        return self.engine.clock.now_us()

    async def markets(self) -> list[MarketInfo]:
        out = []
        for state in self.engine.markets.values():
            spec = state.spec
            venue = Venue.PERPETUAL if spec.is_perpetual else Venue.SPOT
            out.append(MarketInfo(spec.symbol, spec.base, spec.quote, venue, spec.tick_size, spec.lot_size))
        return out

    async def last_update_id(self, symbol: str) -> int:
        return self.engine.last_update_id(symbol)

    async def book(self, symbol: str, depth: int | None) -> BookView:
        snap = self.engine.book(symbol, depth)
        return BookView(_levels(snap.bids), _levels(snap.asks), snap.update_id)

    async def book_at(self, symbol: str, update_id: int, depth: int | None) -> BookView:
        if update_id > self.engine.last_update_id(symbol):
            raise FutureUpdateId(f"update id {update_id} is beyond the exchange's last")
        snap = self.engine.book_at(symbol, update_id, depth)
        return BookView(_levels(snap.bids), _levels(snap.asks), snap.update_id)

    async def orders(self, account_id: int, symbol: str, since_us: int) -> dict[str, OrderTruth]:
        return {o.client_order_id: order_truth(o) for o in self.engine.orders(account_id, symbol)
                if o.created_us >= since_us}

    async def trades(self, account_id: int, symbol: str) -> dict[int, tuple[TradeTruth, ...]] | None:
        grouped: dict[int, list[TradeTruth]] = {}
        for t in self.engine.account_trades(account_id, symbol):
            grouped.setdefault(t.order_id, []).append(
                TradeTruth(str(t.trade_id), t.order_id, t.price, t.qty, t.fee, t.fee_asset))
        return {order_id: tuple(trades) for order_id, trades in grouped.items()}

    async def balances(self, account_id: int, assets: Iterable[str]) -> dict[str, BalanceView]:
        held = self.engine.balances(account_id)
        out = {}
        for asset in assets:
            bal = held.get(asset)
            out[asset] = BalanceView(bal.free + bal.locked, bal.free) if bal is not None else BalanceView(ZERO, ZERO)
        return out

    async def position(self, account_id: int, symbol: str) -> PositionTruth:
        pos = self.engine.position(account_id, symbol)
        return PositionTruth(pos.qty, pos.entry_price, pos.leverage)

    async def funding(self, symbol: str) -> FundingTruth:
        info = self.engine.funding_info(symbol)
        return FundingTruth(info.funding_rate, info.mark_price, info.next_funding_time_ms, info.index_price)

    async def pause_flow(self) -> None:
        self.exchange.pause_flow()

    async def quiesce_faults(self) -> None:
        self.exchange.faults.quiesce()


class ControlApiError(RuntimeError):
    pass


class RemoteTruth:
    """A mock exchange in another process, through its control API (`mock-exchange serve`)."""

    def __init__(self, session: aiohttp.ClientSession, control_url: str, token: str | None = None) -> None:
        self.session = session
        self.control_url = control_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._started = time.monotonic()

    async def get(self, path: str, **params: Any) -> Any:
        query = {k: str(v) for k, v in params.items() if v is not None}
        async with self.session.get(self.control_url + path, params=query, headers=self.headers) as response:
            body = await response.json(content_type=None)
            if response.status == 404 and path.startswith("/book/"):
                raise LookupError(body.get("error", "not found"))
            if response.status >= 400:
                error = body.get("error") if isinstance(body, dict) else body
                if response.status == 400 and path.startswith("/book/") and "future" in str(error):
                    raise FutureUpdateId(str(error))
                raise ControlApiError(f"GET {path}: {response.status} {error}")
            return body

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.post(self.control_url + path, json=body or {}, headers=self.headers) as response:
            answer = await response.json(content_type=None)
            if response.status >= 400:
                raise ControlApiError(f"POST {path}: {response.status} {answer}")
            return answer

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    async def exchange_time_us(self) -> int:
        status = await self.get("/status")
        return int(status["time_ms"]) * 1000

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = await self.get("/status")
        return status

    async def accounts(self) -> list[dict[str, Any]]:
        accounts: list[dict[str, Any]] = await self.get("/accounts")
        return accounts

    async def markets(self) -> list[MarketInfo]:
        return [MarketInfo(m["symbol"], m["base"], m["quote"],
                           Venue.PERPETUAL if m["kind"] == "PERPETUAL" else Venue.SPOT,
                           Decimal(m["tick_size"]), Decimal(m["lot_size"]))
                for m in await self.get("/markets")]

    async def last_update_id(self, symbol: str) -> int:
        for market in await self.get("/markets"):
            if market["symbol"] == symbol:
                return int(market["last_update_id"])
        raise LookupError(f"no market {symbol}")

    async def book(self, symbol: str, depth: int | None) -> BookView:
        return _book(await self.get(f"/book/{symbol}", depth=depth))

    async def book_at(self, symbol: str, update_id: int, depth: int | None) -> BookView:
        try:
            return _book(await self.get(f"/book/{symbol}", depth=depth, update_id=update_id))
        except ControlApiError as error:
            if "future" in str(error):
                raise FutureUpdateId(str(error)) from None
            if "history" in str(error) or "older" in str(error):
                raise LookupError(str(error)) from None
            raise

    async def orders(self, account_id: int, symbol: str, since_us: int) -> dict[str, OrderTruth]:
        out = {}
        for o in await self.get(f"/orders/{account_id}", symbol=symbol):
            if int(o["created_us"]) >= since_us:
                out[o["client_order_id"]] = OrderTruth(
                    o["client_order_id"], int(o["order_id"]), o["side"], Decimal(o["price"]), Decimal(o["qty"]),
                    Decimal(o["filled_qty"]), Decimal(o["cum_fee"]), o["fee_asset"], o["status"])
        return out

    async def trades(self, account_id: int, symbol: str) -> dict[int, tuple[TradeTruth, ...]] | None:
        try:
            rows = await self.get(f"/trades/{account_id}", symbol=symbol)
        except ControlApiError:
            return None  # an older server without the trades endpoint
        grouped: dict[int, list[TradeTruth]] = {}
        for t in rows:
            grouped.setdefault(int(t["order_id"]), []).append(
                TradeTruth(str(t["trade_id"]), int(t["order_id"]), Decimal(t["price"]), Decimal(t["qty"]),
                           Decimal(t["fee"]), t["fee_asset"]))
        return {order_id: tuple(trades) for order_id, trades in grouped.items()}

    async def balances(self, account_id: int, assets: Iterable[str]) -> dict[str, BalanceView]:
        held = await self.get(f"/balances/{account_id}")
        out = {}
        for asset in assets:
            bal = held.get(asset)
            if bal is None:
                out[asset] = BalanceView(ZERO, ZERO)
            else:
                free, locked = Decimal(bal["free"]), Decimal(bal["locked"])
                out[asset] = BalanceView(free + locked, free)
        return out

    async def position(self, account_id: int, symbol: str) -> PositionTruth:
        for p in await self.get(f"/positions/{account_id}"):
            if p["symbol"] == symbol:
                return PositionTruth(Decimal(p["qty"]), Decimal(p["entry_price"]), int(p["leverage"]))
        raise LookupError(f"no position data for {symbol}")

    async def funding(self, symbol: str) -> FundingTruth:
        f = await self.get(f"/funding/{symbol}")
        return FundingTruth(Decimal(f["funding_rate"]), Decimal(f["mark_price"]), int(f["next_funding_time_ms"]),
                            Decimal(f["index_price"]))

    async def pause_flow(self) -> None:
        await self.post("/flow/pause")

    async def resume_flow(self) -> None:
        await self.post("/flow/resume")

    async def quiesce_faults(self) -> None:
        await self.post("/faults/quiesce")

    async def start_scenario(self, name: str, seed: int) -> None:
        await self.post("/scenario", {"name": name, "seed": seed})


def _book(body: dict[str, Any]) -> BookView:
    return BookView(tuple((Decimal(p), Decimal(q)) for p, q in body["bids"]),
                    tuple((Decimal(p), Decimal(q)) for p, q in body["asks"]), int(body["update_id"]))
