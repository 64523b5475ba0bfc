"""Balance, position, funding and connector checks on synthetic records; and how checks are evaluated."""

from __future__ import annotations

from conformance.checks import REGISTRY, Bounds, Severity, Status, all_checks, evaluate, get_check
from conformance.checks.base import Check, failed
from conformance.levels import ConformanceLevel
from conformance.observations import VenueRecord
from conformance.protocol import FundingView, Venue

from .synth import BalanceView, D, PositionTruth, PositionView, final, funding, record

BOUNDS = Bounds()
ALL_LEVELS = ConformanceLevel.PERPETUALS.covered()


def run(name: str, rec: VenueRecord) -> tuple[Status, str]:
    outcome = get_check(name).function(rec, BOUNDS)
    return outcome.status, outcome.message


def test_every_check_is_documented_levelled_and_listed_in_a_stable_order() -> None:
    checks = all_checks()
    assert [c.name for c in checks][:2] == ["connector.ready", "connector.clean_stop"]
    assert {c.name for c in checks} == {
        "connector.ready", "connector.clean_stop", "book.truth", "book.not_crossed", "book.monotonic_id",
        "book.recovery", "book.no_stale_diff", "book.restored", "book.converged", "book.snapshots_explained",
        "orders.tracked",
        "orders.legal_transitions", "orders.single_terminal", "orders.no_overfill", "orders.unique_fills",
        "orders.fills_truth", "orders.state_truth", "orders.no_false_loss", "orders.reconciled", "balances.truth",
        "positions.truth", "funding.truth", "funding.fresh", "funding.no_stale"}
    for chk in checks:
        assert chk.summary and chk.level in ConformanceLevel and chk.severity in Severity


def test_balances_truth() -> None:
    balances = {"BTC": BalanceView(D("1.5"), D("1")), "USDT": BalanceView(D("100"), D("100"))}
    good = final(balances=balances, truth_balances=balances)
    assert run("balances.truth", record(final=good))[0] is Status.PASS
    off = final(balances={**balances, "BTC": BalanceView(D("1.5"), D("1.5"))}, truth_balances=balances)
    status, message = run("balances.truth", record(final=off))
    assert status is Status.FAIL and "BTC available 1.5 (exchange 1)" in message and "total" not in message
    unknown = final(balances={"USDT": balances["USDT"], "BTC": None}, truth_balances=balances)
    assert "BTC: unknown to the connector" in run("balances.truth", record(final=unknown))[1]


def test_positions_truth() -> None:
    perp = Venue.PERPETUAL
    flat = final(positions={}, truth_position=PositionTruth(D(0), D(0), 20))
    assert run("positions.truth", record(perp, final=flat))[0] is Status.PASS
    held = {"BTC-USDT": PositionView("BTC-USDT", D("0.002"), D("30000.5"), 20)}
    good = final(positions=held, truth_position=PositionTruth(D("0.002"), D("30000.5"), 20))
    assert run("positions.truth", record(perp, final=good))[0] is Status.PASS
    status, message = run("positions.truth", record(perp, final=final(positions={}, truth_position=PositionTruth(
        D("0.002"), D("30000.5"), 20))))
    assert status is Status.FAIL and "amount 0 (exchange 0.002)" in message
    entry = final(positions=held, truth_position=PositionTruth(D("0.002"), D("30001"), 20))
    assert "entry price 30000.5 (exchange 30001)" in run("positions.truth", record(perp, final=entry))[1]


def test_funding_truth() -> None:
    perp = Venue.PERPETUAL
    exchange = funding(0, "0.0001").truth
    good = final(funding=FundingView(D("0.0001"), D("30000"), 1000), truth_funding=exchange)
    assert run("funding.truth", record(perp, final=good))[0] is Status.PASS
    stale = final(funding=FundingView(D("0.0003"), D("30000"), 1000), truth_funding=exchange)
    status, message = run("funding.truth", record(perp, final=stale))
    assert status is Status.FAIL and "rate 0.0003 (exchange 0.0001)" in message
    assert run("funding.truth", record(perp, final=final(truth_funding=exchange)))[0] is Status.FAIL


def test_funding_fresh_fails_when_the_feed_stalls_past_the_bound() -> None:
    perp = Venue.PERPETUAL
    following = [funding(0.5 * i, "0.0001") for i in range(20)]
    assert run("funding.fresh", record(perp, funding=following))[0] is Status.PASS
    # the exchange moves the rate at t=2; the connector keeps the old one until t=9.5
    stalled = [funding(0.5 * i, "0.0001", truth_rate="0.0001" if i < 4 else "0.0003") for i in range(20)]
    status, message = run("funding.fresh", record(perp, funding=stalled))
    assert status is Status.FAIL and "rate 0.0001" in message and "now: rate 0.0003" in message
    missing = [funding(0.5 * i, None) for i in range(20)]
    assert "funding info (none)" in run("funding.fresh", record(perp, funding=missing))[1]


def test_funding_fresh_accepts_a_mark_from_the_recent_range() -> None:
    perp = Venue.PERPETUAL
    moving = [funding(0.5 * i, "0.0001", mark="30000", truth_mark=str(30000 + i)) for i in range(10)]
    assert run("funding.fresh", record(perp, funding=moving))[0] is Status.PASS
    far = [funding(0.5 * i, "0.0001", mark="29000", truth_mark="30000") for i in range(10)]
    assert run("funding.fresh", record(perp, funding=far))[0] is Status.FAIL


def test_funding_no_stale_fails_when_an_older_rate_comes_back() -> None:
    perp = Venue.PERPETUAL
    exchange = ["0.0001", "0.0001", "0.0003", "0.0003", "0.0003", "0.0003"]
    seen_ok = ["0.0001", "0.0001", "0.0001", "0.0003", "0.0003", "0.0003"]
    samples = [funding(float(i), seen, truth_rate=rate) for i, (seen, rate) in enumerate(zip(seen_ok, exchange,
                                                                                             strict=True))]
    assert run("funding.no_stale", record(perp, funding=samples))[0] is Status.PASS
    seen_back = ["0.0001", "0.0001", "0.0003", "0.0003", "0.0001", "0.0003"]
    samples = [funding(float(i), seen, truth_rate=rate) for i, (seen, rate) in enumerate(zip(seen_back, exchange,
                                                                                             strict=True))]
    status, message = run("funding.no_stale", record(perp, funding=samples))
    assert status is Status.FAIL and "went back to rate 0.0001" in message and "replaced at t=2.000s" in message


def test_connector_checks() -> None:
    assert run("connector.ready", record(ready_s=0.3))[0] is Status.PASS
    status, message = run("connector.ready", record(ready_error="waiting for: order_books"))
    assert status is Status.FAIL and "waiting for: order_books" in message
    assert run("connector.clean_stop", record())[0] is Status.PASS
    assert run("connector.clean_stop", record(diagnostics={"crashed_tasks": ["book: KeyError"]}))[0] is Status.FAIL
    assert run("connector.clean_stop", record(stop_error="TimeoutError"))[0] is Status.FAIL


def test_evaluate_skips_by_level_capability_and_readiness() -> None:
    spot = evaluate(record(), BOUNDS, ALL_LEVELS)
    by_name = {r.name: r for r in spot}
    assert by_name["funding.truth"].status is Status.SKIP and "not a perpetual" in by_name["funding.truth"].message
    assert {r.level for r in evaluate(record(), BOUNDS, [ConformanceLevel.MARKET_DATA])} == {
        ConformanceLevel.MARKET_DATA}
    idless = {r.name: r for r in evaluate(record(update_ids=False, final=final()), BOUNDS, ALL_LEVELS)}
    assert idless["book.truth"].status is Status.SKIP and idless["book.converged"].status is not Status.SKIP
    not_ready = evaluate(record(ready_error="boom"), BOUNDS, ALL_LEVELS)
    assert [r.name for r in not_ready if r.status is not Status.SKIP] == ["connector.ready"]
    assert [r.name for r in not_ready if r.blocking] == ["connector.ready"]


def test_a_check_that_raises_is_an_error_that_blocks() -> None:
    def broken(rec: VenueRecord, bounds: Bounds) -> object:
        """Always raises."""
        raise KeyError("boom")

    chk = Check("test.broken", ConformanceLevel.MARKET_DATA, Severity.REQUIRED, broken)  # type: ignore[arg-type]
    [result] = evaluate(record(), BOUNDS, ALL_LEVELS, [chk])
    assert result.status is Status.ERROR and result.blocking and "KeyError" in result.message
    assert "test.broken" not in REGISTRY


def test_an_advisory_failure_does_not_block() -> None:
    chk = Check("test.advisory", ConformanceLevel.MARKET_DATA, Severity.ADVISORY,
                lambda rec, bounds: failed("meh"))
    [result] = evaluate(record(), BOUNDS, ALL_LEVELS, [chk])
    assert result.status is Status.FAIL and not result.blocking
