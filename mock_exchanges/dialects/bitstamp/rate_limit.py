"""Bitstamp's published request limits: 400 requests per second and 10,000 per 10 minutes, per caller
(API key, else remote address). Over either, the answer is HTTP 400 with response code 400.002, as the
docs' tables list it; Bitstamp publishes no ban rule, so none is modelled here."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import request_error


@dataclass
class _Usage:
    second: int = -1
    in_second: int = 0
    window: int = -1
    in_window: int = 0


@dataclass
class RateLimiter:
    per_second: int = 400
    per_window: int = 10_000
    window_ms: int = 600_000
    _usage: dict[str, _Usage] = field(default_factory=dict)

    def charge(self, caller: str, now_ms: int) -> None:
        usage = self._usage.setdefault(caller, _Usage())
        second, window = now_ms // 1000, now_ms // self.window_ms
        if second != usage.second:
            usage.second, usage.in_second = second, 0
        if window != usage.window:
            usage.window, usage.in_window = window, 0
        if usage.in_second >= self.per_second or usage.in_window >= self.per_window:
            raise request_error("400.002")
        usage.in_second += 1
        usage.in_window += 1
