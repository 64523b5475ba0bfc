"""The dashboard's routes: the page, its static files and the live socket.

- `GET /` (only when no dialect has a route there) and `GET /_mock/dashboard`: the page. A dialect that owns
  `/` (Bitstamp serves its WebSocket there) can call `dashboard_page(request)` for plain requests.
- `GET /_mock/dashboard/static/{name}`: `app.js` and `style.css`, shipped in the package.
- `GET /_mock/live`: the WebSocket of snapshots (`live.py`).
Under a control token the page and the live socket want it as `?token=` (or `Authorization: Bearer`, as
the control API does); the page carries it along to both. The static files hold no data and are open.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from ..server.control import CONTROL_PREFIX
from ..server.exchange import MockExchange
from .live import LiveFeed

PAGE_PATH = CONTROL_PREFIX + "/dashboard"
STATIC_PREFIX = PAGE_PATH + "/static"
LIVE_PATH = CONTROL_PREFIX + "/live"
_STATIC_TYPES = {"app.js": "text/javascript", "style.css": "text/css"}
#: the page may load its own script and style and open its own socket; nothing else, from nowhere else
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


@dataclass
class Dashboard:
    """What the dashboard's handlers share: the live feed, the token, and the shipped files (read once)."""

    feed: LiveFeed
    token: str | None
    page: str
    files: dict[str, str]

    def authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        offered = request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(offered.encode(), self.token.encode())


DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)


def _refused() -> web.Response:
    return web.json_response({"error": "control API token required (open the page with ?token=<token>)"},
                             status=401)


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    """The dashboard page, for any handler of the app that serves it (e.g. a dialect's own `GET /`)."""
    dashboard = request.app.get(DASHBOARD_KEY)
    if dashboard is None:
        raise web.HTTPNotFound(text="no dashboard on this server")
    if not dashboard.authorized(request):
        return _refused()
    return web.Response(text=dashboard.page, content_type="text/html", headers=_PAGE_HEADERS)


async def _static_file(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[DASHBOARD_KEY]
    name = request.match_info["name"]
    text = dashboard.files.get(name)
    if text is None:
        raise web.HTTPNotFound()
    return web.Response(text=text, content_type=_STATIC_TYPES[name], headers={"Cache-Control": "no-cache",
                                                                               "X-Content-Type-Options": "nosniff"})


async def _live(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[DASHBOARD_KEY]
    if not dashboard.authorized(request):
        return _refused()
    return await dashboard.feed.serve(request)


def serves_root(app: web.Application) -> bool:
    """Whether some route of `app` (a dialect's, or the dashboard's) already answers `/`."""
    return any(resource.canonical == "/" for resource in app.router.resources())


def install_dashboard(app: web.Application, exchange: MockExchange, token: str | None) -> bool:
    """Add the dashboard's routes to `app`; returns whether the page took `/` (else it is at `PAGE_PATH`)."""
    feed = LiveFeed(exchange)
    app[DASHBOARD_KEY] = Dashboard(feed, token, _static("index.html"), {n: _static(n) for n in _STATIC_TYPES})

    async def shutdown(_: web.Application) -> None:
        await feed.close()

    app.on_shutdown.append(shutdown)
    router = app.router
    took_root = not serves_root(app)
    if took_root:
        router.add_get("/", dashboard_page)
    router.add_get(PAGE_PATH, dashboard_page)
    router.add_get(STATIC_PREFIX + "/{name}", _static_file)
    router.add_get(LIVE_PATH, _live)
    return took_root
