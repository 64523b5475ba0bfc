"""What a run returns: a `ScenarioResult` per scenario and a `SuiteResult` for the run (both to JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .checks import Bounds, CheckResult, Status
from .levels import ConformanceLevel
from .timeline import FaultMark, Timeline


@dataclass
class ScenarioResult:
    scenario: str
    description: str
    connector: str
    dialect: str
    #: the run's seed, and the scenario's own seed derived from it (`seeds.derive_seed`)
    seed: int
    scenario_seed: int
    level: ConformanceLevel
    venues: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    started_at: str = ""
    duration_s: float = 0.0
    transcript: str | None = None
    log: str | None = None
    replay: str = ""
    #: the harness itself failed (the gate could not be evaluated)
    error: str | None = None
    #: the scenario does not apply at this level / to this connector / to this dialect (why)
    skipped: str | None = None
    #: skipped because the scenario does not apply to the dialect (it needs what the dialect lacks, e.g. a book
    #: checksum): reported as not applicable, neither a pass nor a failure
    not_applicable: bool = False
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: per connector instance, its book over the run next to the truth (for the reports' plots)
    timelines: list[Timeline] = field(default_factory=list)
    #: the faults (and exchange actions) the exchange fired, from the transcript or the fault controller
    faults: list[FaultMark] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures

    @property
    def status(self) -> str:
        """pass / fail / error / skip (a scenario not applicable to the dialect is a skip: see `label`)."""
        if self.error is not None:
            return "error"
        if self.skipped is not None:
            return "skip"
        return "pass" if self.passed else "fail"

    @property
    def label(self) -> str:
        """The status as the reports show it: PASS, FAIL, ERROR, SKIP, or N/A for a scenario not applicable to the
        dialect."""
        return "N/A" if self.not_applicable and self.error is None else self.status.upper()

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "description": self.description, "connector": self.connector,
                "dialect": self.dialect, "seed": self.seed, "scenario_seed": self.scenario_seed,
                "level": self.level.value, "venues": self.venues, "status": self.status, "passed": self.passed,
                "started_at": self.started_at, "duration_s": round(self.duration_s, 3),
                "transcript": self.transcript, "log": self.log, "replay": self.replay, "error": self.error,
                "skipped": self.skipped, "not_applicable": self.not_applicable,
                "checks": [self._check_dict(c) for c in self.checks],
                "diagnostics": _jsonable(self.diagnostics), "timelines": [t.to_dict() for t in self.timelines],
                "faults": [f.to_dict() for f in self.faults]}

    def _check_dict(self, check: CheckResult) -> dict[str, Any]:
        """A check's entry; a failing one carries what replays it, so each entry stands on its own."""
        entry = check.to_dict()
        if check.status in (Status.FAIL, Status.ERROR):
            entry.update(seed=self.seed, replay=self.replay, transcript=self.transcript)
        return entry


@dataclass
class SuiteResult:
    connector: str
    dialect: str
    level: ConformanceLevel
    seed: int
    results: list[ScenarioResult]
    jobs: int = 1
    wall_time_s: float = 0.0
    started_at: str = ""
    bounds: Bounds = field(default_factory=Bounds)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def exit_code(self) -> int:
        """0: every required check passed; 1: a required check failed; 2: the harness failed somewhere."""
        if any(r.failures for r in self.results):
            return 1
        if any(r.error is not None for r in self.results):
            return 2
        return 0

    def failures(self) -> list[tuple[ScenarioResult, CheckResult]]:
        return [(r, c) for r in self.results for c in r.failures]

    def counts(self) -> dict[str, int]:
        """Scenarios by label: how many passed, failed, errored, were skipped, were not applicable ("N/A")."""
        found: dict[str, int] = {}
        for result in self.results:
            found[result.label] = found.get(result.label, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"format": "conformance-report", "version": 1, "connector": self.connector, "dialect": self.dialect,
                "level": self.level.value, "seed": self.seed, "jobs": self.jobs, "started_at": self.started_at,
                "wall_time_s": round(self.wall_time_s, 3), "passed": self.passed, "exit_code": self.exit_code,
                "bounds": self.bounds.to_dict(), "scenarios": [r.to_dict() for r in self.results]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
