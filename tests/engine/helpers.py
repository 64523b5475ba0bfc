"""Shared helpers of the engine tests: market specs, a ready engine, and a fingerprint of all state."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from mock_exchanges.engine import Engine, EngineConfig, Event, VirtualClock, perpetual_market, spot_market
from mock_exchanges.engine.market import MarketSpec

D = Decimal
SPOT = "BTCUSDT"
PERP = "ETHUSDT-PERP"


def spot_spec(symbol: str = SPOT, base: str = "BTC", quote: str = "USDT") -> MarketSpec:
    """Tick 0.01, lot 0.001, min notional 1, maker 0.05% / taker 0.1%."""
    return spot_market(
        symbol, base, quote,
        tick_size=D("0.01"), lot_size=D("0.001"), min_qty=D("0.001"), max_qty=D("1000"),
        min_price=D("0.01"), max_price=D("100000"), min_notional=D("1"),
        maker_fee=D("0.0005"), taker_fee=D("0.001"),
    )


def perp_spec(symbol: str = PERP, base: str = "ETH", quote: str = "USDT") -> MarketSpec:
    """Tick 0.1, lot 0.001, min notional 5, maker 0.02% / taker 0.05%, funding every hour, max 50x."""
    return perpetual_market(
        symbol, base, quote, funding_interval_ms=3_600_000, max_leverage=50, default_leverage=10,
    )


class Harness:
    """An engine on a virtual clock with a spot and a perpetual market and a recorded event stream."""

    def __init__(self, seed: int = 1, **config: int) -> None:
        self.clock = VirtualClock(start_us=1_700_000_000_000_000)
        self.engine = Engine(self.clock, EngineConfig(seed=seed, **config))
        self.engine.add_market(spot_spec())
        self.engine.add_market(perp_spec())
        self.events: list[Event] = []
        self.engine.subscribe(self.events.append)

    def account(self, **balances: str) -> int:
        name = f"acct{len(self.engine.accounts)}"
        return self.engine.create_account({k: D(v) for k, v in balances.items()}, name=name).account_id

    def take_events(self) -> list[Event]:
        out, self.events[:] = list(self.events), []
        return out


def ceil8(amount: Decimal) -> Decimal:
    return amount.quantize(D("0.00000001"), rounding=ROUND_UP)


def fingerprint(engine: Engine) -> dict[str, object]:
    """Everything a command could change, as comparable copies, keyed so a failed == names the part.

    Besides the public queries it reads a few private counters (next order id, the seeded RNG,
    remembered orders) because a rejected command must not move those either: moving the RNG, for
    one, changes every client order id generated later.
    """
    symbols = sorted(engine.markets)
    perps = [sym for sym in symbols if engine.markets[sym].spec.is_perpetual]
    accounts = {}
    for aid, acct in sorted(engine.accounts.items()):
        accounts[aid] = (
            sorted((a, b.free, b.locked) for a, b in engine.balances(aid).items()),
            engine.open_orders(aid),
            sorted((s, p.qty, p.cost, p.margin, p.realized_pnl) for s, p in acct.positions.items()),
            sorted(acct.leverage.items()),
            sorted(acct.client_ids.items()),
            len(engine.account_trades(aid)),
        )
    return {
        "books": [engine.book(sym) for sym in symbols],
        "funding": [(engine.funding_info(sym), engine.funding_history(sym)) for sym in perps],
        "trades": [engine.recent_trades(sym) for sym in symbols],
        "accounts": accounts,
        "orders": [engine.order_by_id(oid) for oid in engine._orders],
        "next_order_id": engine._next_order_id,
        "rng": engine._rng.getstate(),
        "finished": list(engine._finished),
    }
