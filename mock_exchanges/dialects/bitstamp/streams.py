"""Bitstamp's WebSocket API v2, served at the root path as `wss://ws.bitstamp.net` is, and the plain
`GET /` page beside it.

Client events: `{"event": "bts:subscribe", "data": {"channel": "...", "auth": "<token>"?}}` ->
`{"event": "bts:subscription_succeeded", "channel": "...", "data": {}}`; `bts:unsubscribe` ->
`bts:unsubscription_succeeded`; `bts:heartbeat` -> `{"event": "bts:heartbeat", "channel": "", "data":
{"status": "success"}}`. Errors are `{"event": "bts:error", "channel": "", "data": {"code": null,
"message": ...}}` with Bitstamp's texts: "Incorrect JSON format.", "Bad subscription string." (no channel,
or an unknown event), "Invalid channel provided." (a malformed or unserved channel name), and code 4009
"Connection is unauthorized." for a private channel without a valid token of its user.

As probed on the real socket: a well-formed channel of an unknown market is acknowledged and then
silent; a client frame over 512 bytes closes the socket (1009); a 1025th subscription closes it without
a word; the server pings every 54 s.

Server-initiated: `bts:request_reconnect` (`"data": null`, the documented form) is what the fault layer's
`conn.terminate` sends; the socket closes `RECONNECT_GRACE_S` later ("a few seconds to reconnect" on the
real venue). `conn.unknown_event` is a `bts:notice` event, which Bitstamp does not define (our choice).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from ...server.connection import ClientConnection
from ...server.hub import Frame
from . import channels
from .context import BitstampContext

MAX_FRAME_BYTES = 512
MAX_SUBSCRIPTIONS = 1024
PING_INTERVAL_S = 54.0
RECONNECT_GRACE_S = 1.0
RECONNECT = json.dumps({"event": "bts:request_reconnect", "channel": "", "data": None})
UNKNOWN_EVENT = json.dumps({"event": "bts:notice", "channel": "", "data": {"message": "mock: unknown event"}})
HEARTBEAT = json.dumps({"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}})
UNAUTHORIZED = 4009


async def index(request: web.Request) -> web.Response:
    """Plain `GET /`: where the APIs are. A dashboard is meant to replace this (set `StreamEndpoint.index`)."""
    base = f"{request.scheme}://{request.host}"
    return web.json_response({"exchange": "mock exchange, Bitstamp dialect", "rest": base + "/api/v2/",
                              "websocket": base.replace("http", "ws", 1) + "/", "control": base + "/_mock/status"})


def reply(event: str, channel: str, data: Any) -> str:
    return json.dumps({"event": event, "channel": channel, "data": data})


def error(message: str, code: int | None = None) -> str:
    return reply("bts:error", "", {"code": code, "message": message})


def request_reconnect(conn: ClientConnection) -> None:
    """Ask the client to reconnect, then close after the grace period (the fault layer's terminate)."""
    conn.send_text(RECONNECT)
    asyncio.get_running_loop().call_later(RECONNECT_GRACE_S, lambda: conn.close_soon(
        WSCloseCode.GOING_AWAY, "reconnect requested", after_flush=True))


class Session:
    """One socket's control messages."""

    def __init__(self, ctx: BitstampContext, conn: ClientConnection) -> None:
        self.ctx = ctx
        self.conn = conn

    def handle(self, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            self.conn.send_text(error("Incorrect JSON format."))
            return
        event = request.get("event") if isinstance(request, dict) else None
        if event == "bts:heartbeat":
            self.conn.send_text(HEARTBEAT)
            return
        data = request.get("data") if isinstance(request, dict) else None
        channel = data.get("channel") if isinstance(data, dict) else None
        if event not in ("bts:subscribe", "bts:unsubscribe") or not isinstance(channel, str) or not channel:
            self.conn.send_text(error("Bad subscription string."))
            return
        assert isinstance(data, dict)
        name = channels.parse(channel)
        if name is None:
            self.conn.send_text(error("Invalid channel provided."))
        elif event == "bts:unsubscribe":
            self.conn.unsubscribe(channels.topic(channel))
            self.conn.send_text(reply("bts:unsubscription_succeeded", channel, {}))
        else:
            self._subscribe(channel, name, data.get("auth"))

    def _subscribe(self, channel: str, name: channels.ChannelName, token: Any) -> None:
        if name.private:
            owner = self.ctx.tokens.account_for(token, self.ctx.now_ms()) if isinstance(token, str) else None
            if owner is None or owner != name.user_id:
                self.conn.send_text(error("Connection is unauthorized.", UNAUTHORIZED))
                return
        topic = channels.topic(channel)
        if topic not in self.conn.subscriptions and len(self.conn.subscriptions) >= MAX_SUBSCRIPTIONS:
            self.conn.close_soon(WSCloseCode.POLICY_VIOLATION, "")
            return
        self.conn.subscribe(topic)
        self.conn.send_text(reply("bts:subscription_succeeded", channel, {}))


class StreamEndpoint:
    def __init__(self, ctx: BitstampContext) -> None:
        self.ctx = ctx
        #: the plain `GET /` handler; replaceable (a dashboard will live there)
        self.index: Callable[[web.Request], Awaitable[web.StreamResponse]] = index

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self.root)

    async def root(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.socket(request)
        return await self.index(request)

    async def socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL_S, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)

        def render(topic: str, frame: Frame) -> str:
            return frame.data

        conn = self.ctx.exchange.open_connection(ws, request.path, render)
        conn.terminate = lambda: request_reconnect(conn)
        conn.unknown_event = lambda: UNKNOWN_EVENT
        session = Session(self.ctx, conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    session.handle(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    conn.send_text(error("Incorrect JSON format."))
        finally:
            await self.ctx.exchange.close_connection(conn)
        return ws
