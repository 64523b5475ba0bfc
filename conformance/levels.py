"""Conformance levels: what a connector claims to do, so it can be gated at that level.

Levels are cumulative: `orders` includes `market_data`, `perpetuals` includes both.
"""

from __future__ import annotations

from enum import StrEnum

from .protocol import Venue


class ConformanceLevel(StrEnum):
    #: books only: a connector that follows market data
    MARKET_DATA = "market_data"
    #: plus trading: orders, fills, fees, balances
    ORDERS = "orders"
    #: plus the perpetual-trading role: positions and funding info
    PERPETUALS = "perpetuals"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def includes(self, other: ConformanceLevel) -> bool:
        return other.rank <= self.rank

    def covered(self) -> tuple[ConformanceLevel, ...]:
        """This level and every level below it."""
        return _ORDER[: self.rank + 1]


_ORDER = (ConformanceLevel.MARKET_DATA, ConformanceLevel.ORDERS, ConformanceLevel.PERPETUALS)


def highest_level(venues: tuple[Venue, ...], trading: bool = True) -> ConformanceLevel:
    """The highest level a connector supporting `venues` can claim."""
    if Venue.PERPETUAL in venues and trading:
        return ConformanceLevel.PERPETUALS
    return ConformanceLevel.ORDERS if trading else ConformanceLevel.MARKET_DATA


def parse_level(text: str) -> ConformanceLevel:
    try:
        return ConformanceLevel(text)
    except ValueError:
        known = ", ".join(level.value for level in _ORDER)
        raise ValueError(f"unknown level {text!r}; known: {known}") from None
