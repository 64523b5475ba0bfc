"""Book checks on synthetic records: each one shown to pass, and to fail with a message that says what and where."""

from __future__ import annotations

from conformance.checks import Bounds, Status, get_check
from conformance.checks.books import FUTURE, book_diffs, find_stale_levels
from conformance.observations import VenueRecord

from .synth import ASKS, BIDS, BookView, D, StaleLevel, book, final, levels, record

BOUNDS = Bounds()


def run(name: str, rec: VenueRecord) -> tuple[Status, str]:
    outcome = get_check(name).function(rec, BOUNDS)
    return outcome.status, outcome.message


def steady(n: int = 10, start: int = 5) -> list:
    return [book(0.1 * i, start + i, truth_last=start + i) for i in range(n)]


def test_book_truth_passes_when_every_sample_equals_the_truth_at_its_id() -> None:
    assert run("book.truth", record(books=steady()))[0] is Status.PASS


def test_book_truth_fails_on_a_wrong_level_and_names_it() -> None:
    wrong = levels(("100.0", "1"), ("99.5", "7"), ("99.0", "3"))
    status, message = run("book.truth", record(books=[*steady(3), book(0.5, 9, bids=wrong)]))
    assert status is Status.FAIL
    assert "update id 9" in message and "bid 99.5: shown 7 truth 2" in message and "1 of 4" in message


def test_book_truth_fails_on_an_id_the_exchange_has_not_reached() -> None:
    status, message = run("book.truth", record(books=[book(0.1, 50, truth_last=40, note=FUTURE)]))
    assert status is Status.FAIL and "beyond the exchange's last id 40" in message


def test_book_truth_fails_when_nothing_could_be_compared_or_no_book_could_be_read() -> None:
    assert run("book.truth", record(books=[book(0.1, None)]))[0] is Status.FAIL
    status, message = run("book.truth", record(diagnostics={"sampler_errors": {"spot BTC-USDT: KeyError": 40}}))
    assert status is Status.FAIL and "no book could be read" in message and "KeyError x40" in message


def test_book_not_crossed() -> None:
    assert run("book.not_crossed", record(books=steady()))[0] is Status.PASS
    crossed = book(0.3, 7, bids=levels(("101.0", "1")), asks=ASKS)
    status, message = run("book.not_crossed", record(books=[crossed]))
    assert status is Status.FAIL and "best bid 101.0 >= best ask 100.5" in message


def test_book_monotonic_id_ignores_unclaimed_samples_and_fails_when_the_id_goes_back() -> None:
    assert run("book.monotonic_id", record(books=[book(0.1, 5), book(0.2, None), book(0.3, 6)]))[0] is Status.PASS
    status, message = run("book.monotonic_id", record(books=[book(0.1, 9), book(0.2, None), book(0.3, 6)]))
    assert status is Status.FAIL and "from 9" in message and "to 6" in message


def test_book_recovery_passes_a_current_book_and_fails_one_stuck_behind_the_exchange() -> None:
    assert run("book.recovery", record(books=steady(40)))[0] is Status.PASS
    # the exchange moves on at t=1.0; the book stays at 10 until t=5.0
    stuck = [book(0.1 * i, min(5 + i, 10), truth_last=5 + i) for i in range(51)]
    status, message = run("book.recovery", record(books=stuck))
    assert status is Status.FAIL
    assert "fell behind at t=0.600s" in message and "update id 10" in message


def test_book_recovery_counts_a_resync_without_id_as_behind() -> None:
    resyncing = [book(0.0, 5, truth_last=5)] + [book(0.1 * i, None, truth_last=5 + i) for i in range(1, 45)]
    status, message = run("book.recovery", record(books=resyncing))
    assert status is Status.FAIL and "no update id" in message


def test_find_stale_levels_names_the_older_update_id() -> None:
    shown = levels(("100.0", "4"), ("99.5", "2"), ("99.0", "3"))
    diffs = book_diffs(shown, ASKS, BIDS, ASKS)
    older = [(8, levels(("100.0", "1")), ASKS), (7, levels(("100.0", "4")), ASKS)]
    assert find_stale_levels(diffs, older) == (StaleLevel("bid", D("100.0"), D("4"), D("1"), 7),)
    assert find_stale_levels(diffs, older[:1]) == ()


def test_book_no_stale_diff() -> None:
    assert run("book.no_stale_diff", record(books=steady()))[0] is Status.PASS
    stale = (StaleLevel("bid", D("100.0"), D("4"), D("1"), 7),)
    status, message = run("book.no_stale_diff", record(books=[book(0.2, 9, stale=stale)]))
    assert status is Status.FAIL and "its quantity at update id 7" in message and "claims update id 9" in message


def test_book_restored_allows_a_short_corruption_and_fails_a_long_one() -> None:
    wrong = levels(("100.0", "9"))
    short = [book(0.0, 5), book(0.5, 6, bids=wrong), book(1.0, 7)]
    assert run("book.restored", record(books=short, final=final()))[0] is Status.PASS
    long = [book(0.0, 5), book(0.5, 6, bids=wrong), book(4.0, 7, bids=wrong), book(4.5, 8)]
    status, message = run("book.restored", record(books=long, final=final()))
    assert status is Status.FAIL and "until t=4.500s: 4.00s > 3s" in message
    never = [book(0.0, 5), book(0.5, 6, bids=wrong)]
    status, message = run("book.restored", record(books=never, final=final(converged=False)))
    assert status is Status.FAIL and "never restored" in message


def test_book_converged() -> None:
    assert run("book.converged", record(final=final()))[0] is Status.PASS
    assert run("book.converged", record())[0] is Status.SKIP
    behind = final(book_view=BookView(BIDS, ASKS, 4))
    status, message = run("book.converged", record(final=behind))
    assert status is Status.FAIL and "claims update id 4, the exchange is at 5" in message
    wrong = final(book_view=BookView(BIDS[:2], ASKS, 5))
    status, message = run("book.converged", record(final=wrong))
    assert status is Status.FAIL and "bid 99.0: shown 0 truth 3" in message


def test_book_converged_ignores_ids_for_a_dialect_without_them() -> None:
    idless = final(book_view=BookView(BIDS, ASKS, None))
    assert run("book.converged", record(update_ids=False, final=idless))[0] is Status.PASS


def test_book_snapshots_explained_allows_start_a_spare_one_per_fault_and_one_per_ten_seconds() -> None:
    quiet = record(snapshots_served=(0.01, 2.0), snapshot_causes=(), settle_t=4.0)
    assert run("book.snapshots_explained", quiet)[0] is Status.PASS
    after_faults = record(snapshots_served=(0.01, 1.0, 1.5, 2.0, 11.0), snapshot_causes=(0.9, 1.4), settle_t=12.0)
    assert run("book.snapshots_explained", after_faults)[0] is Status.PASS  # 2 + 2 faults + 1 period


def test_book_snapshots_explained_fails_on_a_resync_loop_and_says_when_it_began() -> None:
    loop = record(snapshots_served=tuple(0.01 + 0.45 * i for i in range(9)), snapshot_causes=(1.2,), settle_t=4.0)
    outcome = get_check("book.snapshots_explained").function(loop, BOUNDS)
    assert outcome.status is Status.FAIL
    assert "9 book snapshots asked for, 3 explained" in outcome.message and "shortest interval 0.45s" in outcome.message
    assert outcome.t == 0.01 + 0.45 * 3  # the first snapshot nothing explains


def test_book_snapshots_explained_is_skipped_when_the_exchange_cannot_count_them() -> None:
    assert run("book.snapshots_explained", record())[0] is Status.SKIP
