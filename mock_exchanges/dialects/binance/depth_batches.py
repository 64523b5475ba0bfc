"""Binance's diff-depth streams at their documented update speed: every change of an interval merged into one
frame, as the real venue sends them (`MockExchangeConfig.batch_depth`).

Spot pushes `<symbol>@depth` every 1000 ms and `@depth@100ms` every 100 ms; USD-M pushes `@depth` every 250
ms and `@depth@500ms` / `@depth@100ms` at those speeds. A frame carries the last size of each level that
changed in its interval, `U` the first update id of the interval and `u` the last (and on USD-M `pu`, the
previous frame's `u`). So a frame spans many update ids, and a REST snapshot usually lands inside one: the
case Binance's "first event: U <= lastUpdateId + 1 <= u" rule is about, which one frame per engine delta
almost never shows.

Whether streams are merged can change while the exchange runs (a scenario started on it): windows still open
when merging stops go out at once, ahead of the next change, so no update id is skipped.

Windows are aligned to the interval on the engine's clock, and a frame's event time is its window's end. The
frame goes out when a later change arrives or the exchange's tick finds it due (`flush_due`): up to one tick
(`MockExchangeConfig.tick_interval_s`) after its window; on a virtual clock the frames are the same on every
run.
"""

from __future__ import annotations

from decimal import Decimal

from ...engine import BookDelta

#: milliseconds between frames, by the depth stream's suffix, per venue (as Binance documents them)
SPOT_INTERVALS_MS = {"@depth": 1000, "@depth@100ms": 100, "@depth@1000ms": 1000}
USDM_INTERVALS_MS = {"@depth": 250, "@depth@100ms": 100, "@depth@250ms": 250, "@depth@500ms": 500}


class DepthBatch:
    """The changes of one window of one stream, merged: the last size of each price per side."""

    __slots__ = ("asks", "bids", "due_us", "first_update_id", "last_update_id")

    def __init__(self, delta: BookDelta, due_us: int) -> None:
        self.first_update_id = delta.first_update_id
        self.last_update_id = delta.last_update_id
        self.due_us = due_us
        self.bids: dict[Decimal, Decimal] = dict(delta.bids)
        self.asks: dict[Decimal, Decimal] = dict(delta.asks)

    def merge(self, delta: BookDelta) -> None:
        self.last_update_id = delta.last_update_id
        self.bids.update(delta.bids)
        self.asks.update(delta.asks)

    def as_delta(self, symbol: str, now_us: int) -> BookDelta:
        """The merged window as one delta, timed at the window's end, when Binance would send it (its `E`), or
        now for a window sent before its end (merging switched off)."""
        return BookDelta(symbol, self.first_update_id, self.last_update_id, list(self.bids.items()),
                         list(self.asks.items()), min(self.due_us, now_us))


class DepthBatcher:
    """Open windows by topic. `add` returns the window it closed, if the new change falls after it."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, DepthBatch]] = {}

    def add(self, topic: str, symbol: str, interval_ms: int, delta: BookDelta) -> BookDelta | None:
        """Put `delta` in `topic`'s window; returns the previous window's frame when that window is over."""
        interval_us = interval_ms * 1000
        now_us = delta.time_us
        closed: BookDelta | None = None
        entry = self._open.get(topic)
        if entry is not None:
            batch = entry[1]
            if now_us < batch.due_us:
                batch.merge(delta)
                return None
            closed = batch.as_delta(symbol, now_us)
        self._open[topic] = (symbol, DepthBatch(delta, (now_us // interval_us + 1) * interval_us))
        return closed

    def due(self, now_us: int, everything: bool = False) -> list[tuple[str, BookDelta]]:
        """The windows that are over at `now_us` (`everything`: all of them), as frames (topic, merged delta), and
        forgets them."""
        out: list[tuple[str, BookDelta]] = []
        for topic, (symbol, batch) in list(self._open.items()):
            if everything or batch.due_us <= now_us:
                del self._open[topic]
                out.append((topic, batch.as_delta(symbol, now_us)))
        return out

    def discard(self, topic: str) -> None:
        """Nobody listens to `topic` any more: its open window goes. Changes made while nobody listens are not
        merged, so a window kept across that time would claim update ids whose changes it does not carry."""
        self._open.pop(topic, None)
