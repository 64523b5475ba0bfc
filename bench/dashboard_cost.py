"""What an open dashboard costs the push path: `ws_push.py`'s mock figure (recorded engine events replayed into
the exchange's hub, encoded, fanned out and written to N raw WebSocket clients that count frames in another
process) without a dashboard and with one viewer reading `/_mock/live` in a process of its own, as a browser
tab would, in alternating rounds (the order flips every round). The exchange's four markets hold books ~2,000
levels deep, so the viewer's snapshots are as large as in use.
- events/s: wall-clock throughput to every client; it moves with whatever else the machine runs;
- server us/frame: the server process's CPU time per frame written, the dashboard's own work included (it runs
  in the same process); it holds still on a busy machine, so it is the figure to compare.

    python bench/dashboard_cost.py [--clients 10,100] [--seconds 3] [--rounds 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import time
from multiprocessing.synchronize import Event as StopEvent

import aiohttp
from ws_push import BATCH, STREAM, Figure, measure, record_events, replay

from mock_exchanges.dashboard import LIVE_PATH, LiveFeed
from mock_exchanges.engine import Event
from mock_exchanges.flow import FlowConfig, FlowGenerator
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from mock_exchanges.server.connection import ClientConnection
from mock_exchanges.server.exchange import DEFAULT_MIDS


def viewer_process(url: str, stop: StopEvent, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """A dashboard viewer: reads `/_mock/live` until told to stop, then reports how much it got."""

    async def main() -> None:
        snapshots = size = 0
        async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
            result.put("connected")
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.2)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                snapshots += 1
                size += len(msg.data)
        result.put((snapshots, size))

    asyncio.run(main())


def prepared_exchange(seed: int) -> MockExchange:
    """An exchange whose four markets hold books ~2,000 levels deep, with trades (what the snapshots show)."""
    exchange = MockExchange(MockExchangeConfig(seed=seed, flow=None))
    for state in exchange.engine.markets.values():
        config = FlowConfig(seed=seed, levels_per_side=1000, mid_price=DEFAULT_MIDS[state.spec.base])
        FlowGenerator(exchange.engine, state.spec.symbol, config).prefill()
    return exchange


async def bench(events: list[Event], clients: int, seconds: float, seed: int,
                with_viewer: bool) -> tuple[Figure, int, int]:
    """`ws_push.bench_mock`, with a dashboard viewer connected throughout when `with_viewer`; returns the figure
    and the number and total size of the snapshots the viewer got."""
    exchange = prepared_exchange(seed)
    loop = asyncio.get_running_loop()
    async with MockExchangeServer(exchange) as server:
        go, stop = asyncio.Event(), asyncio.Event()
        conns: list[ClientConnection] = []

        def written() -> int:  # first called once every client is connected (the viewer is not a connection)
            conns[:] = conns or exchange.connections.values()
            return sum(conn.sent for conn in conns)


        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        leave = multiprocessing.Event()
        viewer = multiprocessing.Process(target=viewer_process, args=(server.ws_url + LIVE_PATH, leave, queue))
        if with_viewer:
            viewer.start()
            assert await loop.run_in_executor(None, queue.get, True, 30) == "connected"
        batches = [events[start:start + BATCH] for start in range(0, len(events), BATCH)]
        task = asyncio.create_task(replay(exchange, batches, conns, go, stop))
        try:
            figure = await measure(server.port, "/ws/" + STREAM, clients, seconds, go, written)
        finally:
            stop.set()
            go.set()
            await task
            leave.set()
        snapshots = size = 0
        if with_viewer:
            snapshots, size = await loop.run_in_executor(None, queue.get, True, 30)
            await loop.run_in_executor(None, viewer.join, 30)
    return figure, snapshots, size


def snapshot_cost_us(exchange: MockExchange, count: int = 400) -> float:
    """Microseconds to build and encode one snapshot of `exchange` as it is."""
    feed = LiveFeed(exchange)
    started = time.perf_counter()
    for _ in range(count):
        feed.snapshot_text()
    return (time.perf_counter() - started) / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="10,100")
    parser.add_argument("--seconds", type=float, default=3.0, help="counting window per figure")
    parser.add_argument("--rounds", type=int, default=3, help="figures per variant (alternating; medians shown)")
    parser.add_argument("--commands", type=int, default=20_000, help="flow commands recorded (replayed in a loop)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    events = record_events(args.seed, args.commands)
    print(f"dashboard cost bench: python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores "
          f"({platform.system()} {platform.release()}), seed {args.seed}, {len(events):,} engine events replayed, "
          f"{args.rounds} x {args.seconds:g} s per variant")
    for clients in (int(c) for c in args.clients.split(",")):
        figures: dict[bool, list[Figure]] = {False: [], True: []}
        for round_ in range(args.rounds):
            for with_viewer in (False, True) if round_ % 2 == 0 else (True, False):  # no order bias
                figure, snapshots, size = await bench(events, clients, args.seconds, args.seed, with_viewer)
                figures[with_viewer].append(figure)
                seen = f"  (viewer: {snapshots} snapshots, {size / max(snapshots, 1) / 1024:.1f} KiB each)" \
                    if with_viewer else ""
                print(f"  {clients:3d} clients, {'with' if with_viewer else 'no':4s} dashboard: "
                      f"{figure.events_per_s:9,.0f} events/s  {figure.server_us_per_frame:5.2f} server us/frame{seen}")
        without = statistics.median(f.events_per_s for f in figures[False])
        with_ = statistics.median(f.events_per_s for f in figures[True])
        cpu_without = statistics.median(f.server_us_per_frame for f in figures[False])
        cpu_with = statistics.median(f.server_us_per_frame for f in figures[True])
        print(f"{clients} clients, medians: events/s {without:,.0f} without, {with_:,.0f} with a dashboard open "
              f"(with/without {with_ / without:.1%}); server us/frame {cpu_without:.2f} without, {cpu_with:.2f} with")
    cost = snapshot_cost_us(prepared_exchange(args.seed))
    print(f"one snapshot (build + encode): {cost:,.0f} us, i.e. {cost * 4 / 1e4:.2f}% of a core at 4 pushes/s")


if __name__ == "__main__":
    asyncio.run(main())
