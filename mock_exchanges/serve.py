"""`mock-exchange serve`: run a mock exchange until interrupted, printing what a client needs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from typing import TextIO

from aiohttp import web

from .faults import Transcript
from .faults.replay import Recording, create_replay_app
from .flow import FlowConfig
from .scenarios import Scenario
from .server import MockExchange, MockExchangeConfig, MockExchangeServer
from .server.app import DIALECTS_KEY


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
    scenario: Scenario | None = None,
    transcript: str | None = None,
    batch_depth: bool = False,
) -> int:
    if scenario is not None:
        config = scenario.exchange_config(accounts=accounts)
        if quiet:
            config = dataclasses.replace(config, flow=None)
    else:
        flow = None if quiet else FlowConfig(levels_per_side=levels, rate_per_s=rate)
        config = MockExchangeConfig(seed=seed, flow=flow, accounts=accounts)
    if batch_depth:
        config = dataclasses.replace(config, batch_depth=True)
    recorder = Transcript(transcript, keep=False) if transcript else None
    exchange = MockExchange(config, transcript=recorder)
    server = MockExchangeServer(exchange, dialects=dialects, host=host, port=port)
    await server.start()
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    try:
        flow_text = "quiet" if config.flow is None else f"flow {config.flow.rate_per_s:g} commands/s per market"
        depth_text = ", depth merged per stream interval" if config.batch_depth else ""
        print(f"mock exchange ({', '.join(dialects)}), seed {config.seed}, {flow_text}{depth_text}", file=out)
        if scenario is not None:
            print(f"scenario {scenario.name}: {scenario.description} ({len(scenario.faults)} fault rules, "
                  f"{len(scenario.actions)} actions)", file=out)
        if recorder is not None:
            print(f"transcript -> {transcript}", file=out)
        for purpose, url in server.describe().items():
            print(f"  {purpose:17s} {url}", file=out)
        if server.control_token:
            print(f"  control token     {server.control_token}  (send 'Authorization: Bearer <token>')", file=out)
        print("markets: " + ", ".join(sorted(exchange.engine.markets)), file=out)
        for account in exchange.trading_accounts:
            print(f"account {account.account_id} ({account.name})\n  api key    {account.api_key}\n"
                  f"  api secret {account.api_secret}", file=out)
            for dialect in server.app[DIALECTS_KEY]:  # e.g. OKX's passphrase
                extras = getattr(dialect, "account_credentials", None)
                for label, value in (extras(account) if extras is not None else {}).items():
                    print(f"  {label:10s} {value}", file=out)
        print("serving; Ctrl-C to stop", file=out, flush=True)
        await stop.wait()
    finally:
        await server.close()
        if recorder is not None:
            recorder.close()
        _release_signals()
        print("stopped", file=out, flush=True)
    return 0


async def serve_replay(path: str, host: str, port: int, speed: float, out: TextIO = sys.stdout,
                       stop: asyncio.Event | None = None) -> int:
    """`mock-exchange replay`: serve a transcript back until interrupted."""
    recording = Recording.load(path)
    runner = web.AppRunner(create_replay_app(recording, speed), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    try:
        header = recording.header
        print(f"replaying {path} (scenario {header.get('scenario') or '-'}, seed {header.get('seed')}) on "
              f"http://{host}:{port}: {sum(len(c) for c in recording.connections.values())} connections, "
              f"{sum(len(a) for a in recording.answers.values())} REST answers; Ctrl-C to stop", file=out, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        _release_signals()
    return 0


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set `stop` (where the loop supports signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _release_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)
