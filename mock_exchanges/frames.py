"""What an encoded message is, with the metadata the fault layer matches on (shared by hub, dialects, faults)."""

from __future__ import annotations


class Channel:
    """What a frame carries, in words the fault layer matches on whatever the dialect."""

    DEPTH = "depth"  # order book diffs
    TRADE = "trade"  # public trades
    TICKER = "ticker"  # best bid/ask
    MARK = "mark"  # mark price and funding rate
    USER = "user"  # private order, fill, balance, position and funding events
    OTHER = "other"


class UserKind:
    """The kind of a user-stream frame (`Frame.kind` on the USER channel)."""

    ORDER = "order"  # an order state change without a fill (ack, cancel, expiry, rejection)
    FILL = "fill"  # an order update that carries a fill
    BALANCE = "balance"
    POSITION = "position"
    FUNDING = "funding"


class Frame:
    """One encoded message: its stream name and JSON text; the combined-stream wrapping is made once.

    The metadata (channel, symbol, update-id range, user event kind, order id) is what the fault layer
    matches its rules on, so a schedule reads the same for every dialect.
    """

    __slots__ = ("_wrapped", "channel", "data", "first_update_id", "kind", "last_update_id", "order_id", "stream",
                 "symbol")

    def __init__(self, stream: str, data: str, channel: str = Channel.OTHER, symbol: str = "",
                 first_update_id: int = 0, last_update_id: int = 0, kind: str = "", order_id: int = 0) -> None:
        self.stream = stream
        self.data = data
        self.channel = channel
        #: the engine's market symbol, not the dialect's spelling
        self.symbol = symbol
        self.first_update_id = first_update_id
        self.last_update_id = last_update_id
        self.kind = kind
        self.order_id = order_id
        self._wrapped: str | None = None

    @property
    def wrapped(self) -> str:
        if self._wrapped is None:
            self._wrapped = f'{{"stream":"{self.stream}","data":{self.data}}}'
        return self._wrapped
