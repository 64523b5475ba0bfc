"""The conformance checks, one module per area: connector, books, orders, accounts (balances, positions,
funding). Each is registered by name with its level and severity; `all_checks()` lists them."""

from .base import (
    REGISTRY,
    Bounds,
    Check,
    Outcome,
    Severity,
    Status,
    all_checks,
    failed,
    get_check,
    passed,
    skipped,
)
from .evaluate import CheckResult, evaluate

__all__ = ["REGISTRY", "Bounds", "Check", "CheckResult", "Outcome", "Severity", "Status", "all_checks", "evaluate",
           "failed", "get_check", "passed", "skipped"]
