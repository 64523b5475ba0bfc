"""OrderBook: exact levels, best prices, keys, against a plain dict model."""

from __future__ import annotations

import zlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_connector.checksums import okx_checksum
from reference_connector.order_book import OrderBook, float_keys_are_exact, is_zero

D = Decimal


def rows(*levels: tuple[str, str]) -> list[list[str]]:
    return [[p, q] for p, q in levels]


def test_snapshot_then_diffs_keep_exact_strings_and_order() -> None:
    book = OrderBook()
    book.apply_snapshot(rows(("100.10", "1.5"), ("100.20", "2")), rows(("100.30", "0.1")), 10)
    assert book.update_id == book.snapshot_uid == 10 and book.last_diff_uid is None
    assert book.bids() == [(D("100.20"), D("2")), (D("100.10"), D("1.5"))]
    book.apply_diff(rows(("100.20", "0.00000000"), ("100.25", "3")), rows(("100.30", "0"), ("100.40", "4")), 12)
    assert book.update_id == book.last_diff_uid == 12 and book.snapshot_uid == 10
    assert book.best_bid() == D("100.25") and book.best_ask() == D("100.40")
    assert book.bids() == [(D("100.25"), D("3")), (D("100.10"), D("1.5"))]
    assert book.asks() == [(D("100.40"), D("4"))]
    assert book.bid_rows(1) == [["100.25", "3"]]


def test_equal_prices_spelled_differently_are_one_level() -> None:
    for float_keys in (False, True):
        book = OrderBook(float_keys=float_keys)
        book.apply_snapshot(rows(("1.10", "1")), [], 1)
        book.apply_diff(rows(("1.1", "0")), [], 2)
        assert book.bids() == [], float_keys


def test_empty_sides_and_removing_unknown_levels() -> None:
    book = OrderBook()
    assert book.best_bid() is None and book.best_ask() is None and book.bids() == []
    book.apply_snapshot([], [], 5)
    book.apply_diff(rows(("1", "0")), rows(("2", "0")), 6)
    assert book.level_count() == (0, 0)


def test_invalidate_and_clear() -> None:
    book = OrderBook()
    book.apply_snapshot(rows(("1", "1")), [], 5)
    book.invalidate()
    assert book.update_id is None and not book.valid
    book.clear()
    assert book.bids() == [] and book.snapshot_uid is None


@pytest.mark.parametrize("qty, zero", [("0", True), ("0.00000000", True), ("0E-8", True), (".0", True),
                                       ("0.00000001", False), ("10", False), ("1E-8", False), ("0.5e0", False)])
def test_is_zero(qty: str, zero: bool) -> None:
    assert is_zero(qty) is zero


def test_float_keys_are_exact_only_within_15_digits() -> None:
    assert float_keys_are_exact(D("0.01"), D("1000000"))  # 10^8 ticks: 9 digits
    assert float_keys_are_exact(D("0.00000001"), D("9999999"))  # 15 digits
    assert not float_keys_are_exact(D("0.00000001"), D("99999999"))  # 16 digits
    assert not float_keys_are_exact(D("0"), D("1"))
    assert OrderBook.for_market(D("0.01"), D("1000000")).float_keys
    assert not OrderBook.for_market(D("1E-12"), D("100000")).float_keys
    assert not OrderBook.for_market(None, None).float_keys


def test_heap_is_rebuilt_when_stale_entries_pile_up() -> None:
    book = OrderBook()
    book.apply_snapshot([], [], 0)
    for i in range(2000):  # insert and delete the same touch level over and over
        book.apply_diff(rows((f"{100 + i % 3}", "1")), [], i)
        book.apply_diff(rows((f"{100 + i % 3}", "0")), [], i)
    assert len(book._bids.heap) < 600
    book.apply_diff(rows(("5", "1")), [], 1)
    assert book.best_bid() == D(5)


def test_okx_checksum_interleaves_top_levels_as_received() -> None:
    book = OrderBook()
    book.apply_snapshot(rows(("3366.1", "7"), ("3366", "6")), rows(("3366.8", "9"), ("3368", "8"), ("3372", "8")), 1)
    text = "3366.1:7:3366.8:9:3366:6:3368:8:3372:8"
    expected = zlib.crc32(text.encode())
    assert okx_checksum(book) == (expected - 2**32 if expected >= 2**31 else expected)


# --- property: any sequence of level changes equals a dict model --------------------------------------
prices = st.integers(1, 60).map(lambda t: f"{t // 10}.{t % 10}0")
qtys = st.one_of(st.just("0"), st.just("0.000"), st.integers(1, 999).map(lambda q: f"0.{q:03d}"))
changes = st.lists(st.tuples(st.booleans(), prices, qtys), max_size=12)


@settings(max_examples=200, deadline=None)
@given(snapshot=changes, diffs=st.lists(changes, max_size=20), float_keys=st.booleans())
def test_book_equals_a_dict_model(snapshot: list[tuple[bool, str, str]], diffs: list[list[tuple[bool, str, str]]],
                                  float_keys: bool) -> None:
    model: dict[bool, dict[Decimal, Decimal]] = {True: {}, False: {}}

    def apply(levels: list[tuple[bool, str, str]]) -> None:
        for is_bid, p, q in levels:
            if D(q):
                model[is_bid][D(p)] = D(q)
            else:
                model[is_bid].pop(D(p), None)

    book = OrderBook(float_keys=float_keys)
    apply(snapshot)
    book.apply_snapshot([[p, q] for b, p, q in snapshot if b], [[p, q] for b, p, q in snapshot if not b], 0)
    for i, diff in enumerate(diffs, 1):
        apply(diff)
        book.apply_diff([[p, q] for b, p, q in diff if b], [[p, q] for b, p, q in diff if not b], i)
        assert book.best_bid() == max(model[True], default=None)
        assert book.best_ask() == min(model[False], default=None)
    assert book.bids() == sorted(model[True].items(), reverse=True)
    assert book.asks() == sorted(model[False].items())
    assert book.bids(3) == sorted(model[True].items(), reverse=True)[:3]
