"""`create_app` builds the aiohttp application; `MockExchangeServer` runs it on loopback for tests and tools.

Modelled on aiohttp's own TestServer: start on a free port (port 0), expose the URL, close everything.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from types import TracebackType

from aiohttp import web

from ..dashboard import PAGE_PATH, install_dashboard
from ..dialects import Dialect, get_dialect
from ..faults.rest import fault_middleware
from .control import CONTROL_PREFIX, install_control
from .exchange import MockExchange

EXCHANGE_KEY = web.AppKey("exchange", MockExchange)
DIALECTS_KEY = web.AppKey("dialects", list)
#: where the dashboard page is: `/`, or `PAGE_PATH` when a dialect serves `/` itself
DASHBOARD_PATH_KEY = web.AppKey("dashboard_path", str)


def create_app(
    exchange: MockExchange,
    dialects: Sequence[str | Dialect] = ("binance",),
    control_token: str | None = None,
) -> web.Application:
    """The aiohttp app serving `exchange` in `dialects`, with the control API under `/_mock`.

    `control_token`: when set, every control request must carry `Authorization: Bearer <token>`, and the
    dashboard (at `/`, see `mock_exchanges.dashboard`) wants it as `?token=<token>`.
    """
    app = web.Application(client_max_size=64 * 1024)

    def installed_dialects() -> list[Dialect]:
        dialects: list[Dialect] = app[DIALECTS_KEY]
        return dialects

    app.middlewares.append(fault_middleware(exchange.faults, installed_dialects))
    app[EXCHANGE_KEY] = exchange
    installed = [get_dialect(d) if isinstance(d, str) else d for d in dialects]
    for dialect in installed:
        dialect.install(app, exchange)
    app[DIALECTS_KEY] = installed
    install_control(app, exchange, control_token)
    app[DASHBOARD_PATH_KEY] = "/" if install_dashboard(app, exchange, control_token) else PAGE_PATH
    return app


class MockExchangeServer:
    """A mock exchange served over real HTTP + WebSocket on 127.0.0.1 (or `host`)."""

    def __init__(
        self,
        exchange: MockExchange | None = None,
        dialects: Sequence[str | Dialect] = ("binance",),
        host: str = "127.0.0.1",
        port: int = 0,
        control_token: str | None = None,
    ) -> None:
        self.exchange = exchange or MockExchange()
        self.host = host
        self.port = port
        if control_token is None and host not in ("127.0.0.1", "localhost", "::1"):
            control_token = secrets.token_urlsafe(24)
        self.control_token = control_token
        self.app = create_app(self.exchange, dialects, control_token)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    @property
    def control_url(self) -> str:
        return self.base_url + CONTROL_PREFIX

    def describe(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        for dialect in self.app[DIALECTS_KEY]:
            urls.update(dialect.describe(self.base_url))
        urls["control API"] = self.control_url
        token = f"?token={self.control_token}" if self.control_token else ""
        urls["dashboard"] = self.base_url + self.app[DASHBOARD_PATH_KEY] + token
        return urls

    async def start(self) -> MockExchangeServer:
        await self.exchange.start()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        await self.exchange.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockExchangeServer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
