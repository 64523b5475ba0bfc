"""Named, seeded scenarios (flow + faults + actions + order activity), in Python and TOML."""

from .actions import ScenarioActions
from .catalog import CATALOG, get_scenario, scenario_names
from .scenario import Action, ActionKind, OrderActivity, Scenario, load_scenarios

__all__ = ["CATALOG", "Action", "ActionKind", "OrderActivity", "Scenario", "ScenarioActions", "get_scenario",
           "load_scenarios", "scenario_names"]
