"""Engine throughput: order commands/s (place + amend + cancel + match mix) and book-delta events/s on
one core, with the book held at ~2,000 live levels.

The flow generator decides the commands once while they are recorded; then the same commands are
replayed on a fresh engine with the same seed (the engine is deterministic, so ids line up) and only
that replay is timed: the figure is the engine's, not the flow generator's.

    python bench/engine.py [--commands 200000] [--seed 7]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from mock_exchanges.engine import (
    BookDelta,
    Engine,
    EngineConfig,
    MarketSpec,
    VirtualClock,
    perpetual_market,
    spot_market,
)
from mock_exchanges.flow import FlowConfig, FlowGenerator

Command = tuple[str, tuple[Any, ...], dict[str, Any]]


class RecordingEngine:
    """Passes every order command through to the engine and remembers it."""

    def __init__(self, engine: Engine, log: list[Command]) -> None:
        self._engine = engine
        self._log = log

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._engine, name)
        if name not in ("place_order", "cancel_order", "amend_order"):
            return attr

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self._log.append((name, args, kwargs))
            return attr(*args, **kwargs)

        return recorded


def fresh(spec: MarketSpec, seed: int, commands: int, log: list[Command] | None) -> tuple[Engine, FlowGenerator]:
    engine = Engine(VirtualClock(), EngineConfig(seed=seed))
    engine.add_market(spec)
    target: Any = engine if log is None else RecordingEngine(engine, log)
    flow = FlowGenerator(target, spec.symbol, FlowConfig(seed=seed, mid_price=Decimal("30000")))
    flow.prefill()
    return engine, flow


def run(spec: MarketSpec, commands: int, seed: int) -> None:
    log: list[Command] = []
    recorded_engine, flow = fresh(spec, seed, commands, log)
    prefill = len(log)
    started = time.perf_counter()
    flow.run_steps(commands)
    with_flow = time.perf_counter() - started
    replay_log = log[prefill:]

    engine, _ = fresh(spec, seed, commands, None)
    kinds: Counter[str] = Counter()
    rejected = 0

    def count(event: object) -> None:
        kinds[type(event).__name__] += 1

    engine.subscribe(count)
    methods = {name: getattr(engine, name) for name in ("place_order", "cancel_order", "amend_order")}
    started = time.perf_counter()
    for name, args, kwargs in replay_log:
        try:
            methods[name](*args, **kwargs)
        except Exception:
            rejected += 1
    elapsed = time.perf_counter() - started
    same = engine.book(spec.symbol) == recorded_engine.book(spec.symbol)
    n = len(replay_log)
    levels = len(engine.markets[spec.symbol].bids) + len(engine.markets[spec.symbol].asks)
    print(
        f"{spec.kind.value.lower():9s} engine {n / elapsed:9,.0f} commands/s "
        f"{kinds[BookDelta.__name__] / elapsed:9,.0f} book deltas/s {sum(kinds.values()) / elapsed:9,.0f} events/s | "
        f"with flow decisions {commands / with_flow:9,.0f}/s | {n} commands "
        f"(place {sum(1 for c in replay_log if c[0] == 'place_order')}, trades {kinds['Trade']}, "
        f"rejected {rejected}), {levels} live levels, replay identical: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"engine bench: python {platform.python_version()} on {platform.machine()}, seed {args.seed}")
    run(spot_market("BTCUSDT", "BTC", "USDT"), args.commands, args.seed)
    run(perpetual_market("BTCUSDT", "BTC", "USDT"), args.commands, args.seed)


if __name__ == "__main__":
    main()
