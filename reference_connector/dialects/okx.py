"""OKX v5: REST `/api/v5` (envelope `{"code","msg","data"}`; refusals of a well-formed trade request come with
HTTP 200 and a per-order `sCode`), public WS `/ws/v5/public` (books with `seqId`/`prevSeqId` and a CRC32
checksum; the snapshot comes on the socket after subscribing), private WS `/ws/v5/private` (`login` op,
then `orders`, `account`, `positions`). Spot `BTC-USDT` and swap `BTC-USDT-SWAP` are both the pair
"BTC-USDT"; swap sizes count contracts of `ctVal` base each, converted to base amounts at this boundary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from ..auth import AuthLevel, OkxAuth
from ..book_sync import Checksum, DiffMessage, SnapshotMessage, SyncKind
from ..checksums import okx_checksum
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
    BalanceUpdate,
    FundingUpdate,
    OrderState,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    StreamEnded,
    TradeFill,
    TradingRule,
    UserEvent,
)
from .base import Ack, CreateResult, Dialect, Frame, MarketEvent, MarketStream, ReconnectRequested, dec

ZERO = Decimal(0)
STATES = {"live": OrderState.OPEN, "partially_filled": OrderState.PARTIALLY_FILLED, "filled": OrderState.FILLED,
          "canceled": OrderState.CANCELED, "mmp_canceled": OrderState.CANCELED}
#: outcome unknown: service unavailable, endpoint timeout ("does not mean that the request was successful or
#: failed"), rate limit, system busy / error
UNKNOWN_CODES = {"50001", "50004", "50011", "50013", "50026", "50061"}
CANCEL_REFUSED = {"51400", "51401", "51402"}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


class _Okx(Dialect):
    sync_kind = SyncKind.SEQ_CHAIN
    snapshot_from_ws = True
    publishes_index_price = False
    inst_type: ClassVar[str]
    auth: OkxAuth

    def __init__(self, api_key: str, api_secret: str, passphrase: str = "") -> None:
        super().__init__(OkxAuth(api_key, api_secret, passphrase))

    def checksum(self) -> Checksum:
        return okx_checksum

    def _contract(self, pair: str) -> Decimal:
        return self.rules[pair].contract_size

    def _size(self, pair: str, amount: Decimal) -> str:
        """A base amount in the instrument's size unit (contracts for swaps)."""
        return _text(amount / self._contract(pair))

    def _base(self, pair: str, size: str) -> Decimal:
        return dec(size or "0") * self._contract(pair)

    # --- time and errors ----------------------------------------------------------------------------
    def server_time_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v5/public/time", op="time")

    def parse_server_time(self, payload: Any) -> int:
        return int(payload[0]["ts"])

    def unwrap(self, request: RestRequest, payload: Any) -> Any:
        if not isinstance(payload, dict) or "code" not in payload:
            return payload
        if payload["code"] == "0":
            return payload.get("data")
        rows = payload.get("data") or []
        row = rows[0] if rows and isinstance(rows[0], dict) else {}
        code = row.get("sCode") or payload["code"]
        raise self._error(request, 200, str(code), row.get("sMsg") or payload.get("msg", ""))

    def map_error(self, request: RestRequest, status: int, payload: Any) -> ConnectorError:
        code = str(payload.get("code", "")) if isinstance(payload, dict) else ""
        msg = payload.get("msg", "") if isinstance(payload, dict) else ""
        return self._error(request, status, code, msg)

    @staticmethod
    def _error(request: RestRequest, status: int, code: str, msg: str) -> ConnectorError:
        text = f"HTTP {status} {code} {msg}".strip()
        number = int(code) if code.isdigit() else None
        if status >= 500 or status in (408, 429) or code in UNKNOWN_CODES:
            return RequestError(text, status, number)
        if code in ("50102", "50112"):
            return TimestampRejected(text, status, number)
        if code == "51603":
            return OrderNotFound(text, status, number)
        if code in CANCEL_REFUSED and request.op == "order.cancel":
            return CancelRejected(text, status, number)
        return ExchangeRejected(text, status, number)

    # --- markets ------------------------------------------------------------------------------------
    def exchange_info_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v5/public/instruments", {"instType": self.inst_type}, op="exchangeInfo")

    def parse_trading_rules(self, payload: Any) -> list[TradingRule]:
        rules = []
        for inst in payload:
            if inst.get("state", "live") != "live" or inst.get("instType") != self.inst_type:
                continue
            swap = self.inst_type == "SWAP"
            contract = dec(inst["ctVal"]) if swap else Decimal(1)
            inst_id = inst["instId"]
            pair = inst_id[: -len("-SWAP")] if swap and inst_id.endswith("-SWAP") else inst_id
            base, quote = (inst["ctValCcy"], inst["settleCcy"]) if swap else (inst["baseCcy"], inst["quoteCcy"])
            rules.append(TradingRule(pair, inst_id, base, quote, dec(inst["tickSz"]), dec(inst["lotSz"]) * contract,
                                     dec(inst["minSz"]) * contract, ZERO, ZERO, swap, contract))
        return rules

    def _channels(self) -> tuple[str, ...]:
        return ("books",)

    def subscribe_frames(self, stream: MarketStream, pairs: Sequence[str], first_id: int) -> list[Frame]:
        frames: list[Frame] = []
        for pair in pairs:
            for channel in self._channels():
                request_id = first_id + len(frames)
                arg = {"channel": channel, "instId": self.symbol(pair)}
                frames.append(Frame(_dumps({"id": str(request_id), "op": "subscribe", "args": [arg]}), request_id))
        return frames

    def resubscribe_frames(self, stream: MarketStream, pair: str, first_id: int) -> list[Frame]:
        arg = {"channel": "books", "instId": self.symbol(pair)}
        return [Frame(_dumps({"id": str(first_id), "op": "unsubscribe", "args": [arg]})),
                Frame(_dumps({"id": str(first_id + 1), "op": "subscribe", "args": [arg]}))]

    def probe_frame(self, stream: MarketStream, request_id: int) -> Frame:
        return Frame("ping")  # answered "pong"

    @staticmethod
    def _event(d: dict[str, Any]) -> list[Any]:
        event = d["event"]
        if event in ("subscribe", "unsubscribe", "login") and "id" in d:
            return [Ack(d["id"], d.get("code", "0") == "0", d.get("msg", ""))]
        if event == "error":
            return [Ack(d.get("id"), False, f"{d.get('code')} {d.get('msg')}")] if "id" in d else []
        if event == "notice":  # 64008: the connection will soon be closed for a service upgrade
            return [ReconnectRequested(f"{d.get('code')} {d.get('msg')}")]
        return []

    def parse_market_message(self, stream: MarketStream, text: str) -> Sequence[MarketEvent]:
        if text == "pong":
            return ()
        d = json.loads(text)
        if "event" in d:
            return self._event(d)
        arg = d.get("arg") or {}
        pair = self.pair_of.get(arg.get("instId", ""))
        if pair is None:
            return ()
        channel = arg.get("channel")
        out: list[MarketEvent] = []
        if channel == "books":
            snapshot = d.get("action") == "snapshot"
            for book in d["data"]:
                if snapshot:
                    out.append(SnapshotMessage(int(book["seqId"]), book["bids"], book["asks"], int(book["ts"]),
                                               book.get("checksum"), pair))
                else:
                    out.append(DiffMessage(book["bids"], book["asks"], int(book["seqId"]), None,
                                           int(book["prevSeqId"]), int(book["ts"]), book.get("checksum"), pair))
        elif channel == "funding-rate":
            out += [self._funding(pair, row) for row in d["data"]]
        elif channel == "mark-price":
            out += [FundingUpdate(pair, int(row["ts"]), mark_price=dec(row["markPx"]), source="ws")
                    for row in d["data"]]
        return out

    @staticmethod
    def _funding(pair: str, row: dict[str, Any]) -> FundingUpdate:
        return FundingUpdate(pair, int(row["ts"]), rate=dec(row["fundingRate"]),
                             next_funding_time_ms=int(row["fundingTime"]), source="ws")

    def snapshot_request(self, pair: str, depth: int) -> RestRequest | None:
        return None  # REST books carry no seqId: the WebSocket snapshot is the one updates chain to

    def parse_snapshot(self, pair: str, payload: Any) -> SnapshotMessage:
        raise NotImplementedError("OKX snapshots come on the WebSocket")

    # --- orders -------------------------------------------------------------------------------------
    def _td_mode(self) -> str:
        return "cash"

    def create_order_request(self, order: InFlightOrder) -> RestRequest:
        pair = order.trading_pair
        if order.order_type is OrderType.MARKET:
            kind = "market"
        elif order.order_type is OrderType.LIMIT_MAKER:
            kind = "post_only"
        else:
            kind = {"IOC": "ioc", "FOK": "fok"}.get(order.time_in_force, "limit")
        params: dict[str, Any] = {"instId": self.symbol(pair), "tdMode": self._td_mode(),
                                  "side": order.side.value.lower(), "ordType": kind,
                                  "sz": self._size(pair, order.amount), "clOrdId": order.client_order_id}
        if order.order_type is not OrderType.MARKET:
            assert order.price is not None
            params["px"] = _text(order.price)
        elif self.inst_type == "SPOT":
            params["tgtCcy"] = "base_ccy"  # OKX sizes spot market buys in quote by default
        return RestRequest("POST", "/api/v5/trade/order", params, AuthLevel.SIGNED, "order.create")

    def parse_create_response(self, order: InFlightOrder, payload: Any) -> CreateResult:
        row = payload[0]
        return CreateResult(OrderUpdate(order.trading_pair, order.client_order_id, row["ordId"], OrderState.OPEN,
                                        int(row.get("ts") or 0), None, "rest:create"), [])

    def _ref(self, order: InFlightOrder) -> dict[str, Any]:
        return {"instId": self.symbol(order.trading_pair), "clOrdId": order.client_order_id}

    def cancel_order_request(self, order: InFlightOrder) -> RestRequest:
        return RestRequest("POST", "/api/v5/trade/cancel-order", self._ref(order), AuthLevel.SIGNED, "order.cancel")

    def parse_cancel_response(self, order: InFlightOrder, payload: Any) -> OrderUpdate:
        row = payload[0]
        return OrderUpdate(order.trading_pair, order.client_order_id, row.get("ordId") or None, OrderState.CANCELED,
                           int(row.get("ts") or 0), None, "rest:cancel")

    def order_status_request(self, order: InFlightOrder) -> RestRequest:
        return RestRequest("GET", "/api/v5/trade/order", self._ref(order), AuthLevel.SIGNED, "order.status")

    def _order_update(self, row: dict[str, Any], source: str) -> OrderUpdate | None:
        pair = self.pair_of.get(row["instId"])
        if pair is None:
            return None
        return OrderUpdate(pair, row["clOrdId"], row["ordId"], STATES.get(row["state"], OrderState.FAILED),
                           int(row["uTime"]), self._base(pair, row["accFillSz"]), source, row["state"])

    def parse_order_status(self, order: InFlightOrder, payload: Any) -> OrderUpdate:
        update = self._order_update(payload[0], "rest:status")
        if update is None:
            raise ExchangeRejected(f"unknown instrument in {payload[0]}")
        return update

    def order_fills_request(self, order: InFlightOrder) -> RestRequest:
        params: dict[str, Any] = {"instId": self.symbol(order.trading_pair)}
        if order.exchange_order_id is not None:
            params["ordId"] = order.exchange_order_id
        return RestRequest("GET", "/api/v5/trade/fills", params, AuthLevel.SIGNED, "order.fills")

    def parse_order_fills(self, order: InFlightOrder, payload: Any) -> list[TradeFill]:
        pair = order.trading_pair
        fills = []
        for row in payload:
            if row.get("clOrdId") != order.client_order_id and row.get("ordId") != order.exchange_order_id:
                continue
            fills.append(TradeFill(row["tradeId"], pair, order.client_order_id, row["ordId"], dec(row["fillPx"]),
                                   self._base(pair, row["fillSz"]), -dec(row["fee"]), row["feeCcy"], int(row["ts"]),
                                   row.get("execType") == "M", "rest:trades"))
        return fills

    def balances_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v5/account/balance", {}, AuthLevel.SIGNED, "account")

    @staticmethod
    def _balances(account: dict[str, Any], source: str) -> list[BalanceUpdate]:
        return [BalanceUpdate(row["ccy"], dec(row["cashBal"]), dec(row["availBal"]),
                              int(row.get("uTime") or account.get("uTime") or 0), source)
                for row in account.get("details", [])]

    def parse_balances(self, payload: Any) -> tuple[list[BalanceUpdate], int]:
        account = payload[0]
        return self._balances(account, "rest"), int(account.get("uTime") or 0)

    # --- user stream ---------------------------------------------------------------------------------
    def user_stream_path(self, token: str | None) -> str:
        return "/ws/v5/private"

    def _private_args(self) -> list[dict[str, str]]:
        return [{"channel": "orders", "instType": self.inst_type}, {"channel": "account"}]

    def user_stream_login(self, request_id: int, now_ms: int, token: str | None) -> list[Frame]:
        frames = [Frame(_dumps({"id": str(request_id), **self.auth.ws_login(now_ms)}), request_id)]
        for arg in self._private_args():
            next_id = request_id + len(frames)
            frames.append(Frame(_dumps({"id": str(next_id), "op": "subscribe", "args": [arg]}), next_id))
        return frames

    def parse_login_reply(self, text: str) -> Ack | None:
        if text == "pong":
            return None
        d = json.loads(text)
        if "event" not in d or "id" not in d:
            return None
        events = self._event(d)
        return events[0] if events and isinstance(events[0], Ack) else None

    def user_probe_frame(self, request_id: int) -> Frame:
        return Frame("ping")

    def parse_user_message(self, text: str) -> Sequence[UserEvent]:
        if text == "pong":
            return ()
        d = json.loads(text)
        if "event" in d:
            return [StreamEnded(e.reason) for e in self._event(d) if isinstance(e, ReconnectRequested)]
        channel = (d.get("arg") or {}).get("channel")
        out: list[UserEvent] = []
        if channel == "orders":
            for row in d["data"]:
                out += self._order_push(row)
        elif channel == "account":
            for account in d["data"]:
                out += self._balances(account, "ws")
        elif channel == "positions":
            out += self.parse_positions(d["data"], "ws")
        return out

    def _order_push(self, row: dict[str, Any]) -> list[UserEvent]:
        update = self._order_update(row, "ws")
        if update is None:
            return []
        events: list[UserEvent] = []
        if row.get("tradeId") and row.get("fillSz") not in (None, "", "0"):
            pair = update.trading_pair
            events.append(TradeFill(row["tradeId"], pair, update.client_order_id, update.exchange_order_id,
                                    dec(row["fillPx"]), self._base(pair, row["fillSz"]),
                                    -dec(row.get("fillFee") or "0"),
                                    row.get("fillFeeCcy") or "", int(row.get("fillTime") or row["uTime"]),
                                    row.get("execType") == "M", "ws"))
        events.append(update)
        return events

    def parse_positions(self, payload: Any, source: str = "rest") -> list[PositionUpdate]:
        out = []
        for row in payload:
            pair = self.pair_of.get(row.get("instId", ""))
            if pair is None or row.get("posSide", "net") != "net":
                continue
            lever = int(row["lever"]) if row.get("lever") else None
            out.append(PositionUpdate(pair, self._base(pair, row["pos"]), dec(row.get("avgPx") or "0"),
                                      dec(row.get("upl") or "0"), lever, int(row["uTime"]), source))
        return out


class OkxSpot(_Okx):
    name = "okx"
    inst_type = "SPOT"
    streams = (MarketStream("public", "/ws/v5/public", depth=True),)


class OkxSwap(_Okx):
    name = "okx_perpetual"
    inst_type = "SWAP"
    is_perpetual = True
    streams = (MarketStream("public", "/ws/v5/public", depth=True, funding=True),)

    def _td_mode(self) -> str:
        return "cross"

    def _channels(self) -> tuple[str, ...]:
        return ("books", "funding-rate", "mark-price")

    def _private_args(self) -> list[dict[str, str]]:
        return [*super()._private_args(), {"channel": "positions", "instType": "SWAP"}]

    def funding_requests(self, pair: str) -> list[RestRequest]:
        inst = self.symbol(pair)
        return [RestRequest("GET", "/api/v5/public/funding-rate", {"instId": inst}, op="funding"),
                RestRequest("GET", "/api/v5/public/mark-price", {"instType": "SWAP", "instId": inst}, op="mark")]

    def parse_funding(self, pair: str, request: RestRequest, payload: Any) -> FundingUpdate:
        row = payload[0]
        if request.op == "mark":
            return FundingUpdate(pair, int(row["ts"]), mark_price=dec(row["markPx"]), source="rest")
        return self._funding(pair, row)

    def positions_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v5/account/positions", {"instType": "SWAP"}, AuthLevel.SIGNED, "positions")

    def set_leverage_request(self, pair: str, leverage: int) -> RestRequest:
        return RestRequest("POST", "/api/v5/account/set-leverage",
                           {"instId": self.symbol(pair), "lever": str(leverage), "mgnMode": "cross"},
                           AuthLevel.SIGNED, "leverage")

    def parse_set_leverage(self, payload: Any) -> int:
        return int(payload[0]["lever"])

    def position_mode_request(self, hedge: bool) -> RestRequest:
        return RestRequest("POST", "/api/v5/account/set-position-mode",
                           {"posMode": "long_short_mode" if hedge else "net_mode"}, AuthLevel.SIGNED, "position_mode")
