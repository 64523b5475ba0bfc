"""Serving the engine: the event hub, WebSocket connections, the aiohttp app and the control API."""

from .app import MockExchangeServer, create_app
from .exchange import MockExchange, MockExchangeConfig

__all__ = ["MockExchange", "MockExchangeConfig", "MockExchangeServer", "create_app"]
