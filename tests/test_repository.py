"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_the_main_job_and_the_tests() -> None:
    main_job, tests = readme_commands()[:2]
    assert "conformance run" in main_job and tests.endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command() -> None:
    test_command = readme_commands()[1].split("&& ")[-1].replace(".venv/bin/", "")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci, f"{test_command!r} not in .ci/run"
