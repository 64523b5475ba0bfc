"""Order book hot path: parse + apply + best bid/ask per message, reference book vs a SortedDict[Decimal] book.

A seeded Binance-style diff stream (`depthUpdate` JSON text, absolute quantities, zero deletes) is generated
first; the timed loop then does, per message, what a connector does: `json.loads`, apply every level, read
the best bid and ask as Decimals. Every book is checked level by level against the generator's truth at
the end (exactness: any float drift or lost level fails the run). Peak memory is measured in a separate,
untimed pass with tracemalloc (it slows everything down).

    python bench/book.py [--messages 200000] [--levels 2000] [--updates 10] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from sortedcontainers import SortedDict

from reference_connector.book_sync import ContiguousIdSync, DiffMessage, SnapshotMessage
from reference_connector.order_book import OrderBook, float_keys_are_exact

TICK = Decimal("0.01")
MAX_PRICE = Decimal("1000000")


def price_text(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}000000"


def qty_text(lots: int) -> str:  # lot 0.00001, printed with 8 decimals as Binance does
    return f"{lots // 100_000}.{lots % 100_000:05d}000"


class _Levels:
    """One side of the truth: ticks -> lots, with O(1) random picks (a key list with swap-remove)."""

    def __init__(self) -> None:
        self.lots: dict[int, int] = {}
        self._keys: list[int] = []
        self._index: dict[int, int] = {}

    def set(self, ticks: int, lots: int) -> None:
        if ticks not in self.lots:
            self._index[ticks] = len(self._keys)
            self._keys.append(ticks)
        self.lots[ticks] = lots

    def remove(self, ticks: int) -> None:
        del self.lots[ticks]
        i = self._index.pop(ticks)
        last = self._keys.pop()
        if last != ticks:
            self._keys[i] = last
            self._index[last] = i

    def pick(self, rng: random.Random) -> int:
        return self._keys[rng.randrange(len(self._keys))]


class Stream:
    """The truth (ticks -> lots per side) and the diff messages that move it, seeded.

    Bids live below a fixed mid and asks above it (the book never crosses); new levels are drawn closer to
    the mid more often, so the touch churns (best prices change often, as in a real book).
    """

    def __init__(self, seed: int, levels: int, updates: int, messages: int) -> None:
        rng = random.Random(seed)
        bids, asks = _Levels(), _Levels()
        mid = 3_000_000
        per_side = levels // 2
        spread = per_side * 3
        for offset in rng.sample(range(1, spread), per_side):
            bids.set(mid - offset, rng.randint(1, 500_000))
        for offset in rng.sample(range(1, spread), per_side):
            asks.set(mid + offset, rng.randint(1, 500_000))
        self.bids, self.asks = bids.lots, asks.lots
        self.snapshot = {
            "lastUpdateId": 1000,
            "bids": [[price_text(t), qty_text(q)] for t, q in sorted(self.bids.items(), reverse=True)],
            "asks": [[price_text(t), qty_text(q)] for t, q in sorted(self.asks.items())],
        }
        self.messages: list[str] = []
        update_id = 1000
        time_ms = 1_700_000_000_000
        for _ in range(messages):
            changes: dict[tuple[bool, int], int] = {}
            for _ in range(updates):
                is_bid = rng.random() < 0.5
                side = bids if is_bid else asks
                count = len(side.lots)
                roll = rng.random()
                if roll < 0.45 and count:  # change a level's quantity
                    ticks = side.pick(rng)
                    lots = rng.randint(1, 500_000)
                elif roll < 0.75 and count > per_side * 0.9:  # remove a level
                    ticks = side.pick(rng)
                    lots = 0
                else:  # a new level, nearer the mid more often
                    offset = 1 + min(int(rng.expovariate(1 / (per_side * 0.7))), spread)
                    ticks = mid - offset if is_bid else mid + offset
                    lots = rng.randint(1, 500_000)
                if lots:
                    side.set(ticks, lots)
                elif ticks in side.lots:
                    side.remove(ticks)
                changes[(is_bid, ticks)] = lots
            first = update_id + 1
            update_id += len(changes)
            time_ms += 1
            self.messages.append(json.dumps({
                "e": "depthUpdate", "E": time_ms, "s": "BTCUSDT", "U": first, "u": update_id,
                "b": [[price_text(t), qty_text(q)] for (b, t), q in changes.items() if b],
                "a": [[price_text(t), qty_text(q)] for (b, t), q in changes.items() if not b],
            }, separators=(",", ":")))
        self.last_update_id = update_id

    def truth(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = [(Decimal(price_text(t)), Decimal(qty_text(q))) for t, q in sorted(self.bids.items(), reverse=True)]
        asks = [(Decimal(price_text(t)), Decimal(qty_text(q))) for t, q in sorted(self.asks.items())]
        return bids, asks


# --- books under test ------------------------------------------------------------------------------
class Book(Protocol):
    def snapshot(self, payload: dict[str, Any]) -> None: ...
    def on_message(self, text: str) -> tuple[Decimal | None, Decimal | None]: ...
    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]: ...


class ReferenceBook:
    """reference_connector.order_book.OrderBook, fed the parsed rows directly."""

    def __init__(self, float_keys: bool) -> None:
        self.book = OrderBook(float_keys=float_keys)

    def snapshot(self, payload: dict[str, Any]) -> None:
        self.book.apply_snapshot(payload["bids"], payload["asks"], payload["lastUpdateId"])

    def on_message(self, text: str) -> tuple[Decimal | None, Decimal | None]:
        d = json.loads(text)
        book = self.book
        book.apply_diff(d["b"], d["a"], d["u"], d["E"])
        return book.best_bid(), book.best_ask()

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self.book.bids(), self.book.asks()


class SyncedReferenceBook(ReferenceBook):
    """The same book behind the U/u sync strategy (id checks, gap detection): the connector's real path."""

    def __init__(self, float_keys: bool) -> None:
        super().__init__(float_keys)
        self.sync = ContiguousIdSync(self.book)

    def snapshot(self, payload: dict[str, Any]) -> None:
        self.sync.on_snapshot(SnapshotMessage(payload["lastUpdateId"], payload["bids"], payload["asks"]))

    def on_message(self, text: str) -> tuple[Decimal | None, Decimal | None]:
        d = json.loads(text)
        self.sync.on_diff(DiffMessage(d["b"], d["a"], d["u"], d["U"], None, d["E"]))
        book = self.book
        return book.best_bid(), book.best_ask()


class SortedDictBook:
    """The usual pure-Python exact book: SortedDict[Decimal price] -> Decimal qty per side."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    def snapshot(self, payload: dict[str, Any]) -> None:
        self.bids.clear()
        self.asks.clear()
        self._apply(self.bids, payload["bids"])
        self._apply(self.asks, payload["asks"])

    @staticmethod
    def _apply(side: SortedDict, rows: list[list[str]]) -> None:
        for price, qty in rows:
            q = Decimal(qty)
            if q:
                side[Decimal(price)] = q
            else:
                side.pop(Decimal(price), None)

    def on_message(self, text: str) -> tuple[Decimal | None, Decimal | None]:
        d = json.loads(text)
        self._apply(self.bids, d["b"])
        self._apply(self.asks, d["a"])
        bid = self.bids.peekitem(-1)[0] if self.bids else None
        ask = self.asks.peekitem(0)[0] if self.asks else None
        return bid, ask

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return list(reversed(self.bids.items())), list(self.asks.items())


class ParseOnly:
    """Not a book: `json.loads` and field access only, the floor every book above pays per message."""

    def snapshot(self, payload: dict[str, Any]) -> None:
        pass

    def on_message(self, text: str) -> tuple[Decimal | None, Decimal | None]:
        d = json.loads(text)
        d["b"], d["a"], d["u"], d["E"]
        return None, None

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        raise NotImplementedError


# --- running -------------------------------------------------------------------------------------------
def run(factory: Callable[[], Book], stream: Stream) -> tuple[float, Book]:
    book = factory()
    book.snapshot(stream.snapshot)
    on_message = book.on_message
    messages = stream.messages
    gc.collect()
    start = time.perf_counter()
    for text in messages:
        on_message(text)
    elapsed = time.perf_counter() - start
    return len(messages) / elapsed, book


def peak_memory(factory: Callable[[], Book], stream: Stream) -> int:
    gc.collect()
    tracemalloc.start()
    book = factory()
    book.snapshot(stream.snapshot)
    for text in stream.messages:
        book.on_message(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del book
    return peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--levels", type=int, default=2_000, help="live levels, both sides together")
    parser.add_argument("--updates", type=int, default=10, help="level updates per message")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per book, interleaved (best is reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {load:.2f}, seed={args.seed}")
    t0 = time.perf_counter()
    stream = Stream(args.seed, args.levels, args.updates, args.messages)
    nb, na = len(stream.bids), len(stream.asks)
    print(f"stream: {len(stream.messages):,} messages, {args.updates} level updates each, "
          f"{nb + na:,} live levels at the end ({nb} bids / {na} asks), generated in {time.perf_counter() - t0:.1f}s")
    assert float_keys_are_exact(TICK, MAX_PRICE)
    truth = stream.truth()
    books: list[tuple[str, Callable[[], Book]]] = [
        ("reference OrderBook (float keys)", lambda: ReferenceBook(True)),
        ("reference OrderBook (Decimal keys)", lambda: ReferenceBook(False)),
        ("reference OrderBook + U/u sync", lambda: SyncedReferenceBook(False)),
        ("SortedDict[Decimal] book", SortedDictBook),
    ]
    # Round-robin, best of `repeat` per book: on a shared machine, load drifts; interleaving keeps the
    # ratios between books honest even when absolute figures move.
    best: dict[str, float] = {name: 0.0 for name, _ in books}
    for _ in range(args.repeat):
        for name, factory in books:
            rate, book = run(factory, stream)
            best[name] = max(best[name], rate)
            if book.levels() != truth:
                print(f"FAIL: {name} differs from the truth", file=sys.stderr)
                return 1
    baseline = best["SortedDict[Decimal] book"]
    rows = list(best.items())
    floor = max(run(ParseOnly, stream)[0] for _ in range(args.repeat))
    memory = {name: peak_memory(factory, stream) for name, factory in books} if not args.no_memory else {}
    print(f"\n{'book':38s} {'msgs/s':>10s} {'us/msg':>8s} {'vs SortedDict':>14s} {'peak MiB':>9s}")
    for name, rate in rows:
        peak = f"{memory[name] / 2**20:9.2f}" if name in memory else f"{'-':>9s}"
        print(f"{name:38s} {rate:10,.0f} {1e6 / rate:8.2f} {rate / baseline:13.2f}x {peak}")
    print(f"{'json.loads only (the floor, not a book)':38s} {floor:10,.0f} {1e6 / floor:8.2f}")
    print("\nall books equal the truth level by level (exact); "
          "peak MiB = tracemalloc peak of one untimed pass (book + parsed messages in flight)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
