"""REST faults and WebSocket handshake refusals, as one aiohttp middleware in front of every dialect.

A dialect names its routes' roles (`rest_roles`: create / cancel / snapshot ...) and spells its own error
bodies (`rest_error(kind, retry_after_s)`); the middleware decides, from the schedule, which request gets
which fault. It also records every REST answer in the transcript, keyed by method, path and the request's
parameters minus the ones that change on every call (timestamps, signatures), for replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from .schedule import FaultKind

if TYPE_CHECKING:
    from .controller import FaultController

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: request parameters that differ on every call and so cannot key a recorded answer
VOLATILE_PARAMS = frozenset({"timestamp", "signature", "recvWindow", "nonce"})
CONTROL_PREFIX = "/_mock"


class FaultAwareDialect(Protocol):
    rest_roles: dict[str, list[tuple[str, str]]]

    def rest_error(self, kind: str, retry_after_s: int) -> web.Response: ...


def request_key(request: web.Request) -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query.items()) if k not in VOLATILE_PARAMS)
    return f"{request.method} {request.path}" + (f"?{query}" if query else "")


def fault_middleware(controller: FaultController, dialects: Callable[[], Sequence[Any]]) -> Any:
    """The middleware of an app that serves `controller`'s exchange in `dialects()` (the installed dialects, once
    the app is built). The controller is told them too, to refuse rules they cannot carry out (`check`)."""
    controller.dialects = dialects
    roles: dict[tuple[str, str], tuple[str, Any]] = {}
    built = False

    def lookup(request: web.Request) -> tuple[str | None, Any]:
        nonlocal built
        if not built:
            for dialect in dialects():
                for role, routes in getattr(dialect, "rest_roles", {}).items():
                    for method, pattern in routes:
                        roles[(method, pattern)] = (role, dialect)
            built = True
        resource = request.match_info.route.resource
        pattern = resource.canonical if resource is not None else request.path
        found = roles.get((request.method, pattern))
        if found is not None:
            return found
        speakers = [d for d in dialects() if hasattr(d, "rest_error")]
        return None, (speakers[0] if speakers else None)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if request.path.startswith(CONTROL_PREFIX) or (request.path == "/" and not upgrade):
            return await handler(request)  # the control API and the dashboard page are never faulted
        if upgrade:
            if not controller.admit(request.path):
                return web.Response(status=503, text="Service Unavailable: reconnect later")
            return await handler(request)
        role, dialect = lookup(request)
        rule = controller.rest_fault(request.method, request.path, role)
        if rule is None or dialect is None:
            return await recorded(request, handler)
        kind = rule.kind
        if kind is FaultKind.SLOW_RESPONSE:
            response = await recorded(request, handler)
            await asyncio.sleep(rule.delay_ms / 1000)
            return response
        if kind is FaultKind.UNKNOWN_STATUS or rule.executed:
            await handler(request)
        if kind in (FaultKind.TIMEOUT, FaultKind.RESET):
            if kind is FaultKind.TIMEOUT:
                await asyncio.sleep(rule.duration_s)
            record(request, None)  # no answer: replay drops the connection too
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=504)  # never reaches the client: the socket is gone
        error: web.Response = dialect.rest_error(kind.value, rule.retry_after_s)
        if kind is FaultKind.SERVER_ERROR and rule.status is not None and rule.status >= 500:
            error.set_status(rule.status)
        record(request, error)
        return error

    async def recorded(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        record(request, response)
        return response

    def record(request: web.Request, response: web.StreamResponse | None) -> None:
        """Every answer is recorded, faulted ones too (status 0: none came), so that the n-th request of a
        replay gets what the n-th request of the run got."""
        if controller.transcript is None:
            return
        if response is None:
            controller.record_rest(request_key(request), 0, "")
        elif isinstance(response, web.Response):
            body = response.text if response.body is not None else ""
            controller.record_rest(request_key(request), response.status, body or "")

    return middleware
