"""The text of a failure, as every report shows it: what differed and where (the check's message), since which
message (the last fault before it), and how to replay it (seed, command, transcript)."""

from __future__ import annotations

from ..checks import CheckResult
from ..runner import ScenarioResult


def failure_text(result: ScenarioResult, check: CheckResult) -> str:
    lines = [f"[{check.name}] {check.message}"]
    if check.since:
        lines.append(f"  since: {check.since}")
    lines.append(f"  seed: {result.seed} (scenario {result.scenario} runs with seed {result.scenario_seed})")
    lines.append(f"  replay: {result.replay}")
    if result.transcript:
        lines.append(f"  transcript: {result.transcript} (serve it back: mock-exchange replay {result.transcript})")
    if result.log:
        lines.append(f"  log: {result.log}")
    return "\n".join(lines)


def error_text(result: ScenarioResult) -> str:
    return "\n".join([f"[harness error] scenario {result.scenario}:", (result.error or "").rstrip(),
                      f"  replay: {result.replay}"])
