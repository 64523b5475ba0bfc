"""Tuning knobs of a connector; every one can be overridden by keyword when the connector is built."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConnectorConfig:
    #: seeds the jitter of every backoff (reconnects, snapshot retries): a run can be replayed
    seed: int = 0
    request_timeout_s: float = 10.0
    #: REST snapshot depth (Binance spot allows up to 5000, USD-M up to 1000)
    snapshot_depth: int = 1000
    #: safety-net snapshot of every book this often, even when in sync (0: never)
    snapshot_interval_s: float = 60.0
    #: the same for dialects without update ids (Bitstamp), where it is the only repair of a lost diff
    snapshot_interval_no_ids_s: float = 10.0
    #: silence on a market stream before an application-level probe is sent (where the dialect has one)
    probe_after_s: float = 5.0
    #: silence on a stream after which it is considered stalled and reconnected
    stall_timeout_s: float = 15.0
    reconnect_base_s: float = 0.2
    reconnect_cap_s: float = 10.0
    #: a diff held back waiting for a missing one: resync if the hole is not filled within this time
    gap_timeout_s: float = 1.0
    max_buffer: int = 10_000
    max_held: int = 64
    subscribe_timeout_s: float = 5.0
    #: reconciliation of active orders by REST: every `poll_interval_s` while the user stream has been
    #: silent for `user_stream_silence_s`, else every `long_poll_interval_s`
    poll_interval_s: float = 5.0
    long_poll_interval_s: float = 10.0
    user_stream_silence_s: float = 10.0
    #: consecutive "order does not exist" answers before an order is declared lost
    lost_after: int = 2
    lost_confirm_delay_s: float = 0.5
    #: USD-M listenKey keepalive period
    keepalive_interval_s: float = 1800.0
    #: REST refresh of balances (and positions), as a safety net beside the user stream
    balance_refresh_s: float = 30.0
    #: REST refresh of funding info, as a safety net beside the market stream
    funding_refresh_s: float = 60.0
    #: aiohttp WebSocket ping interval (None: no pings)
    ws_heartbeat_s: float | None = 20.0
    #: Binance recvWindow sent with signed requests (None: the exchange default)
    recv_window_ms: int | None = None
    #: book level keys: Decimal (default), or float where the market's price filter proves floats exact
    float_keys: bool = False

    def with_overrides(self, **tuning: Any) -> ConnectorConfig:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(tuning) - known)
        if unknown:
            raise TypeError(f"unknown tuning option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **tuning)


class Backoff:
    """Bounded exponential backoff with jitter drawn from a seeded RNG (so a run can be replayed).

    The n-th delay lies in [d/2, d] with d = min(cap, base * 2**n) ("equal jitter"): never zero, never
    above the cap.
    """

    def __init__(self, base_s: float, cap_s: float, rng: random.Random) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("need 0 < base <= cap")
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * float(2 ** min(self.attempt, 30)))
        self.attempt += 1
        jitter: float = self.rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter

    def reset(self) -> None:
        self.attempt = 0


def seeded_rng(seed: int, name: str) -> random.Random:
    """An RNG per purpose, derived from the connector's seed and a name (stable across runs)."""
    return random.Random(f"{seed}:{name}")
