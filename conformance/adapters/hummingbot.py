"""Adapter for connectors of the Hummingbot architecture (`ConnectorBase` duck typing), so a real Hummingbot
connector can be gated.

What the adapter relies on (no Hummingbot import at module level: Hummingbot is optional):
`start_network()` / `stop_network()`, `ready` / `status_dict`, `order_books[pair]` (rows from
`bid_entries()` / `ask_entries()`, ids `snapshot_uid` / `last_diff_uid`), `buy` / `sell` / `cancel` (they
return at once and work in the background), `_order_tracker` (`all_orders` + `lost_orders`: `in_flight_orders`
alone forgets finished orders), `get_balance` / `get_available_balance`, `get_funding_info`,
`account_positions`, market events (`add_listener`) and clock ticks (`_set_current_timestamp` + `tick`,
driven here every 0.5 s as Hummingbot's `Clock` would).

Hummingbot connectors build their URLs from module constants, so each connector needs a recipe saying which
constants to point at the mock and how its credentials are passed: `PRESETS` has Binance spot and USD-M.
For another connector, write a factory (`--connector mypkg.mymod:factory`) returning
`HummingbotFactory(HummingbotPreset(...))`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..protocol import (
    BalanceView,
    BookView,
    Capabilities,
    ConnectorContext,
    FundingView,
    Level,
    OrderStatus,
    OrderView,
    PositionView,
    Venue,
)

#: Hummingbot's Clock ticks once a second by default; half a second keeps its polls (balances, order status)
#: a little quicker without changing what they do
TICK_S = 0.5


@dataclass(frozen=True)
class HummingbotPreset:
    """How to point one Hummingbot connector class at the mock and log it in."""

    #: "module:Class"
    target: str
    dialect: str
    venue: Venue
    #: the module holding the URL constants, and each constant's new value ({rest} / {ws}: the mock's base URLs)
    constants: str
    urls: dict[str, str]
    key_kwarg: str
    secret_kwarg: str
    extra_kwargs: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, HummingbotPreset] = {
    "binance": HummingbotPreset(
        "hummingbot.connector.exchange.binance.binance_exchange:BinanceExchange", "binance", Venue.SPOT,
        "hummingbot.connector.exchange.binance.binance_constants",
        {"REST_URL": "{rest}/api/", "WSS_URL": "{ws}/ws", "WSS_API_URL": "{ws}/ws-api/v3"},
        "binance_api_key", "binance_api_secret"),
    "binance_perpetual": HummingbotPreset(
        "hummingbot.connector.derivative.binance_perpetual.binance_perpetual_derivative:BinancePerpetualDerivative",
        "binance", Venue.PERPETUAL, "hummingbot.connector.derivative.binance_perpetual.binance_perpetual_constants",
        {"PERPETUAL_BASE_URL": "{rest}/fapi/", "PERPETUAL_WS_URL": "{ws}/fstream/"},
        "binance_perpetual_api_key", "binance_perpetual_api_secret"),
}

#: Hummingbot's OrderState names -> the kit's
_STATES: dict[str, OrderStatus] = {
    "PENDING_CREATE": OrderStatus.PENDING_CREATE, "OPEN": OrderStatus.OPEN,
    "PENDING_CANCEL": OrderStatus.PENDING_CANCEL, "CANCELED": OrderStatus.CANCELED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED, "FILLED": OrderStatus.FILLED, "FAILED": OrderStatus.FAILED,
    "PENDING_APPROVAL": OrderStatus.PENDING_CREATE, "APPROVED": OrderStatus.PENDING_CREATE,
    "CREATED": OrderStatus.OPEN, "COMPLETED": OrderStatus.FILLED,
}
#: market events that move an order's state, and where to
_EVENT_STATES: dict[str, OrderStatus] = {
    "BuyOrderCreated": OrderStatus.OPEN, "SellOrderCreated": OrderStatus.OPEN,
    "BuyOrderCompleted": OrderStatus.FILLED, "SellOrderCompleted": OrderStatus.FILLED,
    "OrderCancelled": OrderStatus.CANCELED, "OrderFailure": OrderStatus.FAILED, "OrderExpired": OrderStatus.EXPIRED,
}


def hummingbot_available() -> bool:
    try:
        importlib.import_module("hummingbot")
    except ImportError:
        return False
    return True


def load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"expected module:Class, got {target!r}")
    return getattr(importlib.import_module(module_name), attr)


def _to_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class HummingbotAdapter:
    def __init__(self, preset: HummingbotPreset, context: ConnectorContext) -> None:
        self.preset = preset
        self.context = context
        self.venue = preset.venue
        self.capabilities = Capabilities(trading=True, update_ids=True)
        self.connector: Any = None
        self._restore: list[tuple[Any, str, Any]] = []
        self._ticker: asyncio.Task[None] | None = None
        #: client order id -> states from market events, in order (starts PENDING_CREATE)
        self._events: dict[str, list[OrderStatus]] = {}
        self._listeners: list[Any] = []  # Hummingbot's PubSub holds listeners weakly

    # --- lifecycle ----------------------------------------------------------------------------------
    def _point_at_mock(self) -> None:
        constants = importlib.import_module(self.preset.constants)
        rest, ws = self.context.rest_url.rstrip("/"), self.context.ws_url.rstrip("/")
        for name, template in self.preset.urls.items():
            self._restore.append((constants, name, getattr(constants, name)))
            setattr(constants, name, template.format(rest=rest, ws=ws))

    def _listen(self) -> None:
        forwarder_class = importlib.import_module("hummingbot.core.event.event_forwarder").EventForwarder
        market_event = importlib.import_module("hummingbot.core.event.events").MarketEvent

        for name, state in _EVENT_STATES.items():
            tag = getattr(market_event, name, None)
            if tag is None:
                continue

            def record(event: Any, state: OrderStatus = state) -> None:
                order_id = getattr(event, "order_id", None)
                if order_id is not None:
                    self._events.setdefault(str(order_id), [OrderStatus.PENDING_CREATE]).append(state)

            forwarder = forwarder_class(record)
            self._listeners.append(forwarder)
            self.connector.add_listener(tag, forwarder)

    async def start(self) -> None:
        self._point_at_mock()
        cls = load(self.preset.target)
        kwargs = {self.preset.key_kwarg: self.context.credentials.api_key,
                  self.preset.secret_kwarg: self.context.credentials.api_secret,
                  "trading_pairs": list(self.context.trading_pairs), "trading_required": True,
                  **self.preset.extra_kwargs}
        self.connector = cls(**kwargs)
        self._listen()
        await self.connector.start_network()
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="hummingbot-clock")

    async def _tick(self) -> None:
        while True:
            now = time.time()
            self.connector._set_current_timestamp(now)
            self.connector.tick(now)
            await asyncio.sleep(TICK_S)  # the clock's period, not a wait for state

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.connector.ready:
            if time.monotonic() > deadline:
                missing = [k for k, v in self.connector.status_dict.items() if not v]
                raise TimeoutError(f"not ready; waiting for: {', '.join(missing)}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        try:
            if self._ticker is not None:
                self._ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._ticker
                self._ticker = None
            if self.connector is not None:
                await self.connector.stop_network()
                # PerpetualDerivativePyBase.stop_network does not cancel its funding-fee poll (docs/hummingbot.md)
                poll = getattr(self.connector, "_funding_fee_polling_task", None)
                if poll is not None:
                    poll.cancel()
                    self.connector._funding_fee_polling_task = None
            factories = importlib.import_module("hummingbot.core.web_assistant.connections.connections_factory")
            await factories.ConnectionsFactory().close()  # a process-wide session bound to this loop
        finally:
            for module, name, value in reversed(self._restore):
                setattr(module, name, value)
            self._restore.clear()

    # --- views ----------------------------------------------------------------------------------------
    def book(self, trading_pair: str, depth: int | None = None) -> BookView | None:
        book = self.connector.order_books.get(trading_pair)
        if book is None:
            return None
        bids = _rows(book.bid_entries(), depth)
        asks = _rows(book.ask_entries(), depth)
        snapshot_uid, diff_uid = int(book.snapshot_uid), int(book.last_diff_uid)
        update_id = diff_uid if diff_uid >= snapshot_uid else snapshot_uid
        return BookView(bids, asks, update_id or None)

    async def place_order(self, trading_pair: str, side: str, amount: Decimal, order_type: str = "LIMIT",
                          price: Decimal | None = None) -> str:
        common = importlib.import_module("hummingbot.core.data_type.common")
        kwargs: dict[str, Any] = {}
        if self.venue is Venue.PERPETUAL:
            kwargs["position_action"] = common.PositionAction.OPEN
        place = self.connector.buy if side == "BUY" else self.connector.sell
        args: list[Any] = [trading_pair, amount, common.OrderType[order_type]]
        if price is not None:
            args.append(price)
        client_id: str = place(*args, **kwargs)
        return client_id

    async def cancel_order(self, trading_pair: str, client_order_id: str) -> None:
        self.connector.cancel(trading_pair, client_order_id)

    def orders(self) -> list[OrderView]:
        tracker = self.connector._order_tracker
        orders = {**tracker.all_orders, **tracker.lost_orders}
        lost = set(tracker.lost_orders)
        return [self._order_view(o, o.client_order_id in lost) for o in orders.values()]

    def _order_view(self, order: Any, lost: bool) -> OrderView:
        fees: dict[str, Decimal] = {}
        for fill in order.order_fills.values():
            for flat in getattr(fill.fee, "flat_fees", ()):
                fees[flat.token] = fees.get(flat.token, Decimal(0)) + _to_decimal(flat.amount)
        events = self._events.get(order.client_order_id)
        return OrderView(
            client_order_id=order.client_order_id, exchange_order_id=order.exchange_order_id,
            trading_pair=order.trading_pair, side=order.trade_type.name, amount=_to_decimal(order.amount),
            price=None if order.price is None or order.price.is_nan() else _to_decimal(order.price),
            state=_STATES.get(order.current_state.name, OrderStatus.OPEN),
            executed_amount=_to_decimal(order.executed_amount_base), fees=fees,
            trade_ids=tuple(str(t) for t in order.order_fills), lost=lost,
            transitions=tuple(events) if events is not None else (OrderStatus.PENDING_CREATE,))

    def balance(self, asset: str) -> BalanceView | None:
        return BalanceView(_to_decimal(self.connector.get_balance(asset)),
                           _to_decimal(self.connector.get_available_balance(asset)))

    def funding_info(self, trading_pair: str) -> FundingView | None:
        getter = getattr(self.connector, "get_funding_info", None)
        if getter is None:
            return None
        try:
            info = getter(trading_pair)
        except KeyError:
            return None
        return FundingView(_to_decimal(info.rate), _to_decimal(info.mark_price),
                           int(info.next_funding_utc_timestamp) * 1000, _to_decimal(info.index_price))

    def positions(self) -> dict[str, PositionView]:
        out: dict[str, PositionView] = {}
        for position in (getattr(self.connector, "account_positions", None) or {}).values():
            if position.amount:
                out[position.trading_pair] = PositionView(
                    position.trading_pair, _to_decimal(position.amount), _to_decimal(position.entry_price),
                    int(position.leverage), _to_decimal(position.unrealized_pnl))
        return out

    def diagnostics(self) -> dict[str, Any]:
        if self.connector is None:
            return {}
        return {"status": dict(self.connector.status_dict)}


def _rows(entries: Any, depth: int | None) -> tuple[Level, ...]:
    rows = entries if depth is None else itertools.islice(entries, depth)
    return tuple((_to_decimal(row.price), _to_decimal(row.amount)) for row in rows)


class HummingbotFactory:
    """`--connector hummingbot:<preset or module:Class>`."""

    def __init__(self, preset: HummingbotPreset, spec: str | None = None) -> None:
        self.preset = preset
        self.spec = spec or f"hummingbot:{preset.target}"

    def venues(self, dialect: str) -> tuple[Venue, ...]:
        return (self.preset.venue,) if dialect == self.preset.dialect else ()

    def create(self, context: ConnectorContext) -> HummingbotAdapter:
        if not hummingbot_available():
            raise RuntimeError("Hummingbot is not importable in this environment (see docs/hummingbot.md)")
        return HummingbotAdapter(self.preset, context)


def hummingbot_factory(name: str) -> HummingbotFactory:
    """The factory for `hummingbot:<name>`: a preset name (`binance`, `binance_perpetual`) or the
    `module:Class` of a preset."""
    spec = f"hummingbot:{name}"
    if name in PRESETS:
        return HummingbotFactory(PRESETS[name], spec)
    for preset in PRESETS.values():
        if preset.target == name:
            return HummingbotFactory(preset, spec)
    known = ", ".join(list(PRESETS) + [p.target for p in PRESETS.values()])
    raise ValueError(f"no recipe for Hummingbot connector {name!r} (how to point its URLs at the mock and pass its "
                     f"credentials). Known: {known}. For another connector write a factory returning "
                     f"conformance.adapters.hummingbot.HummingbotFactory(HummingbotPreset(...)) and pass "
                     f"--connector yourmodule:factory")

