"""User-stream faults on the Binance dialect: the spot WebSocket API subscription and the USD-M listenKey stream.

Each test opens two user streams of the same account: connection 1 gets the fault, connection 2 (no fault)
is the control, so every assertion compares what the faulty connection saw with what the engine produced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from mock_exchanges.engine import Account, OrderType, Side, TimeInForce
from mock_exchanges.faults import FaultKind, FaultRule
from mock_exchanges.server import MockExchangeServer
from tests.faults.conftest import (
    SEED,
    RawClient,
    call,
    faulty_server,
    listen_key,
    raw_client,
    subscribed,
    ws_api_subscribe_request,
)

PERP = "BTCUSDT-PERP"
Events = list[dict[str, Any]]


# --- the two venues' user streams -------------------------------------------------------------------
def spot_events(client: RawClient) -> Events:
    """What the WS API subscription delivered (the `event` of each `{"subscriptionId", "event"}`)."""
    return [m["event"] for m in client.messages if isinstance(m, dict) and "event" in m]


def futures_events(client: RawClient) -> Events:
    return [m for m in client.messages if isinstance(m, dict) and "e" in m]


def executions(events: Events) -> list[tuple[str, int, int]]:
    """(execution type, order id, trade id) of each order event, spot or USD-M."""
    out = []
    for event in events:
        if event.get("e") == "executionReport":
            out.append((event["x"], event["i"], event["t"]))
        elif event.get("e") == "ORDER_TRADE_UPDATE":
            order = event["o"]
            out.append((order["x"], order["i"], order["t"]))
    return out


async def subscribe_spot(server: MockExchangeServer, client: RawClient, account: Account, request_id: str) -> None:
    await client.ws.send_json(ws_api_subscribe_request(server, account, request_id))
    reply = await client.wait(lambda c: next((m for m in c.messages if m.get("id") == request_id), None))
    assert reply["status"] == 200, reply


@asynccontextmanager
async def user_streams(venue: str, *rules: FaultRule) -> AsyncIterator[
        tuple[MockExchangeServer, aiohttp.ClientSession, Account, RawClient, RawClient]]:
    """Connection 1 (faulty) and connection 2 (control): user streams of trading account 0 on `venue`."""
    print(f"seed={SEED} venue={venue} rules={[r.describe() for r in rules]}")
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(faulty_server(*rules))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        account = server.exchange.trading_accounts[0]
        clients: list[RawClient] = []
        if venue == "spot":
            for n in (1, 2):
                client = await stack.enter_async_context(raw_client(session, server.ws_url + "/ws-api/v3"))
                await subscribe_spot(server, client, account, f"sub-{n}")
                clients.append(client)
        else:
            key = await listen_key(session, server, account)
            for _ in (1, 2):
                url = f"{server.ws_url}/fstream/private/ws?listenKey={key}"
                clients.append(await stack.enter_async_context(raw_client(session, url)))
                count = len(clients)
                await subscribed(server, count)
        assert [c.ordinal for c in server.exchange.connections.values()] == [1, 2]
        yield server, session, account, clients[0], clients[1]


async def collect(client: RawClient, events: Callable[[RawClient], Events], done: Callable[[Events], Any]) -> Events:
    """Wait until `done(events(client))`; return those events."""
    def check(c: RawClient) -> Events | None:
        found = events(c)
        return found if done(found) else None

    result: Events = await client.wait(check)
    return result


async def events_at_least(client: RawClient, events: Callable[[RawClient], Events], count: int) -> Events:
    return await collect(client, events, lambda e: len(e) >= count)


def best_bid(server: MockExchangeServer, symbol: str) -> Decimal:
    return server.exchange.engine.book(symbol, 1).bids[0][0]


async def place_spot(server: MockExchangeServer, session: aiohttp.ClientSession, account: Account, side: str,
                     price: Decimal | None, qty: str = "0.001") -> int:
    params: dict[str, Any] = {"symbol": "BTCUSDT", "side": side, "quantity": qty}
    if price is None:
        params["type"] = "MARKET"
    else:
        params.update(type="LIMIT", timeInForce="GTC", price=str(price))
    reply = await call(session, server, "POST", "/api/v3/order", params, account)
    assert reply.status == 200, reply
    order_id: int = reply.body["orderId"]
    return order_id


async def cancel_spot(server: MockExchangeServer, session: aiohttp.ClientSession, account: Account,
                      order_id: int) -> None:
    reply = await call(session, server, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id},
                       account)
    assert reply.status == 200, reply


# --- order events: dropped, duplicated, out of order --------------------------------------------------
async def test_a_dropped_order_ack_is_missing_only_on_its_connection() -> None:
    rule = FaultRule(FaultKind.DROP, channel="user", user_kind="order", connection=1, at_message=1)
    async with user_streams("spot", rule) as (server, session, account, faulty, control):
        order_id = await place_spot(server, session, account, "BUY", best_bid(server, "BTCUSDT") - 1000)
        await cancel_spot(server, session, account, order_id)
        # control: NEW, balance, CANCELED, balance
        expected = await events_at_least(control, spot_events, 4)
        got = await events_at_least(faulty, spot_events, 3)
        assert executions(expected) == [("NEW", order_id, -1), ("CANCELED", order_id, -1)]
        assert got == expected[1:]  # exactly the NEW is missing
        assert executions(got) == [("CANCELED", order_id, -1)]


async def test_a_duplicated_fill_shows_the_same_trade_twice() -> None:
    rule = FaultRule(FaultKind.DUPLICATE, channel="user", user_kind="fill", connection=1, at_message=1)
    async with user_streams("usdm", rule) as (server, session, account, faulty, control):
        reply = await call(session, server, "POST", "/fapi/v1/order",
                           {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}, account)
        assert reply.status == 200, reply
        truth = server.exchange.engine.account_trades(account.account_id, PERP)
        assert truth, "the market order traded"
        expected = await collect(control, futures_events, lambda e: any(
            x[0] == "TRADE" and x[2] == truth[-1].trade_id for x in executions(e)))
        # the faulty connection gets one frame more than the control
        got = await events_at_least(faulty, futures_events, len(expected) + 1)
        first_fill = next(i for i, x in enumerate(executions(expected)) if x[0] == "TRADE")
        assert got == [*expected[:first_fill + 1], expected[first_fill], *expected[first_fill + 1:]]
        trade_ids = [x[2] for x in executions(got) if x[0] == "TRADE"]
        assert trade_ids.count(truth[0].trade_id) == 2
        assert sorted(set(trade_ids)) == sorted(t.trade_id for t in truth)


async def test_fill_before_ack_on_a_marketable_order() -> None:
    rule = FaultRule(FaultKind.FILL_BEFORE_ACK, channel="user", user_kind="order", connection=1, at_message=1)
    async with user_streams("spot", rule) as (server, session, account, faulty, control):
        order_id = await place_spot(server, session, account, "BUY", None)
        fills = server.exchange.engine.account_trades(account.account_id, "BTCUSDT")
        assert fills and {f.order_id for f in fills} == {order_id}
        # NEW, one TRADE per fill, then one balance event per asset (BTC, USDT): the same frames on both
        frames = 1 + len(fills) + 2
        expected = await events_at_least(control, spot_events, frames)
        got = await events_at_least(faulty, spot_events, frames)
        assert executions(expected)[0] == ("NEW", order_id, -1)
        assert executions(got)[0] == ("TRADE", order_id, fills[0].trade_id)
        assert executions(got)[1] == ("NEW", order_id, -1)  # right behind the first fill
        assert executions(got)[2:] == executions(expected)[2:]
        assert got == [expected[1], expected[0], *expected[2:]]


async def test_fill_before_ack_on_a_resting_order_hit_later() -> None:
    rule = FaultRule(FaultKind.FILL_BEFORE_ACK, channel="user", user_kind="order", connection=1, at_message=1)
    async with user_streams("spot", rule) as (server, session, account, faulty, control):
        engine = server.exchange.engine
        price = best_bid(server, "BTCUSDT")
        order_id = await place_spot(server, session, account, "BUY", price)
        # the control has the ack and the balance; the faulty connection only the balance: the ack is held
        await events_at_least(control, spot_events, 2)
        balance_only = await events_at_least(faulty, spot_events, 1)
        assert [e["e"] for e in balance_only] == ["outboundAccountPosition"]
        # another account sells into the bid, down to and including our order
        taker = server.exchange.trading_accounts[1]
        engine.place_order(taker.account_id, "BTCUSDT", Side.SELL, OrderType.LIMIT, engine.qty_to_fill(order_id),
                           price, TimeInForce.IOC)
        fill = engine.account_trades(account.account_id, "BTCUSDT")[-1]
        assert fill.order_id == order_id
        expected = await collect(control, spot_events, lambda e: ("TRADE", order_id, fill.trade_id) in
                                      executions(e))
        got = await collect(faulty, spot_events, lambda e: ("NEW", order_id, -1) in executions(e))
        assert executions(expected) == [("NEW", order_id, -1), ("TRADE", order_id, fill.trade_id)]
        assert executions(got) == [("TRADE", order_id, fill.trade_id), ("NEW", order_id, -1)]


# --- a delayed balance ---------------------------------------------------------------------------------
async def test_a_delayed_balance_holds_it_and_everything_after_it() -> None:
    rule = FaultRule(FaultKind.DELAY, channel="user", user_kind="balance", connection=1, at_message=1,
                     delay_ms=500)
    async with user_streams("spot", rule) as (server, session, account, faulty, control):
        order_id = await place_spot(server, session, account, "BUY", best_bid(server, "BTCUSDT") - 1000)
        await cancel_spot(server, session, account, order_id)
        expected = await events_at_least(control, spot_events, 4)
        assert [e["e"] for e in expected] == ["executionReport", "outboundAccountPosition"] * 2
        await events_at_least(faulty, spot_events, 1)
        assert spot_events(faulty) == expected[:1]  # the NEW went; the balance and all after it wait
        clock = server.exchange.engine.clock
        clock.advance_ms(499)  # type: ignore[attr-defined]
        server.exchange.faults.poll(clock.now_us())
        assert spot_events(faulty) == expected[:1]
        clock.advance_ms(1)  # type: ignore[attr-defined]
        server.exchange.faults.poll(clock.now_us())
        assert await events_at_least(faulty, spot_events, 4) == expected


# --- the stream ends ------------------------------------------------------------------------------------
async def test_spot_stream_terminated() -> None:
    rule = FaultRule(FaultKind.TERMINATE, channel="user", connection=1, at_message=2)
    async with user_streams("spot", rule) as (server, session, account, faulty, control):
        order_id = await place_spot(server, session, account, "BUY", best_bid(server, "BTCUSDT") - 1000)
        await faulty.wait(lambda c: any(e["e"] == "eventStreamTerminated" for e in spot_events(c)))
        await cancel_spot(server, session, account, order_id)
        expected = await events_at_least(control, spot_events, 4)
        assert executions(expected) == [("NEW", order_id, -1), ("CANCELED", order_id, -1)]
        got = spot_events(faulty)
        assert got[0] == expected[0]
        assert [e["e"] for e in got[1:]] == ["eventStreamTerminated"]
        # the session is still open, without a subscription; it can subscribe again
        await faulty.ws.send_json({"id": "subs", "method": "session.subscriptions"})
        reply = await faulty.wait(lambda c: next((m for m in c.messages if m.get("id") == "subs"), None))
        assert reply["result"] == []
        await subscribe_spot(server, faulty, account, "again")
        assert not faulty.closed.done()


async def test_futures_listen_key_expired_then_closed() -> None:
    rule = FaultRule(FaultKind.TERMINATE, channel="user", connection=1, at_message=1)
    async with user_streams("usdm", rule) as (server, session, account, faulty, control):
        old = (await call(session, server, "POST", "/fapi/v1/listenKey", account=account, keyed=True)).body[
            "listenKey"]
        price = str(best_bid(server, PERP) - 1000)
        reply = await call(session, server, "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": price}, account)
        assert reply.status == 200, reply
        await faulty.closed
        assert [(e["e"], e.get("listenKey")) for e in futures_events(faulty)] == [("listenKeyExpired", old)]
        # the key is gone for every connection on it, as on Binance
        await control.closed
        assert futures_events(control)[-1]["e"] == "listenKeyExpired"
        keepalive = await call(session, server, "PUT", "/fapi/v1/listenKey", {"listenKey": old}, account,
                               keyed=True)
        assert (keepalive.status, keepalive.body["code"]) == (400, -1125)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{server.ws_url}/fstream/private/ws?listenKey={old}")
        assert refused.value.status == 400
        fresh = await listen_key(session, server, account)
        assert fresh != old
        async with raw_client(session, f"{server.ws_url}/fstream/private/ws?listenKey={fresh}"):
            pass


# --- one connection's faults are its own --------------------------------------------------------------
@pytest.mark.parametrize("venue", ["spot", "usdm"])
async def test_faults_on_connection_1_leave_connection_2_alone(venue: str) -> None:
    rules = (FaultRule(FaultKind.DROP, channel="user", connection=1, at_message=2),
             FaultRule(FaultKind.DUPLICATE, channel="user", connection=1, at_message=3),
             FaultRule(FaultKind.UNKNOWN_EVENT, channel="user", connection=1, at_message=4),
             FaultRule(FaultKind.CLOSE, channel="user", connection=1, at_message=6))
    async with user_streams(venue, *rules) as (server, session, account, faulty, control):
        engine = server.exchange.engine
        received: Events = []
        topic_events = spot_events if venue == "spot" else futures_events
        symbol = "BTCUSDT" if venue == "spot" else PERP
        path = "/api/v3/order" if venue == "spot" else "/fapi/v1/order"
        qty = "0.001" if venue == "spot" else "0.01"
        ids = []
        for _ in range(4):
            reply = await call(session, server, "POST", path, {
                "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": qty,
                "price": str(best_bid(server, symbol) - 1000)}, account)
            assert reply.status == 200, reply
            ids.append(reply.body["orderId"])
        for order_id in ids:
            assert (await call(session, server, "DELETE", path, {"symbol": "BTCUSDT", "orderId": order_id},
                               account)).status == 200
        # the control has one NEW and one CANCELED per order, in the engine's order, and nothing else
        received = await collect(control, topic_events, lambda e: len(executions(e)) == 8)
        assert executions(received) == [("NEW", i, -1 if venue == "spot" else 0) for i in ids] + [
            ("CANCELED", i, -1 if venue == "spot" else 0) for i in ids]
        assert [o.order_id for o in engine.orders(account.account_id, symbol)] == ids
        assert not control.closed.done()
        await faulty.closed
        got = topic_events(faulty)
        assert got[0] == received[0]
        assert got[1] == got[2] == received[2]  # the 2nd dropped, the 3rd twice
        assert got[3]["e"] == "mockUnknownEvent" and got[4] == received[3]
        assert got[5:] == [received[4]]  # the 6th frame closed the connection instead of going out
