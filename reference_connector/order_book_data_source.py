"""Public market data: the dialect's market WebSocket streams, REST snapshots and funding info.

One managed connection per stream the dialect declares (Binance spot: depth on `/ws`; USD-M: depth on
`/fstream/public/ws` and mark price on `/fstream/market/ws`), each subscribed to every pair. Frames are
parsed by the dialect and handed straight to a listener (the tracker) in arrival order: no queue, so
nothing is reordered and nothing waits for a task switch on the hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import aiohttp

from .book_sync import DiffMessage, SnapshotMessage
from .config import Backoff, ConnectorConfig, seeded_rng
from .dialects.base import Ack, Dialect, MarketStream, ReconnectRequested
from .errors import StreamError
from .rest import RestClient
from .types import FundingUpdate
from .ws import ManagedStream, StreamConnection

log = logging.getLogger(__name__)


class MarketListener(Protocol):
    def on_diff(self, diff: DiffMessage) -> None: ...
    def on_ws_snapshot(self, snapshot: SnapshotMessage) -> None: ...
    def on_funding(self, update: FundingUpdate) -> None: ...
    def on_stream_subscribing(self, stream: MarketStream) -> None: ...
    def on_stream_open(self, stream: MarketStream) -> None: ...
    def on_stream_closed(self, stream: MarketStream, reason: str) -> None: ...


class _StreamHandler:
    """Subscribes one stream's pairs on open and routes its frames."""

    def __init__(self, source: OrderBookDataSource, stream: MarketStream) -> None:
        self.source = source
        self.stream = stream

    async def on_open(self, conn: StreamConnection) -> None:
        source = self.source
        source.listener.on_stream_subscribing(self.stream)  # before anything the subscription brings can arrive
        first_id = conn.next_id()
        frames = source.dialect.subscribe_frames(self.stream, source.pairs, first_id)
        conn.reserve_ids(first_id, len(frames))
        for frame in frames:
            if frame.request_id is None:
                await conn.send(frame.text)
                continue
            ack = await conn.request(frame, source.config.subscribe_timeout_s)
            if not ack.ok:
                raise StreamError(f"subscription refused: {ack.error}")
        source.listener.on_stream_open(self.stream)

    def on_text(self, conn: StreamConnection, text: str) -> None:
        listener = self.source.listener
        for event in self.source.dialect.parse_market_message(self.stream, text):
            if isinstance(event, DiffMessage):
                listener.on_diff(event)
            elif isinstance(event, FundingUpdate):
                listener.on_funding(event)
            elif isinstance(event, SnapshotMessage):
                listener.on_ws_snapshot(event)
            elif isinstance(event, Ack):
                conn.resolve(event)
            elif isinstance(event, ReconnectRequested):
                conn.abort_soon(f"the server asked for a reconnect: {event.reason}")

    def on_close(self, conn: StreamConnection, reason: str) -> None:
        self.source.listener.on_stream_closed(self.stream, reason)


class OrderBookDataSource:
    def __init__(self, dialect: Dialect, session: aiohttp.ClientSession, rest: RestClient, ws_url: str,
                 pairs: Sequence[str], config: ConnectorConfig, listener: MarketListener) -> None:
        self.dialect = dialect
        self.rest = rest
        self.ws_url = ws_url.rstrip("/")
        self.pairs = list(pairs)
        self.config = config
        self.listener = listener
        self.streams: dict[str, ManagedStream] = {}
        for stream in dialect.streams:
            self.streams[stream.name] = self._managed(session, stream)

    def _managed(self, session: aiohttp.ClientSession, stream: MarketStream) -> ManagedStream:
        url = self.ws_url + stream.path

        async def make_url() -> str:
            return url

        dialect = self.dialect
        return ManagedStream(
            f"market:{stream.name}", session, make_url, _StreamHandler(self, stream),
            Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s,
                    seeded_rng(self.config.seed, f"market:{stream.name}")),
            heartbeat_s=self.config.ws_heartbeat_s,
            probe=lambda request_id: dialect.probe_frame(stream, request_id),
            probe_after_s=self.config.probe_after_s, stall_timeout_s=self.config.stall_timeout_s,
        )

    async def run_stream(self, name: str) -> None:
        await self.streams[name].run()

    def stream_for_depth(self) -> ManagedStream:
        return next(self.streams[s.name] for s in self.dialect.streams if s.depth)

    async def fetch_snapshot(self, pair: str) -> SnapshotMessage:
        request = self.dialect.snapshot_request(pair, self.config.snapshot_depth)
        if request is None:
            raise StreamError(f"{self.dialect.name} has no REST snapshot")
        return self.dialect.parse_snapshot(pair, await self.rest.request(request))

    async def resubscribe(self, pair: str) -> bool:
        """Ask for a fresh WebSocket snapshot of `pair` (WS-snapshot dialects). False if the stream is down."""
        managed = self.stream_for_depth()
        conn = managed.conn
        if conn is None or not conn.opened:
            return False
        stream = next(s for s in self.dialect.streams if s.depth)
        first_id = conn.next_id()
        frames = self.dialect.resubscribe_frames(stream, pair, first_id)
        conn.reserve_ids(first_id, len(frames))
        for frame in frames:
            await conn.send(frame.text)
        return True

    async def fetch_funding(self, pair: str) -> list[FundingUpdate]:
        return [self.dialect.parse_funding(pair, request, await self.rest.request(request))
                for request in self.dialect.funding_requests(pair)]

    async def aclose(self) -> None:
        for managed in self.streams.values():
            await managed.aclose()

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: vars(m.stats).copy() for name, m in self.streams.items()}

