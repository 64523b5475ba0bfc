"""Seeded synthetic order flow that keeps a market's book alive at a chosen depth and rate.

A handful of participant accounts place limit orders around a drifting mid, cancel and shrink their own
orders, and now and then take liquidity with market orders. Everything comes from one
`random.Random(seed, symbol)`, so the same seed and the same engine give the same commands.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from dataclasses import dataclass
from decimal import Decimal

from .engine import Engine, EngineError, OrderType, Side
from .engine.market_state import MarketState


@dataclass(frozen=True)
class FlowConfig:
    seed: int = 0
    #: live price levels the flow aims for on each side (2 x this in all)
    levels_per_side: int = 1000
    #: commands per second when driven by `run()`
    rate_per_s: float = 1000.0
    #: starting mid price; None: the book's mid, or 1000 ticks above the minimum price
    mid_price: Decimal | None = None
    participants: int = 4
    take_probability: float = 0.04
    amend_probability: float = 0.06
    #: order sizes are the minimum order times a lognormal(size_mu, size_sigma) factor (takers: mu + 1)
    size_mu: float = 3.0
    size_sigma: float = 1.0
    #: the mid takes a random step of at most this many ticks every `drift_every` commands
    drift_ticks: int = 2
    drift_every: int = 50
    #: a quiet flow places nothing: books move only when tests say so
    quiet: bool = False


class FlowGenerator:
    def __init__(self, engine: Engine, symbol: str, config: FlowConfig | None = None) -> None:
        self.engine = engine
        self.symbol = symbol
        self.config = config or FlowConfig()
        self.market: MarketState = engine.markets[symbol]
        spec = self.market.spec
        self.rng = random.Random(self.config.seed * 1_000_003 + zlib.crc32(symbol.encode()))
        self.mid_ticks = self._initial_mid()
        rich = Decimal(10) ** 12
        self.participants = [
            engine.create_account({spec.base: rich, spec.quote: rich}, name=f"flow-{symbol}-{i}").account_id
            for i in range(self.config.participants)
        ]
        if spec.is_perpetual:
            for account_id in self.participants:
                engine.set_leverage(account_id, symbol, 1)
        self._resting: list[tuple[int, int]] = []
        lowest = max(1, self.mid_ticks - self.config.levels_per_side)
        min_lots_notional = -(-spec.min_notional // (spec.price(lowest) * spec.lot_size))
        self.min_lots = max(int(min_lots_notional), int(spec.min_qty / spec.lot_size), 1)
        self.commands = 0

    def _initial_mid(self) -> int:
        spec = self.market.spec
        if self.config.mid_price is not None:
            return spec.price_to_ticks(self.config.mid_price)
        bid, ask = self.market.bids.best(), self.market.asks.best()
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return int(spec.min_price / spec.tick_size) + max(1000, 2 * self.config.levels_per_side)

    # --- one command -----------------------------------------------------------------------------
    def step(self) -> None:
        """Issue one command. Rejections (e.g. a race with a fill) are part of life and are ignored."""
        if self.config.quiet:
            return
        cfg, rng = self.config, self.rng
        self.commands += 1
        if self.commands % cfg.drift_every == 0:
            self.mid_ticks = max(
                self.config.levels_per_side + 2,
                self.mid_ticks + rng.randint(-cfg.drift_ticks, cfg.drift_ticks),
            )
        roll = rng.random()
        try:
            if roll < cfg.take_probability:
                self._take()
            elif roll < cfg.take_probability + cfg.amend_probability:
                self._amend()
            elif self._live_levels() >= 2 * cfg.levels_per_side or roll > 0.55 + self._fill_bias():
                self._cancel()
            else:
                self._place()
        except EngineError:
            pass

    def _live_levels(self) -> int:
        return len(self.market.bids.lots) + len(self.market.asks.lots)

    def _fill_bias(self) -> float:
        """Place more while the book is thinner than wanted, so it converges to the target depth."""
        missing = 1 - self._live_levels() / (2 * self.config.levels_per_side)
        return max(0.0, min(0.4, missing))

    def _place(self) -> None:
        rng, spec = self.rng, self.market.spec
        imbalance = (len(self.market.bids) - len(self.market.asks)) / (2 * self.config.levels_per_side)
        side = Side.BUY if rng.random() < 0.5 - max(-0.3, min(0.3, imbalance)) else Side.SELL
        offset = rng.randint(1, self.config.levels_per_side)
        ticks = self.mid_ticks - offset if side is Side.BUY else self.mid_ticks + offset
        lots = self._size(self.config.size_mu)
        account_id = rng.choice(self.participants)
        result = self.engine.place_order(
            account_id, self.symbol, side, OrderType.LIMIT, spec.qty(lots), spec.price(ticks)
        )
        if not result.order.status.is_terminal:
            self._resting.append((account_id, result.order.order_id))

    def _size(self, mu: float) -> int:
        return self.min_lots * max(1, min(10_000, int(self.rng.lognormvariate(mu, self.config.size_sigma))))

    def _pick_resting(self) -> tuple[int, int] | None:
        """A random order of ours that is still open (finished ones are dropped as they are met)."""
        resting = self._resting
        while resting:
            i = self.rng.randrange(len(resting))
            account_id, order_id = resting[i]
            if order_id in self.engine.accounts[account_id].open_orders:
                return account_id, order_id
            resting[i] = resting[-1]
            resting.pop()
        return None

    def _cancel(self) -> None:
        picked = self._pick_resting()
        if picked is not None:
            self.engine.cancel_order(picked[0], self.symbol, order_id=picked[1])

    def _amend(self) -> None:
        picked = self._pick_resting()
        if picked is None:
            return
        order = self.engine.accounts[picked[0]].open_orders[picked[1]]
        keep = order.filled_lots + max(self.min_lots, (order.lots - order.filled_lots) // 2)
        if order.filled_lots < keep < order.lots:
            self.engine.amend_order(
                picked[0], self.symbol, self.market.spec.qty(keep), order_id=picked[1]
            )

    def _take(self) -> None:
        rng, spec = self.rng, self.market.spec
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        lots = self._size(self.config.size_mu + 1)
        self.engine.place_order(rng.choice(self.participants), self.symbol, side, OrderType.MARKET, spec.qty(lots))

    # --- driving -------------------------------------------------------------------------------
    def prefill(self, max_commands: int = 1_000_000) -> int:
        """Place orders until the book holds the target depth; returns the commands it took."""
        target = 2 * self.config.levels_per_side * 95 // 100
        issued = 0
        while not self.config.quiet and self._live_levels() < target and issued < max_commands:
            try:
                self._place()
            except EngineError:
                pass
            issued += 1
        return issued

    def run_steps(self, count: int) -> None:
        for _ in range(count):
            self.step()

    async def run(self, stop: asyncio.Event, batch_interval_s: float = 0.005) -> None:
        """Issue commands at `rate_per_s` (wall time) until `stop` is set."""
        if self.config.quiet:
            await stop.wait()
            return
        started = time.monotonic()
        done = 0
        while not stop.is_set():
            due = int((time.monotonic() - started) * self.config.rate_per_s)
            for _ in range(due - done):
                self.step()
            done = max(done, due)
            try:
                await asyncio.wait_for(stop.wait(), batch_interval_s)
            except TimeoutError:
                pass
