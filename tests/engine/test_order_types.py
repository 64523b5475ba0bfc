"""Edge cases of order types, fees, positions and funding, each with exact Decimal expectations.

Markets (see helpers): spot BTCUSDT tick 0.01, lot 0.001, min notional 1, fees maker 0.05% / taker
0.1%; perpetual ETHUSDT-PERP tick 0.1, lot 0.001, min notional 5, fees maker 0.02% / taker 0.05%,
funding every hour, default leverage 10, max 50.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from mock_exchanges.engine import (
    FEE_ACCOUNT_ID,
    Balance,
    BookDelta,
    ExecutionType,
    FundingPayment,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TimeInForce,
    Trade,
    errors,
)
from tests.engine.helpers import PERP, SPOT, D, Harness, fingerprint

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
IOC, FOK = TimeInForce.IOC, TimeInForce.FOK


@pytest.fixture
def h() -> Harness:
    return Harness()


def bal(h: Harness, aid: int, asset: str) -> Balance:
    return h.engine.balances(aid).get(asset, Balance())


def trades(events: Sequence[object]) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade)]


def asks_ladder(h: Harness, *levels: tuple[str, str], symbol: str = SPOT) -> int:
    """A maker account selling `qty @ price` for each level; returns its id."""
    maker = h.account(BTC="10", ETH="0", USDT="100000")
    for price, qty in levels:
        h.engine.place_order(maker, symbol, SELL, LIMIT, D(qty), D(price))
    h.take_events()
    return maker


# --- FOK / IOC ---------------------------------------------------------------------------------
def test_fok_that_cannot_fill_completely_expires_without_trading(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"), ("101", "0.010"))
    taker = h.account(USDT="1000")
    book = h.engine.book(SPOT)
    # One lot more than the 0.020 available up to 101: nothing may trade.
    result = h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.021"), D("101"), FOK)
    assert result.order.status is OrderStatus.EXPIRED
    assert result.fills == () and result.order.filled_qty == 0
    assert h.engine.book(SPOT) == book  # same levels, same update id
    assert bal(h, taker, "USDT") == Balance(D("1000"), D(0))
    events = h.take_events()
    assert trades(events) == [] and not any(isinstance(e, BookDelta) for e in events)
    assert [e.execution_type for e in events if isinstance(e, OrderUpdate)] == [
        ExecutionType.NEW, ExecutionType.EXPIRED,
    ]
    assert h.engine.open_orders(taker) == []


def test_fok_counts_only_liquidity_within_its_limit(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"), ("101", "0.010"))
    taker = h.account(USDT="1000")
    result = h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.015"), D("100"), FOK)
    assert result.order.status is OrderStatus.EXPIRED and result.fills == ()


def test_fok_that_can_fill_takes_everything_at_each_level_price(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"), ("101", "0.010"))
    taker = h.account(USDT="1000")
    result = h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.020"), D("101"), FOK)
    assert result.order.status is OrderStatus.FILLED
    assert [(f.price, f.qty) for f in result.fills] == [(D("100"), D("0.010")), (D("101"), D("0.010"))]
    assert h.engine.book(SPOT).asks == []
    assert result.order.cum_quote == D("2.01")
    # Locked 0.020 x 101 = 2.02, spent 2.01: the price improvement comes back, nothing stays locked.
    assert bal(h, taker, "USDT") == Balance(D("997.99"), D(0))


def test_ioc_partial_fill_then_expires_the_rest(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"), ("101", "0.010"))
    taker = h.account(USDT="1000")
    result = h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.015"), D("100"), IOC)
    assert result.order.status is OrderStatus.EXPIRED
    assert result.order.filled_qty == D("0.010") and result.order.remaining_qty == D("0.005")
    assert h.engine.book(SPOT).bids == []  # the rest never rests
    assert h.engine.book(SPOT).asks == [(D("101"), D("0.010"))]
    assert bal(h, taker, "USDT") == Balance(D("999"), D(0))
    assert [e.execution_type for e in h.take_events() if isinstance(e, OrderUpdate) and e.order_id ==
            result.order.order_id] == [ExecutionType.NEW, ExecutionType.TRADE, ExecutionType.EXPIRED]


# --- post-only ---------------------------------------------------------------------------------
def test_post_only_that_would_cross_is_rejected_and_changes_nothing(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"))
    taker = h.account(USDT="1000")
    before = fingerprint(h.engine)
    with pytest.raises(errors.PostOnlyWouldCross) as info:
        h.engine.place_order(taker, SPOT, BUY, MAKER, D("0.010"), D("100"))
    assert info.value.reason == "POST_ONLY_WOULD_CROSS"
    assert fingerprint(h.engine) == before and h.take_events() == []


def test_post_only_below_the_ask_rests(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"))
    trader = h.account(USDT="1000")
    result = h.engine.place_order(trader, SPOT, BUY, MAKER, D("0.011"), D("99.99"))
    assert result.order.status is OrderStatus.NEW and result.fills == ()
    assert h.engine.book(SPOT).bids == [(D("99.99"), D("0.011"))]
    assert bal(h, trader, "USDT") == Balance(D("998.90011"), D("1.09989"))


# --- market orders -----------------------------------------------------------------------------
def test_market_buy_sweeps_levels_best_first(h: Harness) -> None:
    maker = asks_ladder(h, ("100", "0.010"), ("101", "0.010"), ("102", "0.010"))
    taker = h.account(USDT="1000")
    result = h.engine.place_order(taker, SPOT, BUY, MARKET, D("0.025"))
    assert result.order.status is OrderStatus.FILLED
    assert result.order.time_in_force is IOC
    assert [(f.price, f.qty) for f in result.fills] == [
        (D("100"), D("0.010")), (D("101"), D("0.010")), (D("102"), D("0.005")),
    ]
    assert h.engine.book(SPOT).asks == [(D("102"), D("0.005"))]
    # 1 + 1.01 + 0.51 = 2.52 USDT; taker fee 0.1% taken from the BTC received.
    assert bal(h, taker, "USDT") == Balance(D("997.48"), D(0))
    assert bal(h, taker, "BTC") == Balance(D("0.024975"), D(0))
    # Maker fee 0.05% of 2.52 in USDT.
    assert bal(h, maker, "USDT").free == D("100000") + D("2.52") - D("0.00126")
    assert bal(h, FEE_ACCOUNT_ID, "BTC").free == D("0.000025")
    assert bal(h, FEE_ACCOUNT_ID, "USDT").free == D("0.00126")


def test_market_order_without_enough_liquidity_fills_what_there_is_then_expires(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"), ("101", "0.010"))
    taker = h.account(USDT="1000")
    result = h.engine.place_order(taker, SPOT, BUY, MARKET, D("0.050"))
    assert result.order.status is OrderStatus.EXPIRED
    assert result.order.filled_qty == D("0.020")
    assert h.engine.book(SPOT).asks == []
    assert bal(h, taker, "USDT") == Balance(D("997.99"), D(0))
    seller = h.account(BTC="1")
    result = h.engine.place_order(seller, SPOT, SELL, MARKET, D("0.010"))  # into an empty bid side
    assert result.order.status is OrderStatus.EXPIRED and result.fills == ()
    assert bal(h, seller, "BTC") == Balance(D("1"), D(0))


@pytest.mark.parametrize(
    ("symbol", "levels", "needed"),
    [
        (SPOT, (("100", "0.010"), ("101", "0.010")), "2.01"),  # the quote cost of the sweep
        (PERP, (("2000", "0.010"), ("2001", "0.010")), "4.001"),  # cost 40.01 at 10x leverage
    ],
)
def test_market_buy_needs_exactly_what_its_sweep_costs(
    h: Harness, symbol: str, levels: tuple[tuple[str, str], ...], needed: str
) -> None:
    asks_ladder(h, *levels, symbol=symbol)
    short = h.account(USDT=str(D(needed) - D("0.00000001")))
    with pytest.raises(errors.InsufficientBalance):
        h.engine.place_order(short, symbol, BUY, MARKET, D("0.020"))
    enough = h.account(USDT=needed)
    assert h.engine.place_order(enough, symbol, BUY, MARKET, D("0.020")).order.status is OrderStatus.FILLED


# --- self-trade ----------------------------------------------------------------------------------
def test_self_trade_is_allowed_and_only_costs_the_fees(h: Harness) -> None:
    """The engine has no self-trade prevention: an account's taker order matches its own maker order."""
    trader = h.account(USDT="1000", BTC="1")
    maker = h.engine.place_order(trader, SPOT, SELL, LIMIT, D("0.010"), D("100")).order
    taker = h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.010"), D("100")).order
    (trade,) = trades(h.take_events())
    assert (trade.buyer_account_id, trade.seller_account_id) == (trader, trader)
    assert (trade.buyer_order_id, trade.seller_order_id) == (taker.order_id, maker.order_id)
    # Maker fee 0.05% of 1 USDT, taker fee 0.1% of 0.010 BTC.
    assert bal(h, trader, "USDT") == Balance(D("999.9995"), D(0))
    assert bal(h, trader, "BTC") == Balance(D("0.99999"), D(0))
    assert bal(h, FEE_ACCOUNT_ID, "USDT").free == D("0.0005")
    assert bal(h, FEE_ACCOUNT_ID, "BTC").free == D("0.00001")


# --- balances ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("funds", "symbol", "side", "qty", "price"),
    [
        ({"USDT": "10"}, SPOT, BUY, "0.101", "100"),  # needs 10.1 USDT
        ({"BTC": "0.010"}, SPOT, SELL, "0.011", "100"),  # needs 0.011 BTC
        ({"USDT": "10"}, SPOT, SELL, "0.010", "100"),  # no BTC balance at all
        ({"USDT": "9.99"}, PERP, BUY, "0.050", "2000"),  # needs 50 lots x ceil8(0.2) = 10 margin
        ({"BTC": "1"}, PERP, SELL, "0.003", "2000"),  # no USDT balance at all
    ],
)
def test_insufficient_balance_is_rejected_with_nothing_locked(
    h: Harness, funds: dict[str, str], symbol: str, side: Side, qty: str, price: str
) -> None:
    trader = h.account(**funds)
    before = fingerprint(h.engine)
    with pytest.raises(errors.InsufficientBalance):
        h.engine.place_order(trader, symbol, side, LIMIT, D(qty), D(price))
    assert fingerprint(h.engine) == before
    assert set(h.engine.balances(trader)) == set(funds)  # no empty balance of the lock asset appears
    assert all(b.locked == 0 for b in h.engine.balances(trader).values())


@pytest.mark.parametrize(
    ("funds", "symbol", "side", "qty", "price", "asset"),
    [
        ({"USDT": "10"}, SPOT, BUY, "0.100", "100", "USDT"),
        ({"BTC": "0.010"}, SPOT, SELL, "0.010", "100", "BTC"),
        ({"USDT": "10"}, PERP, BUY, "0.050", "2000", "USDT"),
    ],
)
def test_exactly_enough_balance_is_accepted_and_locked(
    h: Harness, funds: dict[str, str], symbol: str, side: Side, qty: str, price: str, asset: str
) -> None:
    trader = h.account(**funds)
    h.engine.place_order(trader, symbol, side, LIMIT, D(qty), D(price))
    assert bal(h, trader, asset) == Balance(D(0), D(funds[asset]))


# --- client order ids ----------------------------------------------------------------------------
def test_duplicate_client_order_id_is_rejected_while_the_order_is_remembered() -> None:
    h = Harness(order_retention=1)
    trader = h.account(USDT="1000")
    first = h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99"), client_order_id="a-1").order
    h.engine.cancel_order(trader, SPOT, first.order_id)
    with pytest.raises(errors.DuplicateClientOrderId):  # finished, but still remembered
        h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99"), client_order_id="a-1")
    other = h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99")).order
    h.engine.cancel_order(trader, SPOT, other.order_id)  # the second finished order pushes out "a-1"
    with pytest.raises(errors.UnknownOrder):
        h.engine.order_by_id(first.order_id)
    again = h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99"), client_order_id="a-1")
    assert again.order.client_order_id == "a-1"
    # Another account may use the same client id at any time.
    stranger = h.account(USDT="1000")
    h.engine.place_order(stranger, SPOT, BUY, LIMIT, D("0.020"), D("99"), client_order_id="a-1")


@pytest.mark.parametrize("client_id", ["", "x" * 37, "has space", "semi;colon", "ünïcode"])
def test_malformed_client_order_id_is_rejected(h: Harness, client_id: str) -> None:
    trader = h.account(USDT="1000")
    with pytest.raises(errors.InvalidOrder):
        h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99"), client_order_id=client_id)


def test_longest_client_order_id_with_every_allowed_character_is_accepted(h: Harness) -> None:
    trader = h.account(USDT="1000")
    client_id = "Az09.:/_-" * 4
    assert len(client_id) == 36
    order = h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99"), client_order_id=client_id)
    assert h.engine.order(trader, SPOT, client_order_id=client_id) == order.order


# --- cancel / amend ------------------------------------------------------------------------------
def test_cancel_of_a_filled_order_raises_unknown_order_and_keeps_it_filled(h: Harness) -> None:
    asks_ladder(h, ("100", "0.010"))
    taker = h.account(USDT="1000")
    order = h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.010"), D("100")).order
    assert order.status is OrderStatus.FILLED
    with pytest.raises(errors.UnknownOrder):
        h.engine.cancel_order(taker, SPOT, order.order_id)
    assert h.engine.order_by_id(order.order_id).status is OrderStatus.FILLED


def test_cancel_twice_raises_unknown_order_the_second_time(h: Harness) -> None:
    trader = h.account(USDT="1000")
    order = h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99")).order
    assert h.engine.cancel_order(trader, SPOT, order.order_id).status is OrderStatus.CANCELED
    assert bal(h, trader, "USDT") == Balance(D("1000"), D(0))
    with pytest.raises(errors.UnknownOrder):
        h.engine.cancel_order(trader, SPOT, order.order_id)


def test_cancel_all_cancels_one_market_of_one_account_only(h: Harness) -> None:
    trader = h.account(USDT="10000", BTC="1")
    other = h.account(USDT="10000")
    mine = [
        h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99")).order.order_id,
        h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("98")).order.order_id,
        h.engine.place_order(trader, SPOT, SELL, LIMIT, D("0.030"), D("101")).order.order_id,
    ]
    perp_order = h.engine.place_order(trader, PERP, BUY, LIMIT, D("0.010"), D("1900")).order
    theirs = h.engine.place_order(other, SPOT, BUY, LIMIT, D("0.020"), D("99")).order
    canceled = h.engine.cancel_all(trader, SPOT)
    assert sorted(o.order_id for o in canceled) == mine
    assert all(o.status is OrderStatus.CANCELED for o in canceled)
    assert [o.order_id for o in h.engine.open_orders(trader)] == [perp_order.order_id]
    assert [o.order_id for o in h.engine.open_orders(other)] == [theirs.order_id]
    assert bal(h, trader, "BTC") == Balance(D("1"), D(0))
    assert bal(h, trader, "USDT").locked == D("1.9")  # the perpetual order's margin: 0.010 x 1900 / 10
    assert h.engine.book(SPOT).bids == [(D("99"), D("0.020"))]
    assert h.engine.cancel_all(trader, SPOT) == []


def test_amend_down_keeps_queue_priority_and_frees_the_lock(h: Harness) -> None:
    first = h.account(BTC="1")
    second = h.account(BTC="1")
    a = h.engine.place_order(first, SPOT, SELL, LIMIT, D("0.020"), D("100")).order
    b = h.engine.place_order(second, SPOT, SELL, LIMIT, D("0.010"), D("100")).order
    amended = h.engine.amend_order(first, SPOT, D("0.005"), order_id=a.order_id)
    assert (amended.qty, amended.status) == (D("0.005"), OrderStatus.NEW)
    assert bal(h, first, "BTC") == Balance(D("0.995"), D("0.005"))
    assert h.engine.book(SPOT).asks == [(D("100"), D("0.015"))]
    h.take_events()
    taker = h.account(USDT="1000")
    h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.010"), D("100"))
    assert [(t.seller_order_id, t.qty) for t in trades(h.take_events())] == [
        (a.order_id, D("0.005")), (b.order_id, D("0.005")),
    ]


def test_amend_cannot_raise_the_quantity_or_cut_below_the_filled_part(h: Harness) -> None:
    maker = h.account(BTC="1")
    order = h.engine.place_order(maker, SPOT, SELL, LIMIT, D("0.020"), D("100")).order
    taker = h.account(USDT="1000")
    h.engine.place_order(taker, SPOT, BUY, LIMIT, D("0.012"), D("100"))
    before = fingerprint(h.engine)
    for qty in ("0.020", "0.021", "0.012", "0.011"):
        with pytest.raises(errors.InvalidQuantity):
            h.engine.amend_order(maker, SPOT, D(qty), order_id=order.order_id)
    assert fingerprint(h.engine) == before
    amended = h.engine.amend_order(maker, SPOT, D("0.013"), order_id=order.order_id)
    assert (amended.filled_qty, amended.remaining_qty, amended.status) == (
        D("0.012"), D("0.001"), OrderStatus.PARTIALLY_FILLED,
    )


# --- fees ----------------------------------------------------------------------------------------
def test_spot_partial_fills_charge_exact_fees_buyer_in_base_seller_in_quote(h: Harness) -> None:
    seller = h.account(BTC="1")
    buyer = h.account(USDT="1000")
    maker = h.engine.place_order(seller, SPOT, SELL, LIMIT, D("0.030"), D("100.07")).order
    taker = h.engine.place_order(buyer, SPOT, BUY, LIMIT, D("0.012"), D("100.10")).order
    h.take_events()
    # 0.012 @ 100.07 = 1.20084 USDT. Taker (buyer) pays 0.1% of 0.012 BTC; maker (seller) 0.05% of 1.20084.
    assert bal(h, buyer, "USDT") == Balance(D("1000") - D("1.20084"), D(0))
    assert bal(h, buyer, "BTC") == Balance(D("0.012") - D("0.000012"), D(0))
    assert bal(h, seller, "USDT") == Balance(D("1.20084") - D("0.00060042"), D(0))
    assert bal(h, seller, "BTC") == Balance(D("0.970"), D("0.018"))
    assert h.engine.order_by_id(maker.order_id).cum_fee == D("0.00060042")
    assert h.engine.order_by_id(taker.order_id).cum_fee == D("0.000012")
    # Now a seller takes the buyer's resting bid: the maker is the buyer (0.05% in BTC), the taker the
    # seller (0.1% in USDT).
    bid = h.engine.place_order(buyer, SPOT, BUY, LIMIT, D("0.020"), D("99.99")).order
    hit = h.engine.place_order(seller, SPOT, SELL, LIMIT, D("0.011"), D("99.99")).order
    updates = {e.order_id: e for e in h.take_events() if isinstance(e, OrderUpdate) and e.trade_id}
    # 0.011 @ 99.99 = 1.09989 USDT.
    assert (updates[bid.order_id].last_fee, updates[bid.order_id].fee_asset) == (D("0.0000055"), "BTC")
    assert updates[bid.order_id].is_maker and not updates[hit.order_id].is_maker
    assert (updates[hit.order_id].last_fee, updates[hit.order_id].fee_asset) == (D("0.00109989"), "USDT")
    assert bal(h, FEE_ACCOUNT_ID, "BTC").free == D("0.000012") + D("0.0000055")
    assert bal(h, FEE_ACCOUNT_ID, "USDT").free == D("0.00060042") + D("0.00109989")


def test_perpetual_fees_are_paid_in_quote_by_both_sides(h: Harness) -> None:
    maker = h.account(USDT="1000")
    taker = h.account(USDT="1000")
    h.engine.place_order(maker, PERP, SELL, LIMIT, D("0.010"), D("2000"))
    h.engine.place_order(taker, PERP, BUY, LIMIT, D("0.004"), D("2000"))
    # Notional 8: maker 0.02% = 0.0016, taker 0.05% = 0.004; margins 8 / 10 = 0.8 each.
    assert bal(h, taker, "USDT") == Balance(D("1000") - D("0.004") - D("0.8"), D("0.8"))
    # The maker still locks margin for the 0.006 unfilled (1.2) plus 0.8 for its position.
    assert bal(h, maker, "USDT") == Balance(D("1000") - D("0.0016") - D("2"), D("2"))
    assert bal(h, FEE_ACCOUNT_ID, "USDT").free == D("0.0056")


# --- perpetual positions -------------------------------------------------------------------------
def test_position_open_increase_reduce_flip_realizes_exact_pnl(h: Harness) -> None:
    trader = h.account(USDT="1000")
    other = h.account(USDT="100000")

    def fill(side: Side, qty: str, price: str) -> None:
        h.engine.place_order(other, PERP, side.opposite, LIMIT, D(qty), D(price))
        h.engine.place_order(trader, PERP, side, LIMIT, D(qty), D(price))

    fill(BUY, "0.010", "2000")  # open: cost 20
    fill(BUY, "0.010", "2100")  # increase: cost 41, entry 2050
    pos = h.engine.position(trader, PERP)
    assert (pos.qty, pos.entry_price, pos.realized_pnl, pos.margin) == (D("0.020"), D("2050"), D(0), D("4.1"))
    fill(SELL, "0.005", "2200")  # reduce a quarter: closes cost 10.25 for 11
    pos = h.engine.position(trader, PERP)
    assert (pos.qty, pos.entry_price, pos.realized_pnl) == (D("0.015"), D("2050"), D("0.75"))
    fill(SELL, "0.025", "1900")  # flip: closes 0.015 (cost 30.75 for 28.5), opens 0.010 short at 1900
    pos = h.engine.position(trader, PERP)
    assert (pos.qty, pos.entry_price, pos.realized_pnl, pos.margin) == (
        D("-0.010"), D("1900"), D("-1.5"), D("1.9"),
    )
    # Taker fees 0.05% of 20 + 21 + 11 + 47.5; realized -1.5 credited; margin 1.9 locked.
    fees = (D("20") + D("21") + D("11") + D("47.5")) * D("0.0005")
    assert bal(h, trader, "USDT") == Balance(D("1000") - fees - D("1.5") - D("1.9"), D("1.9"))
    h.engine.set_mark_price(PERP, D("1850"))
    assert h.engine.position(trader, PERP).unrealized_pnl == D("0.5")
    closing = [e for e in h.take_events() if isinstance(e, PositionUpdate) and e.account_id == trader]
    assert closing[-1].qty == D("-0.010") and closing[-1].realized_pnl == D("-1.5")


def test_closing_a_position_releases_its_margin(h: Harness) -> None:
    trader = h.account(USDT="100")
    other = h.account(USDT="100")
    h.engine.place_order(other, PERP, SELL, LIMIT, D("0.010"), D("2000"))
    h.engine.place_order(trader, PERP, BUY, LIMIT, D("0.010"), D("2000"))
    h.engine.place_order(other, PERP, BUY, LIMIT, D("0.010"), D("2010"))
    h.engine.place_order(trader, PERP, SELL, MARKET, D("0.010"))
    pos = h.engine.position(trader, PERP)
    assert (pos.qty, pos.margin, pos.realized_pnl) == (D(0), D(0), D("0.1"))
    fees = D("20") * D("0.0005") + D("20.1") * D("0.0005")
    assert bal(h, trader, "USDT") == Balance(D("100") + D("0.1") - fees, D(0))


# --- funding -------------------------------------------------------------------------------------
def open_pair(h: Harness, qty: str = "0.010", price: str = "2000") -> tuple[int, int]:
    """A long and a short account holding `qty` at `price` (the short was the maker)."""
    long_, short = h.account(USDT="1000"), h.account(USDT="1000")
    h.engine.place_order(short, PERP, SELL, LIMIT, D(qty), D(price))
    h.engine.place_order(long_, PERP, BUY, LIMIT, D(qty), D(price))
    h.take_events()
    return long_, short


@pytest.mark.parametrize("rate", [D("0.0001"), D("-0.00025")])
def test_funding_at_the_scheduled_time_moves_quote_between_longs_and_shorts(
    h: Harness, rate: Decimal
) -> None:
    long_, short = open_pair(h)
    h.engine.set_mark_price(PERP, D("2100"))
    h.engine.set_funding_rate(PERP, rate)
    long_free, short_free = bal(h, long_, "USDT").free, bal(h, short, "USDT").free
    due = h.engine.funding_info(PERP).next_funding_time_ms
    h.clock.set_us(due * 1000 - 1000)  # one millisecond early: nothing happens
    h.engine.tick()
    assert not any(isinstance(e, FundingPayment) for e in h.take_events())
    h.clock.set_us(due * 1000)
    h.engine.tick()
    payments = [e for e in h.take_events() if isinstance(e, FundingPayment)]
    amount = D("0.010") * D("2100") * rate  # what the long pays (receives if negative)
    assert {(p.account_id, p.amount, p.position_qty) for p in payments} == {
        (long_, -amount, D("0.010")), (short, amount, D("-0.010")),
    }
    assert all(p.rate == rate and p.mark_price == D("2100") for p in payments)
    assert sum(p.amount for p in payments) == 0
    assert bal(h, long_, "USDT").free == long_free - amount
    assert bal(h, short, "USDT").free == short_free + amount
    (record,) = h.engine.funding_history(PERP)
    assert (record.funding_time_ms, record.rate, record.mark_price) == (due, rate, D("2100"))
    assert h.engine.funding_info(PERP).next_funding_time_ms == due + 3_600_000


def test_tick_after_a_long_pause_settles_every_missed_funding_time(h: Harness) -> None:
    long_, short = open_pair(h)
    h.engine.set_funding_rate(PERP, D("0.0001"))
    h.engine.set_mark_price(PERP, D("2000"))
    due = h.engine.funding_info(PERP).next_funding_time_ms
    h.clock.set_us((due + 2 * 3_600_000) * 1000 + 5)
    h.engine.tick()
    assert [r.funding_time_ms for r in h.engine.funding_history(PERP)] == [
        due, due + 3_600_000, due + 2 * 3_600_000,
    ]
    # Each settlement moves 0.010 x 2000 x 0.0001 = 0.002 (free was 1000 - margin 2 - fee 0.01 / 0.004).
    assert bal(h, long_, "USDT").free == D("997.99") - 3 * D("0.002")
    assert bal(h, short, "USDT").free == D("997.996") + 3 * D("0.002")


# --- reduce-only ---------------------------------------------------------------------------------
def test_reduce_only_rules(h: Harness) -> None:
    long_, short = open_pair(h, qty="0.010")
    flat = h.account(USDT="1000", BTC="1")
    cases = [
        (flat, SPOT, SELL, "0.010", errors.InvalidOrder),  # spot has no reduce-only
        (flat, PERP, SELL, "0.010", errors.ReduceOnlyRejected),  # no position
        (long_, PERP, BUY, "0.005", errors.ReduceOnlyRejected),  # would increase the long
        (long_, PERP, SELL, "0.011", errors.ReduceOnlyRejected),  # one lot more than held
        (short, PERP, SELL, "0.005", errors.ReduceOnlyRejected),
    ]
    before = fingerprint(h.engine)
    for aid, symbol, side, qty, error in cases:
        with pytest.raises(error):
            h.engine.place_order(aid, symbol, side, LIMIT, D(qty), D("2000"), reduce_only=True)
    assert fingerprint(h.engine) == before
    # The whole position may be reduced; a reduce-only order locks no margin.
    locked = bal(h, long_, "USDT").locked
    order = h.engine.place_order(long_, PERP, SELL, LIMIT, D("0.010"), D("2005"), reduce_only=True).order
    assert order.reduce_only and bal(h, long_, "USDT").locked == locked
    h.engine.place_order(short, PERP, BUY, MARKET, D("0.010"), reduce_only=True)  # takes the long's order
    assert h.engine.position(long_, PERP).qty == 0 == h.engine.position(short, PERP).qty
    assert bal(h, long_, "USDT").locked == 0 == bal(h, short, "USDT").locked


# --- leverage ------------------------------------------------------------------------------------
def test_leverage_change_rebalances_the_position_margin(h: Harness) -> None:
    long_, _ = open_pair(h)  # cost 20 at the default 10x: margin 2
    total = bal(h, long_, "USDT").total
    assert h.engine.position(long_, PERP).margin == D("2")
    assert h.engine.set_leverage(long_, PERP, 5) == 5
    assert h.engine.position(long_, PERP).margin == D("4")
    assert bal(h, long_, "USDT").locked == D("4") and bal(h, long_, "USDT").total == total
    updates = [e for e in h.take_events() if isinstance(e, PositionUpdate)]
    assert [u.leverage for u in updates] == [5]
    h.engine.set_leverage(long_, PERP, 3)  # 20 / 3 rounds up at the 8th decimal
    assert h.engine.position(long_, PERP).margin == D("6.66666667")
    h.engine.set_leverage(long_, PERP, 50)
    assert bal(h, long_, "USDT").locked == D("0.4")


def test_leverage_change_without_the_margin_for_it_is_rejected(h: Harness) -> None:
    poor, rich = h.account(USDT="2.5"), h.account(USDT="1000")
    h.engine.place_order(rich, PERP, SELL, LIMIT, D("0.010"), D("2000"))
    h.engine.place_order(poor, PERP, BUY, LIMIT, D("0.010"), D("2000"))  # margin 2, fee 0.01
    before = fingerprint(h.engine)
    with pytest.raises(errors.InsufficientBalance):
        h.engine.set_leverage(poor, PERP, 1)  # needs 18 more
    assert fingerprint(h.engine) == before
    with pytest.raises(errors.InsufficientBalance):
        h.engine.set_leverage(poor, PERP, 8)  # needs 2.5 - 2 = 0.5 more, has 2.5 - 2 - 0.01 = 0.49
    assert fingerprint(h.engine) == before
    h.engine.set_leverage(poor, PERP, 9)  # needs 2.22222223 - 2 = 0.22222223 more
    assert h.engine.position(poor, PERP).leverage == 9
    assert bal(h, poor, "USDT") == Balance(D("0.49") - D("0.22222223"), D("2.22222223"))


# --- book history --------------------------------------------------------------------------------
def test_book_at_answers_inside_the_history_window_only() -> None:
    h = Harness(history_window=3)
    trader = h.account(USDT="1000")
    for price in ("99", "98", "97", "96", "95"):  # five level changes: update ids 1..5
        h.engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D(price))
    assert h.engine.last_update_id(SPOT) == 5
    assert h.engine.book_at(SPOT, 2).bids == [(D("99"), D("0.020")), (D("98"), D("0.020"))]
    assert h.engine.book_at(SPOT, 5) == h.engine.book(SPOT)
    for too_old in (1, 0):
        with pytest.raises(LookupError):
            h.engine.book_at(SPOT, too_old)
    with pytest.raises(ValueError):
        h.engine.book_at(SPOT, 6)
