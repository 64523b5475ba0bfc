"""Bitstamp v2: REST `/api/v2/...` (private calls are signed form POSTs with X-Auth headers), WebSocket API v2
at the root path. No update id or sequence anywhere: book diffs (`diff_order_book_{market}`) carry only a
`microtimestamp`, spliced onto the REST snapshot's (timestamp sync strategy). Private channels
(`private-my_orders_{market}-{user id}`, `private-my_trades_...`) need a token from
`POST /api/v2/websockets_token/` in each subscription; there is no private balance channel, so balances
come from REST (refreshed after every order event). Spot `btcusdt` and perpetual `btcusdt-perp` are both
the pair "BTC-USDT".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from ..auth import AuthLevel, BitstampAuth
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
    OrderState,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    StreamEnded,
    TradeFill,
    TradingRule,
    UserEvent,
)
from .base import Ack, CreateResult, Dialect, Frame, MarketEvent, MarketStream, ReconnectRequested, dec

ZERO = Decimal(0)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def _market_of(channel: str) -> str:
    """`diff_order_book_btcusdt` -> `btcusdt`; `private-my_orders_btcusdt-perp-17` -> `btcusdt-perp`."""
    if channel.startswith("private-"):
        body = channel[len("private-"):].split("_", 2)[-1]
        return body.rsplit("-", 1)[0]
    for prefix in ("diff_order_book_", "funding_rate_", "order_book_", "live_trades_"):
        if channel.startswith(prefix):
            return channel[len(prefix):]
    return ""


class _Bitstamp(Dialect):
    sync_kind = SyncKind.TIMESTAMPS
    market_type: ClassVar[str]
    auth: BitstampAuth

    def __init__(self, api_key: str, api_secret: str, host: str) -> None:
        super().__init__(BitstampAuth(api_key, api_secret, host))
        self.user_id: int | None = None

    # --- errors ---------------------------------------------------------------------------------------
    def map_error(self, request: RestRequest, status: int, payload: Any) -> ConnectorError:
        body = payload if isinstance(payload, dict) else {}
        code = str(body.get("response_code") or body.get("code") or "")
        reason = body.get("reason", "")
        text = f"HTTP {status} {code} {reason}".strip()
        if status >= 500 or code in ("400.002", "500.001") or not body:  # includes the CDN's HTML pages
            return RequestError(text, status)
        if code in ("API0017", "API0018"):
            return TimestampRejected(text, status)
        if code == "404.002":
            return CancelRejected(text, status) if request.op == "order.cancel" else OrderNotFound(text, status)
        return ExchangeRejected(text, status)

    # --- markets --------------------------------------------------------------------------------------
    def exchange_info_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v2/markets/", op="exchangeInfo")

    def parse_trading_rules(self, payload: Any) -> list[TradingRule]:
        rules = []
        for market in payload:
            if market.get("trading") != "Enabled" or market.get("market_type", "SPOT") != self.market_type:
                continue
            base, quote = market["base_currency"], market["counter_currency"]
            step = Decimal(1).scaleb(-int(market["base_decimals"]))
            rules.append(TradingRule(f"{base}-{quote}", market["market_symbol"], base, quote, dec(market["tick_size"]),
                                     step, dec(market["minimum_order_amount"]), dec(market["minimum_order_value"]),
                                     ZERO, self.market_type == "PERPETUAL"))
        return rules

    def _channels(self, pair: str) -> list[str]:
        return [f"diff_order_book_{self.symbol(pair)}"]

    def subscribe_frames(self, stream: MarketStream, pairs: Sequence[str], first_id: int) -> list[Frame]:
        return [Frame(_dumps({"event": "bts:subscribe", "data": {"channel": channel}}), channel)
                for pair in pairs for channel in self._channels(pair)]

    def probe_frame(self, stream: MarketStream, request_id: int) -> Frame:
        return Frame(_dumps({"event": "bts:heartbeat"}))

    @staticmethod
    def _control(d: dict[str, Any]) -> list[Any]:
        event = d.get("event")
        if event == "bts:subscription_succeeded":
            return [Ack(d.get("channel"), True)]
        if event == "bts:error":
            data = d.get("data") or {}
            return [Ack(d.get("channel") or None, False, f"{data.get('code')} {data.get('message')}")]
        if event == "bts:request_reconnect":
            return [ReconnectRequested("bts:request_reconnect")]
        return []

    def parse_market_message(self, stream: MarketStream, text: str) -> Sequence[MarketEvent]:
        d = json.loads(text)
        event = d.get("event", "")
        if event.startswith("bts:"):
            return self._control(d)
        channel = d.get("channel", "")
        pair = self.pair_of.get(_market_of(channel))
        if pair is None:
            return ()
        data = d["data"]
        if event == "data" and channel.startswith("diff_order_book_"):
            return (DiffMessage(data["bids"], data["asks"], None, None, None, int(data["microtimestamp"]), None,
                                pair),)
        if event == "funding_rate_saved":
            return (FundingUpdate(pair, int(data["timestamp"]) * 1000, dec(data["funding_rate"]),
                                  dec(data["mark_price"]), dec(data["index_price"]),
                                  int(data["next_funding_time"]) * 1000, "ws"),)
        return ()

    def snapshot_request(self, pair: str, depth: int) -> RestRequest:
        return RestRequest("GET", f"/api/v2/order_book/{self.symbol(pair)}/", op="depth")

    def parse_snapshot(self, pair: str, payload: Any) -> SnapshotMessage:
        return SnapshotMessage(None, payload["bids"], payload["asks"], int(payload["microtimestamp"]), None, pair)

    # --- orders ----------------------------------------------------------------------------------------
    def create_order_request(self, order: InFlightOrder) -> RestRequest:
        market = self.symbol(order.trading_pair)
        side = "buy" if order.side is Side.BUY else "sell"
        params: dict[str, Any] = {"amount": _text(order.amount)}
        if order.order_type is OrderType.MARKET:
            path = f"/api/v2/{side}/market/{market}/"
        else:
            assert order.price is not None
            path = f"/api/v2/{side}/{market}/"
            params["price"] = _text(order.price)
            if order.order_type is OrderType.LIMIT_MAKER:
                params["moc_order"] = "True"
            elif order.time_in_force in ("IOC", "FOK"):
                params[f"{order.time_in_force.lower()}_order"] = "True"
        params["client_order_id"] = order.client_order_id
        return RestRequest("POST", path, params, AuthLevel.SIGNED, "order.create")

    def parse_create_response(self, order: InFlightOrder, payload: Any) -> CreateResult:
        return CreateResult(OrderUpdate(order.trading_pair, order.client_order_id, str(payload["id"]), OrderState.OPEN,
                                        0, None, "rest:create"), [])

    def _ref(self, order: InFlightOrder) -> dict[str, Any]:
        if order.exchange_order_id is not None:
            return {"id": order.exchange_order_id}
        return {"client_order_id": order.client_order_id}

    def cancel_order_request(self, order: InFlightOrder) -> RestRequest:
        return RestRequest("POST", "/api/v2/cancel_order/", self._ref(order), AuthLevel.SIGNED, "order.cancel")

    def parse_cancel_response(self, order: InFlightOrder, payload: Any) -> OrderUpdate:
        return OrderUpdate(order.trading_pair, order.client_order_id, str(payload["id"]), OrderState.CANCELED, 0,
                           None, "rest:cancel")

    def order_status_request(self, order: InFlightOrder) -> RestRequest:
        return RestRequest("POST", "/api/v2/order_status/", {"client_order_id": order.client_order_id},
                           AuthLevel.SIGNED, "order.status")

    def parse_order_status(self, order: InFlightOrder, payload: Any) -> OrderUpdate:
        executed = order.amount - dec(payload["amount_remaining"])
        status = payload["status"]
        if status == "Finished":
            state = OrderState.FILLED
        elif status in ("Canceled", "Expired"):
            state = OrderState.CANCELED
        else:
            state = OrderState.PARTIALLY_FILLED if executed else OrderState.OPEN
        return OrderUpdate(order.trading_pair, order.client_order_id, str(payload["id"]), state, 0, executed,
                           "rest:status", status)

    def order_fills_request(self, order: InFlightOrder) -> RestRequest:
        return self.order_status_request(order)  # the status answer lists the order's transactions

    def _fee_asset(self, order: InFlightOrder) -> str:
        """REST transactions do not name the fee currency. Bitstamp charges the counter currency; the mock
        charges like its engine (a spot buyer pays in the base asset), so this follows the engine."""
        rule = self.rules[order.trading_pair]
        return rule.base if (order.side is Side.BUY and not rule.is_perpetual) else rule.quote

    def parse_order_fills(self, order: InFlightOrder, payload: Any) -> list[TradeFill]:
        rule = self.rules[order.trading_pair]
        base = rule.base.lower()
        fills = []
        for tx in payload.get("transactions", []):
            if int(tx.get("type", 2)) != 2:
                continue
            fills.append(TradeFill(str(tx["tid"]), order.trading_pair, order.client_order_id, str(payload["id"]),
                                   dec(tx["price"]), abs(dec(tx[base])), dec(tx["fee"]), self._fee_asset(order), 0,
                                   None, "rest:trades"))
        return fills

    def balances_request(self) -> RestRequest:
        return RestRequest("POST", "/api/v2/account_balances/", {}, AuthLevel.SIGNED, "account")

    def parse_balances(self, payload: Any) -> tuple[list[BalanceUpdate], int]:
        # No time in the answer: 0 tells the connector to date it when it was asked for.
        return [BalanceUpdate(row["currency"].upper(), dec(row["total"]), dec(row["available"]), 0, "rest")
                for row in payload], 0

    # --- user stream -----------------------------------------------------------------------------------
    def user_stream_token_request(self) -> RestRequest:
        return RestRequest("POST", "/api/v2/websockets_token/", {}, AuthLevel.SIGNED, "ws_token")

    def parse_user_stream_token(self, payload: Any) -> str:
        self.user_id = int(payload["user_id"])
        return str(payload["token"])

    def user_stream_path(self, token: str | None) -> str:
        return "/"

    def user_stream_login(self, request_id: int, now_ms: int, token: str | None) -> list[Frame]:
        frames = []
        for pair in self.tracked_pairs:
            for kind in ("my_orders", "my_trades"):
                channel = f"private-{kind}_{self.symbol(pair)}-{self.user_id}"
                text = _dumps({"event": "bts:subscribe", "data": {"channel": channel, "auth": token}})
                frames.append(Frame(text, channel))
        return frames

    def parse_login_reply(self, text: str) -> Ack | None:
        d = json.loads(text)
        if not str(d.get("event", "")).startswith("bts:"):
            return None
        acks = [a for a in self._control(d) if isinstance(a, Ack)]
        return acks[0] if acks else None

    def user_probe_frame(self, request_id: int) -> Frame:
        return Frame(_dumps({"event": "bts:heartbeat"}))

    def parse_user_message(self, text: str) -> Sequence[UserEvent]:
        d = json.loads(text)
        event = d.get("event", "")
        if event == "bts:request_reconnect":
            return (StreamEnded("bts:request_reconnect"),)
        if event.startswith("bts:"):
            return ()
        channel = d.get("channel", "")
        pair = self.pair_of.get(_market_of(channel))
        if pair is None:
            return ()
        data = d["data"]
        if channel.startswith("private-my_orders_"):
            return [self._order_event(pair, event, data), BalancesRefreshNeeded("order")]
        if channel.startswith("private-my_trades_") and event == "trade":
            fill = TradeFill(str(data["id"]), pair, data.get("client_order_id"), str(data["order_id"]),
                             dec(data["price"]), dec(data["amount"]), dec(data["fee"]),
                             str(data.get("fee_currency", "")).upper(), int(data["microtimestamp"]) // 1000, None,
                             "ws")
            return [fill, BalancesRefreshNeeded("trade")]
        return ()

    @staticmethod
    def _order_event(pair: str, event: str, data: dict[str, Any]) -> OrderUpdate:
        traded = dec(data["amount_traded"])
        total = dec(data["amount_at_create"])
        if event == "order_deleted":
            state = OrderState.FILLED if traded == total else OrderState.CANCELED
        elif traded:
            state = OrderState.PARTIALLY_FILLED
        else:
            state = OrderState.OPEN
        return OrderUpdate(pair, data.get("client_order_id", ""), str(data["id"]), state,
                           int(data["microtimestamp"]) // 1000, traded, "ws", event)


class BitstampSpot(_Bitstamp):
    name = "bitstamp"
    market_type = "SPOT"
    streams = (MarketStream("public", "/", depth=True),)


class BitstampPerpetual(_Bitstamp):
    name = "bitstamp_perpetual"
    market_type = "PERPETUAL"
    is_perpetual = True
    streams = (MarketStream("public", "/", depth=True, funding=True),)

    def _channels(self, pair: str) -> list[str]:
        return [*super()._channels(pair), f"funding_rate_{self.symbol(pair)}"]

    def funding_requests(self, pair: str) -> list[RestRequest]:
        market = self.symbol(pair)
        return [RestRequest("GET", f"/api/v2/funding_rate/{market}/", op="funding"),
                RestRequest("GET", f"/api/v2/ticker/{market}/", op="ticker")]

    def parse_funding(self, pair: str, request: RestRequest, payload: Any) -> FundingUpdate:
        time_ms = int(payload["timestamp"]) * 1000
        if request.op == "ticker":
            return FundingUpdate(pair, time_ms, mark_price=dec(payload["mark_price"]),
                                 index_price=dec(payload["index_price"]), source="rest")
        return FundingUpdate(pair, time_ms, rate=dec(payload["funding_rate"]),
                             next_funding_time_ms=int(payload["next_funding_time"]) * 1000, source="rest")

    def positions_request(self) -> RestRequest:
        return RestRequest("GET", "/api/v2/open_positions/", {}, AuthLevel.SIGNED, "positions")

    def parse_positions(self, payload: Any) -> list[PositionUpdate]:
        out = []
        for row in payload:
            pair = self.pair_of.get(row["market"].replace("/", "").lower())
            if pair is None:
                continue
            size = dec(row["size"])
            amount = size if row["side"] == "long" else -size
            out.append(PositionUpdate(pair, amount, dec(row["entry_price"]), dec(row["pnl_unrealized"]),
                                      int(row["leverage"]), 0, "rest"))
        return out

    def set_leverage_request(self, pair: str, leverage: int) -> RestRequest:
        return RestRequest("POST", "/api/v2/leverage_settings/",
                           {"market": self.symbol(pair), "leverage": leverage, "margin_mode": "CROSS"},
                           AuthLevel.SIGNED, "leverage")

    def parse_set_leverage(self, payload: Any) -> int:
        return int(payload[0]["leverage_current"])

    def position_mode_request(self, hedge: bool) -> RestRequest | None:
        if hedge:
            raise ExchangeRejected("Bitstamp perpetuals have one position per market (no hedge mode)")
        return None
