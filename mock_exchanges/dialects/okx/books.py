"""Order book levels as OKX sends them, the CRC32 checksum, and exactly what a depth-limited channel shows.

A level is `[px, sz, "0", numOrders]`: the third field is OKX's deprecated liquidated-orders count, always
"0"; `numOrders` is the number of orders resting at the level in the live book. Sizes are absolute; "0"
deletes the level.
"""

from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass
from decimal import Decimal

from ...engine import BookDelta, Engine
from ...engine.book import BookSide
from .instruments import Instrument

CHECKSUM_DEPTH = 25
Level = list[str]
Lots = list[tuple[int, int]]  # (ticks, lots), best first


def render(inst: Instrument, side: BookSide, levels: Lots) -> list[Level]:
    """Levels in ticks/lots as OKX rows; the order count is read from the live book.

    A level that is no longer in the live book (a stale, fault-injected snapshot) says "1" order.
    """
    queues, px, sz = side.queues, inst.px_ticks, inst.sz_lots
    rows: list[Level] = []
    for ticks, lots in levels:
        queue = queues.get(ticks)
        rows.append([px(ticks), sz(lots), "0", str(len(queue)) if queue else ("1" if lots else "0")])
    return rows


def checksum_of(bids: list[str], asks: list[str]) -> int:
    """OKX's book checksum over "px:sz" strings of the top 25 bids and asks, interleaved bid, ask, bid, ...
    (a shorter side simply runs out), as a signed 32-bit CRC32."""
    parts: list[str] = []
    for i in range(CHECKSUM_DEPTH):
        if i < len(bids):
            parts.append(bids[i])
        if i < len(asks):
            parts.append(asks[i])
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def checksum(bids: list[Level], asks: list[Level]) -> int:
    """The checksum of levels as sent."""
    return checksum_of([f"{b[0]}:{b[1]}" for b in bids[:CHECKSUM_DEPTH]],
                       [f"{a[0]}:{a[1]}" for a in asks[:CHECKSUM_DEPTH]])


def to_lots(inst: Instrument, levels: list[tuple[Decimal, Decimal]]) -> Lots:
    spec = inst.spec
    return [(int(price / spec.tick_size), int(qty / spec.lot_size)) for price, qty in levels]


def book_rows(engine: Engine, inst: Instrument, depth: int,
              update_id: int | None) -> tuple[list[Level], list[Level], int]:
    """(bids, asks, update id) of the top `depth` levels: live, or as of `update_id` when one is given."""
    market = engine.markets[inst.symbol]
    if update_id is not None:
        try:
            past = engine.book_at(inst.symbol, update_id, depth)
        except (LookupError, ValueError):  # out of the history window: serve the live book
            pass
        else:
            return (render(inst, market.bids, to_lots(inst, past.bids)),
                    render(inst, market.asks, to_lots(inst, past.asks)), past.update_id)
    return (render(inst, market.bids, market.bids.depth(depth)),
            render(inst, market.asks, market.asks.depth(depth)), market.last_update_id)


def _worse(is_bid: bool, ticks: int, than: int) -> bool:
    return ticks < than if is_bid else ticks > than


def _best_first(levels: dict[int, int], is_bid: bool) -> Lots:
    return sorted(levels.items(), reverse=is_bid)


@dataclass
class _View:
    """The top-N levels of one side as a channel last showed them (ticks -> lots)."""

    levels: dict[int, int]
    #: the worst price shown when the view is full (N levels); None: it holds the whole side
    boundary: int | None


class BookViews:
    """What the book channels of each depth last showed of each market, so an update carries exactly its
    changes, and the checksum is recomputed only when the top 25 changed.

    A channel of depth N shows the top N levels of each side. After an engine delta its update carries
    every level whose shown size changed: the delta's levels inside the top N, "0" for levels that left
    it (deleted, or pushed below N by a better level), and levels that came into it from below (when
    better ones went away). The views are kept up incrementally; only a deletion inside a full view
    walks the book (to find what comes into view). A view lives while a channel of its depth is watched.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._views: dict[tuple[str, int, bool], _View] = {}
        #: per market: the checksum as of the last delta applied to its depth-25 view
        self._checksums: dict[str, int] = {}

    def apply(self, delta: BookDelta, inst: Instrument, depths: set[int]) -> tuple[dict[int, tuple[Lots, Lots]], int]:
        """Bring the views of `depths` (and the checksum's) up to `delta`: (changes per depth, checksum)."""
        symbol = delta.symbol
        self.forget(symbol, keep={*depths, CHECKSUM_DEPTH})
        bids, asks = to_lots(inst, delta.bids), to_lots(inst, delta.asks)
        shown = {depth: (self._side(delta, inst, depth, True, bids), self._side(delta, inst, depth, False, asks))
                 for depth in {*depths, CHECKSUM_DEPTH}}
        cached = self._checksums.get(symbol)
        top_bids, top_asks = shown[CHECKSUM_DEPTH]
        if cached is None or top_bids or top_asks:
            cached = self._checksums[symbol] = checksum_of(self._strings(inst, symbol, True),
                                                           self._strings(inst, symbol, False))
        return shown, cached

    def forget(self, symbol: str, keep: set[int] | None = None) -> None:
        """Drop the views of `symbol` not in `keep` (all of them by default): they stop being kept up."""
        for key in [k for k in self._views if k[0] == symbol and (keep is None or k[1] not in keep)]:
            del self._views[key]
        if keep is None:
            self._checksums.pop(symbol, None)

    def _strings(self, inst: Instrument, symbol: str, is_bid: bool) -> list[str]:
        px, sz = inst.px_ticks, inst.sz_lots
        return [f"{px(t)}:{sz(lots)}" for t, lots in
                _best_first(self._views[(symbol, CHECKSUM_DEPTH, is_bid)].levels, is_bid)]

    def _side(self, delta: BookDelta, inst: Instrument, depth: int, is_bid: bool, changed: Lots) -> Lots:
        key = (delta.symbol, depth, is_bid)
        view = self._views.get(key)
        if view is None:  # first delta watched at this depth: what it showed is the book before the delta
            past = self.engine.book_at(delta.symbol, delta.first_update_id - 1, depth)
            before = to_lots(inst, past.bids if is_bid else past.asks)
            view = self._views[key] = _View(dict(before), before[-1][0] if len(before) == depth else None)
        if not changed:
            return []
        market = self.engine.markets[delta.symbol]
        book = market.bids if is_bid else market.asks
        levels = view.levels
        if view.boundary is None and len(book) < depth:  # the whole side, before and after
            for ticks, lots in changed:
                if lots:
                    levels[ticks] = lots
                else:
                    levels.pop(ticks, None)
            return sorted(changed, reverse=is_bid)
        if view.boundary is not None:
            boundary = view.boundary
            inside = [(t, lots) for t, lots in changed if not _worse(is_bid, t, boundary)]
            if not inside:
                return []  # a full view, every change below it: nothing shown moved
            if all(lots for _, lots in inside):  # sizes changed and levels came in: the worst ones drop out
                levels.update(inside)
                extra = len(levels) - depth
                if extra <= 0:
                    return sorted(inside, reverse=is_bid)
                worst = (heapq.nsmallest if is_bid else heapq.nlargest)(extra + 1, levels)
                result = dict(inside)
                for ticks in worst[:extra]:
                    del levels[ticks]
                    result[ticks] = 0
                view.boundary = worst[extra]
                return sorted(result.items(), reverse=is_bid)
        # levels left a full view (or the view fills up): the ones coming in are only found in the book
        top = book.depth(depth)
        new = dict(top)
        result = {t: lots for t, lots in top if levels.get(t) != lots}
        result.update((t, 0) for t in levels if t not in new)
        view.levels = new
        view.boundary = top[-1][0] if len(top) == depth else None
        return sorted(result.items(), reverse=is_bid)
