"""A WebSocket stream that stays up: reconnect with bounded, jittered backoff, and a stall watchdog.

`ManagedStream.run()` connects, hands every text frame to its handler, and reconnects when the socket
closes, errors, or goes silent: after `probe_after_s` of silence it sends the dialect's probe (a request
whose reply proves the server still talks to us, e.g. Binance `LIST_SUBSCRIPTIONS`); after
`stall_timeout_s` of silence it gives up on the socket. Per-frame cost is one timestamp: the watchdog is
a separate task, not a receive timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from .config import Backoff
from .dialects.base import Ack, Frame
from .errors import StreamError

log = logging.getLogger(__name__)

#: a connection that stayed up this long resets the backoff
STABLE_AFTER_S = 5.0


class StreamHandler(Protocol):
    async def on_open(self, conn: StreamConnection) -> None:
        """Subscribe / log in (may await replies with `conn.request`). Raising aborts the connection."""
        ...

    def on_text(self, conn: StreamConnection, text: str) -> None:
        """Every text frame. Replies to requests must be passed to `conn.resolve`."""
        ...

    def on_close(self, conn: StreamConnection, reason: str) -> None: ...


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    stalls: int = 0
    probes: int = 0
    failures: int = 0
    messages: int = 0
    parse_errors: int = 0


class StreamConnection:
    """One open socket of a managed stream."""

    def __init__(self, stream: ManagedStream, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.stream = stream
        self.ws = ws
        self.pending: dict[Any, asyncio.Future[Ack]] = {}
        self.closing_reason: str | None = None
        self.opened = False

    def next_id(self) -> int:
        return self.stream.next_id()

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def request(self, frame: Frame, timeout_s: float) -> Ack:
        """Send `frame` and wait for the reply with its id (StreamError on timeout)."""
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self.pending[frame.request_id] = future
        try:
            await self.ws.send_str(frame.text)
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise StreamError(f"{self.stream.name}: no reply to request {frame.request_id} in {timeout_s}s") from None
        finally:
            self.pending.pop(frame.request_id, None)

    def reserve_ids(self, first: int, count: int) -> None:
        """Make sure `next_id` will not hand out `first .. first + count - 1` again."""
        while self.stream.peek_id() < first + count:
            self.stream.next_id()

    def resolve(self, ack: Ack) -> bool:
        """Complete the request the reply `ack` answers (ids may come back as strings: "7" answers 7)."""
        key = ack.request_id
        future = self.pending.get(key)
        if future is None and isinstance(key, str) and key.isdigit():
            future = self.pending.get(int(key))
        if future is None:
            future = self.pending.get(str(key))
        if future is None or future.done():
            return False
        future.set_result(ack)
        return True

    async def abort(self, reason: str) -> None:
        """Close this socket; the stream reconnects."""
        if self.closing_reason is None:
            self.closing_reason = reason
        await self.ws.close()

    def abort_soon(self, reason: str) -> None:
        """`abort` from synchronous code (a frame handler)."""
        if self.closing_reason is None:
            self.closing_reason = reason
            self.stream.spawn_close(self)


class ManagedStream:
    def __init__(self, name: str, session: aiohttp.ClientSession, url: Callable[[], Awaitable[str]],
                 handler: StreamHandler, backoff: Backoff, *, heartbeat_s: float | None = 20.0,
                 probe: Callable[[int], Frame | None] | None = None, probe_after_s: float = 5.0,
                 stall_timeout_s: float | None = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.session = session
        self.url = url
        self.handler = handler
        self.backoff = backoff
        self.heartbeat_s = heartbeat_s
        self.probe = probe
        self.probe_after_s = probe_after_s
        self.stall_timeout_s = stall_timeout_s
        self.clock = clock
        self.stats = StreamStats()
        self.connected = False
        self.last_rx = clock()
        self.conn: StreamConnection | None = None
        self._ids = itertools.count(1)
        self._last_id = 0
        self._closers: set[asyncio.Task[bool]] = set()

    def next_id(self) -> int:
        self._last_id = next(self._ids)
        return self._last_id

    def peek_id(self) -> int:
        """The id `next_id` would return."""
        return self._last_id + 1

    def spawn_close(self, conn: StreamConnection) -> None:
        task = asyncio.get_running_loop().create_task(conn.ws.close())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def run(self) -> None:
        while True:
            started = self.clock()
            reason = await self._connect_once()
            self.connected = False
            if self.clock() - started >= STABLE_AFTER_S:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self.stats.reconnects += 1
            log.info("%s: disconnected (%s); reconnecting in %.2fs", self.name, reason, delay)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> str:
        try:
            url = await self.url()
            ws = await self.session.ws_connect(url, heartbeat=self.heartbeat_s, max_msg_size=16 * 2**20,
                                               timeout=aiohttp.ClientWSTimeout(ws_close=1.0))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # connection refused, DNS, token request failed, HTTP error...
            self.stats.failures += 1
            return f"connect failed: {type(error).__name__}: {error}"
        conn = StreamConnection(self, ws)
        self.conn = conn
        self.stats.connects += 1
        self.last_rx = self.clock()
        opener = asyncio.get_running_loop().create_task(self._open(conn), name=f"{self.name}:open")
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(conn), name=f"{self.name}:watchdog")
        reason = "closed by the server"
        try:
            on_text = self.handler.on_text
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self.last_rx = self.clock()
                    self.stats.messages += 1
                    try:
                        on_text(conn, msg.data)
                    except Exception:
                        self.stats.parse_errors += 1
                        log.exception("%s: could not handle a frame: %.200s", self.name, msg.data)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    reason = f"error: {ws.exception()!r}"
                    break
        except asyncio.CancelledError:
            raise
        except Exception as error:
            reason = f"receive failed: {type(error).__name__}: {error}"
        finally:
            for task in (opener, watchdog):
                task.cancel()
            for task in (opener, watchdog):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await ws.close()
            for future in conn.pending.values():
                if not future.done():
                    future.cancel()
            self.conn = None
            final = conn.closing_reason or reason
            if conn.opened:
                with contextlib.suppress(Exception):
                    self.handler.on_close(conn, final)
        return conn.closing_reason or reason

    async def _open(self, conn: StreamConnection) -> None:
        try:
            await self.handler.on_open(conn)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.stats.failures += 1
            log.warning("%s: opening failed: %s", self.name, error)
            await conn.abort(f"open failed: {error}")
            return
        conn.opened = True
        self.connected = True

    async def _watchdog(self, conn: StreamConnection) -> None:
        if self.stall_timeout_s is None:
            return
        period = max(0.02, min(self.probe_after_s, self.stall_timeout_s) / 4)
        probed_at: float | None = None
        while True:
            await asyncio.sleep(period)
            silence = self.clock() - self.last_rx
            if probed_at is not None and self.last_rx >= probed_at:
                probed_at = None
            if silence >= self.stall_timeout_s:
                self.stats.stalls += 1
                log.warning("%s: no message for %.1fs: reconnecting", self.name, silence)
                await conn.abort(f"stalled: silent for {silence:.1f}s")
                return
            if silence >= self.probe_after_s and probed_at is None and self.probe is not None and conn.opened:
                frame = self.probe(self.next_id())
                if frame is not None:
                    probed_at = self.clock()
                    self.stats.probes += 1
                    with contextlib.suppress(Exception):
                        await conn.send(frame.text)

    async def aclose(self) -> None:
        for task in list(self._closers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
