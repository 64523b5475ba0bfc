"""OKX WebSocket endpoints: `/ws/v5/public` (books, trades, tickers, funding-rate, mark-price) and
`/ws/v5/private` (login, then orders, account, positions).

Requests are `{"op": "subscribe"|"unsubscribe"|"login", "args": [...], "id"?: ...}`; each arg is acked
with `{"event": "subscribe", "arg": ..., "connId": ...}` or refused with `{"event": "error", "code": ...}`.
A books subscription is followed by a snapshot (`prevSeqId` -1); account and positions by the current
state; tickers by the current ticker. The text "ping" is answered "pong".
"""

from __future__ import annotations

import json
import random
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from ...engine import Account
from ...server.connection import ClientConnection
from ...server.hub import Frame
from .auth import authenticate_login
from .books import book_rows, checksum
from .channels import (
    BOOK_DEPTHS,
    ORDER_INST_TYPES,
    POSITION_INST_TYPES,
    PRIVATE,
    PUBLIC,
    SWAP_ONLY,
    account_topic,
    orders_topic,
    positions_topic,
    private_arg,
    public_arg,
    public_topic,
    push,
)
from .context import OkxContext
from .corrupt import corrupt_books_push
from .encoder import OkxEncoder
from .errors import OkxError
from .formats import dumps
from .views import account_json, open_positions

MAX_SUBSCRIPTIONS = 1024
MAX_ECHO = 512
NOTICE = "The connection will soon be closed for a service upgrade. Please reconnect."


class Refused(Exception):
    """An error event for one request or one arg."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def wrong_channel(arg: dict[str, Any]) -> Refused:
    return Refused("60018", f"Wrong URL or channel:{arg.get('channel')},instId:{arg.get('instId')} doesn't exist. "
                            "Please use the correct URL, channel and parameters referring to API document.")


class Session:
    """One client connection: its login and its subscriptions."""

    def __init__(self, endpoints: OkxStreams, conn: ClientConnection, private: bool) -> None:
        self.ctx = endpoints.ctx
        self.encoder = endpoints.encoder
        self.conn = conn
        self.private = private
        self.conn_id = self.ctx.new_conn_id()
        self.account: Account | None = None

    def close(self) -> None:
        account = self.account
        if account is not None:
            left = self.ctx.logged_in.get(account.account_id, 1) - 1
            if left > 0:
                self.ctx.logged_in[account.account_id] = left
            else:
                self.ctx.logged_in.pop(account.account_id, None)
            self.account = None

    def send(self, obj: dict[str, Any]) -> None:
        self.conn.send_text(dumps(obj))

    def error(self, code: str, msg: str, request_id: str | None = None) -> None:
        event: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": self.conn_id}
        if request_id is not None:
            event = {"id": request_id, **event}
        self.send(event)

    def terminate(self) -> None:
        """What OKX does before a service upgrade: a notice, then the close."""
        self.send({"event": "notice", "code": "64008", "msg": NOTICE, "connId": self.conn_id})
        self.conn.close_soon(WSCloseCode.GOING_AWAY, "service upgrade", after_flush=True)

    def unknown_event(self) -> str:
        """A push on a channel no client subscribed to or knows: a robust client ignores it."""
        return push({"channel": "mock-unknown-channel"}, dumps([{"ts": str(self.ctx.now_ms())}]))

    def corrupt(self, frame: Frame, text: str, rng: random.Random) -> tuple[str, dict[str, Any]] | None:
        """A books update with one level's size wrong and its ids and checksum kept (see `corrupt.py`)."""
        return corrupt_books_push(self.ctx, frame, text, rng)

    # --- requests ------------------------------------------------------------------------------------
    def handle(self, text: str) -> None:
        if text == "ping":
            self.conn.send_text("pong")
            return
        try:
            request = json.loads(text)
        except (ValueError, RecursionError):
            request = None
        if not isinstance(request, dict):
            self.error("60012", f"Invalid request: {text[:MAX_ECHO]}")
            return
        raw_id = request.get("id")
        request_id = str(raw_id)[:32] if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
        op, args = request.get("op"), request.get("args")
        if not isinstance(op, str) or not isinstance(args, list) or not args:
            self.error("60012", f"Invalid request: {text[:MAX_ECHO]}", request_id)
            return
        if op == "login":
            self.login(args[0], request_id)
        elif op in ("subscribe", "unsubscribe"):
            for arg in args:
                try:
                    self.subscription(op, arg, request_id)
                except Refused as refused:
                    self.error(refused.code, refused.msg, request_id)
        else:
            self.error("60019", f"Invalid OP: {op[:64]}", request_id)

    def login(self, arg: Any, request_id: str | None) -> None:
        try:
            account = authenticate_login(self.ctx.engine, self.ctx.passphrase, arg, self.ctx.now_ms())
        except OkxError as error:
            self.error(error.code, error.msg, request_id)
            return
        if self.account is not None and self.account.account_id != account.account_id:
            self.error("60021", "This operation does not support multiple accounts login.", request_id)
            return
        if self.account is None:
            self.ctx.logged_in[account.account_id] = self.ctx.logged_in.get(account.account_id, 0) + 1
        self.account = account
        reply: dict[str, Any] = {"event": "login", "code": "0", "msg": "", "connId": self.conn_id}
        self.send(reply if request_id is None else {"id": request_id, **reply})

    def subscription(self, op: str, arg: Any, request_id: str | None) -> None:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            raise Refused("60012", f"Invalid request: {dumps(arg)[:MAX_ECHO]}")
        channel = arg["channel"]
        if channel in PUBLIC and not self.private:
            topic, acked = self._public(arg)
        elif channel in PRIVATE and self.private:
            if self.account is None:
                raise Refused("60011", "Please log in")
            topic, acked = self._private(arg, self.account.account_id)
        else:
            raise wrong_channel(arg)
        if op == "subscribe":
            if topic not in self.conn.subscriptions and len(self.conn.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise Refused("60013", "Invalid args")
            self.conn.subscribe(topic)
        else:
            self.conn.unsubscribe(topic)
        ack: dict[str, Any] = {"event": op, "arg": acked, "connId": self.conn_id}
        self.send(ack if request_id is None else {"id": request_id, **ack})
        if op == "subscribe":
            self._initial(channel, acked)

    def _public(self, arg: dict[str, Any]) -> tuple[str, dict[str, str]]:
        channel, inst_id = arg["channel"], arg.get("instId")
        inst = self.ctx.instruments.get(inst_id) if isinstance(inst_id, str) else None
        if inst is None or (channel in SWAP_ONLY and not inst.is_swap):
            raise wrong_channel(arg)
        return public_topic(channel, inst.inst_id), public_arg(channel, inst.inst_id)

    def _private(self, arg: dict[str, Any], account_id: int) -> tuple[str, dict[str, str]]:
        channel = arg["channel"]
        if channel == "account":
            ccy = arg.get("ccy") or ""
            if not isinstance(ccy, str) or len(ccy) > 16:
                raise wrong_channel(arg)
            return account_topic(account_id, ccy), private_arg("account", ccy=ccy)
        inst_type, inst_id = arg.get("instType"), arg.get("instId") or ""
        allowed = ORDER_INST_TYPES if channel == "orders" else POSITION_INST_TYPES
        if not isinstance(inst_type, str) or not isinstance(inst_id, str) or inst_type not in allowed:
            raise wrong_channel(arg)
        if inst_id:
            inst = self.ctx.instruments.get(inst_id)
            if inst is None or inst_type not in ("ANY", inst.inst_type):
                raise wrong_channel(arg)
        topic = (orders_topic if channel == "orders" else positions_topic)(account_id, inst_type, inst_id)
        return topic, private_arg(channel, inst_type, inst_id)

    def _initial(self, channel: str, acked: dict[str, str]) -> None:
        """What follows a subscribe ack: the book snapshot, the current ticker, account or positions."""
        ctx = self.ctx
        if channel in BOOK_DEPTHS:
            inst = ctx.instruments[acked["instId"]]
            stale = ctx.exchange.faults.snapshot_update_id(inst.symbol, BOOK_DEPTHS[channel])
            bids, asks, seq_id = book_rows(ctx.engine, inst, BOOK_DEPTHS[channel], stale)
            data = [{"asks": asks, "bids": bids, "ts": str(ctx.now_ms()),
                     "checksum": checksum(bids, asks) if ctx.send_checksum else 0,
                     "prevSeqId": -1, "seqId": seq_id}]
            self.conn.send_text(push(acked, dumps(data), "snapshot"))
        elif channel == "tickers":
            self.conn.send_text(push(acked, dumps([self.encoder.first_ticker(ctx.instruments[acked["instId"]])])))
        elif channel in ("account", "positions") and self.account is not None:
            account_id = self.account.account_id
            pushed = {**acked, "uid": str(account_id)}
            if channel == "account":
                ccys = [acked["ccy"]] if "ccy" in acked else None
                data = [account_json(ctx, account_id, ccys)]
            else:
                insts = [i for i in ctx.instruments.values() if acked.get("instId", i.inst_id) == i.inst_id
                         and acked["instType"] in ("ANY", i.inst_type)]
                data = open_positions(ctx, account_id, insts)
            self.conn.send_text(push(pushed, dumps(data)))


class OkxStreams:
    def __init__(self, ctx: OkxContext, encoder: OkxEncoder) -> None:
        self.ctx = ctx
        self.encoder = encoder

    def install(self, app: web.Application) -> None:
        app.router.add_get("/ws/v5/public", self.public)
        app.router.add_get("/ws/v5/private", self.private)

    async def public(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, private=False)

    async def private(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, private=True)

    async def _serve(self, request: web.Request, private: bool) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)
        await ws.prepare(request)

        def render(topic: str, frame: Frame) -> str:
            return frame.data

        conn = self.ctx.exchange.open_connection(ws, request.path, render)
        session = Session(self, conn, private)
        conn.terminate = session.terminate
        conn.unknown_event = session.unknown_event
        if not private and self.ctx.send_checksum:  # books pushes carry a checksum: corrupting them can be told
            conn.corrupt = session.corrupt
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    session.handle(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    session.error("60012", "Invalid request: binary frame")
        finally:
            session.close()
            await self.ctx.exchange.close_connection(conn)
        return ws
