"""Bitstamp-compatible dialect (spot + perpetuals): no nonce, no update id, only timestamps; v2 HMAC auth."""

from .dialect import BitstampDialect

__all__ = ["BitstampDialect"]
