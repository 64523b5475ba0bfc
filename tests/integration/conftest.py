"""Fixtures for running third-party connectors (unmodified) against a live mock exchange on 127.0.0.1.

Nothing here imports a third-party connector: a test module that needs one skips itself when it is absent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from tests.server.conftest import wait_for

SEED = 23
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class RequestLog:
    """Every request the mock server saw, as `"METHOD /path"` (WebSocket handshakes are `GET`s), in order."""

    lines: list[str] = field(default_factory=list)

    def paths(self) -> set[str]:
        return set(self.lines)


@pytest.fixture
async def served() -> AsyncIterator[tuple[MockExchangeServer, RequestLog]]:
    """A mock exchange with a small seeded flow (a test may pause and resume it), and the requests it served."""
    log = RequestLog()

    @web.middleware
    async def record(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        log.lines.append(f"{request.method} {request.path}")
        return await handler(request)

    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=60, rate_per_s=40))
    server = MockExchangeServer(MockExchange(config))
    server.app.middlewares.append(record)  # before start(): the app is frozen when its runner is set up
    async with server:
        yield server, log


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and remember) any aiohttp request or WebSocket connect to a host that is not loopback.

    A guard against a connector URL we failed to point at the mock: the test must never leave the machine.
    """
    refused: list[str] = []
    request, ws_connect = aiohttp.ClientSession._request, aiohttp.ClientSession._ws_connect

    def check(url: Any) -> None:
        host = URL(str(url)).host
        if host not in LOOPBACK:
            refused.append(str(url))
            raise aiohttp.ClientConnectionError(f"test guard: refused non-loopback URL {url}")

    async def guarded_request(self: aiohttp.ClientSession, method: str, str_or_url: Any, **kwargs: Any) -> Any:
        check(str_or_url)
        return await request(self, method, str_or_url, **kwargs)

    async def guarded_ws_connect(self: aiohttp.ClientSession, url: Any, **kwargs: Any) -> Any:
        check(url)
        return await ws_connect(self, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", guarded_request)
    monkeypatch.setattr(aiohttp.ClientSession, "_ws_connect", guarded_ws_connect)
    yield refused
    assert not refused, f"a connector tried to leave loopback: {refused}"


async def poll(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """`wait_for` (tests/server) at a pace fit for a connector's loops, failing with what was awaited."""
    try:
        return await wait_for(predicate, timeout=timeout, interval=0.05)
    except AssertionError as error:
        raise AssertionError(f"{what}: {error}") from None


def awaiting(coro: Any) -> list[str]:
    """The chain of coroutines a task is suspended in, outermost first."""
    chain: list[str] = []
    while coro is not None and hasattr(coro, "cr_code"):
        chain.append(coro.cr_code.co_qualname)
        coro = coro.cr_await
    return chain


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """After the test, every task it started must have finished (given a bounded grace period)."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()

    def leftovers() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()]

    try:
        await poll(lambda: not leftovers(), 5.0, "the test's tasks to finish")
    except AssertionError:
        stacks = sorted(" -> ".join(awaiting(t.get_coro())) for t in leftovers())
        for task in leftovers():
            task.cancel()
        raise AssertionError(f"tasks left running after the test (awaiting): {stacks}") from None
