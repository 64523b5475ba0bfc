"""Fixtures for tests against a live mock exchange on 127.0.0.1 (free port, stopped after each test)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from mock_exchanges.engine import Account
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

SEED = 11


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@pytest.fixture
async def quiet_server() -> AsyncIterator[MockExchangeServer]:
    """No synthetic flow: books move only when a test says so."""
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED, flow=None))) as server:
        yield server


@pytest.fixture
async def busy_server() -> AsyncIterator[MockExchangeServer]:
    """Flow at 400 commands/s per market over ~100 levels a side."""
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=100, rate_per_s=400))
    async with MockExchangeServer(MockExchange(config)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def signed(account: Account, params: dict[str, Any], now_ms: int | None = None) -> str:
    """A Binance SIGNED parameter string (timestamp added, signature last)."""
    query = urlencode({**params, "timestamp": now_ms if now_ms is not None else int(time.time() * 1000)})
    signature = hmac.new(account.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def rest(session: aiohttp.ClientSession, server: MockExchangeServer, method: str, path: str,
               params: dict[str, Any] | None = None, account: Account | None = None) -> tuple[int, Any]:
    query = signed(account, params or {}) if account is not None else urlencode(params or {})
    headers = {"X-MBX-APIKEY": account.api_key} if account is not None else {}
    url = f"{server.base_url}{path}"
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await session.post(url, data=query, headers=headers)
    else:
        response = await session.request(method, f"{url}?{query}", headers=headers)
    async with response:
        return response.status, await response.json()
