"""Injectable clocks. The engine reads time only through one of these, in integer microseconds."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int:
        """Current time in microseconds since the Unix epoch."""
        ...


class WallClock:
    """Real time, for serving."""

    def now_us(self) -> int:
        return time.time_ns() // 1000


class VirtualClock:
    """Time that moves only when told to: tests and replays are exact with it."""

    def __init__(self, start_us: int = 1_700_000_000_000_000) -> None:
        self._now_us = start_us

    def now_us(self) -> int:
        return self._now_us

    def advance_us(self, delta_us: int) -> None:
        if delta_us < 0:
            raise ValueError("a virtual clock never goes back")
        self._now_us += delta_us

    def advance_ms(self, delta_ms: int) -> None:
        self.advance_us(delta_ms * 1000)

    def set_us(self, now_us: int) -> None:
        if now_us < self._now_us:
            raise ValueError("a virtual clock never goes back")
        self._now_us = now_us
