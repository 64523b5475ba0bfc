"""A short, seeded tour of the engine: books kept alive by the flow, an order's life, funding."""

from __future__ import annotations

from decimal import Decimal

from .engine import (
    Engine,
    EngineConfig,
    FundingPayment,
    OrderType,
    Side,
    VirtualClock,
    perpetual_market,
    spot_market,
)
from .flow import FlowConfig, FlowGenerator


def run_demo(seed: int = 7, commands: int = 20_000) -> int:
    print(f"engine demo, seed {seed}")
    clock = VirtualClock()
    engine = Engine(clock, EngineConfig(seed=seed))
    engine.add_market(spot_market("BTCUSDT", "BTC", "USDT"))
    engine.add_market(perpetual_market("BTCUSDT-PERP", "BTC", "USDT"))
    flows = [
        FlowGenerator(engine, symbol, FlowConfig(seed=seed, levels_per_side=1000, mid_price=Decimal("30000")))
        for symbol in ("BTCUSDT", "BTCUSDT-PERP")
    ]
    for flow in flows:
        flow.prefill()
        flow.run_steps(commands)
    for symbol in ("BTCUSDT", "BTCUSDT-PERP"):
        book = engine.book(symbol, depth=3)
        levels = len(engine.markets[symbol].bids) + len(engine.markets[symbol].asks)
        print(f"{symbol:13s} update id {book.update_id:>7}  {levels} live levels  "
              f"bid {book.bids[0][0]} x {book.bids[0][1]}  ask {book.asks[0][0]} x {book.asks[0][1]}")

    alice = engine.create_account({"USDT": Decimal("100000"), "BTC": Decimal("2")})
    print(f"account {alice.account_id} ({alice.name}), api key {alice.api_key[:8]}...")
    best_bid = engine.book("BTCUSDT", 1).bids[0][0]
    resting = engine.place_order(alice.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.5"),
                                 best_bid - Decimal("5"), client_order_id="demo-resting")
    print(f"placed {resting.order.client_order_id}: {resting.order.status.value} {resting.order.qty} @ "
          f"{resting.order.price}; balances {fmt_balances(engine, alice.account_id)}")
    taken = engine.place_order(alice.account_id, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.2"),
                               client_order_id="demo-market")
    print(f"market buy: {taken.order.status.value}, filled {taken.order.filled_qty} for "
          f"{taken.order.cum_quote.normalize()} USDT in {len(taken.fills)} fills, fee {taken.order.cum_fee} BTC")
    canceled = engine.cancel_order(alice.account_id, "BTCUSDT", client_order_id="demo-resting")
    print(f"canceled {canceled.client_order_id}: {canceled.status.value}; balances "
          f"{fmt_balances(engine, alice.account_id)}")

    engine.place_order(alice.account_id, "BTCUSDT-PERP", Side.BUY, OrderType.MARKET, Decimal("0.1"))
    engine.set_funding_rate("BTCUSDT-PERP", Decimal("0.0001"))
    payments: list[FundingPayment] = []
    engine.subscribe(lambda e: payments.append(e) if isinstance(e, FundingPayment) else None)
    info = engine.funding_info("BTCUSDT-PERP")
    clock.set_us(info.next_funding_time_ms * 1000)
    engine.tick()
    position = engine.position(alice.account_id, "BTCUSDT-PERP")
    mine = [p.amount for p in payments if p.account_id == alice.account_id]
    print(f"perp position {position.qty} @ {position.entry_price}, mark {info.mark_price}; funding at "
          f"{info.next_funding_time_ms}: rate {info.funding_rate}, paid {mine[0]}, "
          f"sum over all accounts {sum(p.amount for p in payments)}")
    return 0


def fmt_balances(engine: Engine, account_id: int) -> str:
    return ", ".join(
        f"{asset} {b.free.normalize():f} free/{b.locked.normalize():f} locked"
        for asset, b in engine.balances(account_id).items()
    )
