"""Binance: spot (`/api/v3`, market streams on `/ws`, user data on the WS API `/ws-api/v3`) and USD-M
perpetuals (`/fapi`, depth on `/fstream/public/ws`, mark price on `/fstream/market/ws`, user data on
`/fstream/private/ws?listenKey=`). Shapes and codes: docs/binance-wire-reference.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from ..auth import AuthLevel, BinanceAuth
from ..book_sync import DiffMessage, SnapshotMessage, SyncKind
from ..errors import (
    CancelRejected,
    ConnectorError,
    ExchangeRejected,
    OrderNotFound,
    RequestError,
    TimestampRejected,
)
from ..in_flight_order import InFlightOrder
from ..rest import RestRequest
from ..types import (
    BalancesRefreshNeeded,
    BalanceUpdate,
    FundingUpdate,
    LeverageUpdate,
    OrderState,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    StreamEnded,
    TradeFill,
    TradingRule,
    UserEvent,
)
from .base import Ack, CreateResult, Dialect, Frame, MarketEvent, MarketStream, dec

ZERO = Decimal(0)
STATES = {
    "NEW": OrderState.OPEN,
    "PENDING_NEW": OrderState.PENDING_CREATE,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "PENDING_CANCEL": OrderState.PENDING_CANCEL,
    "CANCELED": OrderState.CANCELED,
    "REJECTED": OrderState.FAILED,
    "EXPIRED": OrderState.EXPIRED,
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
}
#: codes whose execution status is unknown: the request may have been executed
UNKNOWN_STATUS_CODES = {-1000, -1001, -1006, -1007, -1008}


def _filters(symbol: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in symbol.get("filters", [])}


def _rule(symbol: dict[str, Any], perpetual: bool) -> TradingRule:
    filters = _filters(symbol)
    price = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return TradingRule(
        trading_pair=f"{symbol['baseAsset']}-{symbol['quoteAsset']}",
        symbol=symbol["symbol"], base=symbol["baseAsset"], quote=symbol["quoteAsset"],
        tick_size=dec(price.get("tickSize", "0")), step_size=dec(lot.get("stepSize", "0")),
        min_qty=dec(lot.get("minQty", "0")),
        min_notional=dec(notional.get("minNotional", notional.get("notional", "0"))),
        max_price=dec(price.get("maxPrice", "0")), is_perpetual=perpetual,
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class _Binance(Dialect):
    """What Binance spot and USD-M share: signing, errors, stream control messages, order parsing."""

    api: ClassVar[str]
    auth: BinanceAuth

    def __init__(self, api_key: str, api_secret: str, recv_window_ms: int | None = None) -> None:
        super().__init__(BinanceAuth(api_key, api_secret, recv_window_ms))

    def server_time_request(self) -> RestRequest:
        return RestRequest("GET", f"{self.api}/time", op="time")

    def parse_server_time(self, payload: Any) -> int:
        return int(payload["serverTime"])

    def map_error(self, request: RestRequest, status: int, payload: Any) -> ConnectorError:
        code = payload.get("code") if isinstance(payload, dict) else None
        msg = payload.get("msg", "") if isinstance(payload, dict) else ""
        text = f"HTTP {status} {code} {msg}".strip()
        if status >= 500 or status in (408, 418, 429) or code in UNKNOWN_STATUS_CODES:
            return RequestError(text, status=status, code=code)
        if code == -1021:
            return TimestampRejected(text, status, code)
        if code == -2013:
            return OrderNotFound(text, status, code)
        if code == -2011 and request.op == "order.cancel":
            return CancelRejected(text, status, code)
        return ExchangeRejected(text, status, code)

    # --- market streams -----------------------------------------------------------------------------
    def subscribe_frames(self, stream: MarketStream, pairs: Sequence[str], first_id: int) -> list[Frame]:
        names = [f"{self.symbol(p).lower()}{self._stream_suffix(stream)}" for p in pairs]
        return [Frame(_dumps({"method": "SUBSCRIBE", "params": names, "id": first_id}), first_id)] if names else []

    def _stream_suffix(self, stream: MarketStream) -> str:
        return "@depth@100ms" if stream.depth else "@markPrice@1s"

    def probe_frame(self, stream: MarketStream, request_id: int) -> Frame:
        return Frame(_dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id}), request_id)

    def parse_market_message(self, stream: MarketStream, text: str) -> Sequence[MarketEvent]:
        d = json.loads(text)
        if "data" in d and "stream" in d:
            d = d["data"]
        e = d.get("e")
        if e == "depthUpdate":
            pair = self.pair_of.get(d["s"])
            if pair is None:
                return ()
            return (DiffMessage(d["b"], d["a"], d["u"], d["U"], d.get("pu"), d["E"], None, pair),)
        if e == "markPriceUpdate":
            pair = self.pair_of.get(d["s"])
            if pair is None:
                return ()
            rate = dec(d["r"]) if d.get("r") not in (None, "") else ZERO
            return (FundingUpdate(pair, int(d["E"]), rate, dec(d["p"]), dec(d["i"]), int(d["T"]), "ws"),)
        if "id" in d and ("result" in d or "code" in d):
            return (Ack(d["id"], "code" not in d, d.get("msg", "")),)
        return ()

    def parse_snapshot(self, pair: str, payload: Any) -> SnapshotMessage:
        return SnapshotMessage(int(payload["lastUpdateId"]), payload["bids"], payload["asks"],
                               payload.get("T") or payload.get("E"), None, pair)

    # --- orders -----------------------------------------------------------------------------------------
    def _order_ref(self, order: InFlightOrder) -> dict[str, Any]:
        return {"symbol": self.symbol(order.trading_pair), "origClientOrderId": order.client_order_id}

    def order_status_request(self, order: InFlightOrder) -> RestRequest:
        return RestRequest("GET", f"{self.api}/order", self._order_ref(order), AuthLevel.SIGNED, "order.status")

    def cancel_order_request(self, order: InFlightOrder) -> RestRequest:
        return RestRequest("DELETE", f"{self.api}/order", self._order_ref(order), AuthLevel.SIGNED, "order.cancel")

    def _update(self, order: InFlightOrder, payload: dict[str, Any], source: str) -> OrderUpdate:
        time_ms = payload.get("updateTime") or payload.get("transactTime") or payload.get("time") or 0
        return OrderUpdate(order.trading_pair, order.client_order_id, str(payload["orderId"]),
                           STATES.get(payload["status"], OrderState.FAILED), int(time_ms),
                           dec(payload.get("executedQty", "0")), source, payload["status"])

    def parse_order_status(self, order: InFlightOrder, payload: Any) -> OrderUpdate:
        return self._update(order, payload, "rest:status")

    def parse_cancel_response(self, order: InFlightOrder, payload: Any) -> OrderUpdate:
        return self._update(order, payload, "rest:cancel")

    def order_fills_request(self, order: InFlightOrder) -> RestRequest:
        params: dict[str, Any] = {"symbol": self.symbol(order.trading_pair)}
        if order.exchange_order_id is not None:
            params["orderId"] = order.exchange_order_id
        return RestRequest("GET", self._trades_path, params, AuthLevel.SIGNED, "order.fills")

    _trades_path: ClassVar[str]

    def parse_order_fills(self, order: InFlightOrder, payload: Any) -> list[TradeFill]:
        fills = []
        for t in payload:
            if order.exchange_order_id is not None and str(t["orderId"]) != order.exchange_order_id:
                continue
            maker = t.get("isMaker", t.get("maker"))
            fills.append(TradeFill(str(t["id"]), order.trading_pair, order.client_order_id, str(t["orderId"]),
                                   dec(t["price"]), dec(t["qty"]), dec(t["commission"]), t["commissionAsset"],
                                   int(t["time"]), maker, "rest:trades"))
        return fills


class BinanceSpot(_Binance):
    name = "binance"
    api = "/api/v3"
    _trades_path = "/api/v3/myTrades"
    sync_kind = SyncKind.CONTIGUOUS_IDS
    streams = (MarketStream("depth", "/ws", depth=True),)

    def exchange_info_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v3/exchangeInfo", op="exchangeInfo")

    def parse_trading_rules(self, payload: Any) -> list[TradingRule]:
        return [_rule(s, False) for s in payload["symbols"] if s.get("status") == "TRADING"]

    def snapshot_request(self, pair: str, depth: int) -> RestRequest:
        return RestRequest("GET", "/api/v3/depth", {"symbol": self.symbol(pair), "limit": min(depth, 5000)},
                           op="depth")

    def create_order_request(self, order: InFlightOrder) -> RestRequest:
        params: dict[str, Any] = {
            "symbol": self.symbol(order.trading_pair), "side": order.side.value, "type": order.order_type.value,
            "quantity": f"{order.amount:f}",
        }
        if order.order_type is not OrderType.MARKET:
            assert order.price is not None
            params["price"] = f"{order.price:f}"
        if order.order_type is OrderType.LIMIT:
            params["timeInForce"] = order.time_in_force
        params["newClientOrderId"] = order.client_order_id
        params["newOrderRespType"] = "FULL"
        return RestRequest("POST", "/api/v3/order", params, AuthLevel.SIGNED, "order.create")

    def parse_create_response(self, order: InFlightOrder, payload: Any) -> CreateResult:
        update = self._update(order, payload, "rest:create") if "status" in payload else OrderUpdate(
            order.trading_pair, order.client_order_id, str(payload["orderId"]), OrderState.OPEN,
            int(payload.get("transactTime", 0)), None, "rest:create")
        time_ms = int(payload.get("transactTime", 0))
        fills = [TradeFill(str(f["tradeId"]), order.trading_pair, order.client_order_id, str(payload["orderId"]),
                           dec(f["price"]), dec(f["qty"]), dec(f["commission"]), f["commissionAsset"], time_ms,
                           False, "rest:create")
                 for f in payload.get("fills", [])]
        return CreateResult(update, fills)

    def balances_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v3/account", {"omitZeroBalances": "false"}, AuthLevel.SIGNED, "account")

    def parse_balances(self, payload: Any) -> tuple[list[BalanceUpdate], int]:
        time_ms = int(payload.get("updateTime", 0))
        updates = []
        for b in payload["balances"]:
            free, locked = dec(b["free"]), dec(b["locked"])
            updates.append(BalanceUpdate(b["asset"], free + locked, free, time_ms, "rest"))
        return updates, time_ms

    # --- user stream: WebSocket API subscription -----------------------------------------------------------
    def user_stream_path(self, token: str | None) -> str:
        return "/ws-api/v3"

    def user_stream_login(self, request_id: int, now_ms: int, token: str | None) -> list[Frame]:
        params = self.auth.ws_api_params({}, now_ms)
        text = _dumps({"id": request_id, "method": "userDataStream.subscribe.signature", "params": params})
        return [Frame(text, request_id)]

    def parse_login_reply(self, text: str) -> Ack | None:
        d = json.loads(text)
        if "status" not in d or "id" not in d:
            return None
        error = d.get("error") or {}
        return Ack(d["id"], d["status"] == 200, f"{error.get('code')} {error.get('msg')}" if error else "")

    def user_probe_frame(self, request_id: int) -> Frame:
        return Frame(_dumps({"id": request_id, "method": "ping"}), request_id)

    def parse_user_message(self, text: str) -> Sequence[UserEvent]:
        d = json.loads(text)
        if "event" in d and "subscriptionId" in d:
            d = d["event"]
        elif "status" in d and "id" in d:
            return ()  # a reply to one of our requests (ping)
        e = d.get("e")
        if e == "executionReport":
            return self._execution_report(d)
        if e == "outboundAccountPosition":
            time_ms = int(d["E"])
            return [BalanceUpdate(b["a"], dec(b["f"]) + dec(b["l"]), dec(b["f"]), time_ms, "ws") for b in d["B"]]
        if e == "eventStreamTerminated":
            return (StreamEnded("eventStreamTerminated"),)
        return ()

    def _execution_report(self, d: dict[str, Any]) -> list[UserEvent]:
        pair = self.pair_of.get(d["s"])
        if pair is None:
            return []
        canceled = d["x"] == "CANCELED"
        client_id = d["C"] if canceled and d.get("C") else d["c"]
        order_id = str(d["i"])
        events: list[UserEvent] = []
        if d.get("t", -1) != -1 and d["x"] == "TRADE":
            events.append(TradeFill(str(d["t"]), pair, client_id, order_id, dec(d["L"]), dec(d["l"]),
                                    dec(d.get("n") or "0"), d.get("N") or "", int(d["T"]), bool(d.get("m")), "ws"))
        events.append(OrderUpdate(pair, client_id, order_id, STATES.get(d["X"], OrderState.FAILED), int(d["E"]),
                                  dec(d["z"]), "ws", d["X"]))
        return events


class BinanceUsdm(_Binance):
    """Binance USD-M perpetuals: one-way mode, cross margin."""

    name = "binance_perpetual"
    api = "/fapi/v1"
    _trades_path = "/fapi/v1/userTrades"
    sync_kind = SyncKind.PREV_ID_CHAIN
    is_perpetual = True
    streams = (MarketStream("depth", "/fstream/public/ws", depth=True),
               MarketStream("market", "/fstream/market/ws", funding=True))

    def exchange_info_request(self) -> RestRequest:
        return RestRequest("GET", "/fapi/v1/exchangeInfo", op="exchangeInfo")

    def parse_trading_rules(self, payload: Any) -> list[TradingRule]:
        return [_rule(s, True) for s in payload["symbols"]
                if s.get("status") == "TRADING" and s.get("contractType") in ("PERPETUAL", "TRADIFI_PERPETUAL")]

    def snapshot_request(self, pair: str, depth: int) -> RestRequest:
        limit = min((n for n in (5, 10, 20, 50, 100, 500, 1000) if n >= depth), default=1000)
        return RestRequest("GET", "/fapi/v1/depth", {"symbol": self.symbol(pair), "limit": limit}, op="depth")

    def create_order_request(self, order: InFlightOrder) -> RestRequest:
        params: dict[str, Any] = {
            "symbol": self.symbol(order.trading_pair), "side": order.side.value,
            "type": "MARKET" if order.order_type is OrderType.MARKET else "LIMIT", "quantity": f"{order.amount:f}",
        }
        if order.order_type is not OrderType.MARKET:
            assert order.price is not None
            params["price"] = f"{order.price:f}"
            params["timeInForce"] = "GTX" if order.order_type is OrderType.LIMIT_MAKER else order.time_in_force
        params["newClientOrderId"] = order.client_order_id
        params["newOrderRespType"] = "RESULT"
        return RestRequest("POST", "/fapi/v1/order", params, AuthLevel.SIGNED, "order.create")

    def parse_create_response(self, order: InFlightOrder, payload: Any) -> CreateResult:
        return CreateResult(self._update(order, payload, "rest:create"), [])

    def balances_request(self) -> RestRequest:
        return RestRequest("GET", "/fapi/v2/account", {}, AuthLevel.SIGNED, "account")

    def parse_balances(self, payload: Any) -> tuple[list[BalanceUpdate], int]:
        updates = [BalanceUpdate(a["asset"], dec(a["walletBalance"]), dec(a["availableBalance"]),
                                 int(a.get("updateTime", 0)), "rest") for a in payload["assets"]]
        return updates, max((u.time_ms for u in updates), default=0)

    # --- perpetual specifics -------------------------------------------------------------------------
    def funding_requests(self, pair: str) -> list[RestRequest]:
        return [RestRequest("GET", "/fapi/v1/premiumIndex", {"symbol": self.symbol(pair)}, op="funding")]

    def parse_funding(self, pair: str, request: RestRequest, payload: Any) -> FundingUpdate:
        return FundingUpdate(pair, int(payload["time"]), dec(payload["lastFundingRate"]), dec(payload["markPrice"]),
                             dec(payload["indexPrice"]), int(payload["nextFundingTime"]), "rest")

    def positions_request(self) -> RestRequest:
        return RestRequest("GET", "/fapi/v2/positionRisk", {}, AuthLevel.SIGNED, "positions")

    def parse_positions(self, payload: Any) -> list[PositionUpdate]:
        out = []
        for p in payload:
            pair = self.pair_of.get(p["symbol"])
            if pair is None or p.get("positionSide", "BOTH") != "BOTH":
                continue
            out.append(PositionUpdate(pair, dec(p["positionAmt"]), dec(p["entryPrice"]), dec(p["unRealizedProfit"]),
                                      int(p["leverage"]), int(p.get("updateTime", 0)), "rest"))
        return out

    def set_leverage_request(self, pair: str, leverage: int) -> RestRequest:
        return RestRequest("POST", "/fapi/v1/leverage", {"symbol": self.symbol(pair), "leverage": leverage},
                           AuthLevel.SIGNED, "leverage")

    def parse_set_leverage(self, payload: Any) -> int:
        return int(payload["leverage"])

    def position_mode_request(self, hedge: bool) -> RestRequest:
        return RestRequest("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": hedge}, AuthLevel.SIGNED,
                           "position_mode")

    # --- user stream: listenKey -----------------------------------------------------------------------
    def user_stream_token_request(self) -> RestRequest:
        return RestRequest("POST", "/fapi/v1/listenKey", {}, AuthLevel.KEY, "listenKey")

    def parse_user_stream_token(self, payload: Any) -> str:
        return str(payload["listenKey"])

    def user_stream_keepalive_request(self, token: str | None) -> RestRequest:
        return RestRequest("PUT", "/fapi/v1/listenKey", {"listenKey": token}, AuthLevel.KEY, "listenKey.keepalive")

    def user_stream_path(self, token: str | None) -> str:
        return f"/fstream/private/ws?listenKey={token}"

    def parse_user_message(self, text: str) -> Sequence[UserEvent]:
        d = json.loads(text)
        if "data" in d and "stream" in d:
            d = d["data"]
        e = d.get("e")
        if e == "ORDER_TRADE_UPDATE":
            return self._order_trade_update(d)
        if e == "ACCOUNT_UPDATE":
            return self._account_update(d)
        if e == "ACCOUNT_CONFIG_UPDATE" and "ac" in d:
            pair = self.pair_of.get(d["ac"]["s"])
            return [LeverageUpdate(pair, int(d["ac"]["l"]), int(d["E"]))] if pair else []
        if e == "listenKeyExpired":
            return (StreamEnded("listenKeyExpired"),)
        return ()

    def _order_trade_update(self, d: dict[str, Any]) -> list[UserEvent]:
        o = d["o"]
        pair = self.pair_of.get(o["s"])
        if pair is None:
            return []
        order_id = str(o["i"])
        events: list[UserEvent] = []
        if o.get("t", 0) not in (0, "0") and o["x"] == "TRADE":
            events.append(TradeFill(str(o["t"]), pair, o["c"], order_id, dec(o["L"]), dec(o["l"]),
                                    dec(o.get("n") or "0"), o.get("N") or "", int(o["T"]), bool(o.get("m")), "ws"))
        events.append(OrderUpdate(pair, o["c"], order_id, STATES.get(o["X"], OrderState.FAILED), int(d["E"]),
                                  dec(o["z"]), "ws", o["X"]))
        events.append(BalancesRefreshNeeded("order"))
        return events

    def _account_update(self, d: dict[str, Any]) -> list[UserEvent]:
        time_ms = int(d["E"])
        a = d["a"]
        events: list[UserEvent] = [BalanceUpdate(b["a"], dec(b["wb"]), None, time_ms, "ws") for b in a.get("B", [])]
        for p in a.get("P", []):
            pair = self.pair_of.get(p["s"])
            if pair is not None and p.get("ps", "BOTH") == "BOTH":
                events.append(PositionUpdate(pair, dec(p["pa"]), dec(p["ep"]), dec(p["up"]), None, time_ms, "ws"))
        events.append(BalancesRefreshNeeded(a.get("m", "ACCOUNT_UPDATE")))
        return events
