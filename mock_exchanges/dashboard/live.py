"""`/_mock/live`: JSON snapshots of the exchange pushed to dashboard viewers a few times a second.

One timer task polls the exchange (see `snapshot.py`) while at least one viewer is connected, encodes the
snapshot once and hands the same text to every viewer. Each viewer has a one-slot mailbox written by its own
task: a slow browser gets fewer snapshots, never a growing queue, and never slows anything else. With no
viewer, nothing runs at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from . import snapshot

if TYPE_CHECKING:
    from ..server.exchange import MockExchange

#: seconds between two pushes (4 a second)
PUSH_INTERVAL_S = 0.25


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str, ensure_ascii=False)


def _redacted(record: dict[str, Any]) -> dict[str, Any]:
    return {k: snapshot.redact(v) if isinstance(v, str) else v for k, v in record.items()}


class Viewer:
    """One dashboard socket: the latest snapshot not yet sent, and the task that sends it."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._latest: str | None = None
        self._ready = asyncio.Event()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def offer(self, text: str) -> None:
        """Replace whatever this viewer has not been sent yet with `text`."""
        self._latest = text
        self._ready.set()

    async def _write_loop(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not self.ws.closed:
                await self._ready.wait()
                self._ready.clear()
                text, self._latest = self._latest, None
                if text is not None:
                    await self.ws.send_str(text)

    async def aclose(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class LiveFeed:
    def __init__(self, exchange: MockExchange, interval_s: float = PUSH_INTERVAL_S) -> None:
        self.exchange = exchange
        self.interval_s = interval_s
        self.viewers: dict[Viewer, None] = {}
        #: snapshots encoded so far (one per push, whatever the number of viewers)
        self.pushes = 0
        self._faults_seen = exchange.faults.fired
        self._task: asyncio.Task[None] | None = None

    def _new_faults(self) -> list[dict[str, Any]]:
        controller = self.exchange.faults
        new = controller.fired - self._faults_seen
        self._faults_seen = controller.fired
        if new <= 0:
            return []
        recent = controller.recent
        count = min(new, len(recent))
        return [_redacted(recent[i]) for i in range(len(recent) - count, len(recent))]

    def snapshot_text(self) -> str:
        """Encode the current snapshot (with the fault records new since the previous one)."""
        self.pushes += 1
        return dumps(snapshot.snapshot(self.exchange, self._new_faults()))

    async def _run(self) -> None:
        while self.viewers:
            text = self.snapshot_text()
            for viewer in list(self.viewers):
                viewer.offer(text)
            await asyncio.sleep(self.interval_s)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """The `/_mock/live` socket: a hello (static facts, the fault log so far), then snapshots until it closes.
        Whatever the viewer sends is ignored."""
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
        await ws.prepare(request)
        hello = snapshot.hello(self.exchange)
        hello["faults"] = [_redacted(r) for r in hello["faults"]]
        try:
            await ws.send_str(dumps(hello))
        except (ConnectionError, RuntimeError):
            return ws  # gone already
        viewer = Viewer(ws)
        self.viewers[viewer] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dashboard:live")
        try:
            async for _ in ws:
                pass
        finally:
            self.viewers.pop(viewer, None)
            await viewer.aclose()
        return ws

    async def close(self) -> None:
        """Close every viewer's socket and stop the timer (the app's shutdown)."""
        for viewer in list(self.viewers):
            with contextlib.suppress(Exception):
                await viewer.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self.viewers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
