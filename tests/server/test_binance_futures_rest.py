"""Binance USD-M futures REST (`/fapi`) against the engine's truth, over real HTTP and WebSocket on 127.0.0.1.

Liquidity is placed directly in the engine by a second account; the account under test trades over REST
with requests signed here (HMAC-SHA256 over the exact query string or body), and every number the API
returns is compared with what the engine says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from yarl import URL

from mock_exchanges.engine import Account, Engine, OrderType, Side
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

PERP = "BTCUSDT-PERP"
SYMBOL = "BTCUSDT"
RECEIVE_TIMEOUT = 5.0
D = Decimal


@pytest.fixture
async def fapi_server() -> AsyncIterator[MockExchangeServer]:
    async with MockExchangeServer(MockExchange(MockExchangeConfig(seed=41, flow=None))) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Fapi:
    """A minimal USD-M REST client: public calls, SIGNED calls (ccxt or Hummingbot style), key-only calls."""

    def __init__(self, session: aiohttp.ClientSession, server: MockExchangeServer, account: Account) -> None:
        self.session = session
        self.server = server
        self.account = account

    async def _send(self, method: str, path: str, query: str = "", body: str | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        # encoded=True: send the query exactly as signed (yarl would otherwise turn %3A back into ':')
        url = URL(f"{self.server.base_url}{path}" + (f"?{query}" if query else ""), encoded=True)
        async with self.session.request(method, url, data=body, headers=headers or {}) as response:
            return response.status, json.loads(await response.text()), response.headers

    async def public(self, path: str, **params: Any) -> tuple[int, Any]:
        status, body, _ = await self._send("GET", path, urlencode(params))
        return status, body

    def _signed(self, params: dict[str, Any]) -> str:
        payload = urlencode({**params, "timestamp": int(time.time() * 1000)})
        signature = hmac.new(self.account.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}&signature={signature}"

    async def signed(self, method: str, path: str, params: dict[str, Any] | None = None,
                     hummingbot: bool = False) -> tuple[int, Any]:
        """GET/DELETE/PUT in the query string; POST in a form body (labelled JSON, as Hummingbot does)."""
        payload = self._signed(params or {})
        headers = {"X-MBX-APIKEY": self.account.api_key}
        if method == "POST":
            headers["Content-Type"] = "application/json" if hummingbot else "application/x-www-form-urlencoded"
            status, body, _ = await self._send(method, path, body=payload, headers=headers)
        else:
            status, body, _ = await self._send(method, path, payload, headers=headers)
        return status, body

    async def keyed(self, method: str, path: str, params: dict[str, Any] | None = None,
                    api_key: str | None = None) -> tuple[int, Any]:
        headers = {"X-MBX-APIKEY": api_key if api_key is not None else self.account.api_key}
        status, body, _ = await self._send(method, path, urlencode(params or {}), headers=headers)
        return status, body

    async def order(self, **params: Any) -> tuple[int, Any]:
        return await self.signed("POST", "/fapi/v1/order", {"symbol": SYMBOL, **params})


def accounts(server: MockExchangeServer) -> tuple[Account, Account]:
    first, second = server.exchange.trading_accounts[:2]
    return first, second


def rest_liquidity(engine: Engine, maker: Account, asks: Sequence[tuple[str, str]] = (),
                   bids: Sequence[tuple[str, str]] = ()) -> None:
    for price, qty in asks:
        engine.place_order(maker.account_id, PERP, Side.SELL, OrderType.LIMIT, D(qty), D(price))
    for price, qty in bids:
        engine.place_order(maker.account_id, PERP, Side.BUY, OrderType.LIMIT, D(qty), D(price))


def usdt(engine: Engine, account: Account) -> tuple[Decimal, Decimal]:
    bal = engine.balances(account.account_id)["USDT"]
    return bal.free, bal.locked


# --- market data ---------------------------------------------------------------------------------------
async def test_ping_time_and_exchange_info_shape(fapi_server: MockExchangeServer,
                                                 session: aiohttp.ClientSession) -> None:
    api = Fapi(session, fapi_server, accounts(fapi_server)[0])
    assert await api.public("/fapi/v1/ping") == (200, {})
    status, body = await api.public("/fapi/v1/time")
    assert status == 200 and isinstance(body["serverTime"], int)
    status, info = await api.public("/fapi/v1/exchangeInfo")
    assert status == 200
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    assert [a["asset"] for a in info["assets"]] == ["USDT"]
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT"}  # the perpetuals only, under their Binance names
    btc = symbols["BTCUSDT"]
    spec = fapi_server.exchange.engine.markets[PERP].spec
    assert btc["contractType"] == "PERPETUAL" and btc["status"] == "TRADING"
    assert btc["pair"] == "BTCUSDT" and btc["marginAsset"] == "USDT"
    assert (btc["baseAsset"], btc["quoteAsset"]) == ("BTC", "USDT")
    assert btc["pricePrecision"] == 1 and btc["quantityPrecision"] == 3
    assert btc["deliveryDate"] == 4133404800000
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert D(filters["PRICE_FILTER"]["tickSize"]) == spec.tick_size
    assert D(filters["PRICE_FILTER"]["minPrice"]) == spec.min_price
    assert D(filters["LOT_SIZE"]["stepSize"]) == spec.lot_size and D(filters["LOT_SIZE"]["minQty"]) == spec.min_qty
    assert D(filters["MARKET_LOT_SIZE"]["maxQty"]) == spec.max_qty
    assert D(filters["MIN_NOTIONAL"]["notional"]) == spec.min_notional
    assert "GTX" in btc["timeInForce"] and btc["orderTypes"] == ["LIMIT", "MARKET"]
    assert symbols["ETHUSDT"]["pricePrecision"] == 2


async def test_depth_is_the_engine_book_at_last_update_id(fapi_server: MockExchangeServer,
                                                          session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    maker = accounts(fapi_server)[1]
    rest_liquidity(engine, maker, asks=[("30000.0", "0.5"), ("30000.0", "0.25"), ("30010.5", "1"), ("30100", "2")],
                   bids=[("29990", "0.3"), ("29980.1", "1.234"), ("29000", "3")])
    api = Fapi(session, fapi_server, maker)
    status, book = await api.public("/fapi/v1/depth", symbol=SYMBOL, limit=5)
    assert status == 200
    assert book["lastUpdateId"] == engine.last_update_id(PERP)
    assert isinstance(book["E"], int) and isinstance(book["T"], int)
    truth = engine.book_at(PERP, book["lastUpdateId"], 5)
    assert [(D(p), D(q)) for p, q in book["bids"]] == truth.bids
    assert [(D(p), D(q)) for p, q in book["asks"]] == truth.asks
    assert book["asks"][0] == ["30000.00000000", "0.75000000"]  # strings, levels aggregated
    status, default = await api.public("/fapi/v1/depth", symbol="btcusdt")
    assert status == 200 and len(default["bids"]) == 3
    assert await api.public("/fapi/v1/depth", symbol=SYMBOL, limit=7) == (
        400, {"code": -4021, "msg": "'7' is not valid depth limit."})

    # weight: limit 1000 costs 20, limit 5 costs 2
    _, _, first = await api._send("GET", "/fapi/v1/depth", urlencode({"symbol": SYMBOL, "limit": 1000}))
    _, _, second = await api._send("GET", "/fapi/v1/depth", urlencode({"symbol": SYMBOL, "limit": 5}))
    used_first, used_second = int(first["X-MBX-USED-WEIGHT-1M"]), int(second["X-MBX-USED-WEIGHT-1M"])
    assert used_second - used_first == 2 or used_second == 2  # (2: the minute rolled over in between)


async def test_tickers_trades_and_funding_info(fapi_server: MockExchangeServer,
                                               session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "1")], bids=[("29990", "1")])
    engine.place_order(trader.account_id, PERP, Side.BUY, OrderType.MARKET, D("0.2"))
    api = Fapi(session, fapi_server, trader)

    status, ticker = await api.public("/fapi/v1/ticker/bookTicker", symbol=SYMBOL)
    assert status == 200
    assert (ticker["bidPrice"], ticker["bidQty"], ticker["askPrice"], ticker["askQty"]) == (
        "29990.00000000", "1.00000000", "30000.00000000", "0.80000000")
    assert isinstance(ticker["time"], int) and ticker["lastUpdateId"] == engine.last_update_id(PERP)
    status, all_books = await api.public("/fapi/v1/ticker/bookTicker")
    assert status == 200 and {t["symbol"] for t in all_books} == {"BTCUSDT", "ETHUSDT"}

    status, day = await api.public("/fapi/v1/ticker/24hr", symbol=SYMBOL)
    assert status == 200
    assert day["lastPrice"] == "30000.00000000" and D(day["volume"]) == D("0.2") and day["count"] == 1
    assert "prevClosePrice" not in day and "bidPrice" not in day

    status, price = await api.public("/fapi/v1/ticker/price", symbol=SYMBOL)
    assert status == 200 and price["price"] == "30000.00000000" and isinstance(price["time"], int)

    status, trades = await api.public("/fapi/v1/trades", symbol=SYMBOL)
    truth = engine.recent_trades(PERP)[-1]
    assert status == 200 and trades == [{"id": truth.trade_id, "price": "30000.00000000", "qty": "0.20000000",
                                         "quoteQty": "6000.00000000", "time": truth.time_us // 1000,
                                         "isBuyerMaker": False}]
    status, agg = await api.public("/fapi/v1/aggTrades", symbol=SYMBOL)
    assert status == 200 and agg[0]["a"] == truth.trade_id and agg[0]["m"] is False

    status, funding = await api.public("/fapi/v1/fundingInfo")
    assert status == 200
    assert {"symbol": "BTCUSDT", "adjustedFundingRateCap": "0.00750000", "adjustedFundingRateFloor": "-0.00750000",
            "fundingIntervalHours": 8, "disclaimer": False} in funding


async def test_premium_index_funding_rate_and_funding_income(fapi_server: MockExchangeServer,
                                                             session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "1")], bids=[("29990", "1")])
    api = Fapi(session, fapi_server, trader)
    status, _ = await api.order(side="BUY", type="MARKET", quantity="0.1")
    assert status == 200

    engine.set_funding_rate(PERP, D("0.0003"))
    status, premium = await api.public("/fapi/v1/premiumIndex", symbol=SYMBOL)
    info = engine.funding_info(PERP)
    assert status == 200
    assert premium["lastFundingRate"] == "0.00030000"
    assert D(premium["markPrice"]) == info.mark_price and D(premium["indexPrice"]) == info.index_price
    assert premium["nextFundingTime"] == info.next_funding_time_ms
    status, every = await api.public("/fapi/v1/premiumIndex")
    assert status == 200 and isinstance(every, list) and {p["symbol"] for p in every} == {"BTCUSDT", "ETHUSDT"}

    wallet_before = sum(usdt(engine, trader))
    engine.trigger_funding(PERP)
    record = engine.funding_history(PERP)[-1]
    status, history = await api.public("/fapi/v1/fundingRate", symbol=SYMBOL)
    assert status == 200
    assert history[-1] == {"symbol": "BTCUSDT", "fundingRate": "0.00030000", "fundingTime": record.funding_time_ms,
                           "markPrice": f"{record.mark_price:.8f}"}

    paid = -(D("0.1") * record.mark_price * record.rate)
    assert sum(usdt(engine, trader)) == wallet_before + paid
    status, income = await api.signed("GET", "/fapi/v1/income", {"symbol": SYMBOL, "incomeType": "FUNDING_FEE"})
    assert status == 200 and len(income) == 1
    assert D(income[0]["income"]) == paid and income[0]["asset"] == "USDT" and income[0]["tradeId"] == ""
    status, balances = await api.signed("GET", "/fapi/v2/balance")
    assert status == 200 and D(balances[0]["balance"]) == sum(usdt(engine, trader))


# --- orders -------------------------------------------------------------------------------------------------
async def test_limit_order_place_get_cancel(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader = accounts(fapi_server)[0]
    api = Fapi(session, fapi_server, trader)
    status, placed = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010",
                                     price="29000.0", newClientOrderId="x-nbQe1H39-abc_1.2-3")
    assert status == 200
    truth = engine.order(trader.account_id, PERP, placed["orderId"])
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "x-nbQe1H39-abc_1.2-3"
    assert placed["symbol"] == "BTCUSDT" and placed["positionSide"] == "BOTH" and placed["reduceOnly"] is False
    assert placed["updateTime"] == truth.updated_us // 1000
    assert "cumQty" in placed and "time" not in placed and "transactTime" not in placed
    assert D(placed["price"]) == D("29000") and D(placed["origQty"]) == D("0.01")

    # locked margin: price x qty / leverage 20
    assert usdt(engine, trader)[1] == D("29000") * D("0.01") / 20

    for query in ({"orderId": placed["orderId"]}, {"origClientOrderId": "x-nbQe1H39-abc_1.2-3"}):
        status, got = await api.signed("GET", "/fapi/v1/order", {"symbol": SYMBOL, **query})
        assert status == 200 and got["orderId"] == placed["orderId"] and got["status"] == "NEW"
        assert got["time"] == truth.created_us // 1000 and "cumQty" not in got
    status, one = await api.signed("GET", "/fapi/v1/openOrder", {"symbol": SYMBOL, "orderId": placed["orderId"]})
    assert status == 200 and one["orderId"] == placed["orderId"]
    status, open_orders = await api.signed("GET", "/fapi/v1/openOrders", {"symbol": SYMBOL})
    assert status == 200 and [o["orderId"] for o in open_orders] == [placed["orderId"]]
    status, open_all = await api.signed("GET", "/fapi/v1/openOrders")
    assert status == 200 and [o["orderId"] for o in open_all] == [placed["orderId"]]

    status, canceled = await api.signed("DELETE", "/fapi/v1/order",
                                        {"symbol": SYMBOL, "origClientOrderId": "x-nbQe1H39-abc_1.2-3"})
    assert status == 200 and canceled["status"] == "CANCELED" and canceled["orderId"] == placed["orderId"]
    assert canceled["clientOrderId"] == "x-nbQe1H39-abc_1.2-3" and "origClientOrderId" not in canceled
    assert engine.order(trader.account_id, PERP, placed["orderId"]).status.value == "CANCELED"
    assert usdt(engine, trader) == (D("1000000"), D(0))

    assert await api.signed("DELETE", "/fapi/v1/order", {"symbol": SYMBOL, "orderId": placed["orderId"]}) == (
        400, {"code": -2011, "msg": "Unknown order sent."})
    assert await api.signed("GET", "/fapi/v1/openOrder", {"symbol": SYMBOL, "orderId": placed["orderId"]}) == (
        400, {"code": -2013, "msg": "Order does not exist."})
    status, got = await api.signed("GET", "/fapi/v1/order", {"symbol": SYMBOL, "orderId": placed["orderId"]})
    assert status == 200 and got["status"] == "CANCELED"
    status, history = await api.signed("GET", "/fapi/v1/allOrders", {"symbol": SYMBOL})
    assert status == 200 and [o["status"] for o in history] == ["CANCELED"]


async def test_signed_query_with_percent_escapes(fapi_server: MockExchangeServer,
                                                 session: aiohttp.ClientSession) -> None:
    api = Fapi(session, fapi_server, accounts(fapi_server)[0])
    status, placed = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000",
                                     newClientOrderId="x-abc:1/2")
    assert status == 200 and placed["clientOrderId"] == "x-abc:1/2"  # a form body: read raw, signature fine
    status, got = await api.signed("GET", "/fapi/v1/order", {"symbol": SYMBOL, "origClientOrderId": "x-abc:1/2"})
    assert (status, got.get("orderId")) == (200, placed["orderId"])


async def test_ack_and_result_responses(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "1")])
    api = Fapi(session, fapi_server, trader)
    status, ack = await api.order(side="BUY", type="MARKET", quantity="0.1")  # default ACK: before matching
    assert status == 200 and ack["status"] == "NEW" and ack["executedQty"] == "0.00000000"
    assert engine.order(trader.account_id, PERP, ack["orderId"]).status.value == "FILLED"
    status, result = await api.order(side="BUY", type="MARKET", quantity="0.1", newOrderRespType="RESULT")
    assert status == 200 and result["status"] == "FILLED" and D(result["executedQty"]) == D("0.1")
    assert D(result["avgPrice"]) == D("30000") and D(result["cumQuote"]) == D("3000")
    assert await api.order(side="BUY", type="MARKET", quantity="0.1", newOrderRespType="FULL") == (
        400, {"code": -1136, "msg": "Invalid newOrderRespType."})


async def test_market_order_position_and_fees_equal_engine_truth(fapi_server: MockExchangeServer,
                                                                 session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "0.1"), ("30005.5", "0.2")], bids=[("29900", "1")])
    api = Fapi(session, fapi_server, trader)
    status, order = await api.order(side="BUY", type="MARKET", quantity="0.25", newOrderRespType="RESULT")
    assert status == 200 and order["status"] == "FILLED"
    truth = engine.order(trader.account_id, PERP, order["orderId"])
    assert D(order["cumQuote"]) == truth.cum_quote == D("3000") + D("30005.5") * D("0.15")
    assert D(order["avgPrice"]) == truth.cum_quote / D("0.25")

    status, fills = await api.signed("GET", "/fapi/v1/userTrades", {"symbol": SYMBOL})
    assert status == 200
    engine_fills = engine.account_trades(trader.account_id, PERP)
    assert [(f["id"], D(f["price"]), D(f["qty"]), D(f["commission"]), D(f["quoteQty"])) for f in fills] == [
        (t.trade_id, t.price, t.qty, t.fee, t.quote_qty) for t in engine_fills]
    assert sum(D(f["commission"]) for f in fills) == truth.cum_fee == truth.cum_quote * D("0.0005")
    assert all(f["buyer"] is True and f["maker"] is False and f["side"] == "BUY" and f["positionSide"] == "BOTH"
               and f["commissionAsset"] == "USDT" and f["marginAsset"] == "USDT" and f["realizedPnl"] == "0.00000000"
               and f["orderId"] == order["orderId"] for f in fills)
    status, by_order = await api.signed("GET", "/fapi/v1/userTrades", {"symbol": SYMBOL, "orderId": order["orderId"]})
    assert status == 200 and len(by_order) == 2

    position = engine.position(trader.account_id, PERP)
    assert position.qty == D("0.25")
    status, risk = await api.signed("GET", "/fapi/v2/positionRisk", {"symbol": SYMBOL})
    assert status == 200 and len(risk) == 1
    row = risk[0]
    assert D(row["positionAmt"]) == position.qty and D(row["entryPrice"]) == position.entry_price
    assert D(row["markPrice"]) == position.mark_price and D(row["unRealizedProfit"]) == position.unrealized_pnl
    assert row["leverage"] == "20" and row["marginType"] == "cross" and row["isAutoAddMargin"] == "false"
    assert row["positionSide"] == "BOTH" and D(row["notional"]) == position.qty * position.mark_price

    # the maker's fills are maker fills, with the maker fee
    maker_api = Fapi(session, fapi_server, maker)
    status, maker_fills = await maker_api.signed("GET", "/fapi/v1/userTrades", {"symbol": SYMBOL})
    assert status == 200 and all(f["maker"] is True and f["buyer"] is False for f in maker_fills)
    assert [D(f["commission"]) for f in maker_fills] == [
        t.fee for t in engine.account_trades(maker.account_id, PERP)]


async def test_reduce_only_and_realized_pnl(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "0.1")])
    api = Fapi(session, fapi_server, trader)
    # no position yet: a reduce-only order is rejected (Hummingbot sends Python's `True`, in a JSON-labelled body)
    assert await api.signed("POST", "/fapi/v1/order", {"symbol": SYMBOL, "side": "SELL", "type": "MARKET",
                                                       "quantity": "0.1", "reduceOnly": True}, hummingbot=True) == (
        400, {"code": -2022, "msg": "ReduceOnly Order is rejected."})
    # open a long of 0.1 at 30000, then the maker bids above and below that
    status, _ = await api.signed("POST", "/fapi/v1/order", {"symbol": SYMBOL, "side": "BUY", "type": "MARKET",
                                                            "quantity": "0.1", "reduceOnly": False}, hummingbot=True)
    assert status == 200 and engine.position(trader.account_id, PERP).qty == D("0.1")
    rest_liquidity(engine, maker, bids=[("30100", "0.05"), ("29950", "1")])
    # reduce-only larger than the position: rejected
    status, body = await api.order(side="SELL", type="MARKET", quantity="0.2", reduceOnly="true")
    assert (status, body["code"]) == (400, -2022)
    # reduce-only close of 0.08: fills 0.05 at 30100 then 0.03 at 29950
    status, closed = await api.order(side="SELL", type="MARKET", quantity="0.08", reduceOnly="true",
                                     newOrderRespType="RESULT")
    assert status == 200 and closed["reduceOnly"] is True and closed["status"] == "FILLED"
    position = engine.position(trader.account_id, PERP)
    assert position.qty == D("0.02")
    status, fills = await api.signed("GET", "/fapi/v1/userTrades", {"symbol": SYMBOL, "orderId": closed["orderId"]})
    assert status == 200
    assert [D(f["realizedPnl"]) for f in fills] == [D("0.05") * 100, D("0.03") * -50]
    assert sum(D(f["realizedPnl"]) for f in fills) == position.realized_pnl
    status, income = await api.signed("GET", "/fapi/v1/income", {"incomeType": "REALIZED_PNL"})
    assert status == 200 and sum(D(r["income"]) for r in income) == position.realized_pnl
    status, commissions = await api.signed("GET", "/fapi/v1/income", {"incomeType": "COMMISSION"})
    assert status == 200
    assert -sum(D(r["income"]) for r in commissions) == sum(
        t.fee for t in engine.account_trades(trader.account_id, PERP))


async def test_post_only_gtx_fok_and_min_notional(fapi_server: MockExchangeServer,
                                                  session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "0.5")])
    api = Fapi(session, fapi_server, trader)
    status, body = await api.order(side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.1", price="30000")
    assert status == 400 and body["code"] == -5022
    assert body["msg"].startswith("Due to the order could not be executed as maker, the Post Only order will be "
                                  "rejected.")
    assert engine.open_orders(trader.account_id) == []
    status, resting = await api.order(side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.1", price="29999.9",
                                      newOrderRespType="RESULT")
    assert status == 200 and resting["timeInForce"] == "GTX" and resting["type"] == "LIMIT"
    assert resting["status"] == "NEW"
    assert engine.order(trader.account_id, PERP, resting["orderId"]).order_type is OrderType.LIMIT_MAKER

    assert await api.order(side="BUY", type="LIMIT", timeInForce="FOK", quantity="0.6", price="30000") == (
        400, {"code": -5021, "msg": "Due to the order could not be filled immediately, the FOK order has been "
                                    "rejected."})
    status, ioc = await api.order(side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.6", price="30000",
                                  newOrderRespType="RESULT")
    assert status == 200 and ioc["status"] == "EXPIRED" and D(ioc["executedQty"]) == D("0.5")

    assert await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price="1000") == (
        400, {"code": -4164, "msg": "Order's notional must be no smaller than 5 (unless you choose reduce only)."})


async def test_insufficient_margin_changes_nothing(fapi_server: MockExchangeServer,
                                                   session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader = accounts(fapi_server)[0]
    api = Fapi(session, fapi_server, trader)
    status, _ = await api.signed("POST", "/fapi/v1/leverage", {"symbol": SYMBOL, "leverage": 1})
    assert status == 200
    before = usdt(engine, trader)
    # 40 BTC at 29000 with leverage 1 needs 1,160,000 USDT of margin; the account has 1,000,000
    assert await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="40", price="29000") == (
        400, {"code": -2019, "msg": "Margin is insufficient."})
    assert usdt(engine, trader) == before and engine.open_orders(trader.account_id) == []
    status, _ = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="30", price="29000")
    assert status == 200 and usdt(engine, trader) == (before[0] - 870000, D(870000))


async def test_cancel_all_and_all_orders(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader = accounts(fapi_server)[0]
    api = Fapi(session, fapi_server, trader)
    ids = []
    for price in ("29000", "29100", "29200"):
        status, placed = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=price)
        assert status == 200
        ids.append(placed["orderId"])
    assert await api.signed("DELETE", "/fapi/v1/allOpenOrders", {"symbol": SYMBOL}) == (
        200, {"code": 200, "msg": "The operation of cancel all open order is done."})
    assert engine.open_orders(trader.account_id) == []
    status, history = await api.signed("GET", "/fapi/v1/allOrders", {"symbol": SYMBOL, "orderId": ids[1]})
    assert status == 200 and [o["orderId"] for o in history] == ids[1:]
    assert all(o["status"] == "CANCELED" for o in history)
    status, limited = await api.signed("GET", "/fapi/v1/allOrders", {"symbol": SYMBOL, "limit": 2})
    assert status == 200 and [o["orderId"] for o in limited] == ids[1:]


# --- account -----------------------------------------------------------------------------------------------
async def test_position_risk_balance_and_account_equal_engine_truth(fapi_server: MockExchangeServer,
                                                                    session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "1")], bids=[("29000", "1")])
    api = Fapi(session, fapi_server, trader)
    status, _ = await api.order(side="BUY", type="MARKET", quantity="0.3")
    assert status == 200
    status, _ = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1", price="28000")
    assert status == 200
    engine.set_mark_price(PERP, D("30500"))

    position = engine.position(trader.account_id, PERP)
    free, locked = usdt(engine, trader)
    order_margin = D("28000") * D("0.1") / 20
    assert locked == position.margin + order_margin
    wallet = free + locked

    status, balances = await api.signed("GET", "/fapi/v2/balance")
    assert status == 200 and [b["asset"] for b in balances] == ["USDT"]
    b = balances[0]
    assert D(b["balance"]) == D(b["crossWalletBalance"]) == wallet
    assert D(b["availableBalance"]) == D(b["maxWithdrawAmount"]) == free
    assert D(b["crossUnPnl"]) == position.unrealized_pnl == D("0.3") * 500
    assert b["marginAvailable"] is True and isinstance(b["updateTime"], int)
    assert (await api.signed("GET", "/fapi/v3/balance"))[1] == balances

    for version in ("v2", "v3"):
        status, account = await api.signed("GET", f"/fapi/{version}/account")
        assert status == 200
        assert D(account["totalWalletBalance"]) == wallet
        assert D(account["totalUnrealizedProfit"]) == position.unrealized_pnl
        assert D(account["totalMarginBalance"]) == wallet + position.unrealized_pnl
        assert D(account["totalPositionInitialMargin"]) == position.margin
        assert D(account["totalOpenOrderInitialMargin"]) == order_margin
        assert D(account["totalInitialMargin"]) == locked
        assert D(account["availableBalance"]) == free
        asset = account["assets"][0]
        assert asset["asset"] == "USDT" and D(asset["walletBalance"]) == wallet
        assert D(asset["availableBalance"]) == free and D(asset["positionInitialMargin"]) == position.margin
        rows = {p["symbol"]: p for p in account["positions"]}
        assert D(rows["BTCUSDT"]["positionAmt"]) == position.qty
        assert D(rows["BTCUSDT"]["unrealizedProfit"]) == position.unrealized_pnl
        assert D(rows["BTCUSDT"]["initialMargin"]) == locked
        if version == "v2":
            assert account["canTrade"] is True and asset["marginAvailable"] is True
            assert set(rows) == {"BTCUSDT", "ETHUSDT"} and rows["BTCUSDT"]["leverage"] == "20"
        else:
            assert "canTrade" not in account and set(rows) == {"BTCUSDT"}

    status, v3 = await api.signed("GET", "/fapi/v3/positionRisk")
    assert status == 200 and [p["symbol"] for p in v3] == ["BTCUSDT"]
    row = v3[0]
    assert "leverage" not in row and row["marginAsset"] == "USDT"
    assert D(row["positionInitialMargin"]) == position.margin
    assert D(row["openOrderInitialMargin"]) == order_margin
    assert D(row["bidNotional"]) == D("2800") and D(row["askNotional"]) == 0
    assert D(row["markPrice"]) == D("30500") and D(row["unRealizedProfit"]) == D("150")
    status, v2 = await api.signed("GET", "/fapi/v2/positionRisk")
    assert status == 200 and {p["symbol"] for p in v2} == {"BTCUSDT", "ETHUSDT"}


async def test_fresh_account_balance_has_an_update_time(fapi_server: MockExchangeServer,
                                                         session: aiohttp.ClientSession) -> None:
    """ccxt skips assets whose updateTime is 0 (Binance's mark of a never-used asset): a starting balance
    no event has touched yet still reports one."""
    trader = accounts(fapi_server)[0]
    api = Fapi(session, fapi_server, trader)
    status, account = await api.signed("GET", "/fapi/v3/account")
    assert status == 200 and account["assets"][0]["updateTime"] > 0
    assert D(account["assets"][0]["walletBalance"]) == D(1000000)
    status, balances = await api.signed("GET", "/fapi/v2/balance")
    assert status == 200 and balances[0]["updateTime"] > 0
    empty = fapi_server.exchange.engine.create_account({}, api_key="k" * 64, api_secret="s" * 64)
    status, account = await Fapi(session, fapi_server, empty).signed("GET", "/fapi/v3/account")
    assert status == 200 and account["assets"][0]["updateTime"] == 0 and account["assets"][0]["walletBalance"] == (
        "0.00000000")


async def test_income_paging(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "1")])
    for _ in range(5):
        engine.place_order(trader.account_id, PERP, Side.BUY, OrderType.MARKET, D("0.01"))
    api = Fapi(session, fapi_server, trader)
    status, every = await api.signed("GET", "/fapi/v1/income", {"incomeType": "COMMISSION"})
    assert status == 200 and len(every) == 5 and [r["tranId"] for r in every] == sorted(r["tranId"] for r in every)
    assert all(D(r["income"]) == -D("0.15") and r["symbol"] == "BTCUSDT" for r in every)
    status, newest = await api.signed("GET", "/fapi/v1/income", {"incomeType": "COMMISSION", "limit": 2})
    assert status == 200 and newest == every[-2:]
    status, older = await api.signed("GET", "/fapi/v1/income", {"incomeType": "COMMISSION", "limit": 2, "page": 2})
    assert status == 200 and older == every[1:3]
    status, first = await api.signed("GET", "/fapi/v1/income", {"incomeType": "COMMISSION", "limit": 2,
                                                                "startTime": every[0]["time"]})
    assert status == 200 and first == every[:2]


async def test_leverage_brackets_and_commission(fapi_server: MockExchangeServer,
                                                session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    rest_liquidity(engine, maker, asks=[("30000", "1")])
    api = Fapi(session, fapi_server, trader)
    status, _ = await api.order(side="BUY", type="MARKET", quantity="0.2")
    assert status == 200
    status, body = await api.signed("POST", "/fapi/v1/leverage", {"symbol": SYMBOL, "leverage": 10},
                                    hummingbot=True)
    assert status == 200 and body["leverage"] == 10 and body["symbol"] == "BTCUSDT"
    assert isinstance(body["maxNotionalValue"], str)
    position = engine.position(trader.account_id, PERP)
    assert position.leverage == 10 and position.margin == D("6000") / 10
    status, risk = await api.signed("GET", "/fapi/v2/positionRisk", {"symbol": SYMBOL})
    assert status == 200 and risk[0]["leverage"] == "10"
    status, account = await api.signed("GET", "/fapi/v2/account")
    assert D(account["totalPositionInitialMargin"]) == D(600)
    for bad in (0, 126):
        assert await api.signed("POST", "/fapi/v1/leverage", {"symbol": SYMBOL, "leverage": bad}) == (
            400, {"code": -4028, "msg": f"Leverage {bad} is not valid"})
    assert engine.position(trader.account_id, PERP).leverage == 10

    status, brackets = await api.signed("GET", "/fapi/v1/leverageBracket")
    assert status == 200 and {b["symbol"] for b in brackets} == {"BTCUSDT", "ETHUSDT"}
    bracket = brackets[0]["brackets"][0]
    assert bracket["initialLeverage"] == 125 and isinstance(bracket["maintMarginRatio"], float)
    status, single = await api.signed("GET", "/fapi/v1/leverageBracket", {"symbol": SYMBOL})
    assert status == 200 and single["symbol"] == "BTCUSDT" and single["brackets"]
    assert await api.signed("GET", "/fapi/v1/commissionRate", {"symbol": SYMBOL}) == (
        200, {"symbol": "BTCUSDT", "makerCommissionRate": "0.00020000", "takerCommissionRate": "0.00050000"})


async def test_position_mode_is_one_way_only(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    api = Fapi(session, fapi_server, accounts(fapi_server)[0])
    assert await api.signed("GET", "/fapi/v1/positionSide/dual") == (200, {"dualSidePosition": False})
    assert await api.signed("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": False}, hummingbot=True) == (
        400, {"code": -4059, "msg": "No need to change position side."})
    status, body = await api.signed("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"})
    assert status == 400 and body["code"] == -4060 and "one-way" in body["msg"]
    assert await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000",
                           positionSide="LONG") == (
        400, {"code": -4061, "msg": "Order's position side does not match user's setting."})
    status, placed = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000",
                                     positionSide="BOTH")
    assert status == 200 and placed["positionSide"] == "BOTH"


# --- user data stream ---------------------------------------------------------------------------------------
async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_listen_key_lifecycle_and_user_stream(fapi_server: MockExchangeServer,
                                                    session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader, maker = accounts(fapi_server)
    api = Fapi(session, fapi_server, trader)
    assert await api.keyed("POST", "/fapi/v1/listenKey", api_key="") == (
        401, {"code": -2014, "msg": "API-key format invalid."})
    status, created = await api.keyed("POST", "/fapi/v1/listenKey")
    assert status == 200 and len(created["listenKey"]) == 64
    key = created["listenKey"]
    assert await api.keyed("POST", "/fapi/v1/listenKey") == (200, {"listenKey": key})  # the same active key
    # Hummingbot's keepalive is signed and carries the key: extra params are fine
    assert await api.signed("PUT", "/fapi/v1/listenKey", {"listenKey": key}) == (200, {"listenKey": key})
    assert await api.keyed("PUT", "/fapi/v1/listenKey") == (200, {"listenKey": key})
    assert await api.keyed("PUT", "/fapi/v1/listenKey", {"listenKey": "x" * 64}) == (
        400, {"code": -1125, "msg": "This listenKey does not exist."})

    rest_liquidity(engine, maker, asks=[("30000", "1")])
    async with session.ws_connect(fapi_server.ws_url + "/fstream/private/ws?listenKey=" + key) as ws:
        # an invalid control message gets an error reply: the stream is up and subscribed from here on
        await ws.send_json({"method": "NOPE", "id": 1})
        assert (await receive_json(ws))["code"] == 2

        status, order = await api.order(side="BUY", type="MARKET", quantity="0.2", newClientOrderId="hb-1")
        assert status == 200
        trade_update: dict[str, Any] | None = None
        account_update: dict[str, Any] | None = None
        while trade_update is None or account_update is None:
            event = await receive_json(ws)
            if event["e"] == "ORDER_TRADE_UPDATE" and event["o"]["x"] == "TRADE":
                trade_update = event
            elif event["e"] == "ACCOUNT_UPDATE":
                account_update = event
        fill = engine.account_trades(trader.account_id, PERP)[-1]
        o = trade_update["o"]
        assert (o["s"], o["c"], o["i"], o["S"], o["X"], o["ps"]) == ("BTCUSDT", "hb-1", order["orderId"], "BUY",
                                                                      "FILLED", "BOTH")
        assert o["t"] == fill.trade_id and D(o["l"]) == fill.qty and D(o["L"]) == fill.price
        assert D(o["n"]) == fill.fee and o["N"] == "USDT" and o["m"] is False
        position = engine.position(trader.account_id, PERP)
        a = account_update["a"]
        assert a["m"] == "ORDER"
        assert D(a["B"][0]["wb"]) == sum(usdt(engine, trader)) and a["B"][0]["a"] == "USDT"
        assert a["P"][0]["s"] == "BTCUSDT" and D(a["P"][0]["pa"]) == position.qty
        assert D(a["P"][0]["ep"]) == position.entry_price

        assert await api.keyed("DELETE", "/fapi/v1/listenKey") == (200, {})
        while (event := await receive_json(ws))["e"] != "listenKeyExpired":
            pass
        assert event["listenKey"] == key
    assert await api.keyed("PUT", "/fapi/v1/listenKey") == (
        400, {"code": -1125, "msg": "This listenKey does not exist."})


# --- errors -----------------------------------------------------------------------------------------------
async def test_error_shapes(fapi_server: MockExchangeServer, session: aiohttp.ClientSession) -> None:
    trader = accounts(fapi_server)[0]
    api = Fapi(session, fapi_server, trader)
    bad_symbol = (400, {"code": -1121, "msg": "Invalid symbol."})
    assert await api.public("/fapi/v1/depth", symbol="NOPEUSDT") == bad_symbol
    assert await api.public("/fapi/v1/premiumIndex", symbol="BTCUSDT-PERP") == bad_symbol
    assert await api.order(symbol="DOGEUSDT", side="BUY", type="MARKET", quantity="1") == bad_symbol
    assert await api.public("/fapi/v1/depth") == (
        400, {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."})
    assert await api.order(side="BUY", type="LIMIT", timeInForce="GTC", price="29000") == (
        400, {"code": -1102, "msg": "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."})
    assert await api.order(side="BUY", type="LIMIT", quantity="0.01", price="29000") == (
        400, {"code": -1102, "msg": "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."})
    assert await api.signed("GET", "/fapi/v1/order", {"symbol": SYMBOL}) == (
        400, {"code": -1102, "msg": "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"})
    assert await api.signed("GET", "/fapi/v1/order", {"symbol": SYMBOL, "orderId": 424242}) == (
        400, {"code": -2013, "msg": "Order does not exist."})
    assert await api.signed("GET", "/fapi/v1/order", {"symbol": SYMBOL, "origClientOrderId": "never"}) == (
        400, {"code": -2013, "msg": "Order does not exist."})
    assert await api.signed("DELETE", "/fapi/v1/order", {"symbol": SYMBOL, "orderId": 424242}) == (
        400, {"code": -2011, "msg": "Unknown order sent."})

    assert await api.order(side="BUY", type="STOP_MARKET", quantity="0.01") == (
        400, {"code": -4120, "msg": "Order type not supported for this endpoint. Please use the Algo Order API "
                                    "endpoints instead."})
    assert await api.order(side="BUY", type="LIMIT_MAKER", quantity="0.01", price="29000") == (
        400, {"code": -1116, "msg": "Invalid orderType."})
    assert await api.order(side="HOLD", type="MARKET", quantity="0.01") == (
        400, {"code": -1117, "msg": "Invalid side."})
    assert await api.order(side="BUY", type="LIMIT", timeInForce="GTD", quantity="0.01", price="29000") == (
        400, {"code": -1115, "msg": "Invalid timeInForce."})
    filters = {
        ("0.0105", "29000"): (-1111, "Precision is over the maximum defined for this asset."),
        ("0.01", "29000.05"): (-1111, "Precision is over the maximum defined for this asset."),
        ("1001", "29000"): (-4005, "Quantity greater than max quantity."),
        ("0.01", "2000000"): (-4016, "Price greater than max price."),
    }
    for (qty, price), error in filters.items():
        assert await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity=qty, price=price) == (
            400, {"code": error[0], "msg": error[1]}), (qty, price)
    assert await api.order(side="BUY", type="MARKET", quantity="0.01", price="29000") == (
        400, {"code": -1106, "msg": "Parameter 'price' sent when not required."})
    assert await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000",
                           newClientOrderId="has space") == (
        400, {"code": -4015, "msg": "Client order id is not valid."})
    status, _ = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000",
                                newClientOrderId="dup-1")
    assert status == 200
    status, body = await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000",
                                   newClientOrderId="dup-1")
    assert (status, body["code"]) == (400, -4116)
    # an unsigned call to a signed endpoint, and a bad signature
    status, body = await api.keyed("GET", "/fapi/v2/balance", {"timestamp": int(time.time() * 1000)})
    assert (status, body["code"]) == (400, -1102)
    status, body = await api.keyed("GET", "/fapi/v2/balance", {"timestamp": int(time.time() * 1000),
                                                               "signature": "0" * 64})
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})


async def test_hummingbot_style_post_body_is_read_as_a_form(fapi_server: MockExchangeServer,
                                                            session: aiohttp.ClientSession) -> None:
    engine = fapi_server.exchange.engine
    trader = accounts(fapi_server)[0]
    api = Fapi(session, fapi_server, trader)
    status, placed = await api.signed("POST", "/fapi/v1/order", {
        "symbol": SYMBOL, "side": "SELL", "quantity": "0.002", "type": "LIMIT", "newClientOrderId": "x-nbQe1H39hb",
        "price": "31000", "timeInForce": "GTX"}, hummingbot=True)
    assert status == 200 and placed["clientOrderId"] == "x-nbQe1H39hb" and isinstance(placed["updateTime"], int)
    truth = engine.order(trader.account_id, PERP, client_order_id="x-nbQe1H39hb")
    assert truth.side is Side.SELL and truth.price == D("31000") and truth.order_type is OrderType.LIMIT_MAKER
