"""Binance WebSocket endpoints: market streams (spot and USD-M), USD-M listenKey user streams, and the
spot WebSocket API's user-data subscription.

Paths (one server serves both venues):
- spot market streams: `/ws[/<stream>...]` (raw payloads) and `/stream[...]?streams=a/b` (wrapped
  `{"stream","data"}`); any further path suffix is accepted (ccxt appends a stream index).
- USD-M market streams: `/fstream/<route>/ws...` raw, `/fstream/<route>/stream...` wrapped, where route
  is `public`, `market` or absent; user data on `/fstream/private/ws?listenKey=` or `/fstream/private/ws/<key>`.
- spot WebSocket API: `/ws-api/v3`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from ...server.connection import ClientConnection
from ...server.hub import Frame
from .auth import account_for_key, check_timestamp, sign, ws_api_payload
from .context import BinanceContext
from .errors import BinanceError

MAX_STREAMS = 1024
_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class StreamEndpoints:
    def __init__(self, ctx: BinanceContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        r = app.router
        for path in ("/ws", "/ws/{tail:.*}", "/stream", "/stream/{tail:.*}"):
            r.add_get(path, self.spot_market)
        r.add_get("/fstream/private/{mode:ws|stream}", self.futures_private)
        r.add_get("/fstream/private/{mode:ws|stream}/{tail:.*}", self.futures_private)
        r.add_get("/fstream/{tail:.*}", self.futures_market)
        r.add_get("/ws-api/v3", self.ws_api)

    # --- market streams ----------------------------------------------------------------------
    async def spot_market(self, request: web.Request) -> web.StreamResponse:
        wrapped = request.path.startswith("/stream")
        return await self._market(request, "spot", wrapped, request.match_info.get("tail", ""), heartbeat=20.0)

    async def futures_market(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        parts = [p for p in tail.split("/") if p]
        if parts and parts[0] in ("public", "market"):
            parts = parts[1:]
        if not parts or parts[0] not in ("ws", "stream"):
            raise web.HTTPNotFound()
        return await self._market(request, "usdm", parts[0] == "stream", "/".join(parts[1:]), heartbeat=180.0)

    async def _market(self, request: web.Request, venue: str, wrapped: bool, tail: str,
                      heartbeat: float) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=heartbeat, max_msg_size=64 * 1024)
        await ws.prepare(request)
        state = {"combined": wrapped}

        def render(topic: str, frame: Frame) -> str:
            return frame.wrapped if state["combined"] else frame.data

        conn = self.ctx.exchange_connection(ws, request.path, render)
        conn.unknown_event = self._unknown_event
        initial = [s for s in tail.split("/") if "@" in s]
        if request.query.get("streams"):
            initial += [s for s in request.query["streams"].split("/") if s]
        for stream in initial[:MAX_STREAMS]:
            conn.subscribe(f"{venue}:{stream_name(stream)}")
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._control(conn, venue, msg.data, state)
                    if reply is not None:
                        conn.send_text(dumps(reply))
                elif msg.type == WSMsgType.BINARY:
                    conn.send_text(dumps({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}))
        finally:
            await self.ctx.release_connection(conn)
        return ws

    def _control(self, conn: ClientConnection, venue: str, text: str, state: dict[str, bool]) -> dict[str, Any] | None:
        try:
            request = json.loads(text)
        except ValueError:
            return {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}
        if not isinstance(request, dict):
            return {"code": 2, "msg": "Invalid request: expected an object"}
        request_id = request.get("id")
        if not _valid_id(request_id):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
        method = request.get("method")
        if not isinstance(method, str):
            return {"code": 2, "msg": "Invalid request: missing field `method`", "id": request_id}
        params = request.get("params", [])
        if not isinstance(params, list):
            return {"code": 2, "msg": "Invalid request: params must be an array", "id": request_id}
        prefix = f"{venue}:"
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) for p in params) or not params:
                return {"code": 2, "msg": "Invalid request: params must be stream names", "id": request_id}
            if method == "SUBSCRIBE" and len(conn.subscriptions) + len(params) > MAX_STREAMS:
                return {"code": 2, "msg": "Invalid request: too many parameters", "id": request_id}
            for stream in params:
                topic = prefix + stream_name(stream)
                if method == "SUBSCRIBE":
                    conn.subscribe(topic)
                else:
                    conn.unsubscribe(topic)
            return {"result": None, "id": request_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": [t[len(prefix):] for t in conn.subscriptions if t.startswith(prefix)], "id": request_id}
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not params or params[0] != "combined":
                return {"code": 0, "msg": "Unknown property", "id": request_id}
            if method == "GET_PROPERTY":
                return {"result": state["combined"], "id": request_id}
            if len(params) != 2 or not isinstance(params[1], bool):
                return {"code": 1, "msg": "Invalid value type: expected Boolean"}
            state["combined"] = params[1]
            return {"result": None, "id": request_id}
        return {"code": 2, "msg": f"Invalid request: unknown variant `{method}`, expected one of {_METHODS}",
                "id": request_id}

    def _unknown_event(self) -> str:
        """An event type no Binance client has a parser for: a robust client ignores (and logs) it."""
        return dumps({"e": "mockUnknownEvent", "E": self.ctx.now_ms()})

    # --- USD-M user data -----------------------------------------------------------------------
    async def futures_private(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("listenKey") or request.match_info.get("tail", "").strip("/")
        account_id = self.ctx.listen_keys.account_for(key, self.ctx.now_ms()) if key else None
        if account_id is None:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        wrapped = request.match_info["mode"] == "stream"
        ws = web.WebSocketResponse(heartbeat=180.0, max_msg_size=64 * 1024)
        await ws.prepare(request)

        def render(topic: str, frame: Frame) -> str:
            return f'{{"stream":"{key}","data":{frame.data}}}' if wrapped else frame.data

        conn = self.ctx.exchange_connection(ws, request.path, render)
        conn.unknown_event = self._unknown_event
        conn.terminate = lambda: self.ctx.listen_keys.expire(key, self.ctx.now_ms())
        conn.subscribe(f"usdm-user:{account_id}")
        self.ctx.listen_keys.attach(key, conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._control(conn, "usdm", msg.data, {"combined": wrapped})
                    if reply is not None and "code" in reply:
                        conn.send_text(dumps(reply))
        finally:
            self.ctx.listen_keys.detach(key, conn)
            await self.ctx.release_connection(conn)
        return ws

    # --- spot WebSocket API (user data) ---------------------------------------------------------
    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        subscriptions: dict[str, int] = {}
        next_id = [0]

        def render(topic: str, frame: Frame) -> str | None:
            sub = subscriptions.get(topic)
            return None if sub is None else f'{{"subscriptionId":{sub},"event":{frame.data}}}'

        conn = self.ctx.exchange_connection(ws, request.path, render)
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}

        def subscribe_signature(params: dict[str, Any]) -> dict[str, Any]:
            account = self._ws_api_auth(params)
            topic = f"spot-user:{account.account_id}"
            if topic in subscriptions:
                raise BinanceError(-2035, "User Data Stream subscription already active.")
            subscriptions[topic] = next_id[0]
            next_id[0] += 1
            conn.subscribe(topic)
            return {"subscriptionId": subscriptions[topic]}

        def unsubscribe(params: dict[str, Any]) -> dict[str, Any]:
            wanted = params.get("subscriptionId")
            found = [t for t, s in subscriptions.items() if wanted is None or s == wanted]
            if wanted is not None and not found:
                raise BinanceError(-2036, "User Data Stream subscription not active.")
            for topic in found:
                sub = subscriptions.pop(topic)
                conn.unsubscribe(topic)
                conn.send_text(dumps({"subscriptionId": sub,
                                      "event": {"e": "eventStreamTerminated", "E": self.ctx.now_ms()}}))
            return {}

        def terminate() -> None:
            unsubscribe({})

        conn.terminate = terminate
        conn.unknown_event = lambda: dumps({"subscriptionId": next(iter(subscriptions.values()), 0),
                                            "event": {"e": "mockUnknownEvent", "E": self.ctx.now_ms()}})
        handlers["userDataStream.subscribe.signature"] = subscribe_signature
        handlers["userDataStream.unsubscribe"] = unsubscribe
        handlers["session.subscriptions"] = lambda p: [{"subscriptionId": s} for s in subscriptions.values()]
        handlers["ping"] = lambda p: {}
        handlers["time"] = lambda p: {"serverTime": self.ctx.now_ms()}
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                conn.send_text(dumps(self._ws_api_call(msg.data, handlers)))
        finally:
            await self.ctx.release_connection(conn)
        return ws

    def _ws_api_call(self, text: str, handlers: dict[str, Callable[[dict[str, Any]], Any]]) -> dict[str, Any]:
        request_id: Any = None
        try:
            try:
                request = json.loads(text)
            except ValueError:
                raise BinanceError(-1000, "Invalid JSON.") from None
            if not isinstance(request, dict):
                raise BinanceError(-1000, "Invalid request.")
            request_id = request.get("id")
            if not _valid_id(request_id):
                request_id = None
                raise BinanceError(-1000, "Invalid 'id' in JSON request; expected an integer or a string.")
            method = request.get("method")
            if isinstance(method, str) and method.startswith("v3/"):
                method = method[3:]
            params = request.get("params", {})
            if not isinstance(params, dict):
                raise BinanceError(-1000, "Invalid 'params' in JSON request; expected an object.")
            handler = handlers.get(method) if isinstance(method, str) else None
            if handler is None:
                raise BinanceError(-1000, f"Unknown method: {method}")
            return {"id": request_id, "status": 200, "result": handler(params)}
        except BinanceError as error:
            return {"id": request_id, "status": error.status, "error": error.body()}

    def _ws_api_auth(self, params: dict[str, Any]) -> Any:
        api_key = params.get("apiKey")
        account = account_for_key(self.ctx.engine, api_key if isinstance(api_key, str) else None)
        signature = params.get("signature")
        if not isinstance(signature, str):
            raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        if sign(account.api_secret, ws_api_payload(params)) != signature.lower():
            raise BinanceError(-1022, "Signature for this request is not valid.")
        timestamp, window = params.get("timestamp"), params.get("recvWindow")
        check_timestamp(self.ctx.now_ms(), timestamp if isinstance(timestamp, int) else None,
                        window if isinstance(window, int) else None)
        return account


def stream_name(stream: str) -> str:
    """Binance stream names are case-sensitive after the symbol (`markPrice`), the symbol is lowercase."""
    symbol, at, rest = stream.partition("@")
    return symbol.lower() + at + rest


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and 0 < len(value) <= 36
