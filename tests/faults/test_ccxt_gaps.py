"""ccxt.pro (unmodified) against a busy Binance dialect whose depth stream loses one diff.

ccxt checks the update-id chain (spot: `U == previous u + 1`; USD-M: `pu == previous u`), so the dropped diff
must surface as its sequence error (`ChecksumError`, see wire-dialects.md B4) at the first diff after the gap;
the next `watch_order_book` re-subscribes, fetches a new snapshot, and from then on ccxt's book is the engine's
book at ccxt's nonce. The flow runs in real time here (200 commands/s a market); waits are bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxt_pro  # type: ignore[import-untyped]
import pytest

from mock_exchanges.engine import BookSnapshot
from mock_exchanges.faults import FaultKind, FaultRule, Schedule, Transcript
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from tests.server.test_ccxt_binance import make_client

SEED = 20251126
TIMEOUT = 10.0
TOP = 25
#: the diff ccxt never gets: a few after the subscription (the flow starts once ccxt holds its first snapshot)
DROPPED_AT = 5
VENUES = {
    "spot": (ccxt_pro.binance, ["spot"], "BTC/USDT", "BTCUSDT"),
    "usdm": (ccxt_pro.binanceusdm, ["linear"], "BTC/USDT:USDT", "BTCUSDT-PERP"),
}


@asynccontextmanager
async def busy_faulty_server(rule: FaultRule, transcript: Transcript) -> AsyncIterator[MockExchangeServer]:
    print(f"seed={SEED} rule={rule.describe()}")
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=100, rate_per_s=200),
                                faults=Schedule(seed=SEED, rules=(rule,)))
    exchange = MockExchange(config, transcript=transcript)
    exchange.flow_paused = True  # until ccxt has its first book: the drop then falls after its snapshot
    async with MockExchangeServer(exchange) as server:
        yield server


def levels(side: Any, top: int = TOP) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(str(price)), Decimal(str(qty))) for price, qty, *_ in list(side)[:top]]


def assert_top_equals(book: Any, truth: BookSnapshot) -> None:
    assert book["nonce"] == truth.update_id
    assert levels(book["bids"]) == truth.bids[:TOP]
    assert levels(book["asks"]) == truth.asks[:TOP]


async def wait_until(predicate: Any, timeout: float = TIMEOUT) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(0.005)
    return value


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_a_dropped_diff_raises_then_resubscribing_resyncs(venue: str) -> None:
    cls, types, symbol, engine_symbol = VENUES[venue]
    rule = FaultRule(FaultKind.DROP, channel="depth", connection=1, at_message=DROPPED_AT)
    transcript = Transcript()
    async with busy_faulty_server(rule, transcript) as server:
        engine = server.exchange.engine
        client = make_client(cls, server, None, types)
        try:
            await client.load_markets()
            async with asyncio.timeout(TIMEOUT):
                first = await client.watch_order_book(symbol)  # resolved by the snapshot: no diff yet
            assert_top_equals(first, engine.book(engine_symbol))
            assert [c.ordinal for c in server.exchange.connections.values()] == [1]

            server.exchange.resume_flow()
            seen: list[int] = []
            async with asyncio.timeout(TIMEOUT):
                while True:
                    try:
                        book = await client.watch_order_book(symbol)
                    except ccxt_pro.ChecksumError as error:
                        gap_error = error
                        break
                    assert_top_equals(book, engine.book_at(engine_symbol, book["nonce"]))
                    seen.append(book["nonce"])
            drops = [r for r in map(json.loads, transcript.lines) if r.get("kind") == "drop"]
            assert [(r["conn"], r["i"]) for r in drops] == [(1, DROPPED_AT)]
            assert 1 <= len(seen) <= DROPPED_AT - 1
            print(f"ccxt books before the gap at nonces {seen}")

            # called again: ccxt re-subscribes on the same socket, fetches a new snapshot, and holds the truth.
            # When the gap was found while no call was pending, ccxt keeps the rejected future and every call
            # raises the same error at once (without yielding) until the new snapshot is in: retry with a
            # backoff, as a client must.
            nonces: list[int] = []
            repeats = 0
            async with asyncio.timeout(TIMEOUT):
                while len(nonces) < 20:
                    try:
                        book = await client.watch_order_book(symbol)
                    except ccxt_pro.ChecksumError as error:
                        assert error is gap_error  # not a new gap: the same rejection, again
                        repeats += 1
                        await asyncio.sleep(0.01)  # the retry backoff
                        continue
                    assert_top_equals(book, engine.book_at(engine_symbol, book["nonce"]))
                    nonces.append(book["nonce"])
            print(f"the same ChecksumError raised again {repeats} times while resubscribing")
            assert nonces == sorted(nonces) and nonces[0] > first["nonce"]
            assert len(server.exchange.connections) == 1  # no reconnect was needed

            server.exchange.pause_flow()
            target = engine.last_update_id(engine_symbol)
            live = client.orderbooks[symbol]
            await wait_until(lambda: live["nonce"] >= target)
            assert_top_equals(live, engine.book(engine_symbol, TOP))
            assert server.exchange.faults.fired == 1
        finally:
            await client.close()
