"""Order book hot path: parse + apply + best bid/ask per message, reference book vs a SortedDict[Decimal] book
and, where it is importable, Hummingbot's Cython `OrderBook`.

A seeded Binance-style diff stream (`depthUpdate` JSON text, absolute quantities, zero deletes) is generated
first; the timed loop then does, per message, what a connector does: `json.loads`, apply every level, read
the best bid and ask. Contenders:

* the reference book fed parsed rows directly, and behind the U/u sync strategy;
* the reference connector's real message path: the depth stream's frame handler, i.e.
  `BinanceSpot.parse_market_message` -> `OrderBookTracker.on_diff` -> `ContiguousIdSync` -> `OrderBook`,
  default config (Decimal keys), then `best_bid()` / `best_ask()` as Decimals;
* a SortedDict[Decimal] book (the usual pure-Python exact book);
* Hummingbot's Cython `OrderBook` (floats in a C++ std::set), fed the way its Binance connector feeds it:
  `json.loads`, `BinanceOrderBook.diff_message_from_exchange` (an `OrderBookMessage`), the tracker's
  `snapshot_uid` check, `apply_diffs(message.bids, message.asks, message.update_id)` (the properties build
  the `OrderBookRow(float(price), float(qty), update_id)` lists), then `get_price(True)` / `get_price(False)`;
  and a minimal variant that builds the `OrderBookRow` lists itself. Its asyncio queue hops are left out.
  Skipped, with a note, when `hummingbot` is not importable (`pip install hummingbot` in the venv you run).

Every exact book is checked level by level against the generator's truth at the end (any lost level or
rounding fails the run). Hummingbot's book stores floats: its final levels are compared with the truth as
`Decimal(str(float))` and the levels that differ are counted (its drift). Peak memory is measured in separate,
untimed passes: tracemalloc (Python allocations only: it does not see the C++ std::set nodes of
Hummingbot's book), and on Linux the peak RSS growth of a forked child doing one pass (sees everything).

    python bench/book.py [--messages 200000] [--levels 2000] [--updates 10] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol, cast

from sortedcontainers import SortedDict

from reference_connector.book_sync import ContiguousIdSync, DiffMessage, SnapshotMessage
from reference_connector.config import ConnectorConfig
from reference_connector.dialects.binance import BinanceSpot
from reference_connector.order_book import OrderBook, float_keys_are_exact
from reference_connector.order_book_tracker import OrderBookTracker
from reference_connector.types import TradingRule

try:
    from hummingbot.connector.exchange.binance.binance_order_book import BinanceOrderBook
    from hummingbot.core.data_type.order_book import OrderBook as HummingbotOrderBook
    from hummingbot.core.data_type.order_book_row import OrderBookRow
except ImportError as error:  # not a dependency of this project: the contender is skipped
    HUMMINGBOT_MISSING: str | None = f"{type(error).__name__}: {error}"
else:
    HUMMINGBOT_MISSING = None

TICK = Decimal("0.01")
MAX_PRICE = Decimal("1000000")
PAIR, SYMBOL = "BTC-USDT", "BTCUSDT"


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
    """The same book behind the U/u sync strategy (id checks, gap detection), parsed with bare `json.loads`."""

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


class ConnectorPathBook:
    """The reference connector's real message path: the depth stream's frame handler (as `ws.py` calls it
    for every text frame) -> `BinanceSpot.parse_market_message` -> `OrderBookTracker.on_diff` ->
    `ContiguousIdSync` -> `OrderBook`, with the default config (Decimal keys). No socket: the tracker is
    built with no session and never started."""

    def __init__(self) -> None:
        dialect = BinanceSpot("key", "secret")
        rule = TradingRule(PAIR, SYMBOL, "BTC", "USDT", TICK, Decimal("0.00001"), Decimal("0.00001"),
                           Decimal("5"), MAX_PRICE)
        dialect.set_rules([rule])
        self.dialect = dialect
        self.tracker = OrderBookTracker(dialect, cast(Any, None), cast(Any, None), "ws://127.0.0.1:1", [rule],
                                        ConnectorConfig())
        self.book = self.tracker.order_books[PAIR]
        handler = self.tracker.data_source.streams["depth"].handler
        self._on_text = handler.on_text

    def snapshot(self, payload: dict[str, Any]) -> None:
        self.tracker.strategy(PAIR).on_snapshot(self.dialect.parse_snapshot(PAIR, payload))

    def on_message(self, text: str) -> tuple[Decimal | None, Decimal | None]:
        self._on_text(cast(Any, None), text)
        book = self.book
        return book.best_bid(), book.best_ask()

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self.book.bids(), self.book.asks()


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


class HummingbotBook:
    """Hummingbot's Cython `OrderBook`, fed as its Binance connector feeds it (see the module docstring).

    Best prices come back as floats; levels are read back as `Decimal(str(float))` for the drift count."""

    def __init__(self) -> None:
        self.book = HummingbotOrderBook()
        self.metadata = {"trading_pair": PAIR}

    def snapshot(self, payload: dict[str, Any]) -> None:
        message = BinanceOrderBook.snapshot_message_from_exchange(dict(payload), time.time(), self.metadata)
        self.book.apply_snapshot(message.bids, message.asks, message.update_id)

    def on_message(self, text: str) -> tuple[float, float]:
        d = json.loads(text)
        book = self.book
        message = BinanceOrderBook.diff_message_from_exchange(d, time.time(), self.metadata)
        if book.snapshot_uid <= message.update_id:  # OrderBookTracker._order_book_diff_router's check
            book.apply_diffs(message.bids, message.asks, message.update_id)
        return book.get_price(True), book.get_price(False)

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return ([(Decimal(str(r.price)), Decimal(str(r.amount))) for r in self.book.bid_entries()],
                [(Decimal(str(r.price)), Decimal(str(r.amount))) for r in self.book.ask_entries()])


class HummingbotRowsBook(HummingbotBook):
    """The same Cython book with the least Python around it: `json.loads`, the `OrderBookRow(float(price),
    float(qty), u)` lists built inline, `apply_diffs`, `get_price` twice."""

    def on_message(self, text: str) -> tuple[float, float]:
        d = json.loads(text)
        u = d["u"]
        book = self.book
        book.apply_diffs([OrderBookRow(float(p), float(q), u) for p, q in d["b"]],
                         [OrderBookRow(float(p), float(q), u) for p, q in d["a"]], u)
        return book.get_price(True), book.get_price(False)


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
Levels = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


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


def drift(levels: Levels, truth: Levels) -> int:
    """Levels that differ from the truth (wrong quantity, missing or extra), both sides."""
    count = 0
    for got, want in zip(levels, truth, strict=True):
        have, expected = dict(got), dict(want)
        count += sum(1 for price, qty in expected.items() if have.get(price) != qty)
        count += sum(1 for price in have if price not in expected)
    return count


def one_pass(factory: Callable[[], Book], stream: Stream) -> Book:
    book = factory()
    book.snapshot(stream.snapshot)
    for text in stream.messages:
        book.on_message(text)
    return book


def peak_memory(factory: Callable[[], Book], stream: Stream) -> int:
    """tracemalloc peak of one pass: Python allocations only (C/C++ heaps are not traced)."""
    gc.collect()
    tracemalloc.start()
    book = one_pass(factory, stream)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del book
    return peak


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_rss_growth(name: str, stream_file: str) -> int | None:
    """Peak RSS growth (bytes) of one pass of book `name` in a fresh interpreter that loads the stream from
    `stream_file`: every allocator counted, C++ included. Linux only (/proc/self/status), else None."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    done = subprocess.run([sys.executable, __file__, "--rss-child", name, stream_file],
                          capture_output=True, text=True, check=False)
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def rss_child(name: str, stream_file: str) -> int:
    with open(stream_file, "rb") as f:
        snapshot, messages = pickle.load(f)
    stream = cast(Stream, SimpleNamespace(snapshot=snapshot, messages=messages))
    factory = dict(contenders())[name]
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    base = _status_kib("VmRSS")
    book = one_pass(factory, stream)
    print((_status_kib("VmHWM") - base) * 1024)
    del book
    return 0


CONNECTOR = "reference connector message path"


def contenders() -> list[tuple[str, Callable[[], Book]]]:
    books: list[tuple[str, Callable[[], Book]]] = [
        ("reference OrderBook (float keys)", lambda: ReferenceBook(True)),
        ("reference OrderBook (Decimal keys)", lambda: ReferenceBook(False)),
        ("reference OrderBook + U/u sync", lambda: SyncedReferenceBook(False)),
        (CONNECTOR, ConnectorPathBook),
        ("SortedDict[Decimal] book", SortedDictBook),
    ]
    if HUMMINGBOT_MISSING is None:
        books += [(name, cast(Callable[[], Book], factory)) for name, factory in HUMMINGBOT_BOOKS.items()]
    return books


#: float books: not required to be exact, their drift is counted
HUMMINGBOT_BOOKS = {"Hummingbot OrderBook, connector path": HummingbotBook,
                    "Hummingbot OrderBook, OrderBookRow only": HummingbotRowsBook}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--levels", type=int, default=2_000, help="live levels, both sides together")
    parser.add_argument("--updates", type=int, default=10, help="level updates per message")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per book, interleaved (best is reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory passes")
    parser.add_argument("--rss-child", nargs=2, metavar=("BOOK", "STREAM_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        return rss_child(*args.rss_child)

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
    books = contenders()
    inexact = set(HUMMINGBOT_BOOKS) if HUMMINGBOT_MISSING is None else set()
    if HUMMINGBOT_MISSING is not None:
        print(f"note: Hummingbot's OrderBook is not importable ({HUMMINGBOT_MISSING}): contender skipped")
    # Round-robin, best of `repeat` per book: on a shared machine, load drifts; interleaving keeps the
    # ratios between books honest even when absolute figures move.
    best: dict[str, float] = {name: 0.0 for name, _ in books}
    drifts: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, factory in books:
            rate, book = run(factory, stream)
            best[name] = max(best[name], rate)
            drifts[name] = drift(book.levels(), truth)
            if drifts[name] and name not in inexact:
                print(f"FAIL: {name} differs from the truth ({drifts[name]} levels)", file=sys.stderr)
                return 1
    baseline = best["SortedDict[Decimal] book"]
    floor = max(run(ParseOnly, stream)[0] for _ in range(args.repeat))
    memory: dict[str, int] = {}
    rss: dict[str, int | None] = {}
    if not args.no_memory:
        with tempfile.NamedTemporaryFile(suffix=".pickle") as f:
            pickle.dump((stream.snapshot, stream.messages), f)
            f.flush()
            for name, factory in books:
                memory[name] = peak_memory(factory, stream)
                rss[name] = peak_rss_growth(name, f.name)
    print(f"\n{'book':40s} {'msgs/s':>10s} {'us/msg':>8s} {'vs SortedDict':>14s} {'levels vs truth':>16s} "
          f"{'tracemalloc MiB':>16s} {'RSS MiB':>8s}")
    for name, rate in best.items():
        peak = f"{memory[name] / 2**20:15.2f}{'*' if name in inexact else ' '}" if name in memory else f"{'-':>16s}"
        growth = rss.get(name)
        grown = f"{growth / 2**20:8.2f}" if growth is not None else f"{'-':>8s}"
        exact = "exact" if not drifts[name] else f"{drifts[name]} drift"
        print(f"{name:40s} {rate:10,.0f} {1e6 / rate:8.2f} {rate / baseline:13.2f}x {exact:>16s} {peak} {grown}")
    print(f"{'json.loads only (the floor, not a book)':40s} {floor:10,.0f} {1e6 / floor:8.2f}")
    print("\nexact: the final levels equal the truth level by level (for the float books: read back as "
          "Decimal(str(float)));\ntracemalloc MiB: peak of one untimed pass (book + parsed messages in flight)"
          + ("; * = Python objects only, the C++ std::set of the book is not seen by tracemalloc" if inexact else "")
          + ";\nRSS MiB: peak resident-set growth of one pass in a fresh interpreter (every allocator)")
    if inexact:
        ours = best[CONNECTOR]
        for name in sorted(inexact):
            print(f"{CONNECTOR} / {name}: {ours / best[name]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
