"""What a dialect module provides: endpoints, request builders and message parsers. No I/O.

The generic roles (trackers, data sources, connector) do every network call; a dialect only says what to
send and what an answer means. A dialect instance belongs to one connector: it learns the market's
symbols (`set_rules`) and then speaks in trading pairs ("BTC-USDT").
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from ..auth import Auth
from ..book_sync import Checksum, DiffMessage, SnapshotMessage, SyncKind
from ..errors import ConnectorError
from ..in_flight_order import InFlightOrder
from ..rest import RestRequest, default_error
from ..types import (
    BalanceUpdate,
    FundingUpdate,
    OrderState,
    OrderUpdate,
    PositionUpdate,
    TradeFill,
    TradingRule,
    UserEvent,
)


@dataclass(frozen=True)
class MarketStream:
    """One public WebSocket connection: its path below the WS base URL and what it carries."""

    name: str
    path: str
    depth: bool = False
    funding: bool = False


@dataclass(frozen=True, slots=True)
class Ack:
    """The reply to a request sent on a stream (subscribe, probe)."""

    request_id: Any
    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class ReconnectRequested:
    """The server asks the client to reconnect (OKX service-upgrade notice, Bitstamp bts:request_reconnect)."""

    reason: str


MarketEvent = DiffMessage | SnapshotMessage | FundingUpdate | Ack | ReconnectRequested


@dataclass(frozen=True)
class Frame:
    """A text frame to send, and the request id whose reply to wait for (None: no reply expected)."""

    text: str
    request_id: Any = None


@dataclass(frozen=True)
class CreateResult:
    update: OrderUpdate | None
    fills: list[TradeFill]


class Dialect(abc.ABC):
    name: ClassVar[str]
    sync_kind: ClassVar[SyncKind]
    is_perpetual: ClassVar[bool] = False
    streams: ClassVar[tuple[MarketStream, ...]]
    #: the WebSocket snapshot of a pair is obtained by (re)subscribing, not by REST
    snapshot_from_ws: ClassVar[bool] = False

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.rules: dict[str, TradingRule] = {}
        self.pair_of: dict[str, str] = {}
        #: the pairs the connector trades (some venues' private channels are per market)
        self.tracked_pairs: list[str] = []

    # --- symbols ---------------------------------------------------------------------------------
    def set_rules(self, rules: Sequence[TradingRule]) -> None:
        self.rules = {r.trading_pair: r for r in rules}
        self.pair_of = {r.symbol: r.trading_pair for r in rules}

    def symbol(self, trading_pair: str) -> str:
        return self.rules[trading_pair].symbol

    def checksum(self) -> Checksum | None:
        """The book checksum the dialect's messages carry (None: no checksum)."""
        return None

    # --- time and errors --------------------------------------------------------------------------
    def server_time_request(self) -> RestRequest | None:
        return None

    def parse_server_time(self, payload: Any) -> int:
        raise NotImplementedError

    def map_error(self, request: RestRequest, status: int, payload: Any) -> ConnectorError:
        return default_error(request, status, payload)

    def unwrap(self, request: RestRequest, payload: Any) -> Any:
        """A 2xx answer's payload, or raise: some venues answer refusals with HTTP 200 and an envelope code."""
        return payload

    # --- market data ------------------------------------------------------------------------------
    @abc.abstractmethod
    def exchange_info_request(self) -> RestRequest: ...

    @abc.abstractmethod
    def parse_trading_rules(self, payload: Any) -> list[TradingRule]: ...

    @abc.abstractmethod
    def subscribe_frames(self, stream: MarketStream, pairs: Sequence[str], first_id: int) -> list[Frame]: ...

    def resubscribe_frames(self, stream: MarketStream, pair: str, first_id: int) -> list[Frame]:
        """Frames that make the exchange send a fresh WebSocket snapshot of `pair` (WS-snapshot dialects)."""
        return []

    def probe_frame(self, stream: MarketStream, request_id: int) -> Frame | None:
        """An application-level request whose reply proves the stream is alive (None: the dialect has none)."""
        return None

    @abc.abstractmethod
    def parse_market_message(self, stream: MarketStream, text: str) -> Sequence[MarketEvent]: ...

    @abc.abstractmethod
    def snapshot_request(self, pair: str, depth: int) -> RestRequest | None: ...

    @abc.abstractmethod
    def parse_snapshot(self, pair: str, payload: Any) -> SnapshotMessage: ...

    # --- trading ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_order_request(self, order: InFlightOrder) -> RestRequest: ...

    @abc.abstractmethod
    def parse_create_response(self, order: InFlightOrder, payload: Any) -> CreateResult: ...

    @abc.abstractmethod
    def cancel_order_request(self, order: InFlightOrder) -> RestRequest: ...

    @abc.abstractmethod
    def parse_cancel_response(self, order: InFlightOrder, payload: Any) -> OrderUpdate | None: ...

    @abc.abstractmethod
    def order_status_request(self, order: InFlightOrder) -> RestRequest: ...

    @abc.abstractmethod
    def parse_order_status(self, order: InFlightOrder, payload: Any) -> OrderUpdate: ...

    @abc.abstractmethod
    def order_fills_request(self, order: InFlightOrder) -> RestRequest: ...

    @abc.abstractmethod
    def parse_order_fills(self, order: InFlightOrder, payload: Any) -> list[TradeFill]: ...

    @abc.abstractmethod
    def balances_request(self) -> RestRequest: ...

    @abc.abstractmethod
    def parse_balances(self, payload: Any) -> tuple[list[BalanceUpdate], int]:
        """Every balance of the account, and the exchange time the snapshot is true at."""

    # --- user stream ------------------------------------------------------------------------------
    def user_stream_token_request(self) -> RestRequest | None:
        """A REST call that returns the stream's token (USD-M listenKey); None if the stream needs none."""
        return None

    def parse_user_stream_token(self, payload: Any) -> str:
        raise NotImplementedError

    def user_stream_keepalive_request(self, token: str | None) -> RestRequest | None:
        return None

    @abc.abstractmethod
    def user_stream_path(self, token: str | None) -> str: ...

    def user_stream_login(self, request_id: int, now_ms: int, token: str | None) -> list[Frame]:
        """Frames to send right after connecting (login, subscriptions); each with an id awaits its reply.
        Ids `request_id`, `request_id + 1`, ... are free to use. `token`: from `user_stream_token_request`."""
        return []

    def parse_login_reply(self, text: str) -> Ack | None:
        """The reply to a login frame, or None if `text` is something else."""
        return None

    def user_probe_frame(self, request_id: int) -> Frame | None:
        return None

    @abc.abstractmethod
    def parse_user_message(self, text: str) -> Sequence[UserEvent]: ...

    # --- perpetuals -------------------------------------------------------------------------------
    #: funding info includes an index price (OKX publishes none)
    publishes_index_price: ClassVar[bool] = True

    def funding_requests(self, pair: str) -> list[RestRequest]:
        """REST calls that together give the pair's funding info (none for spot)."""
        return []

    def parse_funding(self, pair: str, request: RestRequest, payload: Any) -> FundingUpdate:
        raise NotImplementedError

    def positions_request(self) -> RestRequest | None:
        return None

    def parse_positions(self, payload: Any) -> list[PositionUpdate]:
        raise NotImplementedError

    def set_leverage_request(self, pair: str, leverage: int) -> RestRequest:
        raise NotImplementedError

    def parse_set_leverage(self, payload: Any) -> int:
        raise NotImplementedError

    def position_mode_request(self, hedge: bool) -> RestRequest | None:
        """The call that sets one-way (False) or hedge (True) mode; None: nothing to do. Raises
        ExchangeRejected for a mode the venue does not have."""
        raise NotImplementedError


def dec(value: Any) -> Decimal:
    """A Decimal from a JSON string or number (numbers via their text, never via float arithmetic)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


__all__ = ["Ack", "CreateResult", "Dialect", "Frame", "MarketEvent", "MarketStream", "OrderState", "ReconnectRequested",
           "dec"]
