"""Fixtures for the reference connector against a live mock exchange on 127.0.0.1 (free port).

Seeds come from REFERENCE_CONNECTOR_SEED (default 5) and are printed, so a failure can be replayed.
Waiting is bounded polling of the state in question (`wait_for`), never a bare sleep.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from mock_exchanges.engine import Account, OrderStatus, OrderType, Side
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from reference_connector import BinanceExchange, BinancePerpetualDerivative, OrderBook
from reference_connector.connector_base import ConnectorBase
from reference_connector.types import OrderState

SEED = int(os.environ.get("REFERENCE_CONNECTOR_SEED", "5"))
#: quick recovery in tests: short backoffs and timeouts
TUNING: dict[str, Any] = {
    "seed": SEED, "reconnect_base_s": 0.05, "reconnect_cap_s": 0.5, "gap_timeout_s": 0.3,
    "probe_after_s": 1.0, "stall_timeout_s": 3.0, "lost_confirm_delay_s": 0.1, "poll_interval_s": 1.0,
}

STATE_OF = {OrderStatus.NEW: OrderState.OPEN, OrderStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
            OrderStatus.FILLED: OrderState.FILLED, OrderStatus.CANCELED: OrderState.CANCELED,
            OrderStatus.EXPIRED: OrderState.EXPIRED}


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `predicate` until it is truthy; fail after `timeout` seconds, saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout}s (seed={SEED})")
        await asyncio.sleep(0.005)


@pytest.fixture
def seed() -> int:
    print(f"reference connector tests: seed={SEED} (REFERENCE_CONNECTOR_SEED)")
    return SEED


@pytest.fixture
async def quiet_server(seed: int) -> AsyncIterator[MockExchangeServer]:
    """No synthetic flow: books move only when a test says so."""
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=seed, flow=None))) as server:
        yield server


@pytest.fixture
async def busy_server(seed: int) -> AsyncIterator[MockExchangeServer]:
    """Flow at 300 commands/s per market over ~100 levels a side."""
    config = MockExchangeConfig(seed=seed, flow=FlowConfig(levels_per_side=100, rate_per_s=300))
    async with MockExchangeServer(MockExchange(config)) as server:
        yield server


def account(server: MockExchangeServer, index: int = 0) -> Account:
    return server.exchange.trading_accounts[index]


def make_spot(server: MockExchangeServer, pairs: list[str] | None = None, **tuning: Any) -> BinanceExchange:
    acct = account(server)
    return BinanceExchange(server.base_url, server.ws_url, acct.api_key, acct.api_secret,
                           trading_pairs=pairs or ["BTC-USDT", "ETH-USDT"], **{**TUNING, **tuning})


def make_perp(server: MockExchangeServer, pairs: list[str] | None = None,
              **tuning: Any) -> BinancePerpetualDerivative:
    acct = account(server)
    return BinancePerpetualDerivative(server.base_url, server.ws_url, acct.api_key, acct.api_secret,
                                      trading_pairs=pairs or ["BTC-USDT"], **{**TUNING, **tuning})


@pytest.fixture
async def started() -> AsyncIterator[Callable[[ConnectorBase], Any]]:
    """`await started(connector)`: start it, wait until ready; every connector is stopped at the end."""
    running: list[ConnectorBase] = []

    async def start(connector: ConnectorBase, timeout: float = 10.0) -> ConnectorBase:
        running.append(connector)
        await connector.start()
        await connector.wait_ready(timeout)
        return connector

    yield start
    for connector in running:
        await connector.stop()
        assert connector.stats()["crashed_tasks"] == []


def assert_book_is_true(server: MockExchangeServer, symbol: str, book: OrderBook) -> int:
    """The book equals the engine's book at the update id it claims (read in one go: no await)."""
    update_id = book.update_id
    assert update_id is not None, "the book claims no update id"
    bids, asks = book.bids(), book.asks()
    truth = server.exchange.engine.book_at(symbol, update_id)
    assert bids == truth.bids, f"{symbol} bids differ from the truth at {update_id} (seed={SEED})"
    assert asks == truth.asks, f"{symbol} asks differ from the truth at {update_id} (seed={SEED})"
    return update_id


def cross(server: MockExchangeServer, symbol: str, side: Side, qty: Decimal, price: Decimal) -> None:
    """Another account trades against the book (to fill the connector's resting orders)."""
    server.exchange.engine.place_order(account(server, 1).account_id, symbol, side, OrderType.LIMIT, qty, price)
