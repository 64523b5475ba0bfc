"""ccxt (unmodified, only its URLs changed) as a real client of the mock's Binance dialect.

Every answer ccxt parses is checked against the engine's ground truth: books at the returned update id,
balances, orders and fills. `ccxt.pro` `watch_order_book` must hold the engine's book at its nonce while
the seeded flow keeps the book moving, for spot (`/stream/ws/<n>`) and USD-M (`/fstream/public/ws/<n>`).

How ccxt is pointed at the server (see wire-dialects.md B1/B5): replace the whole `urls['api']` dict after
construction; the spot WS base must contain `/stream` (ccxt routes depth events by it) and the linear
base must end in `/ws` (ccxt rewrites it to `/public/ws`, `/market/ws`, `/private/ws`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest
from aiohttp import web

from mock_exchanges.engine import Account, BookSnapshot
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

SEED = 20251125
SPOT, SPOT_ID = "BTC/USDT", "BTCUSDT"
PERP, PERP_ENGINE = "BTC/USDT:USDT", "BTCUSDT-PERP"
WATCH_UPDATES = 40
TIMEOUT = 10.0

_REST_PATHS = {
    "public": "/api/v3", "private": "/api/v3", "v1": "/api/v1",
    "sapi": "/sapi/v1", "sapiV2": "/sapi/v2", "sapiV3": "/sapi/v3", "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1", "fapiPublicV2": "/fapi/v2", "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1", "fapiPrivateV2": "/fapi/v2", "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1", "dapiPrivate": "/dapi/v1", "dapiPrivateV2": "/dapi/v2", "dapiData": "/dapi/data",
    "eapiPublic": "/eapi/v1", "eapiPrivate": "/eapi/v1", "papi": "/papi/v1", "papiV2": "/papi/v2",
}


def ccxt_urls(base_url: str, ws_url: str) -> dict[str, Any]:
    """A complete replacement for ccxt binance's `urls['api']`, every entry on the mock server."""
    api: dict[str, Any] = {name: base_url + path for name, path in _REST_PATHS.items()}
    api["ws"] = {
        "spot": ws_url + "/stream/ws",  # must contain "/stream": ccxt's is_spot_url()
        "margin": ws_url + "/stream/ws",
        "linear": ws_url + "/fstream/ws",  # must end in "/ws": rewritten to /fstream/public/ws etc.
        "inverse": ws_url + "/dstream/ws",
        "ws-api": {"spot": ws_url + "/ws-api/v3", "linear": ws_url + "/ws-fapi/v1",
                   "inverse": ws_url + "/ws-dapi/v1"},
    }
    return api


def make_client(cls: Callable[[dict[str, Any]], Any], server: MockExchangeServer, account: Account | None,
                types: list[str]) -> Any:
    config: dict[str, Any] = {
        "options": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": types},
                    "watchPositions": {"fetchPositionsSnapshot": False}},
    }
    if account is not None:
        config.update(apiKey=account.api_key, secret=account.api_secret)
    client = cls(config)
    client.urls["api"] = ccxt_urls(server.base_url, server.ws_url)
    return client


def has_route(app: web.Application, method: str, path: str) -> bool:
    return any(route.method == method and route.resource is not None and route.resource.canonical == path
               for route in app.router.routes())


def require_usdm(server: MockExchangeServer) -> None:
    if not has_route(server.app, "GET", "/fapi/v1/exchangeInfo"):
        pytest.skip("USD-M REST (/fapi) is not implemented yet: futures_rest.py installs no /fapi routes")


def floats(levels: list[tuple[Decimal, Decimal]]) -> list[list[float]]:
    return [[float(price), float(qty)] for price, qty in levels]


def ccxt_levels(side: Any) -> list[list[float]]:
    return [[float(level[0]), float(level[1])] for level in side]


def assert_book_equals(book: Any, truth: BookSnapshot) -> None:
    assert book["nonce"] == truth.update_id
    assert ccxt_levels(book["bids"]) == floats(truth.bids)
    assert ccxt_levels(book["asks"]) == floats(truth.asks)


def exact_balances(server: MockExchangeServer, account: Account) -> dict[str, tuple[Decimal, Decimal]]:
    return {asset: (b.free, b.locked) for asset, b in server.exchange.engine.balances(account.account_id).items()}


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
async def server() -> AsyncIterator[MockExchangeServer]:
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=SEED))) as srv:
        yield srv


@pytest.fixture
async def clients(server: MockExchangeServer) -> AsyncIterator[Callable[..., Any]]:
    """`clients(cls, types)`: a ccxt client on the server for trading account 0; all closed at the end."""
    made: list[Any] = []

    def make(cls: Callable[[dict[str, Any]], Any], types: list[str], account: Account | None = None) -> Any:
        client = make_client(cls, server, account or server.exchange.trading_accounts[0], types)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def wait_until(predicate: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """Poll `predicate` until it is truthy; fail after `timeout` seconds (never wait unbounded)."""
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(0.005)
    return value


async def check_watched_book(server: MockExchangeServer, client: Any, symbol: str, engine_symbol: str) -> None:
    """While the flow runs, every book ccxt hands out equals the engine's book at its nonce; once the flow
    is paused it converges to the engine's current book."""
    engine = server.exchange.engine
    nonces: list[int] = []
    async with asyncio.timeout(3 * TIMEOUT):
        for _ in range(WATCH_UPDATES):
            book = await client.watch_order_book(symbol)
            truth = engine.book_at(engine_symbol, book["nonce"])
            assert_book_equals(book, truth)
            assert book["bids"][0][0] < book["asks"][0][0]
            nonces.append(book["nonce"])
    assert nonces == sorted(nonces)
    assert len(set(nonces)) >= WATCH_UPDATES // 2, "the flow should keep the book moving"
    server.exchange.pause_flow()
    # ccxt applies frames to its book object as they arrive, with or without a pending watch call.
    target = engine.last_update_id(engine_symbol)
    live = client.orderbooks[symbol]
    await wait_until(lambda: live["nonce"] >= target)
    assert_book_equals(live, engine.book(engine_symbol))


# --- spot -------------------------------------------------------------------------------------------
async def test_spot_load_markets(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    client = clients(ccxt_async.binance, ["spot"])
    markets = await client.load_markets()
    assert sorted(markets) == ["BTC/USDT", "ETH/USDT"]
    market = markets[SPOT]
    spec = server.exchange.engine.markets[SPOT_ID].spec
    assert (market["id"], market["base"], market["quote"], market["spot"], market["active"]) == (
        SPOT_ID, "BTC", "USDT", True, True)
    assert market["precision"]["price"] == float(spec.tick_size)
    assert market["precision"]["amount"] == float(spec.lot_size)
    assert market["limits"]["amount"]["min"] == float(spec.min_qty)
    assert market["limits"]["cost"]["min"] == float(spec.min_notional)


async def test_spot_fetch_order_book_is_the_engine_book(server: MockExchangeServer,
                                                         clients: Callable[..., Any]) -> None:
    client = clients(ccxt_async.binance, ["spot"])
    engine = server.exchange.engine
    # While the flow runs: the book at the returned lastUpdateId.
    for limit in (5, 100, 1000):
        book = await client.fetch_order_book(SPOT, limit)
        assert len(book["bids"]) == min(limit, len(engine.book_at(SPOT_ID, book["nonce"]).bids))
        assert_book_equals(book, engine.book_at(SPOT_ID, book["nonce"], limit))
    # Flow paused: the engine's current book, and the nonce is its last update id.
    server.exchange.pause_flow()
    book = await client.fetch_order_book(SPOT, 500)
    assert book["nonce"] == engine.last_update_id(SPOT_ID)
    assert_book_equals(book, engine.book(SPOT_ID, 500))


async def test_spot_fetch_ticker(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    client = clients(ccxt_async.binance, ["spot"])
    engine = server.exchange.engine
    server.exchange.pause_flow()
    ticker = await client.fetch_ticker(SPOT)
    top = engine.book(SPOT_ID, 1)
    assert ticker["symbol"] == SPOT
    assert (ticker["bid"], ticker["bidVolume"]) == (float(top.bids[0][0]), float(top.bids[0][1]))
    assert (ticker["ask"], ticker["askVolume"]) == (float(top.asks[0][0]), float(top.asks[0][1]))
    trades = engine.recent_trades(SPOT_ID)
    if trades:
        assert ticker["last"] == float(trades[-1].price)
        assert ticker["high"] == float(max(t.price for t in trades))
        assert ticker["low"] == float(min(t.price for t in trades))


async def test_spot_fetch_balance_is_the_engine_balance(server: MockExchangeServer,
                                                        clients: Callable[..., Any]) -> None:
    account = server.exchange.trading_accounts[0]
    client = clients(ccxt_async.binance, ["spot"])
    await client.load_markets()
    await client.create_order(SPOT, "limit", "buy", 0.002, 20000)  # locks 40 USDT
    balance = await client.fetch_balance()
    truth = exact_balances(server, account)
    assert truth["USDT"][1] == Decimal("40")
    wire = {row["asset"]: (Decimal(row["free"]), Decimal(row["locked"])) for row in balance["info"]["balances"]}
    assert wire == truth
    for asset, (free, locked) in truth.items():
        assert balance[asset]["free"] == float(free)
        assert balance[asset]["used"] == float(locked)
        assert balance[asset]["total"] == float(free + locked)


async def test_spot_limit_order_lifecycle(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    account = server.exchange.trading_accounts[0]
    engine = server.exchange.engine
    client = clients(ccxt_async.binance, ["spot"])
    await client.load_markets()
    best_bid = engine.book(SPOT_ID, 1).bids[0][0]
    price = float(best_bid - 5000)  # far below the flow's range: it rests untouched
    order = await client.create_order(SPOT, "limit", "buy", 0.0015, price)
    assert (order["status"], order["type"], order["side"], order["amount"], order["price"]) == (
        "open", "limit", "buy", 0.0015, price)
    truth = engine.order(account.account_id, SPOT_ID, int(order["id"]))
    assert truth.client_order_id == order["clientOrderId"]
    assert truth.client_order_id.startswith("x-TKT5PX2F")  # ccxt's broker prefix went through unchanged
    assert (truth.status.value, truth.price, truth.qty) == ("NEW", Decimal(str(price)), Decimal("0.0015"))
    assert order["timestamp"] == truth.created_us // 1000

    fetched = await client.fetch_order(order["id"], SPOT)
    assert (fetched["id"], fetched["status"], fetched["filled"], fetched["remaining"]) == (
        order["id"], "open", 0.0, 0.0015)
    assert fetched["timestamp"] == truth.created_us // 1000

    open_orders = await client.fetch_open_orders(SPOT)
    assert [o["id"] for o in open_orders] == [str(o.order_id) for o in engine.open_orders(account.account_id, SPOT_ID)]
    assert order["id"] in [o["id"] for o in open_orders]

    canceled = await client.cancel_order(order["id"], SPOT)
    assert (canceled["id"], canceled["status"]) == (order["id"], "canceled")
    assert engine.order(account.account_id, SPOT_ID, int(order["id"])).status.value == "CANCELED"
    assert await client.fetch_open_orders(SPOT) == []
    assert exact_balances(server, account)["USDT"] == (Decimal("1000000"), Decimal(0))
    assert (await client.fetch_order(order["id"], SPOT))["status"] == "canceled"


async def test_spot_market_order_and_my_trades(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    account = server.exchange.trading_accounts[0]
    engine = server.exchange.engine
    client = clients(ccxt_async.binance, ["spot"])
    await client.load_markets()
    server.exchange.pause_flow()
    asks = engine.book(SPOT_ID).asks
    order = await client.create_order(SPOT, "market", "buy", 0.05)
    assert (order["status"], order["type"], order["filled"]) == ("closed", "market", 0.05)
    truth = engine.order(account.account_id, SPOT_ID, int(order["id"]))
    assert truth.status.value == "FILLED"
    assert order["cost"] == float(truth.cum_quote)
    assert order["timestamp"] == truth.created_us // 1000
    # It swept the book from the best ask up.
    assert order["trades"][0]["price"] == float(asks[0][0])

    trades = await client.fetch_my_trades(SPOT)
    fills = engine.account_trades(account.account_id, SPOT_ID)
    assert [(t["id"], t["order"], t["price"], t["amount"], t["fee"]["cost"], t["fee"]["currency"], t["side"],
             t["takerOrMaker"]) for t in trades] == [
        (str(f.trade_id), str(f.order_id), float(f.price), float(f.qty), float(f.fee), f.fee_asset,
         "buy" if f.is_buyer else "sell", "maker" if f.is_maker else "taker") for f in fills]
    assert sum(Decimal(t["info"]["qty"]) for t in trades) == Decimal("0.05")
    assert {t["order"] for t in trades} == {order["id"]}

    balance = await client.fetch_balance()
    for asset, (free, locked) in exact_balances(server, account).items():
        assert (balance[asset]["free"], balance[asset]["used"]) == (float(free), float(locked))
    assert exact_balances(server, account)["USDT"][0] == Decimal("1000000") - truth.cum_quote


async def test_spot_errors_map_to_ccxt_exceptions(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    client = clients(ccxt_async.binance, ["spot"])
    await client.load_markets()
    with pytest.raises(ccxt_async.OrderNotFound):
        await client.fetch_order("999999999", SPOT)
    with pytest.raises(ccxt_async.OrderNotFound):
        await client.cancel_order("999999999", SPOT)
    with pytest.raises(ccxt_async.InsufficientFunds):
        await client.create_order(SPOT, "limit", "buy", 100, 20000)  # 2,000,000 USDT > 1,000,000
    stranger = make_client(ccxt_async.binance, server, None, ["spot"])
    stranger.apiKey, stranger.secret = "A" * 64, "B" * 64
    try:
        with pytest.raises(ccxt_async.AuthenticationError):
            await stranger.fetch_balance()
    finally:
        await stranger.close()


async def test_spot_watch_order_book_holds_the_engine_book(server: MockExchangeServer,
                                                           clients: Callable[..., Any]) -> None:
    client = clients(ccxt_pro.binance, ["spot"])
    await client.load_markets()
    await check_watched_book(server, client, SPOT, SPOT_ID)


# --- USD-M ------------------------------------------------------------------------------------------
async def test_usdm_load_markets(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    require_usdm(server)
    client = clients(ccxt_async.binanceusdm, ["linear"])
    markets = await client.load_markets()
    assert sorted(markets) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    market = markets[PERP]
    spec = server.exchange.engine.markets[PERP_ENGINE].spec
    assert (market["id"], market["type"], market["linear"], market["contract"], market["settle"],
            market["active"]) == ("BTCUSDT", "swap", True, True, "USDT", True)
    assert market["precision"]["price"] == float(spec.tick_size)
    assert market["precision"]["amount"] == float(spec.lot_size)
    assert market["limits"]["amount"]["min"] == float(spec.min_qty)


async def test_usdm_fetch_order_book_is_the_engine_book(server: MockExchangeServer,
                                                         clients: Callable[..., Any]) -> None:
    require_usdm(server)
    client = clients(ccxt_async.binanceusdm, ["linear"])
    engine = server.exchange.engine
    for limit in (5, 100, 1000):
        book = await client.fetch_order_book(PERP, limit)
        assert_book_equals(book, engine.book_at(PERP_ENGINE, book["nonce"], limit))
        assert book["timestamp"] is not None
    server.exchange.pause_flow()
    book = await client.fetch_order_book(PERP, 500)
    assert book["nonce"] == engine.last_update_id(PERP_ENGINE)
    assert_book_equals(book, engine.book(PERP_ENGINE, 500))


async def test_usdm_fetch_ticker(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    require_usdm(server)
    client = clients(ccxt_async.binanceusdm, ["linear"])
    engine = server.exchange.engine
    server.exchange.pause_flow()
    ticker = await client.fetch_ticker(PERP)
    assert ticker["symbol"] == PERP
    trades = engine.recent_trades(PERP_ENGINE)
    if trades:
        assert ticker["last"] == float(trades[-1].price)


async def test_usdm_fetch_funding_rate(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    require_usdm(server)
    client = clients(ccxt_async.binanceusdm, ["linear"])
    engine = server.exchange.engine
    engine.set_funding_rate(PERP_ENGINE, Decimal("0.00012345"))
    server.exchange.pause_flow()
    rate = await client.fetch_funding_rate(PERP)
    info = engine.funding_info(PERP_ENGINE)
    assert rate["symbol"] == PERP
    assert rate["fundingRate"] == float(info.funding_rate) == 0.00012345
    assert rate["markPrice"] == float(info.mark_price)
    assert rate["indexPrice"] == float(info.index_price)
    assert rate["fundingTimestamp"] == info.next_funding_time_ms


def assert_usdm_balance(balance: Any, server: MockExchangeServer, account: Account) -> None:
    """ccxt maps /fapi/v3/account assets[]: free <- availableBalance, used <- initialMargin,
    total <- marginBalance (wallet + unrealized PnL; no position here, so wallet = free + locked)."""
    free, locked = exact_balances(server, account)["USDT"]
    assert (balance["USDT"]["free"], balance["USDT"]["used"], balance["USDT"]["total"]) == (
        float(free), float(locked), float(free + locked))


async def test_usdm_fetch_balance_is_the_engine_balance(server: MockExchangeServer,
                                                        clients: Callable[..., Any]) -> None:
    require_usdm(server)
    account = server.exchange.trading_accounts[0]
    engine = server.exchange.engine
    client = clients(ccxt_async.binanceusdm, ["linear"])
    await client.load_markets()
    price = float(engine.book(PERP_ENGINE, 1).bids[0][0] - 5000)
    await client.create_order(PERP, "limit", "buy", 0.01, price)  # locks initial margin
    assert exact_balances(server, account)["USDT"][1] > 0
    assert_usdm_balance(await client.fetch_balance(), server, account)


async def test_usdm_fetch_balance_of_a_fresh_account(server: MockExchangeServer,
                                                     clients: Callable[..., Any]) -> None:
    """ccxt skips assets whose `updateTime` is 0: a starting balance no event has touched must still carry a
    time, or a fresh account shows no USDT at all."""
    require_usdm(server)
    account = server.exchange.trading_accounts[0]
    client = clients(ccxt_async.binanceusdm, ["linear"])
    assert_usdm_balance(await client.fetch_balance(), server, account)


async def test_usdm_order_lifecycle(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    require_usdm(server)
    account = server.exchange.trading_accounts[0]
    engine = server.exchange.engine
    client = clients(ccxt_async.binanceusdm, ["linear"])
    await client.load_markets()
    price = float(engine.book(PERP_ENGINE, 1).bids[0][0] - 5000)
    order = await client.create_order(PERP, "limit", "buy", 0.01, price)
    assert (order["status"], order["type"], order["side"], order["amount"], order["price"]) == (
        "open", "limit", "buy", 0.01, price)
    truth = engine.order(account.account_id, PERP_ENGINE, int(order["id"]))
    assert truth.client_order_id == order["clientOrderId"]
    assert (truth.status.value, truth.price, truth.qty) == ("NEW", Decimal(str(price)), Decimal("0.01"))

    fetched = await client.fetch_order(order["id"], PERP)
    assert (fetched["id"], fetched["status"], fetched["filled"]) == (order["id"], "open", 0.0)
    open_orders = await client.fetch_open_orders(PERP)
    assert [o["id"] for o in open_orders] == [order["id"]]

    canceled = await client.cancel_order(order["id"], PERP)
    assert (canceled["id"], canceled["status"]) == (order["id"], "canceled")
    assert engine.order(account.account_id, PERP_ENGINE, int(order["id"])).status.value == "CANCELED"
    assert await client.fetch_open_orders(PERP) == []


async def test_usdm_market_order_and_my_trades(server: MockExchangeServer, clients: Callable[..., Any]) -> None:
    require_usdm(server)
    account = server.exchange.trading_accounts[0]
    engine = server.exchange.engine
    client = clients(ccxt_async.binanceusdm, ["linear"])
    await client.load_markets()
    server.exchange.pause_flow()
    order = await client.create_order(PERP, "market", "buy", 0.05)
    truth = engine.order(account.account_id, PERP_ENGINE, int(order["id"]))
    assert truth.status.value == "FILLED"
    assert (order["status"], order["filled"]) == ("closed", 0.05)
    assert engine.position(account.account_id, PERP_ENGINE).qty == Decimal("0.05")

    trades = await client.fetch_my_trades(PERP)
    fills = engine.account_trades(account.account_id, PERP_ENGINE)
    assert [(t["id"], t["order"], t["price"], t["amount"], t["side"]) for t in trades] == [
        (str(f.trade_id), str(f.order_id), float(f.price), float(f.qty), "buy" if f.is_buyer else "sell")
        for f in fills]
    assert sum(Decimal(str(t["amount"])) for t in trades) == Decimal("0.05")
    assert {t["symbol"] for t in trades} == {PERP}


async def test_usdm_watch_order_book_holds_the_engine_book(server: MockExchangeServer,
                                                           clients: Callable[..., Any]) -> None:
    require_usdm(server)
    client = clients(ccxt_pro.binanceusdm, ["linear"])
    await client.load_markets()
    await check_watched_book(server, client, PERP, PERP_ENGINE)


async def test_spot_and_linear_loaded_together_route_depth_by_stream_url(server: MockExchangeServer,
                                                                         clients: Callable[..., Any]) -> None:
    """Both venues list id BTCUSDT; ccxt tells their depth events apart only by the socket URL."""
    require_usdm(server)
    client = clients(ccxt_pro.binance, ["spot", "linear"])
    await client.load_markets()
    assert {SPOT, PERP} <= set(client.markets)
    spot_book, perp_book = await asyncio.wait_for(
        asyncio.gather(client.watch_order_book(SPOT), client.watch_order_book(PERP)), TIMEOUT)
    engine = server.exchange.engine
    assert_book_equals(spot_book, engine.book_at(SPOT_ID, spot_book["nonce"]))
    assert_book_equals(perp_book, engine.book_at(PERP_ENGINE, perp_book["nonce"]))
