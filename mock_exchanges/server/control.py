"""The control API under `/_mock`: read the ground truth, steer the scenario.

Read: `GET /_mock/status`, `/markets`, `/accounts`, `/book/{symbol}?depth=N&update_id=N`, `/funding/{symbol}`,
`/orders/{account_id}?symbol=S`, `/order/{order_id}`, `/balances/{account_id}`, `/positions/{account_id}`,
`/trades/{account_id}?symbol=S` (the account's fills),
`/connections`.
Steer (POST, JSON body): `/flow/pause`, `/flow/resume`, `/mark_price {symbol, price|null}`,
`/funding_rate {symbol, rate|null}`, `/funding/trigger {symbol}`, `/move_price {symbol, price}`,
`/connections/{id}/disconnect`, `/scenario {name, seed?}` (start a named scenario now: see
`MockExchange.start_scenario`), `/faults/quiesce` (no fault fires any more: `FaultController.quiesce`).
Prices and amounts are decimal strings both ways. Errors: `{"error": "..."}` with a 4xx status.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from ..engine import EngineError, OrderState
from ..scenarios import CATALOG
from .exchange import MockExchange

CONTROL_PREFIX = "/_mock"
Handler = Callable[[web.Request], Awaitable[Any]]


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(obj, default=str, separators=(",", ":")), status=status,
                        content_type="application/json")


def order_json(order: OrderState) -> dict[str, Any]:
    return {
        "order_id": order.order_id, "account_id": order.account_id, "symbol": order.symbol,
        "client_order_id": order.client_order_id, "side": order.side.value, "type": order.order_type.value,
        "time_in_force": order.time_in_force.value, "price": str(order.price), "qty": str(order.qty),
        "filled_qty": str(order.filled_qty), "cum_quote": str(order.cum_quote), "cum_fee": str(order.cum_fee),
        "fee_asset": order.fee_asset, "status": order.status.value, "reduce_only": order.reduce_only,
        "created_us": order.created_us, "updated_us": order.updated_us,
    }


def _decimal(body: dict[str, Any], name: str, optional: bool = False) -> Decimal | None:
    value = body.get(name)
    if value is None and optional:
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ControlError(f"{name} must be a decimal string") from None
    if not result.is_finite():
        raise ControlError(f"{name} must be finite")
    return result


def install_control(app: web.Application, exchange: MockExchange, token: str | None) -> None:
    engine = exchange.engine

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if token is not None and request.headers.get("Authorization") != f"Bearer {token}":
                return _json({"error": "control API token required"}, 401)
            try:
                return _json(await handler(request))
            except ControlError as error:
                return _json({"error": str(error)}, error.status)
            except EngineError as error:
                return _json({"error": error.message, "reason": error.reason}, 400)
            except (LookupError, ValueError) as error:
                return _json({"error": str(error)}, 404 if isinstance(error, LookupError) else 400)

        return handle

    async def body_of(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except ValueError:
            raise ControlError("body must be JSON") from None
        if not isinstance(body, dict):
            raise ControlError("body must be a JSON object")
        return body

    def symbol_of(body: dict[str, Any]) -> str:
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or symbol not in engine.markets:
            raise ControlError(f"unknown symbol {symbol!r}", 404)
        return symbol

    def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
        raw = request.match_info.get(name) or request.query.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ControlError(f"{name} must be an integer") from None

    async def status(request: web.Request) -> Any:
        return {"seed": exchange.config.seed, "flow_paused": exchange.flow_paused,
                "markets": sorted(engine.markets), "connections": len(exchange.connections),
                "time_ms": engine.clock.now_us() // 1000, "scenario": exchange.scenario_name,
                "faults_quiet": exchange.faults.quiet}

    async def markets(request: web.Request) -> Any:
        return [{"symbol": s.spec.symbol, "base": s.spec.base, "quote": s.spec.quote, "kind": s.spec.kind.value,
                 "tick_size": str(s.spec.tick_size), "lot_size": str(s.spec.lot_size),
                 "last_update_id": s.last_update_id} for s in engine.markets.values()]

    async def accounts(request: web.Request) -> Any:
        return [{"account_id": a.account_id, "name": a.name, "api_key": a.api_key, "api_secret": a.api_secret}
                for a in exchange.trading_accounts]

    async def book(request: web.Request) -> Any:
        symbol = request.match_info["symbol"]
        if symbol not in engine.markets:
            raise ControlError(f"unknown symbol {symbol!r}", 404)
        depth = int_param(request, "depth")
        update_id = int_param(request, "update_id")
        snap = engine.book(symbol, depth) if update_id is None else engine.book_at(symbol, update_id, depth)
        return {"symbol": symbol, "update_id": snap.update_id,
                "bids": [[str(p), str(q)] for p, q in snap.bids], "asks": [[str(p), str(q)] for p, q in snap.asks]}

    async def funding(request: web.Request) -> Any:
        info = engine.funding_info(request.match_info["symbol"])
        return {"symbol": info.symbol, "mark_price": str(info.mark_price), "index_price": str(info.index_price),
                "funding_rate": str(info.funding_rate), "next_funding_time_ms": info.next_funding_time_ms}

    async def orders(request: web.Request) -> Any:
        account_id = int_param(request, "account_id")
        assert account_id is not None
        symbol = request.query.get("symbol")
        symbols = [symbol] if symbol else list(engine.markets)
        return [order_json(o) for s in symbols for o in engine.orders(account_id, s)]

    async def order(request: web.Request) -> Any:
        order_id = int_param(request, "order_id")
        assert order_id is not None
        return order_json(engine.order_by_id(order_id))

    async def trades(request: web.Request) -> Any:
        account_id = int_param(request, "account_id")
        assert account_id is not None
        return [{"symbol": t.symbol, "trade_id": t.trade_id, "order_id": t.order_id, "price": str(t.price),
                 "qty": str(t.qty), "quote_qty": str(t.quote_qty), "fee": str(t.fee), "fee_asset": t.fee_asset,
                 "is_buyer": t.is_buyer, "is_maker": t.is_maker, "time_us": t.time_us}
                for t in engine.account_trades(account_id, request.query.get("symbol") or None)]

    async def balances(request: web.Request) -> Any:
        account_id = int_param(request, "account_id")
        assert account_id is not None
        return {asset: {"free": str(b.free), "locked": str(b.locked)}
                for asset, b in engine.balances(account_id).items()}

    async def positions(request: web.Request) -> Any:
        account_id = int_param(request, "account_id")
        assert account_id is not None
        out = []
        for state in engine.markets.values():
            if state.spec.is_perpetual:
                p = engine.position(account_id, state.spec.symbol)
                out.append({"symbol": p.symbol, "qty": str(p.qty), "entry_price": str(p.entry_price),
                            "realized_pnl": str(p.realized_pnl), "unrealized_pnl": str(p.unrealized_pnl),
                            "margin": str(p.margin), "leverage": p.leverage, "mark_price": str(p.mark_price)})
        return out

    async def connections(request: web.Request) -> Any:
        return [{"id": c.connection_id, "path": c.path, "subscriptions": list(c.subscriptions), "sent": c.sent}
                for c in exchange.connections.values()]

    async def quiesce(request: web.Request) -> Any:
        exchange.faults.quiesce()
        return {"faults_quiet": True}

    async def pause(request: web.Request) -> Any:
        exchange.pause_flow()
        return {"flow_paused": True}

    async def resume(request: web.Request) -> Any:
        exchange.resume_flow()
        return {"flow_paused": False}

    async def mark_price(request: web.Request) -> Any:
        body = await body_of(request)
        engine.set_mark_price(symbol_of(body), _decimal(body, "price", optional=True))
        return {"ok": True}

    async def funding_rate(request: web.Request) -> Any:
        body = await body_of(request)
        engine.set_funding_rate(symbol_of(body), _decimal(body, "rate", optional=True))
        return {"ok": True}

    async def trigger_funding(request: web.Request) -> Any:
        body = await body_of(request)
        engine.trigger_funding(symbol_of(body))
        return {"ok": True}

    async def move_price(request: web.Request) -> Any:
        body = await body_of(request)
        symbol = symbol_of(body)
        price = _decimal(body, "price")
        assert price is not None
        flow = exchange.flows.get(symbol)
        if flow is None:
            raise ControlError(f"{symbol} has no flow to move", 409)
        flow.mid_ticks = engine.markets[symbol].spec.price_to_ticks(price)
        return {"ok": True}

    async def disconnect(request: web.Request) -> Any:
        conn_id = int_param(request, "connection_id")
        conn = exchange.connections.get(conn_id or -1)
        if conn is None:
            raise ControlError("no such connection", 404)
        conn.close_soon(reason="disconnected by the control API")
        return {"ok": True}

    async def scenario(request: web.Request) -> Any:
        body = await body_of(request)
        name, seed = body.get("name"), body.get("seed", exchange.config.seed)
        if not isinstance(name, str) or name not in CATALOG:
            raise ControlError(f"unknown scenario {name!r}; known: {', '.join(CATALOG)}", 404)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ControlError("seed must be an integer")
        named = CATALOG[name].with_seed(seed)
        exchange.start_scenario(named)
        return {"scenario": named.name, "seed": seed, "fault_rules": len(named.faults), "actions": len(named.actions)}

    p = CONTROL_PREFIX
    r = app.router
    for path, handler in [
        ("/status", status), ("/markets", markets), ("/accounts", accounts), ("/book/{symbol}", book),
        ("/funding/{symbol}", funding), ("/orders/{account_id}", orders), ("/order/{order_id}", order),
        ("/balances/{account_id}", balances), ("/trades/{account_id}", trades), ("/positions/{account_id}", positions),
        ("/connections", connections),
    ]:
        r.add_get(p + path, wrap(handler))
    for path, handler in [
        ("/flow/pause", pause), ("/flow/resume", resume), ("/mark_price", mark_price),
        ("/funding_rate", funding_rate), ("/funding/trigger", trigger_funding), ("/move_price", move_price),
        ("/connections/{connection_id}/disconnect", disconnect), ("/scenario", scenario),
        ("/faults/quiesce", quiesce),
    ]:
        r.add_post(p + path, wrap(handler))
