"""Property: a fault schedule changes what clients see, never what happened.

For any schedule of view faults - every WebSocket kind the dialect can carry out, refused handshakes, stale and
slow snapshots, and REST faults on reads (snapshots and order queries) - one fixed run (the same flow steps, the
same engine commands, the same clients connecting and the same REST reads, which may fail) ends in exactly the
engine state of the same run without faults: books and their update ids, every account's balances, orders, trades
and positions.

On Binance (streams and user data, every kind but `corrupt`, which a dialect without a book checksum refuses) and
on OKX (books sockets, every schedule with at least one `corrupt` rule: a corrupted push reads the engine's book to
pick the level it gets wrong, and must never touch it).

The cancel/fill race is left out on purpose: it fills an order through the engine, as the market would.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from decimal import Decimal
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from mock_exchanges.engine import EngineError, OrderType, Side
from mock_exchanges.faults import FaultKind, FaultRule, Schedule, generate
from mock_exchanges.faults.schedule import KIND_NEEDS, WS_KINDS, has_capability
from mock_exchanges.server import MockExchangeServer
from tests.faults.conftest import SEED, RawClient, call, listen_key, schedule_server, step, ws_api_subscribe_request
from tests.server.conftest import wait_for

PERP = "BTCUSDT-PERP"
ROUNDS = 4
STREAMS = ("/ws/btcusdt@depth", "/stream?streams=btcusdt@trade/btcusdt@depth", "/fstream/public/ws/btcusdt@depth")
READ_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
#: OKX: one public socket per books subscription (channel, instId)
OKX_BOOKS = (("books", "BTC-USDT"), ("books50-l2-tbt", "BTC-USDT"), ("books", "BTC-USDT-SWAP"))


def ws_kinds(dialect: str) -> list[FaultKind]:
    """The WebSocket fault kinds `dialect` can carry out (`corrupt` needs a book checksum)."""
    return sorted((k for k in WS_KINDS if k not in KIND_NEEDS or has_capability(dialect, KIND_NEEDS[k])),
                  key=lambda k: k.value)

# --- schedules --------------------------------------------------------------------------------------------
WS_CHANNELS = st.sampled_from([None, "depth", "trade", "user"])
REST_KINDS = [FaultKind.RATE_LIMIT, FaultKind.BAN, FaultKind.SERVER_ERROR, FaultKind.UNKNOWN_STATUS,
              FaultKind.TIMEOUT, FaultKind.RESET]


@st.composite
def triggers(draw: st.DrawFn) -> dict[str, Any]:
    """When a rule fires: a message index (and count), a probability, or always."""
    which = draw(st.sampled_from(["at", "probability", "always"]))
    if which == "at":
        return {"at_message": draw(st.integers(1, 25)), "count": draw(st.integers(1, 3))}
    if which == "probability":
        return {"probability": draw(st.sampled_from([0.1, 0.3, 0.7]))}
    return {}


@st.composite
def ws_rules(draw: st.DrawFn, dialect: str = "binance") -> FaultRule:
    kind = draw(st.sampled_from(ws_kinds(dialect)))
    return FaultRule(kind, channel=draw(WS_CHANNELS), connection=draw(st.sampled_from([None, 1, 2, 3, 4, 5])),
                     user_kind=draw(st.sampled_from([None, None, "order", "fill", "balance"])),
                     hold=draw(st.integers(1, 4)), delay_ms=draw(st.sampled_from([0.0, 20.0, 300.0])),
                     jitter_ms=draw(st.sampled_from([0.0, 50.0])), duration_s=draw(st.sampled_from([0.0, 0.2, 5.0])),
                     close_code=4000, **draw(triggers()))


@st.composite
def view_rules(draw: st.DrawFn) -> FaultRule:
    """Faults on what a client is answered, never on what it asks the engine to do."""
    kind = draw(st.sampled_from(["refuse", "stale", "slow", "rest"]))
    if kind == "refuse":
        return FaultRule(FaultKind.REFUSE_CONNECT, path=draw(st.sampled_from([None, "/ws", "/stream", "/fstream"])),
                         duration_s=draw(st.sampled_from([0.0, 1.0])), **draw(triggers()))
    if kind == "stale":
        return FaultRule(FaultKind.STALE_SNAPSHOT, symbol=draw(st.sampled_from([None, "BTCUSDT"])),
                         lag=draw(st.integers(1, 80)), **draw(triggers()))
    if kind == "slow":
        return FaultRule(FaultKind.SLOW_RESPONSE, role="snapshot", delay_ms=draw(st.sampled_from([5.0, 30.0])),
                         **draw(triggers()))
    return FaultRule(draw(st.sampled_from(REST_KINDS)), role=draw(st.sampled_from(["snapshot", "query"])),
                     executed=draw(st.booleans()), duration_s=0.02, status=draw(st.sampled_from([None, 502])),
                     **draw(triggers()))


@st.composite
def schedules(draw: st.DrawFn, dialect: str = "binance") -> Schedule:
    seed = draw(st.integers(0, 2**31))
    # concrete WS rules drawn by the project's own generator, plus explicit ones with their parameters
    kinds = [k for k in ws_kinds(dialect) if k is not FaultKind.TERMINATE]
    rates = draw(st.dictionaries(st.sampled_from(kinds), st.sampled_from([0.01, 0.05]), max_size=4))
    generated = generate(seed, rates, channel=draw(st.sampled_from(["depth", "user", "trade"])), horizon=60)
    explicit = draw(st.lists(st.one_of(ws_rules(dialect), view_rules()), min_size=1, max_size=6))
    return Schedule(seed=seed, rules=generated.rules + tuple(explicit))


@st.composite
def okx_schedules(draw: st.DrawFn) -> Schedule:
    """OKX schedules with at least one `corrupt` rule (on every books socket, or on one of them)."""
    schedule = draw(schedules("okx"))
    corrupt = draw(st.lists(st.builds(FaultRule, st.just(FaultKind.CORRUPT),
                                      channel=st.sampled_from([None, "depth"]),
                                      connection=st.sampled_from([None, 1, 2, 3])).flatmap(
        lambda rule: triggers().map(lambda when: dataclasses.replace(rule, **when))), min_size=1, max_size=3))
    return Schedule(seed=schedule.seed, rules=tuple(corrupt) + schedule.rules)


# --- the fixed run ----------------------------------------------------------------------------------------
def truth(server: MockExchangeServer) -> dict[str, Any]:
    engine = server.exchange.engine
    markets = sorted(engine.markets)
    return {
        "trading": [a.account_id for a in server.exchange.trading_accounts],
        "books": {s: (engine.last_update_id(s), engine.book(s)) for s in markets},
        "trades": {s: engine.recent_trades(s) for s in markets},
        "accounts": {
            account_id: {
                "balances": engine.balances(account_id),
                "open": engine.open_orders(account_id),
                "orders": {s: engine.orders(account_id, s) for s in markets},
                "trades": engine.account_trades(account_id),
                "positions": {s: engine.position(account_id, s) for s in markets
                              if engine.markets[s].spec.is_perpetual},
            }
            for account_id in sorted(engine.accounts)
        },
    }


async def read(coro: Any) -> None:
    """A REST read that a fault may refuse, slow down or cut off: whatever happens, the run goes on."""
    with contextlib.suppress(*READ_ERRORS):
        await coro


async def connect(session: aiohttp.ClientSession, url: str) -> RawClient | None:
    try:
        return RawClient(await session.ws_connect(url))
    except aiohttp.WSServerHandshakeError:  # a refused handshake
        return None


def engine_round(server: MockExchangeServer, n: int) -> Any:
    """Round `n` of the engine commands every run makes, whatever the dialect watching: flow steps, a resting spot
    bid, market orders on both venues, every other round a cancel. Returns the resting order's result (or None)."""
    engine = server.exchange.engine
    spot, perp = server.exchange.trading_accounts
    step(server, 6)
    step(server, 3, PERP)
    bid = engine.book("BTCUSDT", 1).bids[0][0]
    resting = command(engine.place_order, spot.account_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.002"),
                      bid)
    command(engine.place_order, perp.account_id, "BTCUSDT", Side.SELL, OrderType.MARKET, Decimal("0.003"))
    command(engine.place_order, perp.account_id, PERP, Side.SELL if n == 0 else Side.BUY, OrderType.MARKET,
            Decimal("0.01"))
    if resting is not None and not resting.order.status.is_terminal and n % 2:
        command(engine.cancel_order, spot.account_id, "BTCUSDT", resting.order.order_id)
    return resting


def next_round(server: MockExchangeServer) -> None:
    """A quarter of a second on: the virtual clock moves and the fault layer releases what is due."""
    clock = server.exchange.engine.clock
    clock.advance_ms(250)  # type: ignore[attr-defined]
    server.exchange.faults.poll(clock.now_us())


def command(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except EngineError:
        return None


async def fixed_run(schedule: Schedule) -> tuple[dict[str, Any], int]:
    """The run; returns the engine's truth at the end and how many times a fault fired."""
    async with schedule_server(schedule, levels=30) as server, aiohttp.ClientSession() as session:
        spot, perp = server.exchange.trading_accounts
        clients: list[RawClient] = []
        try:
            for path in STREAMS:
                if client := await connect(session, server.ws_url + path):
                    clients.append(client)
            if user := await connect(session, server.ws_url + "/ws-api/v3"):
                clients.append(user)
                await user.ws.send_json(ws_api_subscribe_request(server, spot))
                await read(user.wait(lambda c: any(m.get("id") == "sub" for m in c.messages), timeout=2.0))
            key = await listen_key(session, server, perp)
            if futures := await connect(session, f"{server.ws_url}/fstream/private/ws?listenKey={key}"):
                clients.append(futures)
            for n in range(ROUNDS):
                resting = engine_round(server, n)
                await read(call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 20},
                                timeout=1.0))
                await read(call(session, server, "GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 20},
                                timeout=1.0))
                if resting is not None:
                    await read(call(session, server, "GET", "/api/v3/order",
                                    {"symbol": "BTCUSDT", "orderId": resting.order.order_id}, spot, timeout=1.0))
                next_round(server)
            return truth(server), server.exchange.faults.fired
        finally:
            for client in clients:
                await client.close()
            await wait_for(lambda: not server.exchange.connections, timeout=2.0)


async def fixed_okx_run(schedule: Schedule) -> tuple[dict[str, Any], int]:
    """The same engine commands as `fixed_run`, watched through OKX books sockets and REST books."""
    async with schedule_server(schedule, levels=30, dialect="okx") as server, aiohttp.ClientSession() as session:
        clients: list[RawClient] = []
        try:
            for channel, inst_id in OKX_BOOKS:
                if client := await connect(session, server.ws_url + "/ws/v5/public"):
                    clients.append(client)
                    await client.ws.send_json({"op": "subscribe", "args": [{"channel": channel, "instId": inst_id}]})
                    with contextlib.suppress(AssertionError):  # the snapshot follows the ack (unless refused)
                        await client.wait(lambda c: any(m.get("action") == "snapshot" for m in c.messages
                                                        if isinstance(m, dict)), timeout=2.0)
            for n in range(ROUNDS):
                engine_round(server, n)
                for inst_id in ("BTC-USDT", "BTC-USDT-SWAP"):
                    await read(call(session, server, "GET", "/api/v5/market/books", {"instId": inst_id, "sz": 20},
                                    timeout=1.0))
                next_round(server)
            return truth(server), server.exchange.faults.fired
        finally:
            for client in clients:
                await client.close()
            await wait_for(lambda: not server.exchange.connections, timeout=2.0)


@functools.cache
def no_fault_okx_truth() -> dict[str, Any]:
    expected, fired = asyncio.run(fixed_okx_run(Schedule(seed=SEED)))
    assert fired == 0
    return expected


@functools.cache
def no_fault_truth() -> dict[str, Any]:
    expected, fired = asyncio.run(fixed_run(Schedule(seed=SEED)))
    assert fired == 0
    return expected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules())
def test_faults_never_change_the_engine_truth(schedule: Schedule) -> None:
    note(f"schedule seed={schedule.seed}")
    note(f"rules={[r.to_dict() for r in schedule.rules]}")
    expected = no_fault_truth()
    started = time.monotonic()
    got, fired = asyncio.run(fixed_run(schedule))
    note(f"{fired} faults fired; the run took {time.monotonic() - started:.3f}s")
    assert got["books"] == expected["books"]
    assert got["trades"] == expected["trades"]
    assert got["accounts"] == expected["accounts"]
    assert got == expected


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=okx_schedules())
def test_corrupting_okx_books_never_changes_the_engine_truth(schedule: Schedule) -> None:
    note(f"schedule seed={schedule.seed}")
    note(f"rules={[r.to_dict() for r in schedule.rules]}")
    expected = no_fault_okx_truth()
    got, fired = asyncio.run(fixed_okx_run(schedule))
    note(f"{fired} faults fired")
    assert got == expected


def test_corrupting_every_okx_books_push_fires_and_never_changes_the_engine_truth() -> None:
    """The property's run, with every books push corrupted: faults do fire in it (the property is not vacuous)."""
    got, fired = asyncio.run(fixed_okx_run(Schedule(seed=SEED, rules=(FaultRule(FaultKind.CORRUPT),))))
    assert fired > 3 * ROUNDS * 6 and got == no_fault_okx_truth()
    assert ws_kinds("binance") == sorted(WS_KINDS - {FaultKind.CORRUPT}, key=lambda k: k.value)
    assert FaultKind.CORRUPT in ws_kinds("okx")


def test_the_no_fault_run_is_itself_deterministic_and_busy() -> None:
    """The property is only worth something if the run trades and is reproducible."""
    first = no_fault_truth()
    again, _ = asyncio.run(fixed_run(Schedule(seed=SEED)))
    assert again == first
    spot, perp = (first["accounts"][i] for i in first["trading"])
    assert spot["trades"] and perp["trades"], "both trading accounts traded"
    assert any(p.qty for p in perp["positions"].values())
