"""The connector protocol: the one interface the conformance suite drives.

A connector under test is wrapped in a `ConnectorAdapter`; a `ConnectorFactory` builds one per run from a
`ConnectorContext` (where the exchange is, which credentials, which pairs). Everything the suite reads goes
through the views below, so the checks never depend on a connector's own classes:

* `book(pair)` is synchronous on purpose: bids, asks and the update id they reflect must be read in one go,
  with no `await` in between, or the view could mix two states of the book.
* Amounts and prices are `Decimal` at this boundary. An adapter of a connector that keeps floats converts
  them with `Decimal(str(x))` (the shortest repr round-trips exactly for the prices an exchange allows).
* Order states are normalised to `OrderStatus`; an adapter maps its connector's states onto them.

Adapters shipped with the kit: `conformance.adapters.reference` (this project's reference connector) and
`conformance.adapters.hummingbot` (connectors of the Hummingbot architecture, by `ConnectorBase` duck typing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

#: one price level: (price, quantity)
Level = tuple[Decimal, Decimal]


class Venue(StrEnum):
    """Which kind of market a connector instance trades."""

    SPOT = "spot"
    PERPETUAL = "perpetual"


class OrderStatus(StrEnum):
    """An order's state as a connector sees it, normalised across connectors."""

    PENDING_CREATE = "PENDING_CREATE"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.FAILED, OrderStatus.EXPIRED})


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str
    #: dialect-specific extras (e.g. OKX's passphrase), by name
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorContext:
    """Everything a factory needs to build a connector for one run."""

    venue: Venue
    dialect: str
    #: base URLs of the exchange (the connector knows the dialect's paths below them)
    rest_url: str
    ws_url: str
    credentials: Credentials
    trading_pairs: tuple[str, ...]
    #: the run's seed (a connector with seeded jitter can use it, so a run replays)
    seed: int = 0


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do; checks that need more are reported as skipped, not failed."""

    #: can place and cancel orders and report balances
    trading: bool = True
    #: the book reports the update id it reflects (False for connectors of id-less dialects)
    update_ids: bool = True


@dataclass(frozen=True)
class BookView:
    """A connector's book of one pair, best levels first, and the update id it claims to reflect (if any)."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    update_id: int | None = None


@dataclass(frozen=True)
class OrderView:
    """A tracked order as the connector sees it."""

    client_order_id: str
    exchange_order_id: str | None
    trading_pair: str
    side: str  # "BUY" | "SELL"
    amount: Decimal
    price: Decimal | None
    state: OrderStatus
    executed_amount: Decimal
    #: fees paid so far, by asset
    fees: Mapping[str, Decimal] = field(default_factory=dict)
    #: ids of the fills applied, in the order they were applied (duplicates here are a bug)
    trade_ids: tuple[str, ...] = ()
    #: the states the order went through, in order, when the connector records them (None: it does not)
    transitions: tuple[OrderStatus, ...] | None = None
    #: the connector declared the order lost (it believes the exchange does not have it)
    lost: bool = False


@dataclass(frozen=True)
class BalanceView:
    total: Decimal
    available: Decimal


@dataclass(frozen=True)
class FundingView:
    rate: Decimal
    mark_price: Decimal
    next_funding_time_ms: int
    index_price: Decimal | None = None


@dataclass(frozen=True)
class PositionView:
    """A one-way position; `amount` is signed (negative: short)."""

    trading_pair: str
    amount: Decimal
    entry_price: Decimal
    leverage: int | None = None
    unrealized_pnl: Decimal | None = None


@runtime_checkable
class ConnectorAdapter(Protocol):
    """The interface the suite drives. One instance trades one venue (spot or perpetual) of one exchange."""

    venue: Venue
    capabilities: Capabilities

    async def start(self) -> None:
        """Start the connector (returns once its background work is started, not when it is ready)."""
        ...

    async def wait_ready(self, timeout_s: float) -> None:
        """Return once the connector is ready to trade; raise TimeoutError (saying what is missing) after
        `timeout_s` seconds."""
        ...

    async def stop(self) -> None:
        """Stop the connector and everything it started."""
        ...

    def book(self, trading_pair: str, depth: int | None = None) -> BookView | None:
        """The pair's book now (None if the connector has none yet). Synchronous: one consistent view."""
        ...

    async def place_order(self, trading_pair: str, side: str, amount: Decimal, order_type: str = "LIMIT",
                          price: Decimal | None = None) -> str:
        """Place an order; return its client order id (the order must be tracked from then on)."""
        ...

    async def cancel_order(self, trading_pair: str, client_order_id: str) -> None:
        """Ask for an order to be cancelled (the outcome shows in `orders()`)."""
        ...

    def orders(self) -> list[OrderView]:
        """Every order the connector tracks, terminal ones included while it still remembers them."""
        ...

    def balance(self, asset: str) -> BalanceView | None:
        """Total and available amount of `asset` (None: the connector does not know the asset)."""
        ...

    def funding_info(self, trading_pair: str) -> FundingView | None:
        """Perpetuals: the pair's funding info (None until the connector has it)."""
        ...

    def positions(self) -> dict[str, PositionView]:
        """Perpetuals: open (non-zero) positions by trading pair."""
        ...

    def diagnostics(self) -> dict[str, Any]:
        """Connector-specific counters for the report (resyncs, reconnects, crashed tasks...); may be empty.
        A `crashed_tasks` list, when present, is checked by `connector.clean_stop`."""
        ...


@runtime_checkable
class ConnectorFactory(Protocol):
    """Builds adapters. `spec` is the `--connector` value that rebuilds this factory (used in replay commands)."""

    spec: str

    def venues(self, dialect: str) -> tuple[Venue, ...]:
        """The venues this connector supports on `dialect` (empty: the dialect is not supported)."""
        ...

    def create(self, context: ConnectorContext) -> ConnectorAdapter:
        ...
