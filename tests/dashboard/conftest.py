"""Helpers for dashboard tests: a `/_mock/live` viewer that keeps every message it is pushed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from mock_exchanges.server import MockExchangeServer
from tests.server.conftest import wait_for


class Viewer:
    """A dashboard socket as a browser would hold it: the hello, then snapshots (all kept, raw and parsed)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.texts: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.texts.append(msg.data)
                self.messages.append(json.loads(msg.data))

    @property
    def hello(self) -> dict[str, Any]:
        assert self.messages and self.messages[0]["type"] == "hello"
        return self.messages[0]

    def snapshots(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "snapshot"]

    def faults(self) -> list[dict[str, Any]]:
        """Every fault record pushed so far (hello and snapshots), by record number."""
        records = {r["n"]: r for m in self.messages for r in m["faults"]}
        return [records[n] for n in sorted(records)]

    async def snapshot(self, predicate: Callable[[dict[str, Any]], Any] = bool, after: int = 0,
                       timeout: float = 5.0) -> dict[str, Any]:
        """The first snapshot, among those pushed after the first `after`, that satisfies `predicate`."""
        def found() -> dict[str, Any] | None:
            return next((s for s in self.snapshots()[after:] if predicate(s)), None)

        result: dict[str, Any] = await wait_for(found, timeout)
        return result

    async def close(self) -> None:
        await self.ws.close()
        await self._task


@asynccontextmanager
async def viewer(session: aiohttp.ClientSession, server: MockExchangeServer,
                 query: str = "") -> AsyncIterator[Viewer]:
    client = Viewer(await session.ws_connect(server.ws_url + "/_mock/live" + query))
    try:
        await wait_for(lambda: client.messages)
        yield client
    finally:
        await client.close()


def market(snapshot: dict[str, Any], symbol: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in snapshot["markets"] if m["symbol"] == symbol)
    return found
