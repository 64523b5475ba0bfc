"""What every Bitstamp handler needs: the exchange, the venue's market tables and the dialect's state
(book change times, WebSocket tokens, nonces, request counts)."""

from __future__ import annotations

from ...engine import MarketSpec
from ...server.exchange import MockExchange
from .auth import NonceBook
from .book_times import BookTimes
from .errors import BitstampError, request_error
from .formats import market_id, market_name
from .rate_limit import RateLimiter
from .tokens import WsTokens

#: how many client order ids sent by clients are remembered (Bitstamp shows `client_order_id` only then)
CLIENT_ID_MEMORY = 200_000


class BitstampContext:
    def __init__(self, exchange: MockExchange) -> None:
        self.exchange = exchange
        self.engine = exchange.engine
        #: url symbol (`btcusdt`, `btcusdt-perp`) -> engine market
        self.markets: dict[str, MarketSpec] = {market_id(s.spec): s.spec for s in self.engine.markets.values()}
        #: engine symbol -> url symbol / display name
        self.ids = {spec.symbol: mid for mid, spec in self.markets.items()}
        self.names = {spec.symbol: market_name(spec) for spec in self.markets.values()}
        self.book_times = BookTimes(self.engine.clock.now_us(), exchange.config.history_window,
                                    {symbol: state.last_update_id for symbol, state in self.engine.markets.items()})
        self.tokens = WsTokens(exchange.config.seed + 7)
        self.nonces = NonceBook()
        self.limiter = RateLimiter()
        self._client_ids: dict[tuple[int, str], None] = {}

    def now_ms(self) -> int:
        return self.engine.clock.now_us() // 1000

    def market(self, market: str, missing: str = "404.007") -> MarketSpec:
        """The engine market of a URL symbol (or a display name like `BTC/USDT`), else a 404 error."""
        spec = self.markets.get(market) or self.markets.get(market.replace("/", "").lower())
        if spec is None:
            raise request_error(missing)
        return spec

    def perpetual(self, market: str) -> MarketSpec:
        spec = self.market(market)
        if not spec.is_perpetual:
            raise BitstampError(400, {"status": "error", "reason": "Selected market is not supported.",
                                      "code": "API5504"})
        return spec

    def remember_client_id(self, account_id: int, client_order_id: str) -> None:
        """Before the order is placed: its private events are sent while the engine places it."""
        self._client_ids[(account_id, client_order_id)] = None
        if len(self._client_ids) > CLIENT_ID_MEMORY:
            for stale in list(self._client_ids)[: CLIENT_ID_MEMORY // 2]:
                del self._client_ids[stale]

    def has_client_id(self, account_id: int, client_order_id: str) -> bool:
        """Was this order's client id sent by the client (rather than made up by the engine)?"""
        return (account_id, client_order_id) in self._client_ids
