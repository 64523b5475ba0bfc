"""WebSocket push throughput: messages/s the mock exchange delivers to 1 and 10 loopback clients while the
flow generator drives the engine flat out, beside a raw aiohttp server pushing pre-encoded frames of the
same size. Clients run in a separate process so they do not share the server's core.

    python bench/ws_push.py [--seconds 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import time
from decimal import Decimal

import aiohttp
from aiohttp import web

from mock_exchanges.engine import BookDelta
from mock_exchanges.flow import FlowConfig, FlowGenerator
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer


def client_process(url: str, clients: int, seconds: float, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        counts = [0] * clients
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(url, max_msg_size=0) for _ in range(clients)]
            result.put("connected")
            started = asyncio.Event()
            first = [0.0]

            async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    if not started.is_set():
                        first[0] = time.perf_counter()
                        started.set()
                    counts[i] += 1

            readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
            await started.wait()
            await asyncio.sleep(seconds)
            elapsed = time.perf_counter() - first[0]
            total = sum(counts)
            for task in readers:
                task.cancel()
            for ws in sockets:
                await ws.close()
            result.put((total, elapsed))

    asyncio.run(main())


async def measure(url: str, clients: int, seconds: float, drive: asyncio.Event) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    proc = multiprocessing.Process(target=client_process, args=(url, clients, seconds, queue))
    proc.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, queue.get)
    drive.set()
    total, elapsed = await loop.run_in_executor(None, queue.get)
    drive.clear()
    await loop.run_in_executor(None, proc.join)
    return float(total / elapsed)


async def bench_mock(clients: int, seconds: float, seed: int) -> tuple[float, int]:
    exchange = MockExchange(MockExchangeConfig(seed=seed, flow=None))
    async with MockExchangeServer(exchange) as server:
        flow = FlowGenerator(exchange.engine, "BTCUSDT", FlowConfig(seed=seed, levels_per_side=1000,
                                                                    mid_price=Decimal("30000")))
        flow.prefill()
        sizes: list[int] = []
        exchange.engine.subscribe(lambda e: sizes.append(1) if isinstance(e, BookDelta) else None)
        drive = asyncio.Event()
        stop = asyncio.Event()

        async def driver() -> None:
            while not stop.is_set():
                if drive.is_set():
                    flow.run_steps(50)
                await asyncio.sleep(0)

        task = asyncio.create_task(driver())
        rate = await measure(server.ws_url + "/ws/btcusdt@depth", clients, seconds, drive)
        stop.set()
        await task
        frame_size = len(json.dumps({"e": "depthUpdate", "E": 0, "s": "BTCUSDT", "U": 1, "u": 2,
                                     "b": [["30000.00000000", "0.01000000"]], "a": []}))
        return rate, frame_size


async def bench_raw(clients: int, seconds: float, frame_size: int) -> float:
    frame = "x" * frame_size
    drive = asyncio.Event()
    stop = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            while not stop.is_set():
                if drive.is_set():
                    for _ in range(50):
                        await ws.send_str(frame)
                await asyncio.sleep(0)
        except ConnectionError:
            pass  # the client finished counting and left
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/raw", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rate = await measure(f"ws://127.0.0.1:{port}/raw", clients, seconds, drive)
    stop.set()
    await runner.cleanup()
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"ws push bench: python {platform.python_version()} on {platform.machine()}, seed {args.seed}, "
          f"{args.seconds:g} s per figure")
    for clients in (1, 10):
        mock, size = await bench_mock(clients, args.seconds, args.seed)
        raw = await bench_raw(clients, args.seconds, size)
        print(f"{clients:3d} client(s): mock {mock:10,.0f} msgs/s delivered   raw aiohttp {raw:10,.0f} msgs/s   "
              f"mock/raw {mock / raw:5.0%}")


if __name__ == "__main__":
    asyncio.run(main())
