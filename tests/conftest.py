"""Test-wide set-up: Hypothesis profiles.

`ci` (loaded by default when the CI environment variable is set) derandomizes Hypothesis, so a CI
run draws the same examples every time; `dev` keeps Hypothesis's random search and its example
database. HYPOTHESIS_PROFILE=<name> picks a profile explicitly.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_report_header() -> str:
    derandomized = settings().derandomize  # a settings object built now inherits the loaded profile
    mode = "derandomized, fixed seed" if derandomized else "random seed, example database on"
    return f"hypothesis profile: {settings.get_current_profile_name()} ({mode})"
