"""Request-weight accounting per caller (API key, else remote address), per minute of server time.

Past the limit a caller gets 429 with Retry-After; a caller that keeps going after `ban_after` 429s in
the same minute is banned with 418 for `ban_seconds`, as Binance does to IPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BinanceError


@dataclass
class _Usage:
    minute: int = -1
    weight: int = 0
    rejections: int = 0
    banned_until_ms: int = 0


@dataclass
class RateLimiter:
    weight_per_minute: int = 6000
    ban_after: int = 5
    ban_seconds: int = 120
    _usage: dict[str, _Usage] = field(default_factory=dict)

    def charge(self, caller: str, weight: int, now_ms: int) -> int:
        """Adds `weight`; returns the minute's used weight, or raises the 429/418 BinanceError."""
        usage = self._usage.setdefault(caller, _Usage())
        if now_ms < usage.banned_until_ms:
            retry = -(-(usage.banned_until_ms - now_ms) // 1000)
            raise BinanceError(
                -1003,
                f"Way too much request weight used; IP banned until {usage.banned_until_ms}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
                status=418,
                headers={"Retry-After": str(retry)},
            )
        minute = now_ms // 60_000
        if minute != usage.minute:
            usage.minute, usage.weight, usage.rejections = minute, 0, 0
        if usage.weight + weight > self.weight_per_minute:
            usage.rejections += 1
            if usage.rejections >= self.ban_after:
                usage.banned_until_ms = now_ms + self.ban_seconds * 1000
            retry = max(1, 60 - (now_ms % 60_000) // 1000)
            raise BinanceError(
                -1003,
                f"Too much request weight used; current limit is {self.weight_per_minute} request weight per "
                "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                status=429,
                headers={"Retry-After": str(retry), "X-MBX-USED-WEIGHT-1M": str(usage.weight)},
            )
        usage.weight += weight
        return usage.weight
