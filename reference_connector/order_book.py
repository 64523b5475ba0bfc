"""A level-2 order book that is exact and cheap per diff.

Why it looks like this (it is on the hot path; `bench/book.py` measures it):

* A level is stored as the row exactly as received (`[price, qty, ...]` strings from the JSON), so
  nothing is ever rounded: `Decimal(row[0])`, `Decimal(row[1])` are built only when somebody reads
  the level. The raw strings are also what checksummed dialects (OKX) hash.
* Levels are keyed by a number parsed from the price string, once per distinct string (a small cache,
  because the same price strings come back again and again, so the parse is off the hot path). The key is
  a `Decimal` by default, exact by construction. A `float` key is optional (`float_keys=True`, or
  `OrderBook.for_market`) where the market's filters prove it exact: every decimal with at most 15
  significant digits maps to a distinct double and rounding to nearest is monotonic, so on such prices
  `float` is an exact, order-preserving key (`float_keys_are_exact`). Either way the key is only used for
  identity and order, never as a value; measured, the two are within noise of each other.
* Best prices come from a min-heap per side (bid keys negated) with lazy deletion: a level removed from
  the dict stays in the heap until it reaches the top; the heap is rebuilt when stale entries pile up.
  Reading the best price is O(1) amortised, an insert O(log n), a delete O(1).

Diffs carry absolute quantities; a quantity of zero removes the level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_CEILING, Decimal
from heapq import heapify, heappop, heappush, nsmallest

Row = Sequence[str]
Key = float | Decimal
Level = tuple[Decimal, Decimal]

#: beyond this many distinct price strings the key cache of a side starts over
KEY_CACHE_LIMIT = 100_000
#: a heap is rebuilt from the live levels once it holds this many more entries than twice their count
HEAP_SLACK = 256
MAX_EXACT_FLOAT_DIGITS = 15


def float_keys_are_exact(tick_size: Decimal, max_price: Decimal) -> bool:
    """Whether every price a market allows (multiples of `tick_size` up to `max_price`) has at most 15
    significant digits, so that `float(price)` is an exact, order-preserving key."""
    if tick_size <= 0 or max_price <= 0:
        return False
    exponent = tick_size.normalize().as_tuple().exponent
    if not isinstance(exponent, int):
        return False
    # A price is n * tick = m * 10**exponent with the integer m at most max_price / 10**exponent, so its
    # significant digits are at most those of that bound.
    bound = (max_price / Decimal(1).scaleb(exponent)).to_integral_value(rounding=ROUND_CEILING)
    return len(str(int(bound))) <= MAX_EXACT_FLOAT_DIGITS


def is_zero(qty: str) -> bool:
    """Exact zero test of a decimal string without building a Decimal ("0.00000000", "0", "0E-8")."""
    rest = qty.strip("0.")
    return not rest or rest[0] in "eE"


class _Side:
    __slots__ = ("_best_price", "_best_row", "heap", "keys", "levels", "negate", "parse")

    def __init__(self, negate: bool, parse: Callable[[str], Key]) -> None:
        self.negate = negate
        self.parse = parse
        self.levels: dict[Key, Row] = {}
        self.heap: list[Key] = []
        self.keys: dict[str, Key] = {}
        self._best_row: Row | None = None
        self._best_price: Decimal | None = None

    def key(self, price: str) -> Key:
        key = self.keys.get(price)
        if key is None:
            key = self.parse(price)
            if self.negate:
                key = -key
            if len(self.keys) >= KEY_CACHE_LIMIT:
                self.keys.clear()
            self.keys[price] = key
        return key

    def apply(self, rows: Iterable[Row]) -> None:
        keys, levels, heap = self.keys, self.levels, self.heap
        for row in rows:
            price = row[0]
            try:
                key = keys[price]
            except KeyError:
                key = self.key(price)
            rest = row[1].strip("0.")  # exact zero test of the quantity string (see is_zero)
            if not rest or rest[0] in "eE":
                levels.pop(key, None)
            elif key in levels:
                levels[key] = row
            else:
                levels[key] = row
                heappush(heap, key)
        if len(heap) > (len(levels) << 1) + HEAP_SLACK:
            self.rebuild()

    def replace(self, rows: Iterable[Row]) -> None:
        self.levels = {}
        self.apply(rows)
        self.rebuild()

    def rebuild(self) -> None:
        self.heap = list(self.levels)
        heapify(self.heap)

    def best(self) -> Row | None:
        heap, levels = self.heap, self.levels
        while heap:
            row = levels.get(heap[0])
            if row is not None:
                return row
            heappop(heap)
        return None

    def best_price(self) -> Decimal | None:
        """The best price as a Decimal, built once per best level (the touch is read far more than it moves)."""
        row = self.best()
        if row is None:
            return None
        if row is not self._best_row:
            self._best_row = row
            self._best_price = Decimal(row[0])
        return self._best_price

    def top(self, depth: int | None) -> list[Row]:
        levels = self.levels
        if depth is None or depth >= len(levels):
            return [levels[k] for k in sorted(levels)]
        return [levels[k] for k in nsmallest(depth, levels)]


class OrderBook:
    """Bids and asks of one market, with the id of the last snapshot and of the last applied diff.

    `update_id` is the id the book reflects (None for dialects without ids, or while the book is known
    to be wrong, e.g. after a checksum mismatch, until the next snapshot). `timestamp` is the exchange
    time of the last snapshot or diff applied, in the dialect's unit.
    """

    __slots__ = ("_asks", "_bids", "float_keys", "last_diff_uid", "qty_multiplier", "snapshot_uid", "timestamp",
                 "update_id", "valid")

    def __init__(self, float_keys: bool = False) -> None:
        parse: Callable[[str], Key] = float if float_keys else Decimal
        self.float_keys = float_keys
        self._bids = _Side(True, parse)
        self._asks = _Side(False, parse)
        self.snapshot_uid: int | None = None
        self.last_diff_uid: int | None = None
        self.update_id: int | None = None
        self.timestamp: int | None = None
        #: False once the book is known not to match the exchange (until the next snapshot)
        self.valid = False
        #: base amount per unit of the quantities received (OKX swap contracts); applied when levels are read
        self.qty_multiplier: Decimal | None = None

    @classmethod
    def for_market(cls, tick_size: Decimal | None, max_price: Decimal | None) -> OrderBook:
        """A book with float keys when the market's price filter proves them exact, Decimal keys if not."""
        exact = tick_size is not None and max_price is not None and float_keys_are_exact(tick_size, max_price)
        return cls(float_keys=exact)

    # --- writes --------------------------------------------------------------------------------
    def apply_snapshot(self, bids: Iterable[Row], asks: Iterable[Row], update_id: int | None,
                       timestamp: int | None = None) -> None:
        self._bids.replace(bids)
        self._asks.replace(asks)
        self.snapshot_uid = update_id
        self.last_diff_uid = None
        self.update_id = update_id
        self.timestamp = timestamp
        self.valid = True

    def apply_diff(self, bids: Iterable[Row], asks: Iterable[Row], update_id: int | None,
                   timestamp: int | None = None) -> None:
        self._bids.apply(bids)
        self._asks.apply(asks)
        self.last_diff_uid = update_id
        self.update_id = update_id
        if timestamp is not None:
            self.timestamp = timestamp

    def apply_levels(self, bids: Iterable[Row], asks: Iterable[Row]) -> None:
        """Apply level changes without touching ids (id-less dialects that filter rows themselves)."""
        self._bids.apply(bids)
        self._asks.apply(asks)

    def invalidate(self) -> None:
        """Mark the book as known-wrong: it claims no update id until the next snapshot."""
        self.valid = False
        self.update_id = None

    def clear(self) -> None:
        self._bids.replace(())
        self._asks.replace(())
        self.snapshot_uid = self.last_diff_uid = self.update_id = self.timestamp = None
        self.valid = False

    # --- reads ---------------------------------------------------------------------------------
    def best_bid(self) -> Decimal | None:
        return self._bids.best_price()

    def best_ask(self) -> Decimal | None:
        return self._asks.best_price()

    def best_bid_row(self) -> Row | None:
        """The best bid as received (strings), without building Decimals."""
        return self._bids.best()

    def best_ask_row(self) -> Row | None:
        return self._asks.best()

    def bids(self, depth: int | None = None) -> list[Level]:
        """Bid levels (price, quantity in base units), best (highest) first."""
        return self._levels(self._bids.top(depth))

    def asks(self, depth: int | None = None) -> list[Level]:
        """Ask levels (price, quantity in base units), best (lowest) first."""
        return self._levels(self._asks.top(depth))

    def _levels(self, rows: list[Row]) -> list[Level]:
        multiplier = self.qty_multiplier
        if multiplier is None:
            return [(Decimal(r[0]), Decimal(r[1])) for r in rows]
        return [(Decimal(r[0]), Decimal(r[1]) * multiplier) for r in rows]

    def bid_rows(self, depth: int | None = None) -> list[Row]:
        """Bid rows as received, best first (what checksums are computed over)."""
        return self._bids.top(depth)

    def ask_rows(self, depth: int | None = None) -> list[Row]:
        return self._asks.top(depth)

    def bid_key(self, price: str) -> Key:
        """The key identifying the bid level at `price` (equal for equal prices however spelled)."""
        return self._bids.key(price)

    def ask_key(self, price: str) -> Key:
        return self._asks.key(price)

    def level_count(self) -> tuple[int, int]:
        return len(self._bids.levels), len(self._asks.levels)

    def __repr__(self) -> str:
        nb, na = self.level_count()
        return (f"OrderBook(update_id={self.update_id}, bids={nb}, asks={na}, best_bid={self.best_bid()}, "
                f"best_ask={self.best_ask()})")
