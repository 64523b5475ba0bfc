"""Checks on the connector as a whole: it starts, and it stops cleanly."""

from __future__ import annotations

from ..levels import ConformanceLevel
from ..observations import VenueRecord
from .base import Bounds, Outcome, Severity, check, failed, passed

L = ConformanceLevel.MARKET_DATA


@check("connector.ready", L)
def ready(record: VenueRecord, bounds: Bounds) -> Outcome:
    """The connector becomes ready (books synced, and when trading: user stream and balances) within the bound.

    Every other check needs a ready connector; when this one fails they are skipped.
    """
    if record.ready_error is not None:
        return failed(f"{record.label}: not ready within {bounds.ready_s:g}s: {record.ready_error}", record.run_t)
    return passed(f"ready in {record.ready_s:.2f}s" if record.ready_s is not None else "ready")


@check("connector.clean_stop", L, Severity.ADVISORY)
def clean_stop(record: VenueRecord, bounds: Bounds) -> Outcome:
    """`stop()` returns within the bound without raising, and no background task of the connector crashed.

    Advisory: it does not gate, but a crashed task usually explains another failure.
    """
    if record.stop_error is not None:
        return failed(f"{record.label}: stop() failed: {record.stop_error}")
    crashed = record.diagnostics.get("crashed_tasks") or []
    if crashed:
        return failed(f"{record.label}: {len(crashed)} background task(s) crashed: {'; '.join(map(str, crashed[:3]))}",
                      crashed=list(crashed))
    return passed()
