"""Tokens for private WebSocket channels, from `POST /api/v2/websockets_token/`.

Bitstamp answers `{"token": "...", "valid_sec": 60, "user_id": 4848701}`; a subscription to
`private-my_orders_{pair}-{user_id}` must carry a token of that user that is still valid. The mock's
user id is the engine account id (our choice). A token may be used for several subscriptions while valid.
"""

from __future__ import annotations

import random
import string

VALID_S = 60
_ALPHABET = string.ascii_letters + string.digits


class WsTokens:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._tokens: dict[str, tuple[int, int]] = {}

    def issue(self, account_id: int, now_ms: int) -> str:
        self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now_ms}
        token = "".join(self._rng.choices(_ALPHABET, k=32))
        self._tokens[token] = (account_id, now_ms + VALID_S * 1000)
        return token

    def account_for(self, token: str, now_ms: int) -> int | None:
        entry = self._tokens.get(token)
        return entry[0] if entry is not None and entry[1] > now_ms else None
