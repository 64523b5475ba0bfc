"""Scenarios as TOML text: what `conformance run --scenario-file` and `mock-exchange serve --scenario-file` read
(`mock_exchanges.scenarios.load_scenarios`). Used to print a scenario that is not in the catalog (a shrunk
hypothesis schedule, a test's own scenario) so that it can be saved and replayed."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_exchanges.scenarios import Scenario

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _pairs(data: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in data.items() if v is not None]


def scenario_toml(scenarios: Scenario | Iterable[Scenario]) -> str:
    """`[scenario.<name>]` tables that `load_scenarios` reads back into equal scenarios."""
    from mock_exchanges.scenarios import Scenario

    chosen = [scenarios] if isinstance(scenarios, Scenario) else list(scenarios)
    blocks: list[str] = []
    for scenario in chosen:
        data = scenario.to_dict()
        table = f"scenario.{_key(scenario.name)}"
        keys: tuple[str, ...] = ("description", "seed", "duration_s", "levels", "requires", "batch_depth")
        head = {k: data[k] for k in keys if k in data}
        lines = [f"[{table}]", *_pairs(head)]
        if scenario.flow is None:
            lines.append('flow = "none"')
        else:
            lines += ["", f"[{table}.flow]", *_pairs(data["flow"])]
        lines += ["", f"[{table}.orders]", *_pairs(data["orders"])]
        for kind in ("faults", "actions"):
            for entry in data[kind]:
                lines += ["", f"[[{table}.{kind}]]", *_pairs(entry)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


__all__ = ["scenario_toml"]
