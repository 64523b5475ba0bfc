"""Runs the private stream and hands its events to the connector, remembering when it last spoke.

The time of the last event decides how often orders are reconciled by REST (the stream may be silently
broken), and every (re)connection triggers a full reconciliation, since events may have been missed while
it was down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import aiohttp

from .config import ConnectorConfig
from .dialects.base import Dialect
from .rest import RestClient
from .tasks import TaskSet
from .types import UserEvent
from .user_stream_data_source import UserStreamDataSource


class UserStreamTracker:
    def __init__(self, dialect: Dialect, session: aiohttp.ClientSession, rest: RestClient, ws_url: str,
                 config: ConnectorConfig, on_events: Callable[[Sequence[UserEvent]], None],
                 on_connected: Callable[[], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._on_events = on_events
        self._on_connected = on_connected
        self.last_event_time = clock()
        self.events = 0
        self.connections = 0
        self.disconnections = 0
        self.initialized = False
        self.data_source = UserStreamDataSource(dialect, session, rest, ws_url, config, self._events,
                                                self._connected, self._disconnected)

    @property
    def connected(self) -> bool:
        return self.data_source.stream.connected

    def silence_s(self) -> float:
        return self.clock() - self.last_event_time

    def start(self, tasks: TaskSet) -> None:
        tasks.spawn(self.data_source.run(), "user:stream")

    def _events(self, events: Sequence[UserEvent]) -> None:
        self.last_event_time = self.clock()
        self.events += len(events)
        self._on_events(events)

    def _connected(self) -> None:
        self.connections += 1
        self.initialized = True
        self.last_event_time = self.clock()
        self._on_connected()

    def _disconnected(self, reason: str) -> None:
        self.disconnections += 1

    def stats(self) -> dict[str, int]:
        source = self.data_source
        return {
            "events": self.events,
            "connections": self.connections,
            "reconnects": source.stream.stats.reconnects,
            "stalls": source.stream.stats.stalls,
            "stream_ends": source.stream_ends,
            "keepalives": source.keepalives,
            "keepalive_failures": source.keepalive_failures,
            "parse_errors": source.stream.stats.parse_errors,
        }
