"""Adapter for this project's reference connector (`reference_connector`).

The connector class for a dialect is looked up by name in `reference_connector` (`BinanceExchange`,
`BinancePerpetualDerivative`, and by the same pattern for other dialects, e.g. `OkxExchange`), so a dialect
module added there is picked up without touching the kit.

The reference connector is run with short timeouts (`CONFORMANCE_TUNING`) so that it meets the kit's
default bounds within scenarios that last a few seconds: a connector is configured to meet the bounds it is
gated against, and these are the settings that do it for this one.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..protocol import (
    BalanceView,
    BookView,
    Capabilities,
    ConnectorContext,
    FundingView,
    OrderStatus,
    OrderView,
    PositionView,
    Venue,
)

#: timeouts and intervals short enough for the kit's bounds (see `checks.base.Bounds`)
CONFORMANCE_TUNING: dict[str, Any] = {
    "reconnect_base_s": 0.05, "reconnect_cap_s": 0.5, "gap_timeout_s": 0.3, "probe_after_s": 0.5,
    "stall_timeout_s": 1.5, "lost_confirm_delay_s": 0.1, "poll_interval_s": 0.5, "long_poll_interval_s": 1.5,
    "user_stream_silence_s": 2.0, "balance_refresh_s": 2.0, "funding_refresh_s": 2.0, "request_timeout_s": 3.0,
    "subscribe_timeout_s": 2.0, "snapshot_interval_s": 10.0,
    # without update ids (Bitstamp) a periodic snapshot is the only repair of a lost diff: it must come round
    # within the settle bound (8 s), or whether the book converges depends on where the period happens to fall
    "snapshot_interval_no_ids_s": 3.0,
}

#: class names by dialect: (spot, perpetual); other dialects follow the pattern <Name>Exchange /
#: <Name>PerpetualDerivative
CLASS_NAMES: dict[str, tuple[str, str]] = {
    "binance": ("BinanceExchange", "BinancePerpetualDerivative"),
    "okx": ("OkxExchange", "OkxPerpetualDerivative"),
    "bitstamp": ("BitstampExchange", "BitstampPerpetualDerivative"),
}


def connector_class(dialect: str, venue: Venue) -> type[Any] | None:
    import reference_connector

    camel = "".join(part.capitalize() for part in dialect.split("_"))
    spot, perpetual = CLASS_NAMES.get(dialect, (f"{camel}Exchange", f"{camel}PerpetualDerivative"))
    cls = getattr(reference_connector, spot if venue is Venue.SPOT else perpetual, None)
    return cls if isinstance(cls, type) else None


def _tuning(seed: int, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """`CONFORMANCE_TUNING` + the seed + `overrides`, keeping only the options this connector version knows."""
    from reference_connector.config import ConnectorConfig

    known = {f.name for f in dataclasses.fields(ConnectorConfig)}
    wanted = {**CONFORMANCE_TUNING, "seed": seed, **(overrides or {})}
    return {k: v for k, v in wanted.items() if k in known}


_STATES = {state.value: state for state in OrderStatus}


class ReferenceAdapter:
    def __init__(self, connector: Any, venue: Venue) -> None:
        self.connector = connector
        self.venue = venue
        sync_kind = getattr(getattr(connector.dialect, "sync_kind", None), "value", "")
        self.capabilities = Capabilities(trading=bool(connector.trading_required),
                                         update_ids=sync_kind != "timestamps")

    async def start(self) -> None:
        await self.connector.start()

    async def wait_ready(self, timeout_s: float) -> None:
        await self.connector.wait_ready(timeout_s)

    async def stop(self) -> None:
        await self.connector.stop()

    def book(self, trading_pair: str, depth: int | None = None) -> BookView | None:
        book = self.connector.order_books.get(trading_pair)
        if book is None:
            return None
        return BookView(tuple(book.bids(depth)), tuple(book.asks(depth)), book.update_id)

    async def place_order(self, trading_pair: str, side: str, amount: Decimal, order_type: str = "LIMIT",
                          price: Decimal | None = None) -> str:
        place = self.connector.buy if side == "BUY" else self.connector.sell
        client_id: str = await place(trading_pair, amount, order_type, price)
        return client_id

    async def cancel_order(self, trading_pair: str, client_order_id: str) -> None:
        await self.connector.cancel(trading_pair, client_order_id)

    def orders(self) -> list[OrderView]:
        return [order_view(o) for o in self.connector.in_flight_orders.values()]

    def balance(self, asset: str) -> BalanceView | None:
        return BalanceView(self.connector.get_balance(asset), self.connector.get_available_balance(asset))

    def funding_info(self, trading_pair: str) -> FundingView | None:
        getter = getattr(self.connector, "get_funding_info", None)
        info = getter(trading_pair) if getter is not None else None
        if info is None:
            return None
        return FundingView(info.rate, info.mark_price, info.next_funding_time_ms, info.index_price)

    def positions(self) -> dict[str, PositionView]:
        positions = getattr(self.connector, "account_positions", None) or {}
        return {pair: PositionView(pair, p.amount, p.entry_price, p.leverage, p.unrealized_pnl)
                for pair, p in positions.items()}

    def diagnostics(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.connector.stats()
        return stats


def order_view(order: Any) -> OrderView:
    transitions = tuple(_STATES[t.to_state.value] for t in order.transitions)
    return OrderView(
        client_order_id=order.client_order_id, exchange_order_id=order.exchange_order_id,
        trading_pair=order.trading_pair, side=order.side.value, amount=order.amount, price=order.price,
        state=_STATES[order.state.value], executed_amount=order.executed_amount, fees=dict(order.fees),
        trade_ids=tuple(order.trade_ids), transitions=transitions, lost=bool(getattr(order, "lost", False)))


class ReferenceFactory:
    """`--connector reference`: the reference connector, spot and perpetual, for every dialect it has.

    `tuning` overrides `CONFORMANCE_TUNING`. `variant(cls) -> cls`, when given, replaces the connector class found
    for a dialect and venue, typically by a subclass with one behaviour changed (`tests/quality` plants one bug per
    variant this way); `spec` is then the `--connector` value that rebuilds such a factory (`module:attr`), so that
    replay commands name it.
    """

    spec = "reference"

    def __init__(self, tuning: dict[str, Any] | None = None, *,
                 variant: Callable[[type[Any]], type[Any]] | None = None, spec: str | None = None) -> None:
        self.tuning = tuning
        self.variant = variant
        if spec is not None:
            self.spec = spec

    def venues(self, dialect: str) -> tuple[Venue, ...]:
        return tuple(v for v in (Venue.SPOT, Venue.PERPETUAL) if connector_class(dialect, v) is not None)

    def create(self, context: ConnectorContext) -> ReferenceAdapter:
        cls = connector_class(context.dialect, context.venue)
        if cls is None:
            raise ValueError(f"the reference connector has no {context.venue.value} connector for the "
                             f"{context.dialect} dialect")
        if self.variant is not None:
            cls = self.variant(cls)
        extra = dict(context.credentials.extra)
        kwargs = _tuning(context.seed, self.tuning)
        accepted = inspect.signature(cls).parameters
        for name, value in extra.items():  # dialect extras (e.g. OKX's passphrase) when the class takes them
            if name in accepted:
                kwargs[name] = value
        connector = cls(context.rest_url, context.ws_url, context.credentials.api_key, context.credentials.api_secret,
                        trading_pairs=list(context.trading_pairs), **kwargs)
        return ReferenceAdapter(connector, context.venue)
