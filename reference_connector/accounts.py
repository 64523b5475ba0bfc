"""Balances, positions and funding info, each value kept with the exchange time it is true at.

Several sources report the same values (a REST snapshot, user-stream or market-stream events), and they
can arrive out of order, so every value is last-writer-wins by exchange event time: an update older than
the one held is ignored (and counted). Equal times: the later arrival wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .types import BalanceUpdate, FundingInfo, FundingUpdate, Position, PositionUpdate

ZERO = Decimal(0)


@dataclass(slots=True)
class _Timed:
    value: Decimal
    time_ms: int


class BalanceBook:
    def __init__(self) -> None:
        self._total: dict[str, _Timed] = {}
        self._available: dict[str, _Timed] = {}
        self.stale_updates = 0
        self.initialized = False

    @staticmethod
    def _set(table: dict[str, _Timed], asset: str, value: Decimal, time_ms: int) -> bool:
        held = table.get(asset)
        if held is not None and held.time_ms > time_ms:
            return False
        table[asset] = _Timed(value, time_ms)
        return True

    def apply(self, update: BalanceUpdate) -> bool:
        applied = False
        stale = False
        for table, value in ((self._total, update.total), (self._available, update.available)):
            if value is None:
                continue
            if self._set(table, update.asset, value, update.time_ms):
                applied = True
            else:
                stale = True
        self.stale_updates += stale
        return applied

    def apply_snapshot(self, updates: list[BalanceUpdate], time_ms: int) -> None:
        """A full account snapshot: assets it does not list are zero as of `time_ms`."""
        listed = {u.asset for u in updates}
        for update in updates:
            self.apply(update)
        for table in (self._total, self._available):
            for asset in [a for a in table if a not in listed]:
                self._set(table, asset, ZERO, time_ms)
        self.initialized = True

    def total(self, asset: str) -> Decimal:
        held = self._total.get(asset)
        return held.value if held is not None else ZERO

    def available(self, asset: str) -> Decimal:
        held = self._available.get(asset)
        return held.value if held is not None else ZERO

    def all_totals(self) -> dict[str, Decimal]:
        return {asset: timed.value for asset, timed in self._total.items()}


class PositionBook:
    def __init__(self) -> None:
        self._positions: dict[str, tuple[PositionUpdate, int]] = {}
        self._leverage: dict[str, tuple[int, int]] = {}
        self.stale_updates = 0
        self.initialized = False

    def apply(self, update: PositionUpdate) -> bool:
        held = self._positions.get(update.trading_pair)
        if held is not None and held[1] > update.time_ms:
            self.stale_updates += 1
            return False
        self._positions[update.trading_pair] = (update, update.time_ms)
        if update.leverage is not None:
            self.set_leverage(update.trading_pair, update.leverage, update.time_ms)
        return True

    def apply_snapshot(self, updates: list[PositionUpdate], pairs: list[str], time_ms: int) -> None:
        """A full positions answer: tracked pairs it does not list have no position as of `time_ms` (OKX lists
        open positions only)."""
        listed = {u.trading_pair for u in updates}
        for update in updates:
            self.apply(update)
        for pair in pairs:
            if pair not in listed:
                self.apply(PositionUpdate(pair, ZERO, ZERO, ZERO, None, time_ms, "rest"))
        self.initialized = True

    def set_leverage(self, trading_pair: str, leverage: int, time_ms: int) -> bool:
        held = self._leverage.get(trading_pair)
        if held is not None and held[1] > time_ms:
            return False
        self._leverage[trading_pair] = (leverage, time_ms)
        return True

    def leverage(self, trading_pair: str) -> int | None:
        held = self._leverage.get(trading_pair)
        return held[0] if held is not None else None

    def positions(self) -> dict[str, Position]:
        """Open positions (non-zero amount) by pair."""
        out: dict[str, Position] = {}
        for pair, (update, _) in self._positions.items():
            if update.amount:
                out[pair] = Position(pair, update.amount, update.entry_price, self.leverage(pair) or 0,
                                     update.unrealized_pnl)
        return out


_FUNDING_FIELDS = ("rate", "mark_price", "index_price", "next_funding_time_ms")


class FundingBook:
    """Funding fields per pair, each last-writer-wins by event time (a message may carry only some)."""

    def __init__(self, needs_index: bool = True) -> None:
        self._fields: dict[str, dict[str, tuple[Any, int]]] = {}
        self.needs_index = needs_index
        self.stale_updates = 0

    def apply(self, update: FundingUpdate) -> bool:
        fields = self._fields.setdefault(update.trading_pair, {})
        applied = stale = False
        for name in _FUNDING_FIELDS:
            value = getattr(update, name)
            if value is None:
                continue
            held = fields.get(name)
            if held is not None and held[1] > update.time_ms:
                stale = True
                continue
            fields[name] = (value, update.time_ms)
            applied = True
        self.stale_updates += stale and not applied
        return applied

    def get(self, trading_pair: str) -> FundingInfo | None:
        """The pair's funding info once every field it needs has arrived."""
        fields = self._fields.get(trading_pair, {})
        values = {name: held[0] for name, held in fields.items()}
        if any(values.get(n) is None for n in ("rate", "mark_price", "next_funding_time_ms")):
            return None
        if self.needs_index and values.get("index_price") is None:
            return None
        return FundingInfo(values["rate"], values["mark_price"], values.get("index_price"),
                           values["next_funding_time_ms"])

    def time_ms(self, trading_pair: str) -> int | None:
        """The newest event time among the pair's fields."""
        fields = self._fields.get(trading_pair)
        return max(held[1] for held in fields.values()) if fields else None

    def has_all(self, pairs: list[str]) -> bool:
        return all(self.get(p) is not None for p in pairs)
