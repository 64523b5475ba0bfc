"""`mock-exchange serve`: run a mock exchange until interrupted, printing what a client needs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from .flow import FlowConfig
from .server import MockExchange, MockExchangeConfig, MockExchangeServer


async def serve(
    dialects: list[str],
    host: str,
    port: int,
    seed: int,
    quiet: bool,
    rate: float,
    levels: int,
    accounts: int,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
) -> int:
    flow = None if quiet else FlowConfig(levels_per_side=levels, rate_per_s=rate)
    exchange = MockExchange(MockExchangeConfig(seed=seed, flow=flow, accounts=accounts))
    server = MockExchangeServer(exchange, dialects=dialects, host=host, port=port)
    await server.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        print(f"mock exchange ({', '.join(dialects)}), seed {seed}, "
              f"{'quiet' if quiet else f'flow {rate:g} commands/s per market'}", file=out)
        for purpose, url in server.describe().items():
            print(f"  {purpose:17s} {url}", file=out)
        if server.control_token:
            print(f"  control token     {server.control_token}  (send 'Authorization: Bearer <token>')", file=out)
        print("markets: " + ", ".join(sorted(exchange.engine.markets)), file=out)
        for account in exchange.trading_accounts:
            print(f"account {account.account_id} ({account.name})\n  api key    {account.api_key}\n"
                  f"  api secret {account.api_secret}", file=out)
        print("serving; Ctrl-C to stop", file=out, flush=True)
        await stop.wait()
    finally:
        await server.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        print("stopped", file=out, flush=True)
    return 0
