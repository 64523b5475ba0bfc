"""Binance-compatible dialect (spot + USD-M perpetuals): U/u/pu update ids, HMAC-SHA256 auth."""

from .dialect import BinanceDialect

__all__ = ["BinanceDialect"]
