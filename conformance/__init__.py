"""The conformance suite: scenarios and checks that run a connector against the mock exchanges.

The public API, for the CLI, the pytest plugin and connector authors (imported lazily: `import conformance`
stays cheap, which the pytest plugin relies on):

- `run_scenario(connector, dialect, scenario, seed, options) -> ScenarioResult` (async),
- `run_suite(connector, dialect, scenarios, seed, options, jobs) -> SuiteResult` (sync; processes for jobs > 1),
  `arun_suite(...)` (async, in the running loop),
- `RunOptions`, `Bounds`, `ConformanceLevel`,
- the connector protocol: `ConnectorAdapter`, `ConnectorFactory`, `ConnectorContext` and the views
  (`conformance.protocol`), and `resolve_connector` for `--connector` strings.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_scenario": "runner", "run_suite": "runner", "arun_suite": "runner", "RunOptions": "runner",
    "ScenarioResult": "runner", "SuiteResult": "runner", "Bounds": "checks", "ConformanceLevel": "levels",
    "ConnectorAdapter": "protocol", "ConnectorFactory": "protocol", "ConnectorContext": "protocol",
    "resolve_connector": "adapters", "connector_factory": "factory",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
