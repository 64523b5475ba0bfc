"""OKX-style request limits: N requests per 2-second window, per caller (API key, else address) and endpoint.

OKX's documented limits are per endpoint (some per instrument too); ours count per caller and endpoint
only. Past the limit the request gets HTTP 429 with code 50011.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import RATE_LIMIT, OkxError

WINDOW_MS = 2000


@dataclass
class RateLimiter:
    #: (caller, endpoint) -> (window index, requests in it)
    _windows: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def charge(self, caller: str, endpoint: str, limit: int, now_ms: int) -> None:
        window = now_ms // WINDOW_MS
        key = (caller, endpoint)
        seen, count = self._windows.get(key, (window, 0))
        if seen != window:
            count = 0
        if count >= limit:
            retry = max(1, -(-((window + 1) * WINDOW_MS - now_ms) // 1000))
            raise OkxError(*RATE_LIMIT, status=429, headers={"Retry-After": str(retry)})
        self._windows[key] = (window, count + 1)
