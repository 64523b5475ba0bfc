"""What the dashboard shows, read from a running exchange: plain JSON-ready dicts, built on demand.

Everything here is a read of the engine's query API (`book`, `funding_info`) or of state the exchange already
keeps (recent trades and funding settlements of a market, the connections, the fault controller's `recent`
ring): nothing subscribes to the engine's events, so the push path never waits on the dashboard.
Credentials never appear: accounts are shown by id and name, and any long run of letters and digits in a
connection's path or topics (a listenKey in a URL, say) is masked.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..scenarios import CATALOG

if TYPE_CHECKING:
    from ..server.connection import ClientConnection
    from ..server.exchange import MockExchange

#: price levels per side in a ladder, trades per market, connections and topics per connection shown
LADDER_DEPTH = 10
RECENT_TRADES = 15
MAX_CONNECTIONS = 200
MAX_TOPICS = 20
_TOKEN = re.compile(r"[A-Za-z0-9]{24,}")


def redact(text: str) -> str:
    """`text` with every run of 24+ letters/digits (an API key, a listenKey) masked to its first 4 characters."""
    return _TOKEN.sub(lambda m: m.group(0)[:4] + "…", text)


def hello(exchange: MockExchange) -> dict[str, Any]:
    """What a viewer is told once, when it connects: the static facts and the fault log so far."""
    engine = exchange.engine
    return {
        "type": "hello",
        "seed": exchange.config.seed,
        "markets": [{"symbol": s.spec.symbol, "kind": s.spec.kind.value.lower(), "base": s.spec.base,
                     "quote": s.spec.quote} for s in engine.markets.values()],
        "accounts": [{"id": a.account_id, "name": a.name} for a in exchange.trading_accounts],
        "scenarios": [{"name": s.name, "description": s.description} for s in CATALOG.values()
                      if exchange.scenario_refusal(s) is None],  # those the dialects served can run
        "ladder_depth": LADDER_DEPTH,
        "faults": list(exchange.faults.recent),
        "faults_total": exchange.faults.fired,
    }


def market(exchange: MockExchange, symbol: str, depth: int = LADDER_DEPTH) -> dict[str, Any]:
    engine = exchange.engine
    state = engine.markets[symbol]
    spec = state.spec
    book = engine.book(symbol, depth)
    flow = exchange.flows.get(symbol)
    out: dict[str, Any] = {
        "symbol": symbol,
        "update_id": book.update_id,
        "bids": [[str(p), str(q)] for p, q in book.bids],
        "asks": [[str(p), str(q)] for p, q in book.asks],
        "trades": [[t.trade_id, str(t.price), str(t.qty), t.taker_side.value, t.time_us // 1000]
                   for t in islice(reversed(state.recent_trades), RECENT_TRADES)],
        "flow_mid": None if flow is None else str(spec.price(flow.mid_ticks)),
    }
    if spec.is_perpetual:
        info = engine.funding_info(symbol)
        history = state.funding_history
        last = history[-1] if history else None
        out["funding"] = {
            "mark_price": str(info.mark_price), "index_price": str(info.index_price),
            "funding_rate": str(info.funding_rate), "next_funding_time_ms": info.next_funding_time_ms,
            "settlements": len(history),
            "last": None if last is None else {"time_ms": last.funding_time_ms, "rate": str(last.rate),
                                               "mark_price": str(last.mark_price)},
        }
    return out


def connection(conn: ClientConnection) -> dict[str, Any]:
    return {
        "id": conn.connection_id, "ordinal": conn.ordinal, "path": redact(conn.path),
        "subscriptions": [redact(t) for t in islice(conn.subscriptions, MAX_TOPICS)],
        "subscription_count": len(conn.subscriptions), "sent": conn.sent, "faulted": conn.faults is not None,
    }


def snapshot(exchange: MockExchange, faults: list[dict[str, Any]]) -> dict[str, Any]:
    """The periodic push: every market's ladder and trades, perpetual funding, connections, flow state, and
    the fault records that are new since the previous push (`faults`)."""
    engine = exchange.engine
    conns = exchange.connections
    return {
        "type": "snapshot",
        "time_ms": engine.clock.now_us() // 1000,
        "flow_paused": exchange.flow_paused,
        "scenario": exchange.scenario_name,
        "markets": [market(exchange, symbol) for symbol in engine.markets],
        "connections": [connection(c) for c in islice(conns.values(), MAX_CONNECTIONS)],
        "connection_count": len(conns),
        "faults": faults,
        "faults_total": exchange.faults.fired,
    }
