"""Engine values -> Bitstamp's spelling: market ids and names, decimal strings, timestamps.

Prices are printed at the market's counter decimals and amounts at its base decimals (Bitstamp prints a
removed level as `"0.00000"` at size precision, not `"0"`); other amounts (fees, balances, costs) with at
least 8 decimals, more only when the exact value needs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ...engine import MarketSpec

EIGHT = Decimal("0.00000001")


def market_id(spec: MarketSpec) -> str:
    """The URL symbol: `btcusdt` for spot, `btcusdt-perp` for a perpetual (Bitstamp spells them so)."""
    return (spec.base + spec.quote).lower() + ("-perp" if spec.is_perpetual else "")


def market_name(spec: MarketSpec) -> str:
    """The display name: `BTC/USDT`, `BTC/USDT-PERP`."""
    return f"{spec.base}/{spec.quote}" + ("-PERP" if spec.is_perpetual else "")


def currency(asset: str) -> str:
    return asset.lower()


def price(spec: MarketSpec, value: Decimal) -> str:
    return f"{value:.{spec.price_decimals}f}"


def amount(spec: MarketSpec, value: Decimal) -> str:
    return f"{value:.{spec.qty_decimals}f}"


def plain(value: Decimal) -> str:
    """A decimal with at least 8 places, more only when the exact value needs them; never an exponent."""
    if value == value.quantize(EIGHT):
        return f"{value:.8f}"
    return f"{value.normalize():f}"


def rate(value: Decimal) -> str:
    """A funding rate as Bitstamp prints it (`"0.000123"`): no trailing zeros, never an exponent."""
    text = f"{value.normalize():f}"
    return "0" if text == "-0" else text


def seconds(time_us: int) -> str:
    return str(time_us // 1_000_000)


def datetime_str(time_us: int, micro: bool = False) -> str:
    """`2019-01-31 21:23:36` (order objects) or `2021-11-25 12:59:59.322000` (transactions), UTC."""
    moment = datetime.fromtimestamp(time_us // 1_000_000, tz=UTC).replace(microsecond=time_us % 1_000_000)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if micro else "%Y-%m-%d %H:%M:%S")


def levels(spec: MarketSpec, rows: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[price(spec, p), amount(spec, q)] for p, q in rows]
