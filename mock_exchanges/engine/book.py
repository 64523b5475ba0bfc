"""The price-time priority order book of one market, in integer ticks and lots."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from .orders import Order


class BookSide:
    """One side. Prices are kept as a sorted list of `sign * ticks` so the best level is always last."""

    __slots__ = ("_keys", "_sign", "is_bid", "lots", "queues")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self._sign = 1 if is_bid else -1
        self.queues: dict[int, deque[Order]] = {}
        self.lots: dict[int, int] = {}
        self._keys: list[int] = []

    def __len__(self) -> int:
        return len(self._keys)

    def best(self) -> int | None:
        return self._sign * self._keys[-1] if self._keys else None

    def prices_best_first(self) -> Iterator[int]:
        sign = self._sign
        for key in reversed(self._keys):
            yield sign * key

    def crosses(self, ticks: int, limit: int | None) -> bool:
        """Would an order resting here at `ticks` trade with an incoming order limited at `limit`?"""
        if limit is None:
            return True
        return ticks >= limit if self.is_bid else ticks <= limit

    def add(self, order: Order) -> int:
        """Queue an order at the back of its level; returns the level's new total lots."""
        ticks = order.price_ticks
        queue = self.queues.get(ticks)
        if queue is None:
            queue = self.queues[ticks] = deque()
            insort(self._keys, self._sign * ticks)
            self.lots[ticks] = 0
        queue.append(order)
        total = self.lots[ticks] + order.remaining_lots
        self.lots[ticks] = total
        return total

    def remove(self, order: Order) -> int:
        """Take an order out of its level; returns the level's new total lots (0: level gone)."""
        ticks = order.price_ticks
        queue = self.queues[ticks]
        queue.remove(order)
        total = self.lots[ticks] - order.remaining_lots
        if not queue:
            self._drop_level(ticks)
            return 0
        self.lots[ticks] = total
        return total

    def reduce_front(self, ticks: int, lots: int) -> int:
        """A fill of `lots` against the level; pops the front order when it is done."""
        queue = self.queues[ticks]
        if queue[0].remaining_lots == 0:
            queue.popleft()
        total = self.lots[ticks] - lots
        if not queue:
            self._drop_level(ticks)
            return 0
        self.lots[ticks] = total
        return total

    def _drop_level(self, ticks: int) -> None:
        del self.queues[ticks]
        del self.lots[ticks]
        key = self._sign * ticks
        keys = self._keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def depth(self, limit: int | None = None) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        lots = self.lots
        for ticks in self.prices_best_first():
            if limit is not None and len(out) >= limit:
                break
            out.append((ticks, lots[ticks]))
        return out

    def lots_up_to(self, limit: int | None, wanted: int) -> int:
        """Lots available to an incoming order limited at `limit`, counting no further than `wanted`."""
        found = 0
        for ticks in self.prices_best_first():
            if not self.crosses(ticks, limit):
                break
            found += self.lots[ticks]
            if found >= wanted:
                break
        return found
