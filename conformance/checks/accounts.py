"""Account checks: balances (orders level), positions and funding info (perpetuals level)."""

from __future__ import annotations

from decimal import Decimal

from ..levels import ConformanceLevel
from ..observations import FundingSample, FundingTruth, VenueRecord
from ..protocol import FundingView
from .base import Bounds, Outcome, check, failed, fmt_t, passed, skipped
from .books import settle_words

ZERO = Decimal(0)
#: a mark price is published about once a second and is the book's mid at that moment, which the sampler (at
#: its own times) may not have seen exactly: `funding.fresh` accepts a mark within this fraction of the range
#: of marks seen over the window
MARK_TOLERANCE = Decimal("0.0005")


@check("balances.truth", ConformanceLevel.ORDERS, needs=("trading",))
def balances_truth(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After settling, the connector's total and available balance of each of the market's assets equal the
    exchange's (total = free + locked; available = free).
    """
    final = record.final
    if final is None:
        return skipped("the run did not reach the settle phase")
    problems: list[str] = []
    for asset, truth in final.truth_balances.items():
        view = final.balances.get(asset)
        if view is None:
            problems.append(f"{asset}: unknown to the connector (exchange total {truth.total})")
            continue
        if view.total != truth.total:
            problems.append(f"{asset} total {view.total} (exchange {truth.total})")
        if view.available != truth.available:
            problems.append(f"{asset} available {view.available} (exchange {truth.available})")
    if problems:
        return failed(f"{record.label}: {settle_words(record, bounds)} {'; '.join(problems)}", final.t,
                      problems=problems)
    return passed(", ".join(f"{a} {b.total}" for a, b in final.truth_balances.items()))


@check("positions.truth", ConformanceLevel.PERPETUALS, needs=("trading", "perpetual"))
def positions_truth(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After settling, the connector's position in the market equals the exchange's: signed amount, entry price
    and (when the connector reports it) leverage. No position means an amount of zero.
    """
    final = record.final
    if final is None or final.truth_position is None or final.positions is None:
        return skipped("the run did not reach the settle phase")
    truth = final.truth_position
    view = final.positions.get(record.trading_pair)
    amount = view.amount if view is not None else ZERO
    problems = []
    if amount != truth.amount:
        problems.append(f"amount {amount} (exchange {truth.amount})")
    if view is not None and truth.amount and view.entry_price != truth.entry_price:
        problems.append(f"entry price {view.entry_price} (exchange {truth.entry_price})")
    if view is not None and view.leverage is not None and truth.amount and view.leverage != truth.leverage:
        problems.append(f"leverage {view.leverage} (exchange {truth.leverage})")
    if problems:
        return failed(f"{record.label}: {settle_words(record, bounds)} position {'; '.join(problems)}", final.t,
                      problems=problems)
    return passed(f"position {truth.amount}")


def funding_key(info: FundingView | FundingTruth) -> tuple[Decimal, int]:
    """What funding info says that changes only when the exchange changes it: the rate and the next funding time."""
    return info.rate, info.next_funding_time_ms


@check("funding.truth", ConformanceLevel.PERPETUALS, needs=("perpetual",))
def funding_truth(record: VenueRecord, bounds: Bounds) -> Outcome:
    """After settling, the connector's funding info equals the exchange's: funding rate, mark price and next
    funding time.
    """
    final = record.final
    if final is None or final.truth_funding is None:
        return skipped("the run did not reach the settle phase")
    view, truth = final.funding, final.truth_funding
    if view is None:
        return failed(f"{record.label}: no funding info after settling", final.t)
    problems = []
    if view.rate != truth.rate:
        problems.append(f"rate {view.rate} (exchange {truth.rate})")
    if view.mark_price != truth.mark_price:
        problems.append(f"mark price {view.mark_price} (exchange {truth.mark_price})")
    if view.next_funding_time_ms != truth.next_funding_time_ms:
        problems.append(f"next funding time {view.next_funding_time_ms} (exchange {truth.next_funding_time_ms})")
    if problems:
        return failed(f"{record.label}: {settle_words(record, bounds)} funding {'; '.join(problems)}", final.t,
                      problems=problems)
    return passed()


def _fresh(sample: FundingSample, window: list[FundingSample]) -> bool:
    view = sample.view
    if view is None:
        return False
    if all(funding_key(view) != funding_key(s.truth) for s in window):
        return False
    marks = [s.truth.mark_price for s in window]
    low, high = min(marks), max(marks)
    slack = high * MARK_TOLERANCE
    return low - slack <= view.mark_price <= high + slack


@check("funding.fresh", ConformanceLevel.PERPETUALS, needs=("perpetual",))
def funding_fresh(record: VenueRecord, bounds: Bounds) -> Outcome:
    """A stalled funding feed is noticed: the connector's funding info (rate and next funding time exactly,
    mark price within the range the exchange showed) is never older than `funding_stale_s`.

    A connector that keeps the last value of a feed that went silent, with no staleness check and no REST
    fallback, fails here.
    """
    samples = record.funding
    if not samples:
        return skipped("no funding samples")
    first_t = samples[0].t
    start = 0
    for index, sample in enumerate(samples):
        while samples[start].t < sample.t - bounds.funding_stale_s:
            start += 1
        if sample.t - bounds.funding_stale_s < first_t:
            continue  # the window reaches back before the first sample: unknown
        window = samples[start: index + 1]
        if not _fresh(sample, window):
            view = sample.view
            shown = ("none" if view is None else
                     f"rate {view.rate}, mark {view.mark_price}, next funding {view.next_funding_time_ms}")
            truth = sample.truth
            return failed(f"{record.label}: at {fmt_t(sample.t)} the funding info ({shown}) matches nothing the "
                          f"exchange showed in the last {bounds.funding_stale_s:g}s (now: rate {truth.rate}, mark "
                          f"{truth.mark_price}, next funding {truth.next_funding_time_ms})", sample.t)
    return passed()


@check("funding.no_stale", ConformanceLevel.PERPETUALS, needs=("perpetual",))
def funding_no_stale(record: VenueRecord, bounds: Bounds) -> Outcome:
    """Stale funding updates are ignored: once the connector shows a funding rate / next funding time, it never
    goes back to one the exchange had replaced before it.

    Funding info from a REST answer that arrives after a newer stream update, or a delayed stream message, must
    not overwrite the newer value (Hummingbot's funding info is last-writer-wins, with no time).
    """
    segments: list[tuple[float, tuple[Decimal, int]]] = []
    for sample in record.funding:
        key = funding_key(sample.truth)
        if not segments or segments[-1][1] != key:
            segments.append((sample.t, key))
    best = -1
    best_t = 0.0
    for sample in record.funding:
        if sample.view is None:
            continue
        key = funding_key(sample.view)
        matches = [i for i, (start, value) in enumerate(segments) if value == key and start <= sample.t]
        if not matches:
            continue
        index = matches[-1]
        if index < best:
            replaced_at = segments[index + 1][0]
            return failed(f"{record.label}: at {fmt_t(sample.t)} the funding info went back to rate {key[0]}, next "
                          f"funding {key[1]}, which the exchange replaced at {fmt_t(replaced_at)}; the connector had "
                          f"shown the newer rate {segments[best][1][0]}, next funding {segments[best][1][1]} at "
                          f"{fmt_t(best_t)}", sample.t)
        if index > best:
            best, best_t = index, sample.t
    return passed()
