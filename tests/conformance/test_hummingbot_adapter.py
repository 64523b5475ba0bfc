"""The Hummingbot adapter drives Hummingbot's own Binance spot connector through a scenario.

Optional: skipped when Hummingbot is not importable. It runs in the separate venv of docs/hummingbot.md:
`/work/hbvenv/bin/python -m pytest tests/conformance/test_hummingbot_adapter.py`.

In `calm` Hummingbot's spot connector passes; in `stale_snapshot` it applies the diffs it buffered before its
(stale) snapshot without an id check, and the kit says so (book.truth, book.no_stale_diff): the notes' §2.3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("hummingbot", reason="Hummingbot is not installed (see docs/hummingbot.md for its venv)")

from conformance.checks import Status
from conformance.levels import ConformanceLevel
from conformance.reports import failure_text
from conformance.runner import RunOptions, run_scenario

SEED = 1


async def test_hummingbot_binance_spot_passes_calm(tmp_path: Path) -> None:
    result = await run_scenario("hummingbot:binance", "binance", "calm", SEED,
                                RunOptions(out_dir=tmp_path, duration_scale=0.75))
    assert result.error is None, result.error
    assert result.level is ConformanceLevel.ORDERS and result.venues == ["spot"]
    assert result.passed, "\n".join(failure_text(result, c) for c in result.failures)
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["book.truth"] is Status.PASS and statuses["orders.fills_truth"] is Status.PASS


async def test_hummingbot_binance_spot_applies_stale_buffered_diffs(tmp_path: Path) -> None:
    result = await run_scenario("hummingbot:binance", "binance", "stale_snapshot", SEED,
                                RunOptions(out_dir=tmp_path, duration_scale=0.75,
                                           level=ConformanceLevel.MARKET_DATA))
    assert result.error is None, result.error
    failed = {c.name for c in result.failures}
    assert {"book.truth", "book.no_stale_diff"} <= failed, [c.message for c in result.checks]
    book_truth = next(c for c in result.failures if c.name == "book.truth")
    assert "stale_snapshot" in book_truth.since
