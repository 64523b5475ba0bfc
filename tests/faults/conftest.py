"""Deterministic runs for fault tests: a virtual clock, paused flow stepped by the test, raw WS clients."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp

from mock_exchanges.engine import Account, VirtualClock
from mock_exchanges.faults import FaultRule, Schedule, Transcript
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from mock_exchanges.server.connection import ClientConnection
from tests.server.conftest import signed, wait_for

SEED = 7


@asynccontextmanager
async def faulty_server(*rules: FaultRule, seed: int = SEED, transcript: Transcript | None = None,
                        levels: int = 50) -> AsyncIterator[MockExchangeServer]:
    """A server whose flow only moves when the test calls `step(server, n)`, on a virtual clock."""
    config = MockExchangeConfig(seed=seed, flow=FlowConfig(levels_per_side=levels, rate_per_s=1),
                                faults=Schedule(seed=seed, rules=tuple(rules)))
    exchange = MockExchange(config, clock=VirtualClock(), transcript=transcript)
    exchange.flow_paused = True
    async with MockExchangeServer(exchange) as server:
        yield server


def step(server: MockExchangeServer, count: int, symbol: str = "BTCUSDT") -> None:
    server.exchange.flows[symbol].run_steps(count)


class RawClient:
    """A WebSocket client that keeps every text it receives, parsed."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[Any] = []
        self.texts: list[str] = []
        self.closed: asyncio.Future[tuple[int | None, str]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.texts.append(msg.data)
                self.messages.append(json.loads(msg.data))
        if not self.closed.done():
            self.closed.set_result((self.ws.close_code, ""))

    def events(self, name: str = "depthUpdate") -> list[dict[str, Any]]:
        return [m for m in self.messages if isinstance(m, dict) and m.get("e") == name]

    async def wait(self, predicate: Callable[[RawClient], Any], timeout: float = 5.0) -> Any:
        return await wait_for(lambda: predicate(self), timeout)

    async def close(self) -> None:
        await self.ws.close()
        await self._task


@asynccontextmanager
async def raw_client(session: aiohttp.ClientSession, url: str) -> AsyncIterator[RawClient]:
    ws = await session.ws_connect(url)
    client = RawClient(ws)
    try:
        yield client
    finally:
        await client.close()


async def caught_up(server: MockExchangeServer, client: RawClient, symbol: str = "BTCUSDT") -> None:
    """Wait until `client` has the diff carrying the engine's latest update id."""
    last = server.exchange.engine.last_update_id(symbol)
    await client.wait(lambda c: any(e["u"] >= last for e in c.events()[-5:]))


async def step_until(server: MockExchangeServer, control: RawClient, done: Callable[[], bool],
                     per_step: int = 3, limit: int = 2000) -> None:
    """Move the book a few commands at a time (each time letting `control` catch up) until `done()`."""
    for _ in range(limit):
        if done():
            return
        step(server, per_step)
        await caught_up(server, control)
    raise AssertionError("condition not reached")


async def subscribed(server: MockExchangeServer, count: int) -> None:
    """Wait until `count` connections are subscribed to something (the subscription is server-side state)."""
    await wait_for(lambda: sum(1 for c in server.exchange.connections.values() if c.subscriptions) >= count)


# --- helpers for REST, user-stream, transcript and property tests -------------------------------------
@asynccontextmanager
async def schedule_server(schedule: Schedule, seed: int = SEED, transcript: Transcript | None = None,
                          levels: int = 50, dialect: str = "binance") -> AsyncIterator[MockExchangeServer]:
    """`faulty_server` with the schedule given whole: its seed may differ from the exchange's."""
    config = MockExchangeConfig(seed=seed, flow=FlowConfig(levels_per_side=levels, rate_per_s=1), faults=schedule)
    exchange = MockExchange(config, clock=VirtualClock(), transcript=transcript)
    exchange.flow_paused = True
    async with MockExchangeServer(exchange, dialects=[dialect]) as server:
        yield server


def server_ms(server: MockExchangeServer) -> int:
    """The exchange's own time (a virtual clock here): signed requests must carry it, not the wall time."""
    return server.exchange.engine.clock.now_us() // 1000


class Reply:
    """A REST answer as the client saw it: status, headers and body (parsed JSON when it is JSON)."""

    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.body: Any = json.loads(text)
        except ValueError:
            self.body = text

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.text[:200]!r})"


async def call(session: aiohttp.ClientSession, server: MockExchangeServer, method: str, path: str,
               params: dict[str, Any] | None = None, account: Account | None = None, keyed: bool = False,
               timeout: float = 5.0) -> Reply:
    """One Binance REST call: SIGNED (timestamp on the server's clock) when `account` is given, or only
    keyed (X-MBX-APIKEY) with `keyed`. Raises what aiohttp raises when the answer never comes."""
    params = params or {}
    headers = {"X-MBX-APIKEY": account.api_key} if account is not None else {}
    if account is not None and not keyed:
        query = signed(account, params, now_ms=server_ms(server))
    else:
        query = urlencode(params)
    url = f"{server.base_url}{path}"
    budget = aiohttp.ClientTimeout(total=timeout)
    if method in ("POST", "PUT"):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await session.request(method, url, data=query, headers=headers, timeout=budget)
    else:
        response = await session.request(method, f"{url}?{query}" if query else url, headers=headers,
                                         timeout=budget)
    async with response:
        return Reply(response.status, dict(response.headers), await response.text())


def ws_api_subscribe_request(server: MockExchangeServer, account: Account, request_id: str = "sub") -> dict[str, Any]:
    """A signed `userDataStream.subscribe.signature` request (sorted params, HMAC over them)."""
    params: dict[str, Any] = {"apiKey": account.api_key, "timestamp": server_ms(server)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(account.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return {"id": request_id, "method": "userDataStream.subscribe.signature", "params": params}


async def listen_key(session: aiohttp.ClientSession, server: MockExchangeServer, account: Account) -> str:
    reply = await call(session, server, "POST", "/fapi/v1/listenKey", account=account, keyed=True)
    assert reply.status == 200, reply
    key: str = reply.body["listenKey"]
    return key


def advance(server: MockExchangeServer, ms: int) -> None:
    """Move the virtual clock and release what became due, in one synchronous go (the tick loop would do it
    too, but at a wall-clock moment)."""
    clock = server.exchange.engine.clock
    clock.advance_ms(ms)  # type: ignore[attr-defined]
    server.exchange.faults.poll(clock.now_us())


async def settled(server: MockExchangeServer, *clients: RawClient) -> None:
    """Every client (in the order their connections were opened) has received everything its connection was given
    to send."""
    by_ordinal = {c.ordinal: c for c in server.exchange.connections.values()}
    for ordinal, client in enumerate(clients, start=1):
        conn = by_ordinal[ordinal]
        assert conn.faults is None or not conn.faults.holding
        await client.wait(functools.partial(delivered, conn=conn))


def delivered(client: RawClient, conn: ClientConnection) -> bool:
    return len(client.texts) == conn.sent and not conn._queue


async def disconnected(server: MockExchangeServer, count: int = 0) -> None:
    """Wait until the server has released all but `count` WebSocket connections (so their `close` is recorded)."""
    await wait_for(lambda: len(server.exchange.connections) <= count)
