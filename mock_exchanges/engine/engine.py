"""The exchange engine: the one true state every dialect serves and every check compares against.

Commands validate everything first and raise a typed `EngineError` before touching any state, so a
rejection changes nothing. Events of a command are handed to listeners only after it has finished.
"""

from __future__ import annotations

import random
import string
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any

from . import errors
from .accounts import Account, Balance, Position
from .book import BookSide
from .clock import Clock, WallClock
from .events import (
    BalanceUpdate,
    BookDelta,
    Event,
    FundingPayment,
    MarkPriceUpdate,
    OrderUpdate,
    PositionUpdate,
    Trade,
)
from .frozen import fast_init
from .market import MarketSpec
from .market_state import BookSnapshot, FundingInfo, FundingRecord, MarketState
from .orders import Fill, Order, OrderState, PlaceResult
from .types import BalanceReason, ExecutionType, OrderStatus, OrderType, Side, TimeInForce

Listener = Callable[[Event], None]
MARGIN_QUANTUM = Decimal("0.00000001")
ZERO = Decimal(0)
FEE_ACCOUNT_ID = 0
_ID_ALPHABET = string.ascii_letters + string.digits
_CLIENT_ID_CHARS = frozenset(string.ascii_letters + string.digits + ".:/_-")


@dataclass(frozen=True)
class EngineConfig:
    seed: int = 0
    #: level changes kept per market to answer "the book at update id N"
    history_window: int = 100_000
    #: finished orders remembered (oldest forgotten first)
    order_retention: int = 200_000
    #: how often `tick()` publishes mark price updates for perpetuals
    mark_interval_ms: int = 1000
    #: fills kept per account for trade-history queries
    account_trade_retention: int = 10_000


@dataclass(frozen=True, slots=True)
class PositionState:
    account_id: int
    symbol: str
    qty: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    margin: Decimal
    leverage: int
    mark_price: Decimal


@fast_init
@dataclass(frozen=True, slots=True)
class AccountTrade:
    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    fee: Decimal
    fee_asset: str
    is_buyer: bool
    is_maker: bool
    time_us: int
    #: perpetuals: the PnL this fill realized (0 on spot and on fills that only open)
    realized_pnl: Decimal = Decimal(0)


class Engine:
    def __init__(self, clock: Clock | None = None, config: EngineConfig | None = None) -> None:
        self.clock: Clock = clock or WallClock()
        self.config = config or EngineConfig()
        self._rng = random.Random(self.config.seed)
        self.markets: dict[str, MarketState] = {}
        self.accounts: dict[int, Account] = {}
        self._accounts_by_key: dict[str, Account] = {}
        self._orders: dict[int, Order] = {}
        self._finished: deque[int] = deque()
        self._account_trades: dict[int, deque[AccountTrade]] = {}
        self._next_order_id = 1
        self._faker: Any = None
        self._listeners: list[Listener] = []
        self._events: list[Event] = []
        self._touched_balances: dict[tuple[int, str], BalanceReason] = {}
        self._touched_positions: dict[tuple[int, str], None] = {}
        self._touched_markets: dict[str, MarketState] = {}
        self.fee_account = self._new_account("fees", FEE_ACCOUNT_ID, None, None)

    # --- set-up ------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event from now on; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_market(self, spec: MarketSpec) -> None:
        if spec.symbol in self.markets:
            raise ValueError(f"market {spec.symbol} exists")
        self.markets[spec.symbol] = MarketState(spec, self.config.history_window, self._now_ms())

    def create_account(
        self,
        balances: Mapping[str, Decimal] | None = None,
        name: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> Account:
        account_id = max(self.accounts) + 1
        account = self._new_account(name, account_id, api_key, api_secret)
        for asset, amount in (balances or {}).items():
            self._check_amount(amount)
            account.balance(asset).free += amount
        return account

    def _new_account(self, name: str | None, account_id: int, key: str | None, secret: str | None) -> Account:
        key = key or "".join(self._rng.choices(_ID_ALPHABET, k=64))
        secret = secret or "".join(self._rng.choices(_ID_ALPHABET, k=64))
        if key in self._accounts_by_key:
            raise ValueError("api key already in use")
        account = Account(account_id, name or self._person_name(), key, secret)
        self.accounts[account_id] = account
        self._accounts_by_key[key] = account
        self._account_trades[account_id] = deque(maxlen=self.config.account_trade_retention)
        return account

    def _person_name(self) -> str:
        if self._faker is None:
            from faker import Faker  # imported on first use: it is slow to import

            self._faker = Faker()
            self._faker.seed_instance(self.config.seed)
        return str(self._faker.name())

    def deposit(self, account_id: int, asset: str, amount: Decimal) -> None:
        account = self._account(account_id)
        self._check_amount(amount)
        self._begin()
        account.balance(asset).free += amount
        self._touch(account_id, asset, BalanceReason.DEPOSIT)
        self._finish()

    @staticmethod
    def _check_amount(amount: Decimal) -> None:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise errors.InvalidQuantity(f"amount {amount!r} must be a non-negative Decimal")

    # --- lookups -----------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return self.clock.now_us() // 1000

    def _market(self, symbol: str) -> MarketState:
        market = self.markets.get(symbol)
        if market is None:
            raise errors.UnknownMarket(f"unknown market {symbol!r}")
        return market

    def _account(self, account_id: int) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise errors.UnknownAccount(f"unknown account {account_id}")
        return account

    def account_by_api_key(self, api_key: str) -> Account | None:
        return self._accounts_by_key.get(api_key)

    def _find_order(
        self, account: Account, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order:
        if order_id is None and client_order_id is None:
            raise errors.InvalidOrder("an order id or a client order id is required")
        if order_id is None:
            assert client_order_id is not None
            order_id = account.client_ids.get(client_order_id)
        order = self._orders.get(order_id) if order_id is not None else None
        if order is None or order.account_id != account.account_id or order.symbol != symbol:
            raise errors.UnknownOrder("order does not exist")
        if client_order_id is not None and order.client_order_id != client_order_id:
            raise errors.UnknownOrder("order does not exist")
        return order

    # --- command bracket -----------------------------------------------------------------------
    def _begin(self) -> int:
        self._events = []
        self._touched_balances.clear()
        self._touched_positions.clear()
        self._touched_markets.clear()
        return self.clock.now_us()

    def _touch(self, account_id: int, asset: str, reason: BalanceReason = BalanceReason.ORDER) -> None:
        self._touched_balances.setdefault((account_id, asset), reason)

    def _finish(self) -> list[Event]:
        now = self.clock.now_us()
        events = self._events
        for market in self._touched_markets.values():
            pending = market.pending
            if not pending:
                continue
            spec = market.spec
            tick, lot = spec.tick_size, spec.lot_size
            bids: list[tuple[Decimal, Decimal]] = []
            asks: list[tuple[Decimal, Decimal]] = []
            if len(pending) == 1:
                is_bid, ticks, lots = pending[0]
                (bids if is_bid else asks).append((tick * ticks, lot * lots))
            else:
                levels: dict[tuple[bool, int], int] = {}
                for is_bid, ticks, lots in pending:
                    levels[(is_bid, ticks)] = lots
                for (is_bid, ticks), lots in levels.items():
                    (bids if is_bid else asks).append((tick * ticks, lot * lots))
            last = market.last_update_id
            events.append(BookDelta(spec.symbol, last - len(pending) + 1, last, bids, asks, now))
            market.pending = []
        accounts = self.accounts
        for (account_id, asset), reason in self._touched_balances.items():
            bal = accounts[account_id].balances[asset]
            events.append(BalanceUpdate(account_id, asset, bal.free, bal.locked, reason, now))
        for account_id, symbol in self._touched_positions:
            pos = self.accounts[account_id].position(symbol)
            spec = self.markets[symbol].spec
            events.append(
                PositionUpdate(
                    account_id, symbol, pos.qty, pos.entry_price(spec.price_decimals + 2),
                    pos.realized_pnl, self._leverage(self.accounts[account_id], spec), now,
                )
            )
        self._events = []
        listeners = self._listeners
        if listeners:
            for event in events:
                for listener in listeners:
                    listener(event)
        return events

    # --- orders --------------------------------------------------------------------------------
    def place_order(
        self,
        account_id: int,
        symbol: str,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
        reduce_only: bool = False,
    ) -> PlaceResult:
        market = self._market(symbol)
        account = self._account(account_id)
        spec = market.spec
        if side.__class__ is not Side:
            side = Side(side)
        if order_type.__class__ is not OrderType:
            order_type = OrderType(order_type)
        if time_in_force.__class__ is not TimeInForce:
            time_in_force = TimeInForce(time_in_force)
        lots = spec.qty_to_lots(qty)
        if order_type is OrderType.MARKET:
            if price is not None:
                raise errors.InvalidOrder("a MARKET order takes no price")
            ticks, limit = 0, None
            time_in_force = TimeInForce.IOC
        else:
            if price is None:
                raise errors.InvalidPrice("a price is required for this order type")
            ticks = spec.price_to_ticks(price)
            limit = ticks
            spec.check_notional(price, qty)
            if order_type is OrderType.LIMIT_MAKER and time_in_force is not TimeInForce.GTC:
                raise errors.InvalidOrder("a post-only order is always GTC")
        if client_order_id is not None:
            self._check_client_id(account, client_order_id)
        opposite = market.asks if side is Side.BUY else market.bids
        if order_type is OrderType.LIMIT_MAKER:
            best = opposite.best()
            if best is not None and opposite.crosses(best, limit):
                raise errors.PostOnlyWouldCross("the post-only order would immediately match and take")
        if reduce_only:
            self._check_reduce_only(account, spec, side, lots)
        lock_asset, lock_per_lot, lock_total = self._required_lock(
            market, account, side, order_type, ticks, lots, reduce_only, opposite
        )
        held = account.balances.get(lock_asset)  # .get: a rejection must not create a balance entry
        available = held.free if held is not None else ZERO
        if lock_total > available:
            raise errors.InsufficientBalance(
                f"{lock_asset}: {lock_total} needed, {available} available"
            )
        if client_order_id is None:  # only now: generating one draws from the seeded RNG
            client_order_id = self._generate_client_id(account)

        now = self._begin()
        fee_asset = spec.base if (not market.is_perpetual and side is Side.BUY) else spec.quote
        order = Order(
            self._next_order_id, account_id, symbol, client_order_id, side, order_type,
            time_in_force, ticks, spec.tick_size * ticks, lots, fee_asset, now, reduce_only,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        account.client_ids[client_order_id] = order.order_id
        account.open_orders[order.order_id] = order
        self._touched_markets[symbol] = market
        if lock_total:
            bal = account.balance(lock_asset)
            bal.free -= lock_total
            bal.locked += lock_total
            order.locked = lock_total
            order.lock_per_lot = lock_per_lot
            self._touch(account_id, lock_asset)
        self._order_update(market, order, ExecutionType.NEW, now)

        fills: list[Fill] = []
        if time_in_force is TimeInForce.FOK and opposite.lots_up_to(limit, lots) < lots:
            pass  # cannot fill completely: expires below without trading
        else:
            self._match(market, order, opposite, limit, now, fills)
        if not order.remaining_lots:
            self._end_order(market, order, OrderStatus.FILLED, None, now)
        elif time_in_force is TimeInForce.GTC:
            own = market.bids if side is Side.BUY else market.asks
            after = own.add(order)
            market.record_level(side is Side.BUY, ticks, after - order.remaining_lots, after)
        else:
            self._end_order(market, order, OrderStatus.EXPIRED, ExecutionType.EXPIRED, now)
        self._finish()
        return PlaceResult(order.state(spec), tuple(fills))

    def _generate_client_id(self, account: Account) -> str:
        while True:
            candidate = format(self._rng.getrandbits(88), "022x")
            if candidate not in account.client_ids:
                return candidate

    @staticmethod
    def _check_client_id(account: Account, client_order_id: str) -> None:
        if not 1 <= len(client_order_id) <= 36 or not set(client_order_id) <= _CLIENT_ID_CHARS:
            raise errors.InvalidOrder("client order id must be 1-36 characters of [A-Za-z0-9.:/_-]")
        if client_order_id in account.client_ids:
            raise errors.DuplicateClientOrderId(f"client order id {client_order_id!r} already used")

    def _leverage(self, account: Account, spec: MarketSpec) -> int:
        return account.leverage.get(spec.symbol, spec.default_leverage)

    def _check_reduce_only(self, account: Account, spec: MarketSpec, side: Side, lots: int) -> None:
        if not spec.is_perpetual:
            raise errors.InvalidOrder("reduce-only exists for perpetual markets only")
        pos = account.positions.get(spec.symbol)
        held = pos.qty if pos else ZERO
        reduces = (held > 0 and side is Side.SELL) or (held < 0 and side is Side.BUY)
        if not reduces or spec.qty(lots) > abs(held):
            raise errors.ReduceOnlyRejected("the reduce-only order would not reduce the position")

    def _required_lock(
        self,
        market: MarketState,
        account: Account,
        side: Side,
        order_type: OrderType,
        ticks: int,
        lots: int,
        reduce_only: bool,
        opposite: BookSide,
    ) -> tuple[str, Decimal, Decimal]:
        """(asset, amount per lot, total) the order must lock; market orders lock their estimated cost."""
        spec = market.spec
        if market.is_perpetual:
            if reduce_only:
                return spec.quote, ZERO, ZERO
            leverage = self._leverage(account, spec)
            if order_type is OrderType.MARKET:
                cost = self._sweep_cost(market, opposite, lots)
                return spec.quote, ZERO, _ceil(cost / leverage)
            per_lot = _ceil(spec.price(ticks) * spec.lot_size / leverage)
            return spec.quote, per_lot, per_lot * lots
        if side is Side.SELL:
            return spec.base, spec.lot_size, spec.qty(lots)
        if order_type is OrderType.MARKET:
            return spec.quote, ZERO, self._sweep_cost(market, opposite, lots)
        per_lot = spec.price(ticks) * spec.lot_size
        return spec.quote, per_lot, per_lot * lots

    @staticmethod
    def _sweep_cost(market: MarketState, opposite: BookSide, lots: int) -> Decimal:
        """Quote cost of taking `lots` (or all there is) from the best levels of `opposite`."""
        spec = market.spec
        cost_ticks_lots = 0
        for ticks in opposite.prices_best_first():
            take = min(lots, opposite.lots[ticks])
            cost_ticks_lots += take * ticks
            lots -= take
            if not lots:
                break
        return spec.tick_size * spec.lot_size * cost_ticks_lots

    def _match(
        self,
        market: MarketState,
        taker: Order,
        opposite: BookSide,
        limit: int | None,
        now: int,
        fills: list[Fill],
    ) -> None:
        while taker.remaining_lots:
            ticks = opposite.best()
            if ticks is None or not opposite.crosses(ticks, limit):
                return
            before = opposite.lots[ticks]
            after = before
            queue = opposite.queues[ticks]
            while taker.remaining_lots and after:
                maker = queue[0]
                lots = min(taker.remaining_lots, maker.remaining_lots)
                fills.append(self._execute(market, taker, maker, ticks, lots, now))
                after = opposite.reduce_front(ticks, lots)
                if maker.remaining_lots == 0:
                    self._end_order(market, maker, OrderStatus.FILLED, None, now)
            market.record_level(opposite.is_bid, ticks, before, after)

    def _execute(
        self, market: MarketState, taker: Order, maker: Order, ticks: int, lots: int, now: int
    ) -> Fill:
        spec = market.spec
        market.last_trade_id += 1
        trade_id = market.last_trade_id
        price = spec.price(ticks)
        qty = spec.qty(lots)
        notional = price * qty
        for order in (maker, taker):
            order.filled_lots += lots
            order.cum_quote += notional
            order.updated_us = now
            if order.status is OrderStatus.NEW:
                order.status = OrderStatus.PARTIALLY_FILLED
        if market.is_perpetual:
            maker_fee, maker_pnl = self._settle_perp(market, maker, lots, price, notional, spec.maker_fee)
            taker_fee, taker_pnl = self._settle_perp(market, taker, lots, price, notional, spec.taker_fee)
        else:
            maker_fee = self._settle_spot(market, maker, lots, price, qty, notional, spec.maker_fee)
            taker_fee = self._settle_spot(market, taker, lots, price, qty, notional, spec.taker_fee)
            maker_pnl = taker_pnl = ZERO
        buy, sell = (taker, maker) if taker.side is Side.BUY else (maker, taker)
        trade = Trade(
            spec.symbol, trade_id, price, qty, buy.order_id, sell.order_id,
            buy.account_id, sell.account_id, taker.side, now,
        )
        market.recent_trades.append(trade)
        market.last_trade_price = price
        self._events.append(trade)
        for order, fee, pnl, is_maker in ((maker, maker_fee, maker_pnl, True), (taker, taker_fee, taker_pnl, False)):
            if order.remaining_lots == 0:
                order.status = OrderStatus.FILLED
            self._order_update(
                market, order, ExecutionType.TRADE, now,
                last=(qty, price, fee, trade_id, is_maker, pnl),
            )
            self._account_trades[order.account_id].append(
                AccountTrade(
                    spec.symbol, trade_id, order.order_id, price, qty, notional, fee,
                    order.fee_asset, order.side is Side.BUY, is_maker, now, pnl,
                )
            )
        return Fill(trade_id, price, qty, taker_fee, taker.fee_asset, False)

    def _release(self, order: Order, lots: int, spent: Decimal) -> Decimal:
        """What a fill of `lots` frees from the order's lock (a market buy's lock is spent as-is)."""
        release = order.lock_per_lot * lots if order.lock_per_lot else min(spent, order.locked)
        order.locked -= release
        return release

    def _settle_spot(
        self, market: MarketState, order: Order, lots: int, price: Decimal, qty: Decimal,
        notional: Decimal, fee_rate: Decimal,
    ) -> Decimal:
        spec = market.spec
        account = self.accounts[order.account_id]
        fees = self.fee_account
        if order.side is Side.BUY:
            quote = account.balance(spec.quote)
            release = self._release(order, lots, notional)
            quote.locked -= release
            quote.free += release - notional
            fee = qty * fee_rate
            account.balance(spec.base).free += qty - fee
            fees.balance(spec.base).free += fee
        else:
            base = account.balance(spec.base)
            base.locked -= self._release(order, lots, qty)
            fee = notional * fee_rate
            account.balance(spec.quote).free += notional - fee
            fees.balance(spec.quote).free += fee
        order.cum_fee += fee
        self._touch(account.account_id, spec.base)
        self._touch(account.account_id, spec.quote)
        self._touch(FEE_ACCOUNT_ID, order.fee_asset)
        return fee

    def _settle_perp(
        self, market: MarketState, order: Order, lots: int, price: Decimal, notional: Decimal,
        fee_rate: Decimal,
    ) -> tuple[Decimal, Decimal]:
        spec = market.spec
        account = self.accounts[order.account_id]
        bal = account.balance(spec.quote)
        release = self._release(order, lots, ZERO) if order.lock_per_lot else ZERO
        bal.locked -= release
        bal.free += release
        fee = notional * fee_rate
        bal.free -= fee
        self.fee_account.balance(spec.quote).free += fee
        order.cum_fee += fee
        signed = spec.qty(lots) if order.side is Side.BUY else -spec.qty(lots)
        pos = account.position(spec.symbol)
        realized = _apply_to_position(pos, signed, price)
        bal.free += realized
        self._rebalance_margin(account, spec, pos, bal)
        self._touch(account.account_id, spec.quote)
        self._touch(FEE_ACCOUNT_ID, spec.quote)
        self._touched_positions[(account.account_id, spec.symbol)] = None
        return fee, realized

    def _rebalance_margin(self, account: Account, spec: MarketSpec, pos: Position, bal: Balance) -> None:
        target = _ceil(abs(pos.cost) / self._leverage(account, spec))
        delta = target - pos.margin
        bal.free -= delta
        bal.locked += delta
        pos.margin = target

    def _order_update(
        self,
        market: MarketState,
        order: Order,
        execution: ExecutionType,
        now: int,
        last: tuple[Decimal, Decimal, Decimal, int, bool, Decimal] | None = None,
    ) -> None:
        spec = market.spec
        last_qty, last_price, last_fee, trade_id, is_maker, last_pnl = last or (ZERO, ZERO, ZERO, None, False, ZERO)
        self._events.append(
            OrderUpdate(
                order.account_id, order.symbol, order.order_id, order.client_order_id, order.side,
                order.order_type, order.time_in_force, order.price,
                spec.lot_size * order.lots, order.status, execution, spec.lot_size * order.filled_lots,
                order.cum_quote, order.cum_fee, order.fee_asset, last_qty, last_price, last_fee, trade_id,
                is_maker, order.reduce_only, order.created_us, now, last_pnl,
            )
        )

    def _end_order(
        self,
        market: MarketState,
        order: Order,
        status: OrderStatus,
        execution: ExecutionType | None,
        now: int,
    ) -> None:
        """Move an order to a terminal state, give back what it still locks, and forget old ones."""
        account = self.accounts[order.account_id]
        order.status = status
        order.updated_us = now
        if order.locked:
            spec = market.spec
            asset = spec.base if (order.side is Side.SELL and not market.is_perpetual) else spec.quote
            bal = account.balance(asset)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = ZERO
            self._touch(account.account_id, asset)
        del account.open_orders[order.order_id]
        if execution is not None:
            self._order_update(market, order, execution, now)
        self._finished.append(order.order_id)
        if len(self._finished) > self.config.order_retention:
            old = self._orders.pop(self._finished.popleft())
            owner = self.accounts[old.account_id]
            if owner.client_ids.get(old.client_order_id) == old.order_id:
                del owner.client_ids[old.client_order_id]

    def cancel_order(
        self,
        account_id: int,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> OrderState:
        market = self._market(symbol)
        account = self._account(account_id)
        order = self._find_order(account, symbol, order_id, client_order_id)
        if order.status.is_terminal:
            raise errors.UnknownOrder("order is not open")
        now = self._begin()
        self._cancel(market, order, now)
        self._finish()
        return order.state(market.spec)

    def _cancel(self, market: MarketState, order: Order, now: int) -> None:
        own = market.bids if order.side is Side.BUY else market.asks
        before = own.lots[order.price_ticks]
        after = own.remove(order)
        market.record_level(own.is_bid, order.price_ticks, before, after)
        self._touched_markets[market.spec.symbol] = market
        self._end_order(market, order, OrderStatus.CANCELED, ExecutionType.CANCELED, now)

    def cancel_all(self, account_id: int, symbol: str) -> list[OrderState]:
        market = self._market(symbol)
        account = self._account(account_id)
        orders = [o for o in account.open_orders.values() if o.symbol == symbol]
        now = self._begin()
        for order in orders:
            self._cancel(market, order, now)
        self._finish()
        return [order.state(market.spec) for order in orders]

    def amend_order(
        self,
        account_id: int,
        symbol: str,
        new_qty: Decimal,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> OrderState:
        """Reduce a resting order's quantity, keeping its place in the queue."""
        market = self._market(symbol)
        account = self._account(account_id)
        order = self._find_order(account, symbol, order_id, client_order_id)
        if order.status.is_terminal:
            raise errors.UnknownOrder("order is not open")
        lots = market.spec.qty_to_lots(new_qty)
        if lots >= order.lots or lots <= order.filled_lots:
            raise errors.InvalidQuantity("the new quantity must be below the current and above the filled")
        now = self._begin()
        own = market.bids if order.side is Side.BUY else market.asks
        cut = order.lots - lots
        before = own.lots[order.price_ticks]
        own.lots[order.price_ticks] = before - cut
        market.record_level(own.is_bid, order.price_ticks, before, before - cut)
        self._touched_markets[symbol] = market
        order.lots = lots
        order.updated_us = now
        if order.lock_per_lot:
            freed = order.lock_per_lot * cut
            order.locked -= freed
            spec = market.spec
            asset = spec.base if (order.side is Side.SELL and not market.is_perpetual) else spec.quote
            bal = account.balance(asset)
            bal.locked -= freed
            bal.free += freed
            self._touch(account_id, asset)
        self._finish()
        return order.state(market.spec)

    # --- perpetuals ---------------------------------------------------------------------------
    def _perpetual(self, symbol: str) -> MarketState:
        market = self._market(symbol)
        if not market.spec.is_perpetual:
            raise errors.NotPerpetual(f"{symbol} is not a perpetual market")
        return market

    def set_leverage(self, account_id: int, symbol: str, leverage: int) -> int:
        market = self._perpetual(symbol)
        account = self._account(account_id)
        if type(leverage) is not int or not 1 <= leverage <= market.spec.max_leverage:  # bool is no leverage
            raise errors.InvalidLeverage(f"leverage must be 1..{market.spec.max_leverage}")
        pos = account.positions.get(symbol)
        if pos is not None and pos.qty:
            extra = _ceil(abs(pos.cost) / leverage) - pos.margin
            if extra > account.balance(market.spec.quote).free:
                raise errors.InsufficientBalance("not enough margin for that leverage")
        self._begin()
        account.leverage[symbol] = leverage
        if pos is not None and pos.qty:
            self._rebalance_margin(account, market.spec, pos, account.balance(market.spec.quote))
            self._touch(account_id, market.spec.quote)
            self._touched_positions[(account_id, symbol)] = None
        self._finish()
        return leverage

    def set_mark_price(self, symbol: str, price: Decimal | None) -> None:
        """Script the mark price (None: back to the book mid)."""
        market = self._perpetual(symbol)
        if price is not None:
            market.spec.price_to_ticks(price)
        market.scripted_mark = price
        self._publish_mark(market)

    def set_index_price(self, symbol: str, price: Decimal | None) -> None:
        market = self._perpetual(symbol)
        if price is not None and (not isinstance(price, Decimal) or not price.is_finite() or price <= 0):
            raise errors.InvalidPrice("index price must be positive")
        market.index_price = price
        self._publish_mark(market)

    def set_funding_rate(self, symbol: str, rate: Decimal | None) -> None:
        """Script the funding rate (None: back to base rate + premium)."""
        market = self._perpetual(symbol)
        if rate is not None and (
            not isinstance(rate, Decimal) or not rate.is_finite() or not _fits(rate, Decimal("1e-8"))
        ):
            raise errors.InvalidOrder("funding rate must be a finite Decimal with at most 8 decimals")
        market.scripted_funding_rate = rate
        self._publish_mark(market)

    def _publish_mark(self, market: MarketState) -> None:
        now = self._begin()
        info = market.funding_info()
        self._events.append(
            MarkPriceUpdate(
                info.symbol, info.mark_price, info.index_price, info.funding_rate,
                info.next_funding_time_ms, now,
            )
        )
        market.last_mark_emit_ms = now // 1000
        self._finish()

    def tick(self) -> None:
        """Let time act: settle funding that fell due and publish mark prices at their interval."""
        now_ms = self._now_ms()
        for market in self.markets.values():
            if not market.spec.is_perpetual:
                continue
            while now_ms >= market.next_funding_time_ms:
                self._settle_funding(market, market.next_funding_time_ms)
                market.next_funding_time_ms += market.spec.funding_interval_ms
            if now_ms - market.last_mark_emit_ms >= self.config.mark_interval_ms:
                self._publish_mark(market)

    def trigger_funding(self, symbol: str) -> None:
        """Settle funding now, out of schedule (the control API's steering action)."""
        self._settle_funding(self._perpetual(symbol), self._now_ms())

    def _settle_funding(self, market: MarketState, funding_time_ms: int) -> None:
        now = self._begin()
        rate, mark = market.funding_rate(), market.mark_price()
        symbol = market.spec.symbol
        for account in self.accounts.values():
            pos = account.positions.get(symbol)
            if pos is None or not pos.qty:
                continue
            amount = -(pos.qty * mark * rate)
            account.balance(market.spec.quote).free += amount
            self._touch(account.account_id, market.spec.quote, BalanceReason.FUNDING_FEE)
            self._events.append(
                FundingPayment(account.account_id, symbol, amount, rate, mark, pos.qty, now)
            )
        market.funding_history.append(FundingRecord(funding_time_ms, rate, mark))
        self._finish()

    # --- queries -------------------------------------------------------------------------------
    def book(self, symbol: str, depth: int | None = None) -> BookSnapshot:
        return self._market(symbol).snapshot(depth)

    def book_at(self, symbol: str, update_id: int, depth: int | None = None) -> BookSnapshot:
        """The L2 book as it was right after `update_id` (LookupError if out of the history window)."""
        return self._market(symbol).snapshot_at(update_id, depth)

    def available_to_take(self, symbol: str, side: Side, price: Decimal | None, wanted: Decimal) -> Decimal:
        """How much of `wanted` an incoming `side` order limited at `price` (None: market) could take now."""
        market = self._market(symbol)
        spec = market.spec
        opposite = market.asks if side is Side.BUY else market.bids
        limit = None if price is None else spec.price_to_ticks(price)
        wanted_lots = spec.qty_to_lots(wanted)
        return spec.qty(min(wanted_lots, opposite.lots_up_to(limit, wanted_lots)))

    def qty_to_fill(self, order_id: int) -> Decimal:
        """How much an opposite order limited at this resting order's price must take to fill it completely:
        every better level, the queue ahead of it at its own level, and its remainder (price-time priority)."""
        order = self._orders.get(order_id)
        if order is None or order.status.is_terminal:
            raise errors.UnknownOrder("order is not open")
        market = self._market(order.symbol)
        own = market.bids if order.side is Side.BUY else market.asks
        lots = 0
        for ticks in own.prices_best_first():
            if ticks == order.price_ticks:
                break
            lots += own.lots[ticks]
        for queued in own.queues[order.price_ticks]:
            lots += queued.remaining_lots
            if queued is order:
                break
        return market.spec.qty(lots)

    def oldest_update_id(self, symbol: str) -> int:
        """The oldest update id `book_at` can still rebuild for this market."""
        market = self._market(symbol)
        oldest = market.history.oldest_reachable_id
        return market.last_update_id if oldest is None else oldest

    def last_update_id(self, symbol: str) -> int:
        return self._market(symbol).last_update_id

    def order(
        self,
        account_id: int,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> OrderState:
        market = self._market(symbol)
        order = self._find_order(self._account(account_id), symbol, order_id, client_order_id)
        return order.state(market.spec)

    def order_by_id(self, order_id: int) -> OrderState:
        order = self._orders.get(order_id)
        if order is None:
            raise errors.UnknownOrder(f"order {order_id} does not exist")
        return order.state(self.markets[order.symbol].spec)

    def open_orders(self, account_id: int, symbol: str | None = None) -> list[OrderState]:
        account = self._account(account_id)
        if symbol is not None:
            self._market(symbol)
        return [
            o.state(self.markets[o.symbol].spec)
            for o in account.open_orders.values()
            if symbol is None or o.symbol == symbol
        ]

    def orders(self, account_id: int, symbol: str) -> list[OrderState]:
        """Every remembered order of the account in the market, oldest first."""
        account = self._account(account_id)
        spec = self._market(symbol).spec
        found = (self._orders.get(oid) for oid in account.client_ids.values())
        return sorted(
            (o.state(spec) for o in found if o is not None and o.symbol == symbol),
            key=lambda s: s.order_id,
        )

    def account_trades(self, account_id: int, symbol: str | None = None) -> list[AccountTrade]:
        self._account(account_id)
        return [t for t in self._account_trades[account_id] if symbol is None or t.symbol == symbol]

    def recent_trades(self, symbol: str) -> list[Trade]:
        return list(self._market(symbol).recent_trades)

    def balances(self, account_id: int) -> dict[str, Balance]:
        account = self._account(account_id)
        return {asset: Balance(b.free, b.locked) for asset, b in account.balances.items()}

    def position(self, account_id: int, symbol: str) -> PositionState:
        market = self._perpetual(symbol)
        account = self._account(account_id)
        pos = account.positions.get(symbol) or Position()
        mark = market.mark_price()
        return PositionState(
            account_id, symbol, pos.qty, pos.entry_price(market.spec.price_decimals + 2),
            pos.realized_pnl, pos.unrealized_pnl(mark), pos.margin,
            self._leverage(account, market.spec), mark,
        )

    def funding_info(self, symbol: str) -> FundingInfo:
        return self._perpetual(symbol).funding_info()

    def funding_history(self, symbol: str) -> list[FundingRecord]:
        return list(self._perpetual(symbol).funding_history)

    def assets(self) -> Iterable[str]:
        seen: dict[str, None] = {}
        for market in self.markets.values():
            seen[market.spec.base] = None
            seen[market.spec.quote] = None
        return list(seen)


def _fits(value: Decimal, quantum: Decimal) -> bool:
    """Is `value` a multiple of `quantum`? (False, not InvalidOperation, when it is too large to say.)"""
    try:
        return value.quantize(quantum) == value
    except InvalidOperation:
        return False


def _ceil(amount: Decimal) -> Decimal:
    return amount.quantize(MARGIN_QUANTUM, rounding=ROUND_UP)


def _apply_to_position(pos: Position, signed_qty: Decimal, price: Decimal) -> Decimal:
    """Add a fill to a one-way position; returns the PnL it realizes.

    The closed part's cost is taken pro rata (rounded to 1e-8, exactly what stays in `cost`), so
    realized + unrealized PnL always equals the fills' cash flow plus qty x mark, exactly.
    """
    if not pos.qty or (pos.qty > 0) == (signed_qty > 0):
        pos.qty += signed_qty
        pos.cost += signed_qty * price
        return ZERO
    closing = min(abs(signed_qty), abs(pos.qty))
    if closing == abs(pos.qty):
        closed_cost = pos.cost
    else:
        closed_cost = (pos.cost * closing / abs(pos.qty)).quantize(MARGIN_QUANTUM)
    closed = closing if pos.qty > 0 else -closing
    realized = closed * price - closed_cost
    pos.qty -= closed
    pos.cost -= closed_cost
    pos.realized_pnl += realized
    opening = abs(signed_qty) - closing
    if opening:
        opened = opening if signed_qty > 0 else -opening
        pos.qty += opened
        pos.cost += opened * price
    return realized
