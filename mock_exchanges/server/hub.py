"""Fan-out of encoded engine events to the connections subscribed to their topics.

Encoders (one per dialect) turn an engine event into `(topic, Frame)` pairs, and only for topics that
somebody is subscribed to: an event is encoded once per dialect, never once per client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..engine import Event


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


class Sink(Protocol):
    def deliver(self, topic: str, frame: Frame) -> None: ...


Encoder = Callable[[Event, "EventHub"], None]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, dict[Sink, None]] = {}
        self._encoders: list[Encoder] = []
        self.published = 0

    def add_encoder(self, encoder: Encoder) -> None:
        self._encoders.append(encoder)

    def wants(self, topic: str) -> bool:
        return topic in self._subscribers

    def subscribe(self, topic: str, sink: Sink) -> bool:
        """Returns False when the sink was already subscribed (a duplicate subscribe is not doubled)."""
        sinks = self._subscribers.setdefault(topic, {})
        if sink in sinks:
            return False
        sinks[sink] = None
        return True

    def unsubscribe(self, topic: str, sink: Sink) -> bool:
        sinks = self._subscribers.get(topic)
        if not sinks or sink not in sinks:
            return False
        del sinks[sink]
        if not sinks:
            del self._subscribers[topic]
        return True

    def drop(self, sink: Sink) -> None:
        for topic in [t for t, sinks in self._subscribers.items() if sink in sinks]:
            self.unsubscribe(topic, sink)

    def topics(self) -> dict[str, int]:
        return {topic: len(sinks) for topic, sinks in self._subscribers.items()}

    def publish(self, event: Event) -> None:
        """The engine listener: encode the event for every dialect that has an interested client."""
        for encoder in self._encoders:
            encoder(event, self)

    def emit(self, topic: str, frame: Frame) -> None:
        sinks = self._subscribers.get(topic)
        if sinks:
            self.published += 1
            for sink in list(sinks):
                sink.deliver(topic, frame)
