"""WebSocket channel names as Bitstamp spells them, and the hub topics they map to.

Public: `live_trades_{market}`, `order_book_{market}` (top 100 levels, full book on every change),
`diff_order_book_{market}` (changed levels only), `funding_rate_{market}` (perpetuals). Private:
`private-my_orders_{market}-{user_id}`, `private-my_trades_{market}-{user_id}`. `{market}` is the
lowercase URL symbol (`btcusdt`, `btcusdt-perp`).

Not served (a subscription gets `bts:error` "Invalid channel provided.", our choice): Bitstamp's
`detail_order_book_*` and `live_orders_*` (order-level data the L2 engine does not publish), and the
other private channels (`private-my_settlements-*`, `private-live_trades_*`, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PUBLIC = ("live_trades", "order_book", "diff_order_book", "funding_rate")
PRIVATE = ("my_orders", "my_trades")
UNSERVED = ("detail_order_book", "live_orders")
_PUBLIC = re.compile(r"^(diff_order_book|detail_order_book|order_book|live_trades|live_orders|funding_rate)"
                     r"_([a-z0-9]+(?:-[a-z0-9]+)*)$")
_PRIVATE = re.compile(r"^private-(my_orders|my_trades)_([a-z0-9]+(?:-[a-z0-9]+)*)-([0-9]{1,18})$")


@dataclass(frozen=True)
class ChannelName:
    kind: str
    market: str
    user_id: int | None = None

    @property
    def private(self) -> bool:
        return self.user_id is not None


def parse(channel: str) -> ChannelName | None:
    """The parts of a channel name this dialect serves, or None for a malformed or unserved one."""
    match = _PRIVATE.match(channel)
    if match is not None:
        return ChannelName(match.group(1), match.group(2), int(match.group(3)))
    match = _PUBLIC.match(channel)
    if match is None or match.group(1) in UNSERVED:
        return None
    return ChannelName(match.group(1), match.group(2))


def public(kind: str, market: str) -> str:
    return f"{kind}_{market}"


def private(kind: str, market: str, user_id: int) -> str:
    return f"private-{kind}_{market}-{user_id}"


def topic(channel: str) -> str:
    """The hub topic of a channel (prefixed so no other dialect's topic can collide with it)."""
    return "bitstamp:" + channel
