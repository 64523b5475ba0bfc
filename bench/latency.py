"""End to end: from an engine book change to the reference connector's book reflecting it.

A `MockExchangeServer` (Binance dialect, one spot market prefilled with `--levels` levels a side, its flow
paused) runs on loopback; the reference `BinanceExchange` is started on it for BTC-USDT (with credentials,
so its user stream runs too) and waited for. A driver then changes the engine's book at a fixed rate: it
places and cancels limit orders for a dedicated account directly on `exchange.engine` (never crossing the
book, so every command is exactly one level change), paced by the event loop's clock: each time the loop
lets it run it issues every command that is due by then, and sleeps until the next one is due.

For each command the latency is the time from `time.perf_counter()` just before the engine call to the
`time.perf_counter()` taken when the connector's book has applied an update id at least the command's (the
connector's `book_update_listeners` hook, called synchronously by its order book tracker right after a
diff is applied). It covers: engine, event encoding, the server's per-connection queue and writer task,
the loopback socket, aiohttp's WebSocket reader, the connector's frame handler, parse, sync, apply.

By default engine, server and connector share one event loop in one process, as the conformance runner
runs them: every stage waits for the others' turns of the loop. `--process` runs the connector in a
separate process instead (its own interpreter and loop; the two processes share CLOCK_MONOTONIC, which
`perf_counter` reads on Linux, so timestamps compare across them).

    python bench/latency.py [--rates 1000,10000] [--seconds 10] [--warmup 1] [--levels 1000] [--process]
    python bench/latency.py --quick          # 2 s per rate (what `tox -e bench` runs)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import platform
import random
import sys
import tempfile
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

from mock_exchanges.engine import OrderType, Side, spot_market
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from reference_connector import BinanceExchange

SYMBOL, PAIR = "BTCUSDT", "BTC-USDT"
QTY = Decimal("0.01")
#: resting orders the driver keeps around (it cancels one when it has more, places one when it has fewer)
OWN_ORDERS = 200


@dataclass(eq=False, repr=False)
class Phase:
    rate: float
    #: (update id, perf_counter at the command) of every measured command, in order
    commands: list[tuple[int, float]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    issued = 0
    elapsed = 0.0
    unmatched = 0
    #: how late the driver woke up against its schedule, per wake-up (loop stalls: GC, other work, preemption)
    lateness: list[float] = field(default_factory=list)
    #: this process's CPU seconds and involuntary context switches (preempted by other processes) while measured
    cpu = 0.0
    preempted = 0
    #: perf_counter when measuring started and ended
    started = 0.0
    ended = 0.0
    #: the garbage collector's pauses while measured, as `GcWatch.report` puts them (this process, and the
    #: connector's when it runs in its own)
    gc = ""
    child_gc = ""

    def report(self) -> str:
        achieved = self.issued / self.elapsed if self.elapsed else 0.0
        n = len(self.latencies)
        if not n:
            return f"{self.rate:>8,.0f}/s  achieved {achieved:>8,.0f}/s  no samples"
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(n - 1, int(p / 100 * n))] * 1e3

        late = sorted(self.lateness) or [0.0]
        return (f"{self.rate:>8,.0f}/s  achieved {achieved:>8,.0f}/s  samples {n:>7,}  p50 {pct(50):6.3f} ms  "
                f"p99 {pct(99):6.3f} ms  p99.9 {pct(99.9):6.3f} ms  max {ordered[-1] * 1e3:7.3f} ms"
                + (f"  unmatched {self.unmatched}" if self.unmatched else "")
                + f"\n{'':10s}driver wake-ups late by p99 {late[int(0.99 * (len(late) - 1))] * 1e3:.3f} ms, "
                f"max {late[-1] * 1e3:.3f} ms; CPU {self.cpu / self.elapsed:.0%} of one core; "
                f"preempted {self.preempted} times"
                + (f"\n{'':10s}GC pauses: {self.gc}" if self.gc else "")
                + (f"\n{'':10s}GC pauses in the connector's process: {self.child_gc}" if self.child_gc else ""))


class GcWatch:
    """Pauses of the cyclic garbage collector in this process: (perf_counter at the end, generation, seconds)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((now, info["generation"], now - self._started))

    def close(self) -> None:
        gc.callbacks.remove(self._callback)

    def report(self, start: float, end: float) -> str:
        """The pauses that ended between `start` and `end`, per generation."""
        by_gen: dict[int, list[float]] = {0: [], 1: [], 2: []}
        for t, generation, pause in self.pauses:
            if start <= t <= end:
                by_gen[generation].append(pause)
        return ", ".join(f"gen{g} {len(p)}x (max {max(p, default=0.0) * 1e3:.1f} ms)" for g, p in by_gen.items())


class Driver:
    """Level changes on the engine for a dedicated account: a limit order placed at a random price on the
    bid side below the best bid or on the ask side above the best ask, or one of its orders cancelled."""

    def __init__(self, exchange: MockExchange, seed: int) -> None:
        self.engine = exchange.engine
        self.account = self.engine.create_account({"USDT": Decimal(10) ** 12, "BTC": Decimal(10) ** 9},
                                                  name="latency-bench")
        book = self.engine.book(SYMBOL, 1)
        assert book.best_bid is not None and book.best_ask is not None, "the book must be prefilled"
        self.best_bid, self.best_ask = book.best_bid, book.best_ask
        self.tick = self.engine.markets[SYMBOL].spec.tick_size
        self.rng = random.Random(seed)
        self.own: list[int] = []
        self.last_id = self.engine.last_update_id(SYMBOL)

    def command(self) -> int | None:
        """One engine command; the update id it produced (None if the book did not change)."""
        engine, rng, own = self.engine, self.rng, self.own
        if own and (len(own) >= OWN_ORDERS or rng.random() < 0.5):
            i = rng.randrange(len(own))
            order_id = own[i]
            own[i] = own[-1]
            own.pop()
            engine.cancel_order(self.account.account_id, SYMBOL, order_id=order_id)
        else:
            offset = self.tick * rng.randint(0, 300)
            if rng.random() < 0.5:
                side, price = Side.BUY, self.best_bid - offset
            else:
                side, price = Side.SELL, self.best_ask + offset
            result = engine.place_order(self.account.account_id, SYMBOL, side, OrderType.LIMIT, QTY, price)
            own.append(result.order.order_id)
        update_id = engine.last_update_id(SYMBOL)
        if update_id == self.last_id:
            return None
        self.last_id = update_id
        return update_id


async def drive(driver: Driver, phase: Phase, seconds: float, warmup: float,
                on_command: Callable[[int, float, bool], None], gc_off: bool = False) -> None:
    """Issue commands at `phase.rate` for `warmup + seconds`; those after the warm-up are measured.
    `gc_off`: the cyclic garbage collector is disabled while measuring (a diagnosis, not the normal case)."""
    watch = GcWatch()
    perf = time.perf_counter
    loop = asyncio.get_running_loop()
    clock = loop.time
    period = 1.0 / phase.rate
    start = clock()
    measure_from = start + warmup
    end = measure_from + seconds
    issued = 0
    measuring = False
    measured_start = cpu_start = 0.0
    switches = 0
    command = driver.command
    wake_at = start
    while True:
        now = clock()
        if now >= end:
            break
        if not measuring and now >= measure_from:
            measuring, measured_start, phase.issued = True, now, 0
            cpu_start, switches = time.process_time(), _preemptions()
            phase.started = perf()
            if gc_off:
                gc.disable()
        if measuring:
            phase.lateness.append(now - wake_at)
        due = int((now - start) * phase.rate) + 1
        while issued < due:
            t0 = perf()
            update_id = command()
            issued += 1
            if update_id is not None:
                if measuring:
                    phase.issued += 1
                    phase.commands.append((update_id, t0))
                on_command(update_id, t0, measuring)
        wake_at = start + issued * period
        await asyncio.sleep(max(0.0, wake_at - clock()))
    phase.elapsed = clock() - measured_start
    phase.ended = perf()
    phase.cpu = time.process_time() - cpu_start
    phase.preempted = _preemptions() - switches
    gc.enable()
    watch.close()
    phase.gc = watch.report(phase.started, phase.ended)


def _preemptions() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw if resource is not None else 0


def make_exchange(args: argparse.Namespace) -> MockExchange:
    market = spot_market(SYMBOL, "BTC", "USDT")
    config = MockExchangeConfig(seed=args.seed, markets=(market,),
                                flow=FlowConfig(levels_per_side=args.levels, rate_per_s=1))
    exchange = MockExchange(config)
    exchange.pause_flow()  # prefilled by the flow generator, then still: only the driver moves the book
    return exchange


def check_book(server: MockExchangeServer, connector: BinanceExchange) -> bool:
    """Whether the connector's book equals the engine's at the update id it claims (printed)."""
    book = connector.order_books[PAIR]
    update_id = book.update_id
    assert update_id is not None
    truth = server.exchange.engine.book_at(SYMBOL, update_id)
    same = book.bids() == truth.bids and book.asks() == truth.asks
    levels = len(truth.bids) + len(truth.asks)
    print(f"the connector's book equals the engine's at update id {update_id} ({levels} levels): {same}")
    return same


# --- one process ------------------------------------------------------------------------------------------
async def run_in_process(args: argparse.Namespace) -> list[Phase]:
    exchange = make_exchange(args)
    async with MockExchangeServer(exchange) as server:
        acct = exchange.trading_accounts[0]
        connector = BinanceExchange(server.base_url, server.ws_url, acct.api_key, acct.api_secret,
                                    trading_pairs=[PAIR], seed=args.seed)
        await connector.start()
        try:
            await connector.wait_ready(30)
            driver = Driver(exchange, args.seed)
            #: commands whose update the connector has not applied yet: (update id, perf_counter, measured)
            pending: deque[tuple[int, float, bool]] = deque()
            sink: list[float] = []

            def on_command(update_id: int, t0: float, measured: bool) -> None:
                pending.append((update_id, t0, measured))

            def on_update(pair: str, update_id: int | None) -> None:
                if update_id is None or not pending or pending[0][0] > update_id:
                    return
                now = time.perf_counter()
                while pending and pending[0][0] <= update_id:
                    _, t0, measured = pending.popleft()
                    if measured:
                        sink.append(now - t0)

            connector.book_update_listeners.append(on_update)
            phases = []
            for rate in args.rates:
                phase = Phase(rate)
                phase.latencies = sink = []
                await drive(driver, phase, args.seconds, args.warmup, on_command, args.gc_off)
                await settle(lambda: not pending)
                phase.unmatched = sum(1 for *_, measured in pending if measured)
                pending.clear()
                phases.append(phase)
                print(phase.report(), flush=True)
            if not check_book(server, connector):
                raise SystemExit(1)
            return phases
        finally:
            await connector.stop()


async def settle(done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


# --- the connector in another process -------------------------------------------------------------------
async def connector_child(base_url: str, ws_url: str, key: str, secret: str, out: str) -> None:
    """The child: run the connector, record (update id, perf_counter) of every book update until stdin
    says stop, then write them to `out`."""
    connector = BinanceExchange(base_url, ws_url, key, secret, trading_pairs=[PAIR])
    ids, times = array("q"), array("d")

    def on_update(pair: str, update_id: int | None) -> None:
        if update_id is not None:
            times.append(time.perf_counter())
            ids.append(update_id)

    connector.book_update_listeners.append(on_update)
    watch = GcWatch()
    await connector.start()
    try:
        await connector.wait_ready(30)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await connector.stop()
    with open(out, "wb") as f:
        pickle.dump((ids, times, watch.pauses), f)


async def run_with_child(args: argparse.Namespace) -> list[Phase]:
    exchange = make_exchange(args)
    async with MockExchangeServer(exchange) as server:
        acct = exchange.trading_accounts[0]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "updates.pickle")
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--child", server.base_url, server.ws_url, acct.api_key, acct.api_secret,
                out, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            assert child.stdout is not None and child.stdin is not None
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            if line.strip() != b"ready":
                raise RuntimeError(f"the connector process did not start: {line!r}")
            driver = Driver(exchange, args.seed)
            phases = []
            for rate in args.rates:
                phase = Phase(rate)
                await drive(driver, phase, args.seconds, args.warmup, lambda update_id, t0, measured: None,
                            args.gc_off)
                await asyncio.sleep(1.0)  # let the child catch up (a bench script; unmatched ones are counted)
                phases.append(phase)
            child.stdin.write(b"stop\n")
            await child.stdin.drain()
            await asyncio.wait_for(child.wait(), 30)
            with open(out, "rb") as f:
                ids, times, pauses = pickle.load(f)
    child_gc = GcWatch()
    child_gc.close()
    child_gc.pauses = pauses
    for phase in phases:
        match(phase, ids, times)
        phase.child_gc = child_gc.report(phase.started, phase.ended)
        print(phase.report(), flush=True)
    return phases


def match(phase: Phase, ids: array[int], times: array[float]) -> None:
    """For each command, the first update the child applied with an id at least the command's."""
    j, n = 0, len(ids)
    for update_id, t0 in phase.commands:
        while j < n and ids[j] < update_id:
            j += 1
        if j == n:
            phase.unmatched += 1
            continue
        phase.latencies.append(times[j] - t0)


# --- main ---------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,10000", help="engine book changes per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per rate before measuring")
    parser.add_argument("--levels", type=int, default=1000, help="prefilled levels per side")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--process", action="store_true", help="run the connector in a separate process")
    parser.add_argument("--gc-off", action="store_true",
                        help="disable the garbage collector while measuring (in the engine's process): a diagnosis")
    parser.add_argument("--quick", action="store_true", help="2 s per rate, 0.5 s warm-up")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(connector_child(*args.child))
        return 0
    if args.quick:
        args.seconds, args.warmup = 2.0, 0.5
    args.rates = [float(r) for r in args.rates.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {load:.2f}; {args.levels} levels a side, {args.seconds:g} s per rate "
          f"(+{args.warmup:g} s warm-up), seed={args.seed}")
    if args.process:
        print("engine + server in this process, the connector in another one")
        asyncio.run(run_with_child(args))
    else:
        print("engine, server and connector in one process, on one event loop (as the conformance runner)")
        asyncio.run(run_in_process(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
