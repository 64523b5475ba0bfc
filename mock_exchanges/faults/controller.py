"""Placeholder controller (no faults) until the schedule-driven one lands."""

from __future__ import annotations


class FaultController:
    def snapshot_update_id(self, symbol: str) -> int | None:
        return None

    def before_cancel(self, symbol: str, account_id: int, order_id: int) -> None:
        return None
