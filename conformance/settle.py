"""The settle phase: with the flow paused and faults off, wait (bounded, by polling) until every connector
agrees with the exchange, then take the final state the end-of-run checks compare.

Convergence is judged on what the checks will compare (book and update id, orders, fills and fees, balances,
position, funding), so a connector that converges passes them and one that does not is shown what still
differed when the bound ran out.
"""

from __future__ import annotations

import asyncio
import time

from .checks.books import book_diffs, describe
from .checks.orders import disagreement, fee_disagreement
from .observations import FinalState
from .probe import Probe
from .protocol import Venue
from .truth import Truth

POLL_S = 0.05


async def differences(probe: Probe, truth: Truth) -> list[str]:
    """What the connector still gets wrong, in words (empty: it agrees with the exchange)."""
    out: list[str] = []
    adapter, record = probe.adapter, probe.record
    view = adapter.book(probe.pair, record.depth)
    exchange = await truth.book(probe.symbol, record.depth)
    if view is None:
        out.append("no book")
    else:
        diffs = book_diffs(view.bids[: record.depth], view.asks[: record.depth], exchange.bids, exchange.asks)
        if diffs:
            out.append(f"book: {describe(diffs, 2)}")
        if adapter.capabilities.update_ids and view.update_id != exchange.update_id:
            out.append(f"book update id {view.update_id} (exchange {exchange.update_id})")
    if probe.trading:
        views = {v.client_order_id: v for v in adapter.orders() if v.trading_pair == probe.pair}
        orders = await truth.orders(probe.account_id, probe.symbol, probe.since_us)
        for cid, order in orders.items():
            seen = views.get(cid)
            reason = disagreement(seen, order) or (fee_disagreement(seen, order) if seen is not None else None)
            if reason:
                out.append(f"order {cid}: {reason}")
        for cid, seen in views.items():
            if cid not in orders and not seen.state.is_terminal:
                out.append(f"order {cid}: {seen.state.value}, the exchange has no such order")
        balances = await truth.balances(probe.account_id, record.assets)
        for asset, balance in balances.items():
            mine = adapter.balance(asset)
            if mine != balance:
                out.append(f"balance {asset}: {mine} (exchange {balance})")
    if probe.market.venue is Venue.PERPETUAL:
        funding, mine_funding = await truth.funding(probe.symbol), adapter.funding_info(probe.pair)
        if mine_funding is None or (mine_funding.rate, mine_funding.mark_price, mine_funding.next_funding_time_ms) != (
                funding.rate, funding.mark_price, funding.next_funding_time_ms):
            out.append(f"funding {mine_funding} (exchange {funding})")
        if probe.trading:
            position = await truth.position(probe.account_id, probe.symbol)
            held = adapter.positions().get(probe.pair)
            amount = held.amount if held is not None else 0
            if amount != position.amount or (held is not None and position.amount
                                             and held.entry_price != position.entry_price):
                out.append(f"position {held} (exchange {position})")
    return out


async def settle(probes: list[Probe], truth: Truth, bound_s: float) -> tuple[bool, float, dict[str, list[str]]]:
    """Poll until every probe agrees with the exchange or `bound_s` passes: (converged, waited, differences)."""
    start = time.monotonic()
    while True:
        remaining = {p.record.label: await differences(p, truth) for p in probes if p.record.ready_error is None}
        remaining = {label: diffs for label, diffs in remaining.items() if diffs}
        waited = time.monotonic() - start
        if not remaining:
            return True, waited, {}
        if waited >= bound_s:
            return False, waited, remaining
        await asyncio.sleep(POLL_S)


async def final_state(probe: Probe, truth: Truth, converged: bool, waited_s: float,
                      remaining: list[str]) -> FinalState:
    adapter, record = probe.adapter, probe.record
    t = truth.elapsed_s()
    view = adapter.book(probe.pair, record.depth)
    if view is not None:
        view = type(view)(view.bids[: record.depth], view.asks[: record.depth], view.update_id)
    exchange_book = await truth.book(probe.symbol, record.depth)
    orders, truth_orders, trades = {}, {}, None
    balances, truth_balances = {}, {}
    positions, position = None, None
    if probe.trading:
        orders = {v.client_order_id: v for v in adapter.orders() if v.trading_pair == probe.pair}
        truth_orders = await truth.orders(probe.account_id, probe.symbol, probe.since_us)
        trades = await truth.trades(probe.account_id, probe.symbol)
        truth_balances = await truth.balances(probe.account_id, record.assets)
        balances = {asset: adapter.balance(asset) for asset in record.assets}
    funding, truth_funding = None, None
    if probe.market.venue is Venue.PERPETUAL:
        funding, truth_funding = adapter.funding_info(probe.pair), await truth.funding(probe.symbol)
        if probe.trading:
            positions, position = adapter.positions(), await truth.position(probe.account_id, probe.symbol)
    return FinalState(t=t, converged=converged, waited_s=waited_s, differences=tuple(remaining), book=view,
                      truth_book=exchange_book, orders=orders, truth_orders=truth_orders, truth_trades=trades,
                      balances=balances, truth_balances=truth_balances, positions=positions,
                      truth_position=position, funding=funding, truth_funding=truth_funding)
