"""The JSON report: `SuiteResult.to_dict()` (format "conformance-report", version 1), one file per run.

Shape: top level `connector`, `dialect`, `level`, `seed`, `jobs`, `wall_time_s`, `passed`, `exit_code`,
`bounds`; `scenarios[]` with `scenario`, `seed`, `scenario_seed`, `status` (pass/fail/error/skip), `skipped` (why),
`not_applicable` (true: skipped because the scenario does not apply to the dialect, e.g. `corrupt_book` where book
messages carry no checksum), `replay`, `transcript`, `log`, `error`, `checks[]` with `name`, `level`, `severity`,
`status` (pass/fail/skip/error), `venue`, `message`, `t`, `since`, `summary`, `details`; `timelines[]` (per connector:
columns `t`, `bid`, `ask`, `update_id`, `truth_bid`, `truth_ask`, `truth_update_id`, `status`) and `faults[]`
(`t`, `kind`, `where`). See docs/conformance.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..runner import SuiteResult


def write_json(suite: SuiteResult, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(suite.to_dict(), indent=2) + "\n", encoding="utf-8")
    return target
