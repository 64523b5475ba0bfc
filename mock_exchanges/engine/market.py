"""Market specifications and the exact Decimal <-> integer tick/lot conversions.

Inside the book, prices are integer ticks and quantities integer lots: exact, and much faster than
Decimal. Every boundary (commands, events, queries) speaks Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .errors import InvalidPrice, InvalidQuantity, MinNotional
from .types import MarketKind


@dataclass(frozen=True)
class MarketSpec:
    symbol: str
    base: str
    quote: str
    kind: MarketKind = MarketKind.SPOT
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    #: Perpetuals only: the margin asset is the quote asset (linear, USD-margined).
    funding_interval_ms: int = 8 * 3600 * 1000
    max_leverage: int = 125
    default_leverage: int = 20
    #: Funding rate used when none is scripted and no index price is set (Binance's interest rate).
    base_funding_rate: Decimal = Decimal("0.0001")
    funding_rate_cap: Decimal = Decimal("0.0075")
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_perpetual(self) -> bool:
        return self.kind is MarketKind.PERPETUAL

    @property
    def price_decimals(self) -> int:
        return max(0, -int(self.tick_size.normalize().as_tuple().exponent))

    @property
    def qty_decimals(self) -> int:
        return max(0, -int(self.lot_size.normalize().as_tuple().exponent))

    def price_to_ticks(self, price: Decimal) -> int:
        """Exact ticks of a price, or InvalidPrice if it is off-tick or out of range."""
        if not isinstance(price, Decimal) or not price.is_finite():
            raise InvalidPrice(f"price {price!r} is not a finite Decimal")
        if price <= 0:
            raise InvalidPrice(f"price {price} must be positive")
        if price < self.min_price or price > self.max_price:
            raise InvalidPrice(f"price {price} outside [{self.min_price}, {self.max_price}]")
        ticks, rest = divmod(price, self.tick_size)
        if rest:
            raise InvalidPrice(f"price {price} is not a multiple of tick size {self.tick_size}")
        return int(ticks)

    def qty_to_lots(self, qty: Decimal) -> int:
        """Exact lots of a quantity, or InvalidQuantity if it is off-lot or out of range."""
        if not isinstance(qty, Decimal) or not qty.is_finite():
            raise InvalidQuantity(f"quantity {qty!r} is not a finite Decimal")
        if qty <= 0:
            raise InvalidQuantity(f"quantity {qty} must be positive")
        if qty < self.min_qty or qty > self.max_qty:
            raise InvalidQuantity(f"quantity {qty} outside [{self.min_qty}, {self.max_qty}]")
        lots, rest = divmod(qty, self.lot_size)
        if rest:
            raise InvalidQuantity(f"quantity {qty} is not a multiple of lot size {self.lot_size}")
        return int(lots)

    def price(self, ticks: int) -> Decimal:
        return self.tick_size * ticks

    def qty(self, lots: int) -> Decimal:
        return self.lot_size * lots

    def check_notional(self, price: Decimal, qty: Decimal) -> None:
        if price * qty < self.min_notional:
            raise MinNotional(f"notional {price * qty} below minimum {self.min_notional}")


def spot_market(symbol: str, base: str, quote: str, **overrides: object) -> MarketSpec:
    return MarketSpec(symbol=symbol, base=base, quote=quote, kind=MarketKind.SPOT, **overrides)  # type: ignore[arg-type]


def perpetual_market(symbol: str, base: str, quote: str, **overrides: object) -> MarketSpec:
    defaults: dict[str, object] = {
        "tick_size": Decimal("0.1"),
        "lot_size": Decimal("0.001"),
        "min_qty": Decimal("0.001"),
        "max_qty": Decimal("1000"),
        "min_price": Decimal("0.1"),
        "min_notional": Decimal("5"),
        "maker_fee": Decimal("0.0002"),
        "taker_fee": Decimal("0.0005"),
    }
    defaults.update(overrides)
    return MarketSpec(symbol=symbol, base=base, quote=quote, kind=MarketKind.PERPETUAL, **defaults)  # type: ignore[arg-type]
