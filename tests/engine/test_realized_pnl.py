"""Perpetual fills report the PnL they realized; the engine says how much an incoming order could take."""

from __future__ import annotations

from decimal import Decimal as D

from mock_exchanges.engine import Engine, EngineConfig, OrderType, OrderUpdate, Side, VirtualClock, perpetual_market


def test_a_closing_fill_reports_its_realized_pnl_and_an_opening_fill_zero() -> None:
    engine = Engine(VirtualClock(), EngineConfig(seed=1))
    engine.add_market(perpetual_market("P", "BTC", "USDT"))
    long, other = (engine.create_account({"USDT": D(100_000)}).account_id for _ in range(2))
    updates: list[OrderUpdate] = []
    engine.subscribe(lambda e: updates.append(e) if isinstance(e, OrderUpdate) and e.trade_id else None)
    engine.place_order(other, "P", Side.SELL, OrderType.LIMIT, D("0.010"), D("30000"))
    engine.place_order(long, "P", Side.BUY, OrderType.MARKET, D("0.010"))
    engine.place_order(other, "P", Side.BUY, OrderType.LIMIT, D("0.004"), D("30100"))
    engine.place_order(long, "P", Side.SELL, OrderType.MARKET, D("0.004"))
    opening, closing = [u for u in updates if u.account_id == long]
    assert opening.last_realized_pnl == 0
    assert closing.last_realized_pnl == D("0.4")  # 0.004 x (30100 - 30000)
    assert [t.realized_pnl for t in engine.account_trades(long)] == [0, D("0.4")]
    assert engine.position(long, "P").realized_pnl == D("0.4")
    shorts = [u.last_realized_pnl for u in updates if u.account_id == other]
    assert shorts == [0, D("-0.4")]  # the short bought back 0.004 at 30100 after selling at 30000


def test_available_to_take_counts_only_liquidity_within_the_limit() -> None:
    engine = Engine(VirtualClock(), EngineConfig(seed=1))
    engine.add_market(perpetual_market("P", "BTC", "USDT"))
    maker = engine.create_account({"USDT": D(100_000)}).account_id
    engine.place_order(maker, "P", Side.SELL, OrderType.LIMIT, D("0.010"), D("30000"))
    engine.place_order(maker, "P", Side.SELL, OrderType.LIMIT, D("0.020"), D("30010"))
    assert engine.available_to_take("P", Side.BUY, D("30005"), D("0.025")) == D("0.010")
    assert engine.available_to_take("P", Side.BUY, D("30010"), D("0.025")) == D("0.025")
    assert engine.available_to_take("P", Side.BUY, None, D("1")) == D("0.030")
    assert engine.available_to_take("P", Side.SELL, None, D("1")) == 0
