"""Engine markets as OKX instruments: ids, instrument types, and the size unit of each.

Spot `BTCUSDT` is `BTC-USDT` (instType SPOT, sizes in base currency). Perpetual `BTCUSDT-PERP` is
`BTC-USDT-SWAP` (instType SWAP, linear, settled in the quote currency). OKX sizes swaps in contracts;
our choice is one contract = one engine lot (`ctVal` = the engine's lot size, `lotSz` = `minSz`'s unit = 1),
so every contract count is a whole number of engine lots and no size ever needs rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ...engine import Engine, MarketSpec


def fmt(value: Decimal) -> str:
    """A decimal as OKX prints it: plain notation, no exponent, no trailing zeros ("30000", "0.5")."""
    if not value:
        return "0"
    return format(value.normalize(), "f")


#: formatted prices and sizes remembered per instrument before the caches start over
FORMAT_CACHE = 100_000


@dataclass(frozen=True)
class Instrument:
    spec: MarketSpec
    inst_id: str
    #: ticks -> px and lots -> sz strings: book pushes format the same few thousand levels over and over
    _px: dict[int, str] = field(default_factory=dict, compare=False, repr=False)
    _sz: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def is_swap(self) -> bool:
        return self.spec.is_perpetual

    @property
    def inst_type(self) -> str:
        return "SWAP" if self.spec.is_perpetual else "SPOT"

    @property
    def ct_val(self) -> Decimal:
        return self.spec.lot_size

    def sz(self, qty: Decimal) -> str:
        """An engine quantity in OKX size units (contracts for swaps)."""
        return fmt(qty / self.spec.lot_size) if self.is_swap else fmt(qty)

    def sz_lots(self, lots: int) -> str:
        """Engine lots in OKX size units (cached: the book encoder's hot path)."""
        text = self._sz.get(lots)
        if text is None:
            if len(self._sz) >= FORMAT_CACHE:
                self._sz.clear()
            text = self._sz[lots] = str(lots) if self.is_swap else fmt(self.spec.lot_size * lots)
        return text

    def px_ticks(self, ticks: int) -> str:
        """A price in ticks as OKX prints it (cached)."""
        text = self._px.get(ticks)
        if text is None:
            if len(self._px) >= FORMAT_CACHE:
                self._px.clear()
            text = self._px[ticks] = fmt(self.spec.tick_size * ticks)
        return text

    def qty(self, sz: Decimal) -> Decimal:
        """An OKX size (contracts for swaps) as an engine quantity."""
        return sz * self.spec.lot_size if self.is_swap else sz

    def info(self, list_time_ms: int) -> dict[str, Any]:
        """A row of GET /api/v5/public/instruments."""
        spec = self.spec
        family = f"{spec.base}-{spec.quote}"
        swap = self.is_swap
        min_sz = spec.min_qty / spec.lot_size if swap else spec.min_qty
        max_sz = spec.max_qty / spec.lot_size if swap else spec.max_qty
        return {
            "alias": "", "auctionEndTime": "", "baseCcy": "" if swap else spec.base, "category": "1",
            "ctMult": "1" if swap else "", "ctType": "linear" if swap else "",
            "ctVal": fmt(spec.lot_size) if swap else "", "ctValCcy": spec.base if swap else "",
            "expTime": "", "instFamily": family if swap else "", "instId": self.inst_id, "instType": self.inst_type,
            "lever": str(spec.max_leverage) if swap else "", "listTime": str(list_time_ms),
            "lotSz": "1" if swap else fmt(spec.lot_size), "maxIcebergSz": fmt(max_sz),
            "maxLmtAmt": fmt(spec.max_qty * spec.max_price), "maxLmtSz": fmt(max_sz),
            "maxMktAmt": fmt(spec.max_qty * spec.max_price), "maxMktSz": fmt(max_sz),
            "maxStopSz": fmt(max_sz), "maxTriggerSz": fmt(max_sz), "maxTwapSz": fmt(max_sz),
            "minSz": fmt(min_sz), "optType": "", "quoteCcy": "" if swap else spec.quote, "ruleType": "normal",
            "settleCcy": spec.quote if swap else "", "state": "live", "stk": "", "tickSz": fmt(spec.tick_size),
            "uly": family if swap else "",
        }


def instrument_table(engine: Engine) -> dict[str, Instrument]:
    """Every engine market as an instrument, by instId."""
    table: dict[str, Instrument] = {}
    for state in engine.markets.values():
        spec = state.spec
        inst_id = f"{spec.base}-{spec.quote}" + ("-SWAP" if spec.is_perpetual else "")
        if inst_id in table:
            raise ValueError(f"markets {table[inst_id].symbol} and {spec.symbol} are both OKX {inst_id}")
        table[inst_id] = Instrument(spec, inst_id)
    return table
