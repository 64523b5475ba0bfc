"""What an encoded message is, with the metadata the fault layer matches on (shared by hub, dialects, faults)."""

from __future__ import annotations

import struct

_SHORT_HEADERS = [bytes((0x81, n)) for n in range(126)]
_MEDIUM_HEADER = struct.Struct("!BBH")
_LONG_HEADER = struct.Struct("!BBQ")


def text_frame(text: str) -> bytes:
    """`text` as one WebSocket text frame as a server sends it: final, unmasked, uncompressed (RFC 6455 5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return _SHORT_HEADERS[size] + payload
    if size < 65536:
        return _MEDIUM_HEADER.pack(0x81, 126, size) + payload
    return _LONG_HEADER.pack(0x81, 127, size) + payload


def text_frame_payload(frame: bytes) -> bytes:
    """The payload of a frame made by `text_frame`."""
    size = frame[1]
    return frame[2 if size < 126 else 4 if size == 126 else 10:]


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

    __slots__ = ("_data_wire", "_wrapped", "_wrapped_wire", "channel", "data", "first_update_id", "kind",
                 "last_update_id", "order_id", "stream", "symbol")

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
        self._data_wire: bytes | None = None
        self._wrapped_wire: bytes | None = None

    @property
    def wrapped(self) -> str:
        if self._wrapped is None:
            self._wrapped = f'{{"stream":"{self.stream}","data":{self.data}}}'
        return self._wrapped

    def wire(self, text: str) -> bytes:
        """`text`, this frame as one connection renders it, as a WebSocket frame (`text_frame`). The frame's own
        renderings, `data` and `wrapped`, are framed once however many clients they go to."""
        if text is self.data:
            if self._data_wire is None:
                self._data_wire = text_frame(text)
            return self._data_wire
        if text is self._wrapped:
            if self._wrapped_wire is None:
                self._wrapped_wire = text_frame(text)
            return self._wrapped_wire
        return text_frame(text)
