"""Fan-out of encoded engine events to the connections subscribed to their topics.

Encoders (one per dialect) turn an engine event into `(topic, Frame)` pairs, and only for topics that
somebody is subscribed to: an event is encoded once per dialect, never once per client. An encoder names
its handler per event type (`routes`), and the hub calls that handler directly: on the push path, one call
per event and dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..engine import Event
from ..frames import Channel, Frame, UserKind

__all__ = ["Channel", "Encoder", "EventHub", "Frame", "Handler", "Sink", "UserKind"]


class Sink(Protocol):
    def deliver(self, topic: str, frame: Frame) -> None: ...


#: encodes one engine event of the type it is routed for, emitting its frames on the hub
Handler = Callable[[Any, "EventHub"], None]


class Encoder(Protocol):
    def routes(self) -> Mapping[type, Handler]:
        """The handler of each engine event type this dialect encodes (the types it leaves out, it never sees)."""
        ...


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, dict[Sink, None]] = {}
        #: the handlers of every encoder, per event type, in the order the encoders were added
        self._routes: dict[type, list[Handler]] = {}
        #: how many topics with subscribers there are per family (a topic's text before its first ':')
        self._families: dict[str, int] = {}
        self.published = 0

    def add_encoder(self, encoder: Encoder) -> None:
        for event_type, handler in encoder.routes().items():
            self._routes.setdefault(event_type, []).append(handler)

    def wants(self, topic: str) -> bool:
        return topic in self._subscribers

    def wants_family(self, family: str) -> bool:
        """Whether any topic `family:...` has a subscriber: lets an encoder skip building topic names."""
        return family in self._families

    def subscribe(self, topic: str, sink: Sink) -> bool:
        """Returns False when the sink was already subscribed (a duplicate subscribe is not doubled)."""
        sinks = self._subscribers.get(topic)
        if sinks is None:
            sinks = self._subscribers[topic] = {}
            family = topic.split(":", 1)[0]
            self._families[family] = self._families.get(family, 0) + 1
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
            family = topic.split(":", 1)[0]
            left = self._families[family] - 1
            if left:
                self._families[family] = left
            else:
                del self._families[family]
        return True

    def drop(self, sink: Sink) -> None:
        for topic in [t for t, sinks in self._subscribers.items() if sink in sinks]:
            self.unsubscribe(topic, sink)

    def topics(self) -> dict[str, int]:
        return {topic: len(sinks) for topic, sinks in self._subscribers.items()}

    def publish(self, event: Event) -> None:
        """The engine listener: encode the event for every dialect that has an interested client."""
        handlers = self._routes.get(type(event))
        if handlers:
            for handler in handlers:
                handler(event, self)

    def emit(self, topic: str, frame: Frame) -> None:
        sinks = self._subscribers.get(topic)
        if sinks:
            self.published += 1
            for sink in list(sinks):
                sink.deliver(topic, frame)
