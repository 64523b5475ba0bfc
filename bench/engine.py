"""Engine throughput: order commands/s (place + amend + cancel + match mix) and book-delta events/s on
one core, with the book held at ~2,000 live levels.

The flow generator decides the commands once while they are recorded; then the same commands are
replayed on a fresh engine with the same seed (the engine is deterministic, so ids line up) and only
that replay is timed: the figure is the engine's, not the flow generator's. During the replay the only
listener counts events by type, and the recording engine and the command log are kept out of the garbage
collector's way (the replayed engine's own objects are not), so what is timed is the engine's own work.
The replay runs `--repeat` times, each on a fresh engine, and the fastest is reported. commands/s is
wall-clock; "of CPU time" divides by the process's CPU time instead, which moves less when the machine is
busy with other work.

    python bench/engine.py [--commands 200000] [--seed 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
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
    Trade,
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


def run(spec: MarketSpec, commands: int, seed: int, repeat: int) -> None:
    log: list[Command] = []
    recorded_engine, flow = fresh(spec, seed, commands, log)
    prefill = len(log)
    started = time.perf_counter()
    flow.run_steps(commands)
    with_flow = time.perf_counter() - started
    replay_log = log[prefill:]
    recorded_book = recorded_engine.book(spec.symbol)
    # The recording engine is done with, and the command log is the bench's, not the engine's: neither should
    # be in the heap that the garbage collector walks during the replay (the replayed engine's objects are).
    del log, recorded_engine, flow
    gc.collect()
    gc.freeze()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        engine, _ = fresh(spec, seed, commands, None)
        kinds: Counter[type] = Counter()
        rejected = 0

        def count(event: object, kinds: Counter[type] = kinds) -> None:
            kinds[type(event)] += 1

        engine.subscribe(count)
        methods = {name: getattr(engine, name) for name in ("place_order", "cancel_order", "amend_order")}
        started, started_cpu = time.perf_counter(), time.process_time()
        for name, args, kwargs in replay_log:
            try:
                methods[name](*args, **kwargs)
            except Exception:
                rejected += 1
        best, best_cpu = min(best, time.perf_counter() - started), min(best_cpu, time.process_time() - started_cpu)
        if engine.book(spec.symbol) != recorded_book:
            raise AssertionError("the replay did not end with the recorded book")
        del engine, methods
        gc.collect()
    gc.unfreeze()
    n = len(replay_log)
    print(
        f"{spec.kind.value.lower():9s} engine {n / best:9,.0f} commands/s ({n / best_cpu:,.0f}/s of CPU time) "
        f"{kinds[BookDelta] / best:9,.0f} book deltas/s {sum(kinds.values()) / best:9,.0f} events/s | "
        f"with flow decisions {commands / with_flow:9,.0f}/s | {n} commands "
        f"(place {sum(1 for c in replay_log if c[0] == 'place_order')}, trades {kinds[Trade]}, "
        f"rejected {rejected}), best of {repeat} replays, each ending with the recorded book"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="replays on fresh engines (the fastest is reported)")
    args = parser.parse_args()
    print(f"engine bench: python {platform.python_version()} on {platform.machine()}, seed {args.seed}")
    run(spot_market("BTCUSDT", "BTC", "USDT"), args.commands, args.seed, args.repeat)
    run(perpetual_market("BTCUSDT", "BTC", "USDT"), args.commands, args.seed, args.repeat)


if __name__ == "__main__":
    main()
