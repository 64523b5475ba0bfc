"""Serve a recorded run back: each WebSocket connection gets exactly what its recorded counterpart was sent,
in the same order and (scaled) timing, and each REST request gets its recorded answer.

Matching: the k-th connection opened on a path replays the k-th recorded connection on that path; the
n-th REST request with a given key (method, path, non-volatile parameters) gets the n-th recorded answer
for that key. What a client sends is read and ignored: the run is replayed as it was, so a connector that
failed on it fails the same way, with no engine and no randomness involved.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .rest import request_key
from .transcript import read_transcript


class Recording:
    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.header: dict[str, Any] = {}
        #: path -> recorded connections on it, in opening order; each a list of (t since open in µs, text)
        self.connections: dict[str, list[list[tuple[int, str]]]] = defaultdict(list)
        #: request key -> recorded answers in order: (status, body)
        self.answers: dict[str, list[tuple[int, str]]] = defaultdict(list)
        opened: dict[int, tuple[int, list[tuple[int, str]]]] = {}
        for record in records:
            event = record.get("ev")
            if event == "header":
                self.header = record
            elif event == "open":
                sends: list[tuple[int, str]] = []
                opened[record["conn"]] = (record["t"], sends)
                self.connections[record["path"]].append(sends)
            elif event == "send" and record["conn"] in opened:
                start, sends = opened[record["conn"]]
                sends.append((record["t"] - start, record["text"]))
            elif event == "rest":
                self.answers[record["key"]].append((record["status"], record["body"]))

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        return cls(read_transcript(path))


def create_replay_app(recording: Recording, speed: float = 1.0) -> web.Application:
    """`speed` scales the recorded timing (2.0: twice as fast; 0: as fast as the socket takes it)."""
    opened: dict[str, int] = defaultdict(int)
    asked: dict[str, int] = defaultdict(int)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await replay_ws(request)
        key = request_key(request)
        n = asked[key]
        asked[key] += 1
        answers = recording.answers.get(key, [])
        if n >= len(answers):
            return web.json_response({"error": f"no recorded answer #{n + 1} for {key}"}, status=404)
        status, body = answers[n]
        if status == 0:  # the run dropped this request's connection (a TIMEOUT or RESET fault)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=504)
        return web.Response(status=status, text=body, content_type="application/json")

    async def replay_ws(request: web.Request) -> web.StreamResponse:
        recorded = recording.connections.get(request.path, [])
        k = opened[request.path]
        opened[request.path] += 1
        if k >= len(recorded):
            return web.Response(status=404, text=f"no recorded connection #{k + 1} on {request.path}")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        drain = asyncio.get_running_loop().create_task(_ignore_incoming(ws))
        try:
            clock = asyncio.get_running_loop().time
            start = clock()
            for offset_us, text in recorded[k]:
                if speed > 0:
                    wait = offset_us / 1e6 / speed - (clock() - start)
                    if wait > 0:
                        await asyncio.sleep(wait)
                await ws.send_str(text)
            await ws.close()
        except ConnectionResetError:
            pass
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        return ws

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _ignore_incoming(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break
