"""When each market's book last changed, in the engine's microseconds: Bitstamp's `microtimestamp`.

Bitstamp books carry no update id, only the time of the change. A diff's `microtimestamp` is the
engine time of the command that made it (`BookDelta.time_us`); a REST snapshot's is the time of the
last change it reflects, so a client can splice: drop the diffs with `microtimestamp <=` the snapshot's,
apply the rest in arrival order.

What a client can and cannot infer: times never go backwards within a market, but several engine
commands may share one microsecond (a coarse or virtual clock makes that common, a wall clock rare),
and then "<=" cannot tell a diff the snapshot already contains from one it does not. Nothing in the
stream shows a lost or duplicated diff either. The only remedy the venue offers is to re-snapshot
(periodically, or after any doubt); the `order_book_{pair}` channel, a full top-100 book on every
change, never needs splicing.

Changes made before the dialect was installed (the exchange's pre-filled books) are dated at the
install time, the earliest moment this dialect could have seen them.
"""

from __future__ import annotations

import bisect


class BookTimes:
    def __init__(self, start_us: int, window: int, install_ids: dict[str, int]) -> None:
        self.window = max(window, 1)
        #: per engine symbol: ascending last update ids of the deltas seen, and their times (µs)
        self._ids: dict[str, list[int]] = {}
        self._times: dict[str, list[int]] = {}
        #: the last update id before the oldest kept delta, and the time to give books up to it
        self._floor: dict[str, tuple[int, int]] = {symbol: (uid, start_us) for symbol, uid in install_ids.items()}
        self._start_us = start_us

    def record(self, symbol: str, last_update_id: int, time_us: int) -> None:
        ids = self._ids.setdefault(symbol, [])
        times = self._times.setdefault(symbol, [])
        ids.append(last_update_id)
        times.append(time_us)
        if len(ids) > 2 * self.window:
            self._floor[symbol] = (ids[self.window - 1], times[self.window - 1])
            del ids[: self.window]
            del times[: self.window]

    def latest(self, symbol: str) -> int:
        """The time of the last change of the market's book."""
        times = self._times.get(symbol)
        return times[-1] if times else self._floor.get(symbol, (0, self._start_us))[1]

    def at(self, symbol: str, update_id: int) -> int:
        """The time of the change that brought the book to `update_id` (the delta containing it)."""
        floor_id, floor_time = self._floor.get(symbol, (0, self._start_us))
        ids = self._ids.get(symbol)
        if not ids or update_id <= floor_id:
            return floor_time
        index = min(bisect.bisect_left(ids, update_id), len(ids) - 1)
        return self._times[symbol][index]
