"""What the CLI prints: progress while the scenarios run, then a summary table and every failure in full."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..checks import Severity, Status
from ..runner import ProgressEvent, ScenarioResult, SuiteResult
from .text import error_text, failure_text


class ProgressPrinter:
    """On a terminal: one live status line (running / done). Elsewhere (CI logs): one line per finished scenario."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.running: list[str] = []
        self.started = time.monotonic()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            self.running.append(event.scenario)
            if not self.live:
                return
        elif event.scenario in self.running:
            self.running.remove(event.scenario)
        elapsed = time.monotonic() - self.started
        if event.kind == "done" and event.result is not None:
            line = (f"[{event.index}/{event.total}] {event.scenario:18s} {event.result.label:5s} "
                    f"seed {event.result.scenario_seed:<7d} {event.result.duration_s:5.1f}s")
            if self.live:
                self.stream.write("\r\033[K")
            self.stream.write(line + "\n")
        if self.live:
            waiting = ", ".join(self.running[:4]) + (" ..." if len(self.running) > 4 else "")
            self.stream.write(f"\r\033[K{elapsed:6.1f}s pending: {waiting}" if self.running else "\r\033[K")
        self.stream.flush()


def _counts(result: ScenarioResult) -> str:
    passed = sum(1 for c in result.checks if c.status is Status.PASS)
    failed = sum(1 for c in result.checks if c.blocking)
    advisory = sum(1 for c in result.checks if c.severity is Severity.ADVISORY and c.status is Status.FAIL)
    skipped = sum(1 for c in result.checks if c.status is Status.SKIP)
    return f"{passed:3d} {failed:4d} {advisory:4d} {skipped:4d}"


_WORDS = {"PASS": "passed", "FAIL": "failed", "ERROR": "harness error", "SKIP": "skipped", "N/A": "not applicable"}


def _breakdown(suite: SuiteResult) -> str:
    """The scenarios by status, e.g. " (12 passed, 1 not applicable)", when they are not all of one."""
    counts = suite.counts()
    if len(counts) <= 1 and "N/A" not in counts:
        return ""
    return " (" + ", ".join(f"{counts[label]} {word}" for label, word in _WORDS.items() if label in counts) + ")"


def summary(suite: SuiteResult, verbose: bool = False) -> str:
    """The table (one row per scenario) and the full text of every failure."""
    lines = [f"conformance: connector {suite.connector}, dialect {suite.dialect}, level {suite.level.value}, "
             f"seed {suite.seed}, jobs {suite.jobs}",
             "",
             f"{'scenario':18s} {'status':6s} {'seed':>7s} {'venues':18s} {'pass':>3s} {'fail':>4s} {'warn':>4s} "
             f"{'skip':>4s} {'time':>6s}",
             "-" * 80]
    for result in suite.results:
        venues = "+".join(result.venues) or "-"
        lines.append(f"{result.scenario:18s} {result.label:6s} {result.scenario_seed:7d} {venues:18s} "
                     f"{_counts(result)} {result.duration_s:5.1f}s")
    lines.append("-" * 80)
    blocking = sum(len(r.failures) for r in suite.results)
    errors = sum(1 for r in suite.results if r.error is not None)
    verdict = "PASSED" if suite.exit_code == 0 else ("FAILED" if suite.exit_code == 1 else "ERROR")
    lines.append(f"{verdict}: {len(suite.results)} scenarios{_breakdown(suite)}, {blocking} required check failures, "
                 f"{errors} harness errors; wall time {suite.wall_time_s:.1f}s")
    not_applicable = [r for r in suite.results if r.not_applicable]
    if not_applicable:
        lines.append("Not applicable (not run, neither passed nor failed):")
        lines += [f"  {r.skipped}" for r in not_applicable]  # the reason names the scenario
    details: list[str] = []
    for result in suite.results:
        if result.error is not None:
            details.append(error_text(result))
        for check in result.checks:
            if check.blocking or (verbose and check.status is Status.FAIL):
                details.append(("" if check.blocking else "(advisory) ") + failure_text(result, check))
    if details:
        lines += ["", "Failures:", ""] + [d + "\n" for d in details]
    return "\n".join(lines)
