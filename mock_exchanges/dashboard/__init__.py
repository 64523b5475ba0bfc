"""The live dashboard `mock-exchange serve` shows at `/`: ladders, trades, funding, connections, the fault log,
and buttons for the control API's steering actions.

The page is three static files (`static/`: plain HTML, JS and CSS, no build step, nothing fetched from the
internet) fed by the `/_mock/live` WebSocket; `install_dashboard` adds its routes to an app (`create_app` does).
"""

from .live import LiveFeed
from .routes import DASHBOARD_KEY, LIVE_PATH, PAGE_PATH, dashboard_page, install_dashboard, serves_root

__all__ = ["DASHBOARD_KEY", "LIVE_PATH", "PAGE_PATH", "LiveFeed", "dashboard_page", "install_dashboard",
           "serves_root"]
