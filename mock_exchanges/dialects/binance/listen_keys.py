"""USD-M listenKeys: one per account, valid 60 minutes after the last keepalive."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from ...server.connection import ClientConnection

VALIDITY_MS = 60 * 60 * 1000
_ALPHABET = string.ascii_letters + string.digits


@dataclass
class _Key:
    account_id: int
    expires_ms: int
    connections: set[ClientConnection] = field(default_factory=set)


class ListenKeys:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._keys: dict[str, _Key] = {}

    def create(self, account_id: int, now_ms: int) -> str:
        """Binance returns the account's existing key (extended) if it has one."""
        key = self.keepalive(account_id, now_ms)
        if key is not None:
            return key
        key = "".join(self._rng.choices(_ALPHABET, k=64))
        self._keys[key] = _Key(account_id, now_ms + VALIDITY_MS)
        return key

    def key_of(self, account_id: int, now_ms: int) -> str | None:
        for key, entry in self._keys.items():
            if entry.account_id == account_id and entry.expires_ms > now_ms:
                return key
        return None

    def keepalive(self, account_id: int, now_ms: int) -> str | None:
        key = self.key_of(account_id, now_ms)
        if key is not None:
            self._keys[key].expires_ms = now_ms + VALIDITY_MS
        return key

    def account_for(self, key: str, now_ms: int) -> int | None:
        entry = self._keys.get(key)
        return entry.account_id if entry is not None and entry.expires_ms > now_ms else None

    def attach(self, key: str, conn: ClientConnection) -> None:
        if key in self._keys:
            self._keys[key].connections.add(conn)

    def detach(self, key: str, conn: ClientConnection) -> None:
        if key in self._keys:
            self._keys[key].connections.discard(conn)

    def expire(self, key: str, now_ms: int) -> None:
        """Tell the key's streams `listenKeyExpired`, then close them, as Binance does."""
        entry = self._keys.pop(key, None)
        if entry is None:
            return
        for conn in list(entry.connections):
            conn.send_text(f'{{"e":"listenKeyExpired","E":{now_ms},"listenKey":"{key}"}}')
            conn.close_soon(reason="listenKey expired", after_flush=True)

    def expire_due(self, now_ms: int) -> None:
        for key in [k for k, e in self._keys.items() if e.expires_ms <= now_ms]:
            self.expire(key, now_ms)
