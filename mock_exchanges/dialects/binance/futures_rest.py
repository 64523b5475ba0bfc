"""Binance USD-M futures REST API (`/fapi`), served from the engine's perpetual markets."""

from __future__ import annotations

from aiohttp import web

from .context import BinanceContext


class FuturesRest:
    def __init__(self, ctx: BinanceContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        pass
