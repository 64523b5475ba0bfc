"""The private stream: get a token if the dialect needs one, connect, log in, keep it alive, reconnect.

Binance spot: WS API `/ws-api/v3`, `userDataStream.subscribe.signature` (reply status 200), events wrapped
`{"subscriptionId","event"}`; `eventStreamTerminated` ends the subscription, so the stream reconnects and
subscribes again. Binance USD-M: `POST /fapi/v1/listenKey`, WS `/fstream/private/ws?listenKey=`, `PUT`
keepalive; `listenKeyExpired` (or a keepalive refused) means a new key and a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import aiohttp

from .config import Backoff, ConnectorConfig, seeded_rng
from .dialects.base import Dialect
from .errors import ExchangeRejected, RequestError, StreamError
from .rest import RestClient
from .types import StreamEnded, UserEvent
from .ws import ManagedStream, StreamConnection

log = logging.getLogger(__name__)


class UserStreamDataSource:
    def __init__(self, dialect: Dialect, session: aiohttp.ClientSession, rest: RestClient, ws_url: str,
                 config: ConnectorConfig, on_events: Callable[[Sequence[UserEvent]], None],
                 on_connected: Callable[[], None], on_disconnected: Callable[[str], None]) -> None:
        self.dialect = dialect
        self.rest = rest
        self.ws_url = ws_url.rstrip("/")
        self.config = config
        self.on_events = on_events
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.token: str | None = None
        self.keepalives = 0
        self.keepalive_failures = 0
        self.stream_ends = 0
        self._keepalive: asyncio.Task[None] | None = None
        self.stream = ManagedStream(
            "user", session, self._url, self,
            Backoff(config.reconnect_base_s, config.reconnect_cap_s, seeded_rng(config.seed, "user")),
            heartbeat_s=config.ws_heartbeat_s, probe=dialect.user_probe_frame,
            probe_after_s=config.probe_after_s,
            # Silence is normal on a private stream; only a dialect with a probe can tell a stall from it.
            stall_timeout_s=config.stall_timeout_s if dialect.user_probe_frame(0) is not None else None,
        )

    async def _url(self) -> str:
        request = self.dialect.user_stream_token_request()
        if request is not None:
            self.token = self.dialect.parse_user_stream_token(await self.rest.request(request))
        return self.ws_url + self.dialect.user_stream_path(self.token)

    async def run(self) -> None:
        try:
            await self.stream.run()
        finally:
            await self._stop_keepalive()
            await self.stream.aclose()

    # --- StreamHandler -------------------------------------------------------------------------------
    async def on_open(self, conn: StreamConnection) -> None:
        first_id = conn.next_id()
        frames = self.dialect.user_stream_login(first_id, self.rest.time.now_ms(), self.token)
        conn.reserve_ids(first_id, len(frames))
        for frame in frames:
            if frame.request_id is None:
                await conn.send(frame.text)
                continue
            ack = await conn.request(frame, self.config.subscribe_timeout_s)
            if not ack.ok:
                raise StreamError(f"user stream login refused: {ack.error}")
        await self._stop_keepalive()
        if self.dialect.user_stream_keepalive_request(self.token) is not None:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop(conn), name="user:keepalive")
        self.on_connected()

    def on_text(self, conn: StreamConnection, text: str) -> None:
        if conn.pending:
            ack = self.dialect.parse_login_reply(text)
            if ack is not None and conn.resolve(ack):
                return
        events = self.dialect.parse_user_message(text)
        if not events:
            return
        self.on_events(events)
        for event in events:
            if isinstance(event, StreamEnded):
                self.stream_ends += 1
                log.info("user stream ended by the exchange (%s): reconnecting", event.reason)
                conn.abort_soon(f"ended by the exchange: {event.reason}")

    def on_close(self, conn: StreamConnection, reason: str) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        self.on_disconnected(reason)

    # --- keepalive ------------------------------------------------------------------------------------
    async def _keepalive_loop(self, conn: StreamConnection) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_interval_s)
            request = self.dialect.user_stream_keepalive_request(self.token)
            if request is None:
                return
            try:
                await self.rest.request(request)
                self.keepalives += 1
            except ExchangeRejected as error:  # the key is gone: a new one, a new connection
                self.keepalive_failures += 1
                log.info("user stream keepalive refused (%s): reconnecting with a new token", error)
                await conn.abort(f"keepalive refused: {error}")
                return
            except RequestError as error:
                self.keepalive_failures += 1
                log.info("user stream keepalive failed (%s); will retry", error)

    async def _stop_keepalive(self) -> None:
        task, self._keepalive = self._keepalive, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
