"""Fan-out of encoded engine events to the connections subscribed to their topics.

Encoders (one per dialect) turn an engine event into `(topic, Frame)` pairs, and only for topics that
somebody is subscribed to: an event is encoded once per dialect, never once per client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..engine import Event
from ..frames import Channel, Frame, UserKind

__all__ = ["Channel", "EventHub", "Frame", "Sink", "UserKind"]


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
