"""A server-side WebSocket client connection with a bounded send queue.

Frames are queued synchronously (engine listeners are synchronous) and written by one task per
connection. A client that stops reading is cut off once its queue passes `max_pending` frames, as
Binance does, so it never slows the engine or the other clients.

The queue holds finished WebSocket frames (`frames.text_frame`): a frame delivered to many clients is
rendered and framed once (`Frame.wire`). When the writer wakes up it hands what was queued to the transport
in one `write` (up to `WRITE_BATCH` frames): aiohttp's `send_str` makes one send() per frame, and on
loopback each send() also wakes the reader up. It waits for the transport to drain only when the transport
has paused (its buffer is over the high-water mark). A connection that negotiated permessage-deflate is
written frame by frame through aiohttp, which compresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, WSMsgType, web

from ..frames import text_frame, text_frame_payload
from .hub import EventHub, Frame

if TYPE_CHECKING:
    from ..faults.stream import ConnectionFaults, CorruptHook

_ids = itertools.count(1)
#: how long a closing connection may take to send what it still has queued
FLUSH_TIMEOUT_S = 1.0
#: the most frames handed to the transport in one write (~60 KB of depth diffs; aiohttp's writer, too, checks
#: for a drain every 64 KiB), so a stalled client's frames wait in the queue, where `max_pending` counts them
WRITE_BATCH = 512


class ClientConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        hub: EventHub,
        path: str,
        render: Callable[[str, Frame], str | None],
        max_pending: int = 10_000,
    ) -> None:
        self.connection_id = next(_ids)
        self.ws = ws
        self.hub = hub
        self.path = path
        self.render = render
        self.max_pending = max_pending
        self.subscriptions: dict[str, None] = {}
        #: this connection's place in the order connections were opened on its exchange (set by the faults)
        self.ordinal = 0
        #: the fault filter between the engine's frames and this socket (None: no rule applies here)
        self.faults: ConnectionFaults | None = None
        #: the transcript's recorder of what this connection is given to send
        self.record: Callable[[str], None] | None = None
        #: set by the dialect: end the user stream the way the venue does (a termination event, then close)
        self.terminate: Callable[[], None] | None = None
        #: set by the dialect: the text of an event type no client knows, for the `unknown_event` fault
        self.unknown_event: Callable[[], str] | None = None
        #: set by a dialect whose book messages carry a checksum: a frame's text with its content corrupted and its
        #: ids and checksum kept, and what was changed, for the `corrupt` fault (None back: cannot be corrupted)
        self.corrupt: CorruptHook | None = None
        #: frames written to the socket
        self.sent = 0
        self.overflowed = False
        #: the frame being passed through the fault filter, if any
        self._delivering: Frame | None = None
        #: WebSocket frames, ready for the socket, in order
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        #: set whenever the writer has emptied the queue (cleared by `_flush` before it waits)
        self._drained = asyncio.Event()
        self._closed = False
        self._closer: asyncio.Task[None] | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def __hash__(self) -> int:
        return self.connection_id

    # Sink protocol
    def deliver(self, topic: str, frame: Frame) -> None:
        text = self.render(topic, frame)
        if text is None:
            return
        if self.faults is None:
            self._enqueue(text, frame.wire(text))
            return
        self._delivering = frame  # what the filter hands back to `send_text` is framed once for every client
        try:
            self.faults.on_frame(frame, text)
        finally:
            self._delivering = None

    def send_text(self, text: str) -> None:
        frame = self._delivering
        if frame is None and self.faults is not None and self.faults.stalled():
            return  # a stalled stream answers nothing either (replies to the client's requests included)
        self._enqueue(text, text_frame(text) if frame is None else frame.wire(text))

    def _enqueue(self, text: str, wire: bytes) -> None:
        if self._closed:
            return
        if self.record is not None:
            self.record(text)
        queue = self._queue
        if len(queue) >= self.max_pending:
            self.overflowed = True
            self.close_soon(WSCloseCode.POLICY_VIOLATION, "send buffer full: client too slow")
            return
        if not queue:
            self._wakeup.set()  # the writer only ever waits with an empty queue
        queue.append(wire)

    @property
    def pending(self) -> int:
        """Frames queued and not yet written."""
        return len(self._queue)

    def subscribe(self, topic: str) -> bool:
        self.subscriptions[topic] = None
        return self.hub.subscribe(topic, self)

    def unsubscribe(self, topic: str) -> bool:
        self.subscriptions.pop(topic, None)
        return self.hub.unsubscribe(topic, self)

    async def _write_loop(self) -> None:
        queue, ws = self._queue, self.ws
        # The socket's transport, and what to await while it is paused, from aiohttp's WebSocketWriter (which
        # has no public way to write several frames at once). With permessage-deflate, or should aiohttp no
        # longer have them, frames go through aiohttp's `send_frame`, one by one.
        writer = getattr(ws, "_writer", None)
        transport: asyncio.Transport | None = getattr(writer, "transport", None)
        drain: Callable[[], Awaitable[None]] | None = getattr(getattr(writer, "protocol", None), "_drain_helper", None)
        if ws.compress:
            transport = drain = None
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    if transport is None or drain is None:
                        await ws.send_frame(text_frame_payload(queue.popleft()), WSMsgType.TEXT)
                        self.sent += 1
                        continue
                    if ws.closed or transport.is_closing():  # aiohttp has sent (or is sending) a close frame
                        raise ConnectionResetError("Cannot write to closing transport")
                    count = min(len(queue), WRITE_BATCH)
                    if count == len(queue):  # the usual case: all that was queued since the last wake-up
                        data = b"".join(queue)
                        queue.clear()
                    else:
                        data = b"".join([queue.popleft() for _ in range(count)])
                    transport.write(data)
                    self.sent += count
                    if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
                        await drain()  # the transport has paused the protocol: wait until it resumes
                self._drained.set()
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.hub.drop(self)

    def close_soon(self, code: int = WSCloseCode.GOING_AWAY, reason: str = "", after_flush: bool = False) -> None:
        """Stop taking frames and close the socket from a task (callable from synchronous code).

        With `after_flush`, what is already queued is sent first (e.g. a final `listenKeyExpired`).
        """
        if self._closed:
            return
        self._closed = True
        self.hub.drop(self)
        if not after_flush:
            self._queue.clear()
        self._closer = asyncio.get_running_loop().create_task(self._close(code, reason, after_flush))

    async def _close(self, code: int, reason: str, after_flush: bool) -> None:
        if after_flush:
            await self._flush()
        self._writer.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would (what was already
        queued is written first, so the cut falls exactly where it was scheduled)."""
        if self._closed:
            return
        self._closed = True
        self.hub.drop(self)
        self._closer = asyncio.get_running_loop().create_task(self._abort())

    async def _abort(self) -> None:
        await self._flush()
        self._writer.cancel()
        request = getattr(self.ws, "_req", None)
        transport = getattr(request, "transport", None)
        if transport is not None:
            transport.abort()

    async def _flush(self) -> None:
        if self._queue:
            self._drained.clear()
            self._wakeup.set()
            drained = asyncio.ensure_future(self._drained.wait())
            await asyncio.wait({drained, self._writer}, timeout=FLUSH_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()

    async def aclose(self) -> None:
        self.close_soon()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
