"""Bad commands: each raises its specific EngineError subclass and leaves the engine exactly as it was.

Every case runs against the same prepared world (resting orders, a filled order, open positions, a
scripted mark) and compares the whole-engine fingerprint before and after, plus the event stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from mock_exchanges.engine import Engine, EngineConfig, OrderType, Side, TimeInForce, VirtualClock, errors
from tests.engine.helpers import PERP, SPOT, D, Harness, fingerprint, perp_spec, spot_spec

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
UNKNOWN = 999


@dataclass
class World:
    h: Harness
    alice: int  # rich; has resting spot/perp orders, a filled order and a long position
    bob: int  # has one resting spot order and the short side of alice's position, little USDT
    alice_bid: int
    alice_perp_bid: int
    alice_filled: int
    bob_ask: int
    carol: int  # 5 USDT and nothing else

    @property
    def engine(self) -> Engine:
        return self.h.engine


@pytest.fixture
def world() -> World:
    h = Harness()
    e = h.engine
    alice = h.account(USDT="10000", BTC="10")
    bob = h.account(USDT="10", BTC="1")
    carol = h.account(USDT="5")
    alice_bid = e.place_order(alice, SPOT, BUY, LIMIT, D("0.050"), D("99.50"), client_order_id="alice-bid")
    bob_ask = e.place_order(bob, SPOT, SELL, LIMIT, D("0.050"), D("100.50"), client_order_id="bob-ask")
    e.place_order(bob, PERP, SELL, LIMIT, D("0.020"), D("2000"))
    filled = e.place_order(alice, PERP, BUY, LIMIT, D("0.020"), D("2000"), client_order_id="alice-fill")
    perp_bid = e.place_order(alice, PERP, BUY, LIMIT, D("0.010"), D("1990"))
    e.set_mark_price(PERP, D("2001"))
    h.take_events()
    return World(
        h, alice, bob, alice_bid.order.order_id, perp_bid.order.order_id, filled.order.order_id,
        bob_ask.order.order_id, carol,
    )


Command = Callable[[World], Any]
Account = str | int  # a World attribute name, or a raw account id


def _aid(w: World, account: Account) -> int:
    return getattr(w, account) if isinstance(account, str) else account


def place(**overrides: Any) -> Command:
    """A spot limit buy by alice that would be accepted, with some arguments replaced."""
    args: dict[str, Any] = {
        "symbol": SPOT, "side": BUY, "order_type": LIMIT, "qty": D("0.020"), "price": D("99"),
    }
    args.update(overrides)
    account = args.pop("account_id", "alice")
    return lambda w: w.engine.place_order(_aid(w, account), **args)


def place_perp(**overrides: Any) -> Command:
    """A perpetual limit buy by alice that would be accepted, with some arguments replaced."""
    return place(**{"symbol": PERP, "price": D("1980"), **overrides})


def cancel(
    order: str | None = "alice_bid", account: Account = "alice", symbol: str = SPOT, **kw: Any
) -> Command:
    def run(w: World) -> Any:
        return w.engine.cancel_order(_aid(w, account), symbol, getattr(w, order) if order else None, **kw)

    return run


def amend(qty: Any, order: str = "alice_bid", account: Account = "alice", symbol: str = SPOT) -> Command:
    return lambda w: w.engine.amend_order(_aid(w, account), symbol, qty, getattr(w, order))


def call(method: str, *args: Any) -> Command:
    """engine.<method>(*args), with World attribute names among the args resolved to their values."""
    def run(w: World) -> Any:
        resolved = (getattr(w, a) if isinstance(a, str) and a in NAMES else a for a in args)
        return getattr(w.engine, method)(*resolved)

    return run


NAMES = frozenset({"alice", "bob", "carol", "alice_bid", "alice_perp_bid", "alice_filled", "bob_ask"})
NOT_DECIMALS = [1.5, "1.5", 2, D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), None]
E = errors

CASES: list[tuple[str, Command, type[errors.EngineError]]] = [
    # unknown market / account
    ("place unknown market", place(symbol="DOGEUSDT"), E.UnknownMarket),
    ("cancel unknown market", cancel(symbol="NOPE"), E.UnknownMarket),
    ("cancel_all unknown market", call("cancel_all", "alice", "NOPE"), E.UnknownMarket),
    ("amend unknown market", amend(D("0.01"), symbol="NOPE"), E.UnknownMarket),
    ("book unknown market", call("book", "NOPE"), E.UnknownMarket),
    ("leverage unknown market", call("set_leverage", "alice", "NOPE", 5), E.UnknownMarket),
    ("mark unknown market", call("set_mark_price", "NOPE", D("1")), E.UnknownMarket),
    ("funding unknown market", call("trigger_funding", "NOPE"), E.UnknownMarket),
    ("place unknown account", place(account_id=UNKNOWN), E.UnknownAccount),
    ("place fee account without funds", place(account_id=0), E.InsufficientBalance),
    ("cancel_all unknown account", call("cancel_all", UNKNOWN, SPOT), E.UnknownAccount),
    ("cancel unknown account", cancel(account=UNKNOWN), E.UnknownAccount),
    ("deposit unknown account", call("deposit", UNKNOWN, "USDT", D("1")), E.UnknownAccount),
    ("leverage unknown account", call("set_leverage", UNKNOWN, PERP, 5), E.UnknownAccount),
    ("balances unknown account", call("balances", UNKNOWN), E.UnknownAccount),
    ("open orders unknown account", call("open_orders", UNKNOWN), E.UnknownAccount),
    # prices
    ("negative price", place(price=D("-99")), E.InvalidPrice),
    ("zero price", place(price=D("0")), E.InvalidPrice),
    ("negative zero price", place(price=D("-0")), E.InvalidPrice),
    ("off-tick price", place(price=D("99.005")), E.InvalidPrice),
    ("off-tick perp price", place_perp(price=D("1980.05")), E.InvalidPrice),
    ("price above max", place(price=D("100000.01"), qty=D("0.001")), E.InvalidPrice),
    ("price far above max", place(price=D("1E+40")), E.InvalidPrice),
    ("price below min", place(price=D("0.001")), E.InvalidPrice),
    ("missing price for LIMIT", place(price=None), E.InvalidPrice),
    ("missing price for LIMIT_MAKER", place(order_type=MAKER, price=None), E.InvalidPrice),
    *[(f"price {v!r}", place(price=v), E.InvalidPrice) for v in NOT_DECIMALS if v is not None],
    # quantities
    ("off-lot qty", place(qty=D("0.0205")), E.InvalidQuantity),
    ("zero qty", place(qty=D("0")), E.InvalidQuantity),
    ("negative qty", place(qty=D("-0.020")), E.InvalidQuantity),
    ("qty above max", place(qty=D("1000.001"), price=D("1")), E.InvalidQuantity),
    ("tiny qty", place(qty=D("1E-30")), E.InvalidQuantity),
    *[(f"qty {v!r}", place(qty=v), E.InvalidQuantity) for v in NOT_DECIMALS],
    ("market qty float", place(order_type=MARKET, price=None, qty=0.02), E.InvalidQuantity),
    ("below min notional", place(qty=D("0.010")), E.MinNotional),
    ("below perp min notional", place_perp(qty=D("0.002")), E.MinNotional),
    # combinations
    ("MARKET with a price", place(order_type=MARKET, price=D("99")), E.InvalidOrder),
    ("post-only IOC", place(order_type=MAKER, time_in_force=TimeInForce.IOC), E.InvalidOrder),
    ("post-only FOK", place(order_type=MAKER, time_in_force=TimeInForce.FOK), E.InvalidOrder),
    ("post-only crossing", place(order_type=MAKER, price=D("100.50")), E.PostOnlyWouldCross),
    ("reduce-only on spot", place(reduce_only=True), E.InvalidOrder),
    ("reduce-only increasing", place_perp(reduce_only=True), E.ReduceOnlyRejected),
    ("reduce-only beyond position", place_perp(side=SELL, price=D("2010"), qty=D("0.021"), reduce_only=True),
     E.ReduceOnlyRejected),
    ("duplicate client id (open)", place(client_order_id="alice-bid"), E.DuplicateClientOrderId),
    ("duplicate client id (filled)", place(client_order_id="alice-fill"), E.DuplicateClientOrderId),
    ("empty client id", place(client_order_id=""), E.InvalidOrder),
    ("long client id", place(client_order_id="c" * 37), E.InvalidOrder),
    ("client id with space", place(client_order_id="my id"), E.InvalidOrder),
    ("spot buy beyond balance", place(qty=D("100.6"), price=D("99.50")), E.InsufficientBalance),
    ("spot sell beyond balance", place(side=SELL, qty=D("10.001"), price=D("101")), E.InsufficientBalance),
    ("perp margin beyond balance", place_perp(qty=D("999")), E.InsufficientBalance),
    ("market buy beyond balance", place(order_type=MARKET, price=None, qty=D("0.05"), account_id="carol"),
     E.InsufficientBalance),
    # orders
    ("cancel unknown id", call("cancel_order", "alice", SPOT, UNKNOWN), E.UnknownOrder),
    ("cancel unknown client id", cancel(None, client_order_id="nope"), E.UnknownOrder),
    ("cancel another account's order", cancel("bob_ask"), E.UnknownOrder),
    ("cancel another account's client id", cancel(None, client_order_id="bob-ask"), E.UnknownOrder),
    ("cancel with the wrong market", cancel(symbol=PERP), E.UnknownOrder),
    ("cancel id and client id mismatch", cancel(client_order_id="alice-fill"), E.UnknownOrder),
    ("cancel a filled order", cancel("alice_filled", symbol=PERP), E.UnknownOrder),
    ("cancel without any id", cancel(None), E.InvalidOrder),
    ("amend another account's order", amend(D("0.01"), "bob_ask"), E.UnknownOrder),
    ("amend a filled order", amend(D("0.01"), "alice_filled", symbol=PERP), E.UnknownOrder),
    ("amend up", amend(D("0.060")), E.InvalidQuantity),
    ("amend to the same", amend(D("0.050")), E.InvalidQuantity),
    ("amend to zero", amend(D("0")), E.InvalidQuantity),
    ("amend off-lot", amend(D("0.0105")), E.InvalidQuantity),
    ("amend float", amend(0.01), E.InvalidQuantity),
    ("query another account's order", call("order", "alice", SPOT, "bob_ask"), E.UnknownOrder),
    ("query unknown order id", call("order_by_id", UNKNOWN), E.UnknownOrder),
    # leverage
    *[(f"leverage {v!r}", call("set_leverage", "alice", PERP, v), E.InvalidLeverage)
      for v in (0, -1, 51, 125, True, 2.0, "5", None)],
    ("leverage without margin", call("set_leverage", "bob", PERP, 1), E.InsufficientBalance),
    # perpetual-only commands on a spot market
    ("leverage on spot", call("set_leverage", "alice", SPOT, 5), E.NotPerpetual),
    ("trigger funding on spot", call("trigger_funding", SPOT), E.NotPerpetual),
    ("funding rate on spot", call("set_funding_rate", SPOT, D("0.0001")), E.NotPerpetual),
    ("mark price on spot", call("set_mark_price", SPOT, D("100")), E.NotPerpetual),
    ("index price on spot", call("set_index_price", SPOT, D("100")), E.NotPerpetual),
    ("position on spot", call("position", "alice", SPOT), E.NotPerpetual),
    ("funding info on spot", call("funding_info", SPOT), E.NotPerpetual),
    # scripted prices and rates
    *[(f"mark price {v!r}", call("set_mark_price", PERP, v), E.InvalidPrice)
      for v in (*NOT_DECIMALS[:-1], D("0"), D("-5"), D("2000.05"))],
    *[(f"index price {v!r}", call("set_index_price", PERP, v), E.InvalidPrice)
      for v in (*NOT_DECIMALS[:-1], D("0"), D("-5"))],
    *[(f"funding rate {v!r}", call("set_funding_rate", PERP, v), E.InvalidOrder)
      for v in (0.0001, "0.0001", D("NaN"), D("Infinity"), D("0.000000001"), D("1E+30"))],
    # deposits
    *[(f"deposit {v!r}", call("deposit", "alice", "USDT", v), E.InvalidQuantity)
      for v in (*NOT_DECIMALS, D("-1"), D("-0.00000001"))],
]


@pytest.mark.parametrize(("command", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejected_command_raises_its_error_and_changes_nothing(
    world: World, command: Command, error: type[errors.EngineError]
) -> None:
    before = fingerprint(world.engine)
    with pytest.raises(errors.EngineError) as info:
        command(world)
    assert type(info.value) is error, f"raised {info.value!r}"
    assert info.value.reason == error.reason != errors.EngineError.reason
    assert isinstance(info.value.message, str) and info.value.message
    assert fingerprint(world.engine) == before
    assert world.h.events == []


def test_another_accounts_order_is_untouched_by_failed_cancels_and_amends(world: World) -> None:
    e = world.engine
    order = e.order_by_id(world.bob_ask)
    with pytest.raises(errors.UnknownOrder):
        e.cancel_order(world.alice, SPOT, world.bob_ask)
    with pytest.raises(errors.UnknownOrder):
        e.cancel_order(world.alice, SPOT, client_order_id="bob-ask")
    with pytest.raises(errors.UnknownOrder):
        e.amend_order(world.alice, SPOT, D("0.010"), world.bob_ask)
    assert e.order_by_id(world.bob_ask) == order
    assert e.order(world.bob, SPOT, client_order_id="bob-ask") == order
    assert e.cancel_all(world.alice, SPOT)[0].order_id == world.alice_bid
    assert [o.order_id for o in e.open_orders(world.bob, SPOT)] == [world.bob_ask]


def new_engine(seed: int) -> tuple[Engine, int]:
    engine = Engine(VirtualClock(), EngineConfig(seed=seed))
    engine.add_market(spot_spec())
    engine.add_market(perp_spec())
    return engine, engine.create_account({"USDT": D("1000")}, name="trader").account_id


@pytest.mark.parametrize(
    "rejected",
    [
        dict(order_type=MAKER, qty=D("0.020"), price=D("100.50")),  # post-only crossing
        dict(qty=D("20"), price=D("99")),  # insufficient balance
        dict(symbol=PERP, side=SELL, qty=D("0.010"), price=D("2000"), reduce_only=True),  # reduce-only
    ],
    ids=["post-only", "insufficient", "reduce-only"],
)
def test_a_rejection_does_not_advance_the_seeded_client_id_generator(rejected: dict[str, Any]) -> None:
    """Generated client ids depend only on the seed and the accepted orders, never on rejections."""
    ids = []
    for with_rejection in (False, True):
        engine, trader = new_engine(seed=42)
        seller = engine.create_account({"BTC": D("1")}, name="seller").account_id
        engine.place_order(seller, SPOT, SELL, LIMIT, D("0.050"), D("100.50"))
        if with_rejection:
            args: dict[str, Any] = {"symbol": SPOT, "side": BUY, "order_type": LIMIT}
            args.update(rejected)
            with pytest.raises(errors.EngineError):
                engine.place_order(trader, **args)
        placed = [engine.place_order(trader, SPOT, BUY, LIMIT, D("0.020"), D("99")) for _ in range(3)]
        ids.append([p.order.client_order_id for p in placed])
    assert ids[0] == ids[1]


def test_same_seed_same_commands_same_events() -> None:
    """Determinism: two engines with one seed, fed the same commands, emit identical events."""
    streams: list[list[object]] = []
    for _ in range(2):
        engine, trader = new_engine(seed=5)
        maker = engine.create_account({"BTC": D("1"), "USDT": D("1000")}, name="maker").account_id
        events: list[object] = []
        engine.subscribe(events.append)
        engine.place_order(maker, SPOT, SELL, LIMIT, D("0.050"), D("100"))
        engine.place_order(maker, PERP, SELL, LIMIT, D("0.050"), D("2000"))
        engine.place_order(trader, SPOT, BUY, MARKET, D("0.030"))
        engine.place_order(trader, PERP, BUY, LIMIT, D("0.020"), D("2000"))
        engine.trigger_funding(PERP)
        streams.append([*events, engine.accounts[trader].api_key])
    assert streams[0] == streams[1]
    assert len(streams[0]) > 10
