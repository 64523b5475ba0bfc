"""Book checksums some dialects send with their messages, computed over the local book's raw strings."""

from __future__ import annotations

import zlib

from .order_book import OrderBook


def signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def okx_checksum(book: OrderBook, depth: int = 25) -> int:
    """OKX v5 (and Bitfinex): CRC32 of the top `depth` bids and asks interleaved as
    `bidPx:bidSz:askPx:askSz:...` (strings exactly as received; a side that runs out is skipped), as a
    signed 32-bit integer."""
    bids = book.bid_rows(depth)
    asks = book.ask_rows(depth)
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += (bids[i][0], bids[i][1])
        if i < len(asks):
            parts += (asks[i][0], asks[i][1])
    return signed32(zlib.crc32(":".join(parts).encode()))
