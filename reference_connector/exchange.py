"""Spot exchanges: the connector surface of `ConnectorBase`, one class per dialect.

    connector = BinanceExchange(server.base_url, server.ws_url, api_key, api_secret, trading_pairs=["BTC-USDT"])
    await connector.start()
    await connector.wait_ready(10)
    order_id = await connector.buy("BTC-USDT", Decimal("0.01"), "LIMIT", Decimal("29000"))
    await connector.cancel("BTC-USDT", order_id)
    await connector.stop()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .connector_base import ConnectorBase
from .dialects.base import Dialect
from .dialects.binance import BinanceSpot
from .dialects.bitstamp import BitstampSpot
from .dialects.okx import OkxSpot


class Exchange(ConnectorBase):
    """A spot market connector (no perpetual-trading role)."""


class BinanceExchange(Exchange):
    """Binance spot: REST `/api/v3`, book diffs on `/ws` (U/u ids), user data on the WS API `/ws-api/v3`."""

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        return BinanceSpot(api_key, api_secret, self.config.recv_window_ms)


class OkxExchange(Exchange):
    """OKX v5 spot: REST `/api/v5`, books on `/ws/v5/public` (seqId/prevSeqId chain + CRC32 checksum, the
    snapshot on the socket), user data on `/ws/v5/private`. OKX keys come with a passphrase."""

    def __init__(self, rest_url: str, ws_url: str, api_key: str = "", api_secret: str = "",
                 trading_pairs: Sequence[str] = (), *, passphrase: str = "", **tuning: Any) -> None:
        self._passphrase = passphrase
        super().__init__(rest_url, ws_url, api_key, api_secret, trading_pairs, **tuning)

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        return OkxSpot(api_key, api_secret, self._passphrase)


class BitstampExchange(Exchange):
    """Bitstamp v2 spot: REST `/api/v2`, book diffs on the root WebSocket with no update id at all (spliced on
    the REST snapshot by microtimestamp, re-snapshotted periodically), private channels with a token."""

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        return BitstampSpot(api_key, api_secret, urlsplit(self.rest_url).netloc)
