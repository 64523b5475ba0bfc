"""Each REST fault, alone, through the Binance dialect, on exactly the request the schedule names.

The flow is paused on a virtual clock (see conftest), so the book only moves when a test says so and every
answer can be compared with the engine's truth: which orders exist, which book a snapshot was taken at.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from mock_exchanges.engine import Account, OrderStatus
from mock_exchanges.faults import FaultKind, FaultRule, Transcript
from mock_exchanges.server import MockExchangeServer
from tests.faults.conftest import SEED, Reply, call, caught_up, faulty_server, raw_client, step, subscribed
from tests.server.conftest import wait_for

SPOT_ORDER, FUTURES_ORDER = "/api/v3/order", "/fapi/v1/order"
PERP = "BTCUSDT-PERP"
#: what a client sees when the server drops the connection instead of answering
DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError)


@asynccontextmanager
async def rest_server(*rules: FaultRule, transcript: Transcript | None = None
                      ) -> AsyncIterator[tuple[MockExchangeServer, aiohttp.ClientSession, Account]]:
    print(f"seed={SEED} rules={[r.describe() for r in rules]}")
    async with faulty_server(*rules, transcript=transcript) as server, aiohttp.ClientSession() as session:
        yield server, session, server.exchange.trading_accounts[0]


def resting_price(server: MockExchangeServer, symbol: str = "BTCUSDT", below: int = 1000) -> str:
    """A buy price far under the book: the order rests untouched."""
    return str(server.exchange.engine.book(symbol, 1).bids[0][0] - below)


def spot_order(price: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
            "price": price, **extra}


def futures_order(price: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": price, **extra}


def open_client_ids(server: MockExchangeServer, account: Account, symbol: str | None = None) -> list[str]:
    return [o.client_order_id for o in server.exchange.engine.open_orders(account.account_id, symbol)]


def binance_error(reply: Reply) -> tuple[int, int]:
    assert isinstance(reply.body, dict), reply
    return reply.status, reply.body["code"]


# --- refusals: rate limit, ban, server error ---------------------------------------------------------
async def test_rate_limit_hits_exactly_the_second_create() -> None:
    rule = FaultRule(FaultKind.RATE_LIMIT, role="create", at_message=2, retry_after_s=7)
    async with rest_server(rule) as (server, session, account):
        price = resting_price(server)
        first = await call(session, server, "POST", SPOT_ORDER, spot_order(price, newClientOrderId="c1"), account)
        second = await call(session, server, "POST", SPOT_ORDER, spot_order(price, newClientOrderId="c2"), account)
        third = await call(session, server, "POST", SPOT_ORDER, spot_order(price, newClientOrderId="c3"), account)
        assert first.status == 200 and third.status == 200, (first, third)
        assert binance_error(second) == (429, -1003)
        assert "Too much request weight" in second.body["msg"]
        assert second.headers["Retry-After"] == "7"
        assert open_client_ids(server, account) == ["c1", "c3"]  # the refused one was never executed
        # other roles are not counted: a snapshot or an order query is never rate limited by this rule
        assert (await call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT"})).status == 200


async def test_ban_is_a_418_with_retry_after() -> None:
    rule = FaultRule(FaultKind.BAN, role="snapshot", at_message=1, retry_after_s=120)
    async with rest_server(rule) as (server, session, _):
        banned = await call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5})
        assert binance_error(banned) == (418, -1003)
        assert "IP banned until" in banned.body["msg"]
        assert banned.headers["Retry-After"] == "120"
        after = await call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5})
        assert after.status == 200 and after.body["lastUpdateId"] == server.exchange.engine.last_update_id("BTCUSDT")


@pytest.mark.parametrize("status", [None, 502])
async def test_server_error_status(status: int | None) -> None:
    rule = (FaultRule(FaultKind.SERVER_ERROR, role="create", at_message=1) if status is None
            else FaultRule(FaultKind.SERVER_ERROR, role="create", at_message=1, status=status))
    async with rest_server(rule) as (server, session, account):
        failed = await call(session, server, "POST", SPOT_ORDER, spot_order(resting_price(server)), account)
        assert binance_error(failed) == (status or 500, -1001)
        assert open_client_ids(server, account) == []
        assert (await call(session, server, "POST", SPOT_ORDER, spot_order(resting_price(server)), account)
                ).status == 200


# --- the answer says nothing, or never comes -----------------------------------------------------------
@pytest.mark.parametrize(("path", "params", "symbol"), [
    (SPOT_ORDER, spot_order, "BTCUSDT"), (FUTURES_ORDER, futures_order, PERP)], ids=["spot", "usdm"])
async def test_unknown_status_executes_the_order(path: str, params: Any, symbol: str) -> None:
    async with rest_server(FaultRule(FaultKind.UNKNOWN_STATUS, role="create", at_message=1)) as (
            server, session, account):
        price = resting_price(server, symbol)
        unknown = await call(session, server, "POST", path, params(price, newClientOrderId="maybe"), account)
        assert binance_error(unknown) == (503, -1007)
        assert "execution status unknown" in unknown.body["msg"]
        orders = server.exchange.engine.open_orders(account.account_id, symbol)
        assert [(o.client_order_id, o.price) for o in orders] == [("maybe", Decimal(price))]
        # the client's way out: ask for the order by its client id
        query = await call(session, server, "GET", path, {"symbol": "BTCUSDT", "origClientOrderId": "maybe"},
                           account)
        assert query.status == 200 and query.body["orderId"] == orders[0].order_id


@pytest.mark.parametrize("executed", [True, False])
async def test_timeout_drops_the_connection_after_its_duration(executed: bool) -> None:
    rule = FaultRule(FaultKind.TIMEOUT, role="create", at_message=1, duration_s=0.3, executed=executed)
    async with rest_server(rule) as (server, session, account):
        started = time.monotonic()
        with pytest.raises(DROPPED):
            await call(session, server, "POST", SPOT_ORDER, spot_order(resting_price(server), newClientOrderId="t"),
                       account)
        assert time.monotonic() - started >= 0.3
        assert open_client_ids(server, account) == (["t"] if executed else [])


async def test_a_client_timeout_shorter_than_the_fault() -> None:
    rule = FaultRule(FaultKind.TIMEOUT, role="create", at_message=1, duration_s=0.5, executed=True)
    async with rest_server(rule) as (server, session, account):
        with pytest.raises(asyncio.TimeoutError):
            await call(session, server, "POST", SPOT_ORDER, spot_order(resting_price(server), newClientOrderId="t"),
                       account, timeout=0.1)
        assert open_client_ids(server, account) == ["t"]  # executed while the client had given up
        # the server is fine afterwards
        assert (await call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT"})).status == 200


@pytest.mark.parametrize("executed", [False, True])
async def test_reset_is_a_connection_error(executed: bool) -> None:
    rule = FaultRule(FaultKind.RESET, role="create", at_message=1, executed=executed)
    async with rest_server(rule) as (server, session, account):
        with pytest.raises(DROPPED):
            await call(session, server, "POST", SPOT_ORDER, spot_order(resting_price(server), newClientOrderId="r"),
                       account)
        assert open_client_ids(server, account) == (["r"] if executed else [])
        again = await call(session, server, "POST", SPOT_ORDER, spot_order(resting_price(server),
                                                                             newClientOrderId="r2"), account)
        assert again.status == 200


@pytest.mark.parametrize("count", [1, 2])
async def test_aiohttp_retries_a_reset_get_once(count: int) -> None:
    """Worth knowing when writing a schedule: an aiohttp client resends an idempotent request (GET, PUT,
    DELETE) once when the connection drops, so one RESET on a GET is invisible to it; two are not."""
    async with rest_server(FaultRule(FaultKind.RESET, role="snapshot", at_message=1, count=count)) as (
            server, session, _):
        params = {"symbol": "BTCUSDT", "limit": 5}
        if count == 1:
            assert (await call(session, server, "GET", "/api/v3/depth", params)).status == 200  # requests 1, 2
        else:
            with pytest.raises(DROPPED):
                await call(session, server, "GET", "/api/v3/depth", params)  # requests 1 and 2, both reset
        assert server.exchange.faults.fired == count
        assert (await call(session, server, "GET", "/api/v3/depth", params)).status == 200


# --- snapshots that lag the stream ----------------------------------------------------------------------
async def test_slow_snapshot_is_the_book_as_of_the_request() -> None:
    transcript = Transcript()
    rule = FaultRule(FaultKind.SLOW_RESPONSE, role="snapshot", at_message=1, delay_ms=300)
    async with rest_server(rule, transcript=transcript) as (server, session, _), \
            raw_client(session, server.ws_url + "/ws/btcusdt@depth") as stream:
        await subscribed(server, 1)
        engine = server.exchange.engine
        asked_at = engine.last_update_id("BTCUSDT")
        truth = engine.book("BTCUSDT", 100)
        started = time.monotonic()
        pending = asyncio.ensure_future(call(session, server, "GET", "/api/v3/depth",
                                             {"symbol": "BTCUSDT", "limit": 100}))
        # the handler has answered (the transcript has its body); the answer is now held back
        await wait_for(lambda: any('"ev":"rest"' in line for line in transcript.lines))
        step(server, 20)
        await caught_up(server, stream)
        snapshot = await pending
        assert time.monotonic() - started >= 0.3
        assert snapshot.status == 200
        assert snapshot.body["lastUpdateId"] == asked_at == truth.update_id
        assert [[Decimal(p), Decimal(q)] for p, q in snapshot.body["bids"]] == [list(level) for level in truth.bids]
        newer = [d for d in stream.events() if d["u"] > asked_at]
        assert newer and newer[-1]["u"] == engine.last_update_id("BTCUSDT") > asked_at


async def test_stale_snapshot_lags_by_exactly_lag_updates_once() -> None:
    rule = FaultRule(FaultKind.STALE_SNAPSHOT, symbol="BTCUSDT", at_message=1, lag=7)
    async with rest_server(rule) as (server, session, _):
        engine = server.exchange.engine
        step(server, 30)
        last = engine.last_update_id("BTCUSDT")
        stale = await call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 50})
        assert stale.status == 200
        assert stale.body["lastUpdateId"] == last - 7
        old = engine.book_at("BTCUSDT", last - 7, 50)
        assert [[Decimal(p), Decimal(q)] for p, q in stale.body["asks"]] == [list(level) for level in old.asks]
        assert old.asks != engine.book("BTCUSDT", 50).asks or old.bids != engine.book("BTCUSDT", 50).bids
        fresh = await call(session, server, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 50})
        assert fresh.body["lastUpdateId"] == last
        # the rule names a symbol: another market's snapshot is never stale
        other = await call(session, server, "GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 50})
        assert other.body["lastUpdateId"] == engine.last_update_id(PERP)


# --- the cancel/fill race ------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "params", "symbol"), [
    (SPOT_ORDER, spot_order, "BTCUSDT"), (FUTURES_ORDER, futures_order, PERP)], ids=["spot", "usdm"])
async def test_cancel_loses_the_race_to_a_fill(path: str, params: Any, symbol: str) -> None:
    async with rest_server(FaultRule(FaultKind.CANCEL_FILL_RACE, at_message=1)) as (server, session, account):
        engine = server.exchange.engine
        best_bid = engine.book(symbol, 1).bids[0][0]
        placed = await call(session, server, "POST", path, params(str(best_bid), newClientOrderId="racer"), account)
        assert placed.status == 200, placed
        order_id = placed.body["orderId"]
        assert engine.order(account.account_id, symbol, order_id).status is OrderStatus.NEW
        canceled = await call(session, server, "DELETE", path, {"symbol": "BTCUSDT", "orderId": order_id}, account)
        assert canceled.status == 400
        assert canceled.body == {"code": -2011, "msg": "Unknown order sent."}
        order = engine.order(account.account_id, symbol, order_id)
        assert order.status is OrderStatus.FILLED and order.filled_qty == order.qty
        ours = engine.account_trades(account.account_id, symbol)
        assert {t.order_id for t in ours} == {order_id} and all(t.is_maker for t in ours)
        counterparty = next(a for a in engine.accounts.values() if a.name == "fault-counterparty")
        theirs = engine.account_trades(counterparty.account_id, symbol)
        assert {t.trade_id for t in ours} <= {t.trade_id for t in theirs}
        assert all(not t.is_maker for t in theirs)
        # only the first cancel races: a second order cancels normally
        again = await call(session, server, "POST", path, params(resting_price(server, symbol)), account)
        canceled = await call(session, server, "DELETE", path,
                              {"symbol": "BTCUSDT", "orderId": again.body["orderId"]}, account)
        assert canceled.status == 200 and canceled.body["status"] == "CANCELED"


async def test_the_exchange_counts_the_book_snapshots_it_serves_but_not_top_of_book_queries() -> None:
    """What `book.snapshots_explained` counts: depth requests deep enough to sync a book from."""
    async with rest_server() as (server, session, _):
        for limit in (5, 100, 1000):
            async with session.get(f"{server.base_url}/api/v3/depth?symbol=BTCUSDT&limit={limit}") as response:
                assert response.status == 200
        async with session.get(f"{server.base_url}/fapi/v1/depth?symbol=BTCUSDT&limit=500") as response:
            assert response.status == 200
        served = server.exchange.faults.snapshots_served
        assert len(served["BTCUSDT"]) == 2 and len(served["BTCUSDT-PERP"]) == 1
