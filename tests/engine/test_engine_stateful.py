"""Stateful property tests: random command sequences on a spot and a perpetual market, 4 accounts.

Every command goes through `_call`: a rejection (a typed EngineError) must emit nothing and leave the
whole engine fingerprint unchanged; a success has its events checked (update ids, trade ids, fees,
funding) and, for orders, its fills compared with a price-time-priority prediction made from the
public L3 view (every account's open orders) taken just before. Invariants run after every step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from mock_exchanges.engine import (
    FEE_ACCOUNT_ID,
    BalanceUpdate,
    BookDelta,
    BookSnapshot,
    Engine,
    EngineConfig,
    Event,
    FundingPayment,
    OrderState,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TimeInForce,
    Trade,
    VirtualClock,
    errors,
)
from mock_exchanges.engine.market import MarketSpec
from tests.engine.helpers import PERP, SPOT, ceil8, fingerprint, perp_spec, spot_spec

D = Decimal
ZERO = D(0)
MID_TICKS = {SPOT: 10_000, PERP: 20_000}  # 100.00 and 2000.0
FUNDS = [
    {"USDT": "50000", "BTC": "100", "USDC": "50000"},
    {"USDT": "50000", "BTC": "100", "USDC": "50000"},
    {"USDT": "300", "BTC": "1", "USDC": "200"},
    {"USDT": "5"},  # no BTC and no USDC at all: a rejection must not create those balances
]
UNKNOWN_ACCOUNT = 99
ACCOUNTS = st.integers(1, len(FUNDS))
SYMBOLS = st.sampled_from([SPOT, PERP])
PERP_MOSTLY = st.sampled_from([PERP, PERP, PERP, SPOT])
OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
#: Deliberately bad parameters, drawn now and then so that rejections are exercised too.
QUIRKS = st.sampled_from([None] * 14 + ["market_with_price", "no_price", "off_tick", "spot_reduce_only"])


def _crosses(book: BookSnapshot, side: Side, price: Decimal | None) -> bool:
    """Would an incoming order on `side` limited at `price` trade with the book's best level?"""
    best = book.best_ask if side is Side.BUY else book.best_bid
    if best is None:
        return False
    if price is None:
        return True
    return best <= price if side is Side.BUY else best >= price


def _sweep_cost(book: BookSnapshot, side: Side, qty: Decimal) -> Decimal:
    cost, left = ZERO, qty
    for price, level_qty in book.asks if side is Side.BUY else book.bids:
        take = min(left, level_qty)
        cost += take * price
        left -= take
        if not left:
            break
    return cost


def _predict_fills(
    resting: list[OrderState], side: Side, limit: Decimal | None, qty: Decimal, fok: bool
) -> list[tuple[int, Decimal, Decimal]]:
    """(maker order id, price, qty) an incoming order takes, by price then time priority."""
    fills, left = [], qty
    for maker in resting:
        if limit is not None and (maker.price > limit if side is Side.BUY else maker.price < limit):
            break
        take = min(left, maker.remaining_qty)
        fills.append((maker.order_id, maker.price, take))
        left -= take
        if not left:
            break
    return [] if fok and left else fills


class EngineMachine(RuleBasedStateMachine):
    perp_quote = "USDC"
    history_window = 60
    order_retention = 10

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.engine = Engine(
            self.clock,
            EngineConfig(seed=7, history_window=self.history_window, order_retention=self.order_retention),
        )
        self.specs: dict[str, MarketSpec] = {SPOT: spot_spec(), PERP: perp_spec(quote=self.perp_quote)}
        for spec in self.specs.values():
            self.engine.add_market(spec)
        self.deposited: defaultdict[str, Decimal] = defaultdict(Decimal)
        for i, funds in enumerate(FUNDS, start=1):
            amounts = {asset: D(v) for asset, v in funds.items()}
            assert self.engine.create_account(amounts, name=f"trader{i}").account_id == i
            for asset, amount in amounts.items():
                self.deposited[asset] += amount
        self.events: list[Event] = []
        self.engine.subscribe(self.events.append)
        self.last_update_id = {SPOT: 0, PERP: 0}
        self.last_trade_id = {SPOT: 0, PERP: 0}
        self.deltas: dict[str, list[BookDelta]] = {SPOT: [], PERP: []}
        self.books_at: dict[str, dict[int, tuple[Any, Any]]] = {SPOT: {0: ([], [])}, PERP: {0: ([], [])}}
        self.owner: dict[int, tuple[int, str]] = {}
        self.client_id: dict[int, str] = {}
        self.latest_with_client_id: dict[tuple[int, str], int] = {}
        self.status: dict[int, OrderStatus] = {}
        self.filled: defaultdict[int, Decimal] = defaultdict(Decimal)
        self.filled_quote: defaultdict[int, Decimal] = defaultdict(Decimal)
        self.order_fees: defaultdict[int, Decimal] = defaultdict(Decimal)
        self.fees: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.funding_runs = 0
        self.next_client_id = 0
        self.last_events: list[Event] = []

    # --- the command bracket --------------------------------------------------------------------
    def _call(
        self, command: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> tuple[Any, errors.EngineError | None]:
        before, n_events = fingerprint(self.engine), len(self.events)
        try:
            result = command(*args, **kwargs)
        except errors.EngineError as err:
            assert type(err) is not errors.EngineError and err.reason != errors.EngineError.reason
            assert len(self.events) == n_events, f"rejected {command.__name__} emitted events"
            assert fingerprint(self.engine) == before, f"rejected {command.__name__} ({err!r}) changed state"
            return None, err
        self.last_events = self.events[n_events:]
        self._consume(self.last_events)
        return result, None

    def _consume(self, events: list[Event]) -> None:
        self.funding_runs = 0
        run: list[FundingPayment] = []
        balances: dict[tuple[int, str], BalanceUpdate] = {}
        positions: dict[tuple[int, str], PositionUpdate] = {}
        for ev in events:
            if isinstance(ev, FundingPayment):
                run.append(ev)
                continue
            if run:
                self._check_funding_run(run)
                run = []
            if isinstance(ev, BookDelta):
                assert ev.first_update_id == self.last_update_id[ev.symbol] + 1, "update id gap"
                assert ev.last_update_id >= ev.first_update_id
                self.last_update_id[ev.symbol] = ev.last_update_id
                self.deltas[ev.symbol].append(ev)
            elif isinstance(ev, Trade):
                assert ev.trade_id == self.last_trade_id[ev.symbol] + 1, "trade id gap"
                self.last_trade_id[ev.symbol] = ev.trade_id
                for oid in (ev.buyer_order_id, ev.seller_order_id):
                    self.filled[oid] += ev.qty
                    self.filled_quote[oid] += ev.qty * ev.price
            elif isinstance(ev, OrderUpdate):
                self.status[ev.order_id] = ev.status
                if ev.trade_id is not None:
                    self._check_fee(ev)
            elif isinstance(ev, BalanceUpdate):
                balances[(ev.account_id, ev.asset)] = ev
            elif isinstance(ev, PositionUpdate):
                positions[(ev.account_id, ev.symbol)] = ev
        if run:
            self._check_funding_run(run)
        for symbol, market in self.engine.markets.items():
            assert self.engine.last_update_id(symbol) == self.last_update_id[symbol]
            assert market.last_trade_id == self.last_trade_id[symbol]
            book = self.engine.book(symbol)
            self.books_at[symbol][book.update_id] = (book.bids, book.asks)
        for (aid, asset), update in balances.items():
            now = self.engine.balances(aid)[asset]
            assert (update.free, update.locked) == (now.free, now.locked), "stale BalanceUpdate"
        for (aid, symbol), moved in positions.items():
            state = self.engine.position(aid, symbol)
            assert (moved.qty, moved.realized_pnl) == (state.qty, state.realized_pnl), "stale position"

    def _check_fee(self, event: OrderUpdate) -> None:
        spec = self.specs[event.symbol]
        spot_buy = not spec.is_perpetual and event.side is Side.BUY
        assert event.fee_asset == (spec.base if spot_buy else spec.quote)
        rate = spec.maker_fee if event.is_maker else spec.taker_fee
        charged_on = event.last_qty if spot_buy else event.last_qty * event.last_price
        assert event.last_fee == charged_on * rate, "fee is not exactly qty x rate"
        self.fees[event.fee_asset] += event.last_fee
        self.order_fees[event.order_id] += event.last_fee

    def _check_funding_run(self, run: list[FundingPayment]) -> None:
        """The payments of one settlement: exact, against the position, and summing to zero."""
        self.funding_runs += 1
        event("funding settled with payments")
        assert sum(p.amount for p in run) == 0, "funding payments do not net to zero"
        for p in run:
            assert p.amount == -(p.position_qty * p.mark_price * p.rate)
            assert p.position_qty == self.engine.accounts[p.account_id].positions[p.symbol].qty

    # --- small views ------------------------------------------------------------------------------
    def _resting(self, symbol: str, side: Side) -> list[OrderState]:
        """The L3 side of a book from every account's open orders, best price first, then oldest."""
        found = [
            o for aid in self.engine.accounts for o in self.engine.open_orders(aid, symbol) if o.side is side
        ]
        if side is Side.BUY:
            return sorted(found, key=lambda o: (-o.price, o.order_id))
        return sorted(found, key=lambda o: (o.price, o.order_id))

    def _state(self, oid: int) -> OrderState | None:
        try:
            return self.engine.order_by_id(oid)
        except errors.UnknownOrder:
            return None

    def _is_open(self, oid: int) -> bool:
        state = self._state(oid)
        return state is not None and state.status in OPEN

    def _free(self, aid: int, asset: str) -> Decimal:
        bal = self.engine.balances(aid).get(asset)
        return bal.free if bal else ZERO

    def _level(self, symbol: str, side: Side, price: Decimal) -> Decimal:
        book = self.engine.book(symbol)
        return dict(book.bids if side is Side.BUY else book.asks).get(price, ZERO)

    def _queue_index(self, oid: int) -> int:
        aid, symbol = self.owner[oid]
        order = self.engine.accounts[aid].open_orders[oid]
        market = self.engine.markets[symbol]
        queue = (market.bids if order.side is Side.BUY else market.asks).queues[order.price_ticks]
        return [o.order_id for o in queue].index(oid)

    def _required(
        self, aid: int, spec: MarketSpec, side: Side, order_type: OrderType, price: Decimal | None,
        qty: Decimal, reduce_only: bool, book: BookSnapshot,
    ) -> tuple[str, Decimal]:
        """(asset, amount) an order must find free, worked out independently of the engine."""
        market_order = order_type is OrderType.MARKET
        if spec.is_perpetual:
            if reduce_only:
                return spec.quote, ZERO
            leverage = self.engine.position(aid, spec.symbol).leverage
            if market_order:
                return spec.quote, ceil8(_sweep_cost(book, side, qty) / leverage)
            assert price is not None
            return spec.quote, ceil8(price * spec.lot_size / leverage) * (qty / spec.lot_size)
        if side is Side.SELL:
            return spec.base, qty
        if market_order:
            return spec.quote, _sweep_cost(book, side, qty)
        assert price is not None
        return spec.quote, price * qty

    # --- rules ------------------------------------------------------------------------------------
    @rule(
        target=orders,
        aid=ACCOUNTS,
        symbol=SYMBOLS,
        side=st.sampled_from(Side),
        order_type=st.sampled_from(OrderType),
        tif=st.sampled_from(TimeInForce),
        offset=st.integers(-6, 6),
        lots=st.integers(1, 120),
        reduce_only=st.sampled_from([False, False, False, True]),
        cid_mode=st.sampled_from(["auto", "auto", "auto", "fresh", "reuse"]),
        quirk=QUIRKS,
    )
    def place(
        self, aid: int, symbol: str, side: Side, order_type: OrderType, tif: TimeInForce, offset: int,
        lots: int, reduce_only: bool, cid_mode: str, quirk: str | None,
    ) -> Any:
        """Any order type and time in force near the mid, now and then with a deliberately bad parameter."""
        return self._place(aid, symbol, side, order_type, tif, offset, lots, reduce_only, cid_mode, quirk)

    @rule(
        target=orders, aid=ACCOUNTS, symbol=SYMBOLS, side=st.sampled_from(Side), post_only=st.booleans(),
        distance=st.integers(0, 5), lots=st.integers(5, 80),
    )
    def place_maker(
        self, aid: int, symbol: str, side: Side, post_only: bool, distance: int, lots: int
    ) -> Any:
        """A resting order on its own side of the mid: builds depth for the takers."""
        order_type = OrderType.LIMIT_MAKER if post_only else OrderType.LIMIT
        offset = -distance if side is Side.BUY else distance
        return self._place(aid, symbol, side, order_type, TimeInForce.GTC, offset, lots, False, "auto", None)

    @rule(
        target=orders, aid=ACCOUNTS, symbol=SYMBOLS, side=st.sampled_from(Side),
        kind=st.sampled_from(["MARKET", "IOC", "FOK", "GTC"]), reach=st.integers(0, 6),
        lots=st.integers(5, 150),
        reduce_only=st.sampled_from([False, False, False, True]),
    )
    def place_taker(
        self, aid: int, symbol: str, side: Side, kind: str, reach: int, lots: int, reduce_only: bool
    ) -> Any:
        """An order reaching across the mid into the other side."""
        order_type = OrderType.MARKET if kind == "MARKET" else OrderType.LIMIT
        tif = TimeInForce.IOC if kind == "MARKET" else TimeInForce(kind)
        offset = reach if side is Side.BUY else -reach
        return self._place(aid, symbol, side, order_type, tif, offset, lots, reduce_only, "auto", None)

    @initialize(
        target=orders, lots=st.lists(st.integers(15, 60), min_size=3, max_size=3), position=st.integers(0, 14)
    )
    def seed_books(self, lots: list[int], position: int) -> Any:
        """Two makers quote three levels each side of both books, and account 3 may buy a position."""
        placed = []
        for symbol in (SPOT, PERP):
            for i, size in enumerate(lots, start=1):
                for aid, side, offset in ((1, Side.BUY, -i), (2, Side.SELL, i)):
                    oid = self._place(aid, symbol, side, OrderType.LIMIT, TimeInForce.GTC, offset, size,
                                      False, "auto", None)
                    assert isinstance(oid, int)
                    placed.append(oid)
        if position:
            oid = self._place(3, PERP, Side.BUY, OrderType.MARKET, TimeInForce.IOC, 0, position,
                              False, "auto", None)
            assert isinstance(oid, int)
            placed.append(oid)
        return multiple(*placed)

    def _place(
        self, aid: int, symbol: str, side: Side, order_type: OrderType, tif: TimeInForce, offset: int,
        lots: int, reduce_only: bool, cid_mode: str, quirk: str | None,
    ) -> Any:
        """Place one order; a rejection must be the one its parameters call for, a success must trade
        exactly what price-time priority over the L3 book predicts. Returns the order id, if any."""
        engine, spec = self.engine, self.specs[symbol]
        qty = spec.lot_size * lots
        market_order = order_type is OrderType.MARKET
        price: Decimal | None = None if market_order else spec.tick_size * (MID_TICKS[symbol] + offset)
        if quirk == "market_with_price" and market_order:
            price = spec.tick_size * MID_TICKS[symbol]
        elif quirk == "no_price" and not market_order:
            price = None
        elif quirk == "off_tick" and price is not None:
            price += spec.tick_size / 2
        reduce_only = reduce_only and (spec.is_perpetual or quirk == "spot_reduce_only")
        client_id = self._pick_client_id(aid, cid_mode)
        duplicate = client_id is not None and self._is_remembered_client_id(aid, client_id)
        book = engine.book(symbol)
        resting = self._resting(symbol, side.opposite)
        position = engine.accounts[aid].positions.get(symbol)
        held = position.qty if position else ZERO
        reduces = (held > 0 and side is Side.SELL) or (held < 0 and side is Side.BUY)
        reduce_ok = spec.is_perpetual and reduces and qty <= abs(held)
        asset, need = (
            self._required(aid, spec, side, order_type, price, qty, reduce_only, book)
            if price is not None or market_order else ("", ZERO)
        )
        free = self._free(aid, asset)

        result, err = self._call(
            engine.place_order, aid, symbol, side, order_type, qty, price, tif, client_id, reduce_only
        )
        bad_combination = (
            (market_order and price is not None)
            or (order_type is OrderType.LIMIT_MAKER and tif is not TimeInForce.GTC)
            or (reduce_only and not spec.is_perpetual)
        )
        below_min = price is not None and not market_order and price * qty < spec.min_notional
        post_only_crosses = order_type is OrderType.LIMIT_MAKER and _crosses(book, side, price)
        if err is not None:
            checks: dict[type[Exception], bool] = {
                errors.InvalidOrder: bad_combination,
                errors.InvalidPrice: quirk in ("no_price", "off_tick"),
                errors.MinNotional: below_min,
                errors.DuplicateClientOrderId: duplicate,
                errors.PostOnlyWouldCross: post_only_crosses,
                errors.ReduceOnlyRejected: reduce_only and not reduce_ok,
                errors.InsufficientBalance: need > free,
            }
            assert checks.get(type(err), False), f"unexpected {err!r}"
            event(f"place rejected: {err.reason}")
            return multiple()
        assert not (bad_combination or below_min or duplicate or post_only_crosses), "accepted a bad order"
        assert quirk not in ("no_price", "off_tick") or market_order
        assert not reduce_only or reduce_ok
        assert need <= free, f"accepted an order needing {need} {asset} with {free} free"

        order = result.order
        self.owner[order.order_id] = (aid, symbol)
        self.client_id[order.order_id] = order.client_order_id
        self.latest_with_client_id[(aid, order.client_order_id)] = order.order_id
        if client_id is not None:
            assert order.client_order_id == client_id
        fok = tif is TimeInForce.FOK and not market_order
        expected = _predict_fills(resting, side, None if market_order else price, qty, fok)
        if order_type is OrderType.LIMIT_MAKER:
            assert expected == []
        trades = [e for e in self.last_events if isinstance(e, Trade)]
        taken = [
            (t.seller_order_id if side is Side.BUY else t.buyer_order_id, t.price, t.qty) for t in trades
        ]
        assert taken == expected, "fills break price-time priority"
        assert all(order.order_id in (t.buyer_order_id, t.seller_order_id) for t in trades)
        assert [(f.price, f.qty) for f in result.fills] == [(p, q) for _, p, q in expected]
        filled = sum((q for _, _, q in expected), ZERO)
        assert order.filled_qty == filled
        rests = tif is TimeInForce.GTC and not market_order
        if filled == qty:
            assert order.status is OrderStatus.FILLED
        elif rests:
            assert order.status is (OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.NEW)
        else:
            assert order.status is OrderStatus.EXPIRED
        event(f"place {symbol}: {order.status.value}" + (" after fills" if filled else ""))
        is_open = order.order_id in {o.order_id for o in engine.open_orders(aid, symbol)}
        assert is_open == (order.status in OPEN)
        return order.order_id

    def _pick_client_id(self, aid: int, mode: str) -> str | None:
        if mode == "auto":
            return None
        used = sorted(cid for (owner, cid) in self.latest_with_client_id if owner == aid)
        if mode == "reuse" and used:
            return used[self.next_client_id % len(used)]
        self.next_client_id += 1
        return f"my-order.{self.next_client_id}"

    def _is_remembered_client_id(self, aid: int, client_id: str) -> bool:
        oid = self.latest_with_client_id.get((aid, client_id))
        return oid is not None and self._state(oid) is not None

    @rule(oid=orders, as_owner=st.sampled_from([True, True, True, False]), by_client_id=st.booleans())
    def cancel(self, oid: int, as_owner: bool, by_client_id: bool) -> None:
        aid, symbol = self.owner[oid]
        caller = aid if as_owner else aid % len(FUNDS) + 1
        if as_owner and by_client_id:
            oid = self.latest_with_client_id[(aid, self.client_id[oid])]
            target: dict[str, Any] = {"client_order_id": self.client_id[oid]}
        else:
            target = {"order_id": oid}
        state = self._state(oid)
        was_open = self._is_open(oid)
        level_before = self._level(symbol, state.side, state.price) if state else ZERO
        result, err = self._call(self.engine.cancel_order, caller, symbol, **target)
        if caller != aid or not was_open:
            assert isinstance(err, errors.UnknownOrder), f"expected UnknownOrder, got {err!r}"
            event("cancel: unknown (" + ("forgotten" if state is None else "not owner or not open") + ")")
            return
        event("cancel: canceled")
        assert err is None and state is not None
        assert result.status is OrderStatus.CANCELED and result.filled_qty == state.filled_qty
        assert oid not in {o.order_id for o in self.engine.open_orders(aid)}
        assert self._level(symbol, state.side, state.price) == level_before - state.remaining_qty

    @rule(aid=st.sampled_from([1, 2, 3, 4, UNKNOWN_ACCOUNT]), symbol=SYMBOLS)
    def cancel_all(self, aid: int, symbol: str) -> None:
        known = aid in self.engine.accounts
        expected = {o.order_id for o in self.engine.open_orders(aid, symbol)} if known else set()
        elsewhere = [o for o in self.engine.open_orders(aid) if o.symbol != symbol] if known else []
        result, err = self._call(self.engine.cancel_all, aid, symbol)
        if not known:
            assert isinstance(err, errors.UnknownAccount)
            return
        assert {o.order_id for o in result} == expected
        assert all(o.status is OrderStatus.CANCELED for o in result)
        assert self.engine.open_orders(aid, symbol) == []
        assert [o for o in self.engine.open_orders(aid) if o.symbol != symbol] == elsewhere

    @rule(oid=orders, cut=st.integers(-1, 40), as_owner=st.sampled_from([True, True, True, False]))
    def amend(self, oid: int, cut: int, as_owner: bool) -> None:
        """Take `cut` lots off an order (cut <= 0, or down to its filled part or below, is invalid)."""
        aid, symbol = self.owner[oid]
        caller = aid if as_owner else aid % len(FUNDS) + 1
        spec = self.specs[symbol]
        state, was_open = self._state(oid), self._is_open(oid)
        new_qty = (state.qty if state else spec.lot_size * 50) - spec.lot_size * cut
        index = self._queue_index(oid) if was_open and caller == aid else None
        level_before = self._level(symbol, state.side, state.price) if state else ZERO
        result, err = self._call(self.engine.amend_order, caller, symbol, new_qty, order_id=oid)
        if caller != aid or not was_open:
            assert isinstance(err, errors.UnknownOrder), f"expected UnknownOrder, got {err!r}"
            event("amend: unknown order")
            return
        assert state is not None
        if not state.filled_qty < new_qty < state.qty:
            assert isinstance(err, errors.InvalidQuantity), f"expected InvalidQuantity, got {err!r}"
            event("amend: invalid quantity")
            return
        assert err is None
        event("amend: amended")
        assert (result.qty, result.filled_qty, result.status) == (new_qty, state.filled_qty, state.status)
        assert self._queue_index(oid) == index, "amend lost the queue position"
        assert self._level(symbol, state.side, state.price) == level_before - (state.qty - new_qty)

    @rule(aid=ACCOUNTS, symbol=PERP_MOSTLY, leverage=st.sampled_from([0, 1, 2, 3, 5, 10, 25, 50, 51]))
    def set_leverage(self, aid: int, symbol: str, leverage: int) -> None:
        spec = self.specs[symbol]
        pos = self.engine.accounts[aid].positions.get(PERP)
        need = ceil8(abs(pos.cost) / leverage) - pos.margin if pos and pos.qty and leverage >= 1 else ZERO
        free = self._free(aid, spec.quote)
        _, err = self._call(self.engine.set_leverage, aid, symbol, leverage)
        if not spec.is_perpetual:
            assert isinstance(err, errors.NotPerpetual)
        elif not 1 <= leverage <= spec.max_leverage:
            assert isinstance(err, errors.InvalidLeverage)
        elif need > free:
            assert isinstance(err, errors.InsufficientBalance)
            event("set_leverage: insufficient margin")
        else:
            assert err is None
            assert self.engine.position(aid, symbol).leverage == leverage

    @rule(symbol=PERP_MOSTLY, offset=st.one_of(st.none(), st.integers(-30, 30)), off_tick=st.booleans())
    def set_mark_price(self, symbol: str, offset: int | None, off_tick: bool) -> None:
        spec = self.specs[symbol]
        price = None if offset is None else spec.tick_size * (MID_TICKS[PERP] + offset)
        if price is not None and off_tick:
            price += spec.tick_size / 4
        _, err = self._call(self.engine.set_mark_price, symbol, price)
        if not spec.is_perpetual:
            assert isinstance(err, errors.NotPerpetual)
        elif price is not None and off_tick:
            assert isinstance(err, errors.InvalidPrice)
        else:
            assert err is None
            if price is not None:
                assert self.engine.funding_info(symbol).mark_price == price

    @rule(price=st.sampled_from([None, D("1990"), D("2000.5"), D("2012.25"), D("0"), D("-1")]))
    def set_index_price(self, price: Decimal | None) -> None:
        _, err = self._call(self.engine.set_index_price, PERP, price)
        if price is not None and price <= 0:
            assert isinstance(err, errors.InvalidPrice)
        else:
            assert err is None
            info = self.engine.funding_info(PERP)
            assert info.index_price == (price if price is not None else info.mark_price)

    @rule(
        symbol=PERP_MOSTLY,
        rate=st.sampled_from(
            [None, D("0.0001"), D("0.00375"), D("-0.0025"), D("0"), D("0.05"), D("0.000000001")]
        ),
    )
    def set_funding_rate(self, symbol: str, rate: Decimal | None) -> None:
        _, err = self._call(self.engine.set_funding_rate, symbol, rate)
        if symbol != PERP:
            assert isinstance(err, errors.NotPerpetual)
        elif rate == D("0.000000001"):
            assert isinstance(err, errors.InvalidOrder)
        else:
            assert err is None
            if rate is not None:
                assert self.engine.funding_info(symbol).funding_rate == rate

    @rule(ms=st.sampled_from([0, 1, 999, 1_000, 60_000, 1_800_000, 3_599_999, 3_600_000, 7_500_000]))
    def advance_and_tick(self, ms: int) -> None:
        interval = self.specs[PERP].funding_interval_ms
        due = self.engine.funding_info(PERP).next_funding_time_ms
        history = len(self.engine.funding_history(PERP))
        self.clock.advance_ms(ms)
        now_ms = self.clock.now_us() // 1000
        settlements = 0 if now_ms < due else (now_ms - due) // interval + 1
        _, err = self._call(self.engine.tick)
        assert err is None
        assert len(self.engine.funding_history(PERP)) == history + settlements
        assert self.engine.funding_info(PERP).next_funding_time_ms == due + settlements * interval > now_ms
        if any(p.qty for a in self.engine.accounts.values() for p in a.positions.values()):
            assert self.funding_runs == settlements
        else:
            assert self.funding_runs == 0

    @rule(symbol=PERP_MOSTLY)
    def trigger_funding(self, symbol: str) -> None:
        history = len(self.engine.funding_history(PERP))
        due = self.engine.funding_info(PERP).next_funding_time_ms
        _, err = self._call(self.engine.trigger_funding, symbol)
        if symbol != PERP:
            assert isinstance(err, errors.NotPerpetual)
            return
        assert err is None
        assert len(self.engine.funding_history(PERP)) == history + 1
        assert self.engine.funding_info(PERP).next_funding_time_ms == due
        assert self.funding_runs <= 1

    @rule(
        aid=st.sampled_from([1, 2, 3, 4, UNKNOWN_ACCOUNT]),
        asset=st.sampled_from(["USDT", "BTC", "USDC", "DOGE"]),
        amount=st.sampled_from([D("0"), D("0.5"), D("100"), D("2500.123456789"), D("-1")]),
    )
    def deposit(self, aid: int, asset: str, amount: Decimal) -> None:
        before = self._free(aid, asset) if aid in self.engine.accounts else ZERO
        _, err = self._call(self.engine.deposit, aid, asset, amount)
        if aid not in self.engine.accounts:
            assert isinstance(err, errors.UnknownAccount)
        elif amount < 0:
            assert isinstance(err, errors.InvalidQuantity)
        else:
            assert err is None
            self.deposited[asset] += amount
            assert self._free(aid, asset) == before + amount

    @rule(symbol=SYMBOLS, back=st.integers(0, 90), depth=st.sampled_from([None, 1, 3]))
    def replay_book(self, symbol: str, back: int, depth: int | None) -> None:
        """The book at a past update id, plus every later delta, is today's book."""
        last = self.engine.last_update_id(symbol)
        k = last - back % (last + 2)  # -1 (never reachable) .. last
        if k < max(0, last - self.history_window):
            try:
                self.engine.book_at(symbol, k)
            except LookupError:
                event("replay: out of window")
                return
            raise AssertionError(f"book_at({k}) answered though out of the window (last {last})")
        past = self.engine.book_at(symbol, k)
        assert past.update_id == k
        if k in self.books_at[symbol]:
            assert (past.bids, past.asks) == self.books_at[symbol][k]
        shallow = self.engine.book_at(symbol, k, depth)
        assert (shallow.bids, shallow.asks) == (past.bids[:depth], past.asks[:depth])
        bids, asks = dict(past.bids), dict(past.asks)
        event("replay: rebuilt")
        for delta in self.deltas[symbol]:
            if delta.last_update_id <= k:
                continue
            for side, levels in ((bids, delta.bids), (asks, delta.asks)):
                for price, qty in levels:
                    if qty:
                        side[price] = qty
                    else:
                        side.pop(price, None)
        now = self.engine.book(symbol)
        assert sorted(bids.items(), reverse=True) == now.bids
        assert sorted(asks.items()) == now.asks

    # --- invariants -------------------------------------------------------------------------------
    @invariant()
    def books_are_sound(self) -> None:
        """Uncrossed; L2 == the sum of open orders; each level's queue in arrival (order id) order."""
        for symbol, market in self.engine.markets.items():
            book = self.engine.book(symbol)
            if book.best_bid is not None and book.best_ask is not None:
                assert book.best_bid < book.best_ask, "crossed book at rest"
            assert [p for p, _ in book.bids] == sorted({p for p, _ in book.bids}, reverse=True)
            assert [p for p, _ in book.asks] == sorted({p for p, _ in book.asks})
            for side, levels in ((Side.BUY, book.bids), (Side.SELL, book.asks)):
                summed: defaultdict[Decimal, Decimal] = defaultdict(Decimal)
                for order in self._resting(symbol, side):
                    assert order.status in OPEN and order.time_in_force is TimeInForce.GTC
                    assert order.order_type is not OrderType.MARKET
                    summed[order.price] += order.remaining_qty
                assert sorted(summed.items(), reverse=side is Side.BUY) == levels
            for book_side in (market.bids, market.asks):
                for queue in book_side.queues.values():
                    ids = [o.order_id for o in queue]
                    assert ids == sorted(ids), "queue is not in arrival order"

    @invariant()
    def assets_are_conserved(self) -> None:
        accounts = self.engine.accounts.values()
        positions = [a.positions[PERP] for a in accounts if PERP in a.positions]
        assert sum((p.qty for p in positions), ZERO) == 0, "position quantities do not net to zero"
        assets = set(self.deposited) | {asset for a in accounts for asset in a.balances}
        for asset in assets:
            total = sum((a.balances[asset].total for a in accounts if asset in a.balances), ZERO)
            assert all(a.balances[asset].locked >= 0 for a in accounts if asset in a.balances)
            if asset == self.specs[PERP].quote:
                for mark in (self.engine.funding_info(PERP).mark_price, D("1234.5"), ZERO):
                    unrealized = sum((p.unrealized_pnl(mark) for p in positions), ZERO)
                    assert total + unrealized == self.deposited[asset], f"{asset} not conserved at {mark}"
            else:
                assert total == self.deposited[asset], f"{asset} not conserved"
                assert all(a.balances[asset].free >= 0 for a in accounts if asset in a.balances)

    @invariant()
    def locks_match_orders_and_margins(self) -> None:
        for account in self.engine.accounts.values():
            held: defaultdict[str, Decimal] = defaultdict(Decimal)
            for order in account.open_orders.values():
                spec = self.specs[order.symbol]
                spot_sell = order.side is Side.SELL and not spec.is_perpetual
                held[spec.base if spot_sell else spec.quote] += order.locked
                assert order.locked == order.lock_per_lot * order.remaining_lots
            for symbol, pos in account.positions.items():
                spec = self.specs[symbol]
                leverage = self.engine.position(account.account_id, symbol).leverage
                assert pos.margin == ceil8(abs(pos.cost) / leverage), "margin not at cost / leverage"
                assert pos.qty or pos.cost == 0
                held[spec.quote] += pos.margin
            for asset, bal in account.balances.items():
                assert bal.locked == held[asset], f"account {account.account_id} {asset} lock mismatch"

    @invariant()
    def orders_agree_with_their_trades(self) -> None:
        open_ids = {oid for a in self.engine.accounts.values() for oid in a.open_orders}
        for oid in self.owner:
            state = self._state(oid)
            if state is None:  # forgotten: only finished orders may be
                assert self.status[oid].is_terminal and oid not in open_ids
                continue
            assert 0 <= state.filled_qty <= state.qty and state.filled_qty + state.remaining_qty == state.qty
            assert state.filled_qty == self.filled[oid] and state.cum_quote == self.filled_quote[oid]
            assert state.cum_fee == self.order_fees[oid]
            assert state.status is self.status[oid]
            assert (state.status is OrderStatus.FILLED) == (state.filled_qty == state.qty)
            assert (state.status in OPEN) == (oid in open_ids)
            if state.status is OrderStatus.NEW:
                assert state.filled_qty == 0

    @invariant()
    def fee_account_holds_exactly_the_fees(self) -> None:
        fee_balances = self.engine.balances(FEE_ACCOUNT_ID)
        for asset in set(self.fees) | set(fee_balances):
            bal = fee_balances.get(asset)
            assert (bal.total if bal else ZERO) == self.fees[asset]


class SharedQuoteMachine(EngineMachine):
    """The perpetual margins in the spot market's quote asset, so the two markets share USDT."""

    perp_quote = "USDT"
    history_window = 100_000
    order_retention = 200_000


SETTINGS = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSeparateQuotes = EngineMachine.TestCase
TestSeparateQuotes.settings = SETTINGS
TestSharedQuote = SharedQuoteMachine.TestCase
TestSharedQuote.settings = SETTINGS
