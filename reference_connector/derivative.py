"""Perpetual derivatives: the spot surface plus the perpetual-trading role (funding info, positions,
leverage, position mode).

Positions come from the REST position endpoint and the user stream, last by event time; funding info from
the market stream and REST (see `order_book_tracker`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .accounts import PositionBook
from .connector_base import ConnectorBase
from .dialects.base import Dialect
from .dialects.binance import BinanceUsdm
from .dialects.bitstamp import BitstampPerpetual
from .dialects.okx import OkxSwap
from .types import FundingInfo, LeverageUpdate, Position, PositionUpdate


class Derivative(ConnectorBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.positions = PositionBook()
        self.position_mode_hedge = False

    # --- perpetual trading ----------------------------------------------------------------------------
    def get_funding_info(self, trading_pair: str) -> FundingInfo | None:
        """The latest funding info of `trading_pair` (None until the first one arrived)."""
        tracker = self.order_book_tracker
        return tracker.funding.get(trading_pair) if tracker is not None else None

    @property
    def account_positions(self) -> dict[str, Position]:
        """Open positions by trading pair (amount signed: negative is short)."""
        return self.positions.positions()

    def get_leverage(self, trading_pair: str) -> int | None:
        return self.positions.leverage(trading_pair)

    async def set_leverage(self, trading_pair: str, leverage: int) -> int:
        """Set the pair's leverage; returns what the exchange confirmed."""
        payload = await self.rest.request(self.dialect.set_leverage_request(trading_pair, leverage))
        confirmed = self.dialect.parse_set_leverage(payload)
        self.positions.set_leverage(trading_pair, confirmed, self.time_sync.now_ms())
        return confirmed

    async def set_position_mode(self, hedge: bool) -> None:
        """One-way (False) or hedge (True) mode; ExchangeRejected if the exchange refuses."""
        request = self.dialect.position_mode_request(hedge)
        if request is not None:
            await self.rest.request(request)
        self.position_mode_hedge = hedge

    # --- hooks ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, bool]:
        status = super().status()
        tracker = self.order_book_tracker
        status["funding_info"] = tracker is not None and tracker.funding_initialized
        if self.trading_required:
            status["positions"] = self.positions.initialized
        return status

    def _on_position(self, update: PositionUpdate) -> None:
        self.positions.apply(update)

    def _on_leverage(self, update: LeverageUpdate) -> None:
        self.positions.set_leverage(update.trading_pair, update.leverage, update.time_ms)

    def _after_order_activity(self) -> None:
        self._balance_refresh.set()

    async def _refresh_account(self) -> None:
        await super()._refresh_account()
        request = self.dialect.positions_request()
        if request is not None:
            asked_ms = self.time_sync.now_ms()
            updates = self.dialect.parse_positions(await self.rest.request(request))
            updates = [u if u.time_ms else dataclasses.replace(u, time_ms=asked_ms) for u in updates]
            self.positions.apply_snapshot(updates, list(self.trading_rules), asked_ms)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["positions_stale_updates"] = self.positions.stale_updates
        return out


class BinancePerpetualDerivative(Derivative):
    """Binance USD-M perpetuals: REST `/fapi`, depth on `/fstream/public/ws` (pu chain), mark price on
    `/fstream/market/ws`, user data on `/fstream/private/ws?listenKey=`."""

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        return BinanceUsdm(api_key, api_secret, self.config.recv_window_ms)


class OkxPerpetualDerivative(Derivative):
    """OKX v5 USDT swaps (`BTC-USDT-SWAP` as "BTC-USDT"): net mode, cross margin. Sizes are contracts on the
    wire and base amounts at this surface. Funding rate and mark price come on separate channels; OKX
    publishes no index price (`FundingInfo.index_price` is None)."""

    def __init__(self, rest_url: str, ws_url: str, api_key: str = "", api_secret: str = "",
                 trading_pairs: Sequence[str] = (), *, passphrase: str = "", **tuning: Any) -> None:
        self._passphrase = passphrase
        super().__init__(rest_url, ws_url, api_key, api_secret, trading_pairs, **tuning)

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        return OkxSwap(api_key, api_secret, self._passphrase)


class BitstampPerpetualDerivative(Derivative):
    """Bitstamp perpetuals (`btcusdt-perp` as "BTC-USDT"): one position per market, cross margin; funding,
    mark and index price on the `funding_rate_{market}` channel."""

    def _make_dialect(self, api_key: str, api_secret: str) -> Dialect:
        return BitstampPerpetual(api_key, api_secret, urlsplit(self.rest_url).netloc)
