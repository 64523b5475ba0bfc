"""Accounts: balances (free + locked per asset), credentials, positions and open orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .orders import Order

ZERO = Decimal(0)


@dataclass(slots=True)
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(slots=True)
class Position:
    """A one-way position. `cost` is the signed sum of price x qty still open, kept exact so that
    realized + unrealized PnL always equals the account's trade cash flow (no average-price drift)."""

    qty: Decimal = ZERO
    cost: Decimal = ZERO
    margin: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    def entry_price(self, decimals: int = 8) -> Decimal:
        if not self.qty:
            return ZERO
        return (self.cost / self.qty).quantize(Decimal(1).scaleb(-decimals))

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.qty * mark - self.cost


@dataclass(slots=True)
class Account:
    account_id: int
    name: str
    api_key: str
    api_secret: str
    balances: dict[str, Balance] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    open_orders: dict[int, Order] = field(default_factory=dict)
    #: client order id -> order id, for every order of this account the engine still remembers.
    client_ids: dict[str, int] = field(default_factory=dict)

    def balance(self, asset: str) -> Balance:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position()
        return pos
