"""What every OKX handler and the encoder share: the exchange, the instrument table, the limiter, and the
little state OKX shows that the engine does not keep (passphrases, the size a quote-sized market buy was
sent with, per-position fee and funding ledgers, who is logged in on a WebSocket)."""

from __future__ import annotations

import random

from ...engine import Account, Engine, EngineError
from ...server.exchange import MockExchange
from .auth import passphrase_for
from .errors import unknown_instrument
from .formats import Ledger
from .instruments import Instrument, instrument_table
from .rate_limit import RateLimiter

#: prefix of the client ids given to orders sent without clOrdId: "_" is outside OKX's clOrdId alphabet, so
#: no client can send (or cancel by) one, and answers show "" for them as OKX does
ANONYMOUS = "_okx"


class OkxContext:
    def __init__(self, exchange: MockExchange) -> None:
        self.exchange = exchange
        self.engine: Engine = exchange.engine
        self.instruments = instrument_table(self.engine)
        self.by_symbol = {inst.symbol: inst for inst in self.instruments.values()}
        self.limiter = RateLimiter()
        self.list_time_ms = self.now_ms()
        self._passphrases: dict[str, str] = {}
        #: quote-sized market buys: (account id, client order id) -> the `sz` (quote amount) the client sent
        self.sent_sz: dict[tuple[int, str], str] = {}
        self.ledgers: dict[tuple[int, str], Ledger] = {}
        #: per market: ((last trade id, minute), the ticker's 24 h figures)
        self.ticker_stats: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}
        #: a stable small number per instrument, for OKX's `posId`
        self.position_index = {inst_id: i for i, inst_id in enumerate(self.instruments)}
        self._conn_ids = random.Random(exchange.config.seed + 3)
        #: account id -> WebSocket sessions logged in as it (private pushes are encoded only for these)
        self.logged_in: dict[int, int] = {}
        #: False: books pushes carry checksum 0, as OKX announced for its books channels from 2026-06-23
        self.send_checksum = True

    def now_ms(self) -> int:
        return self.engine.clock.now_us() // 1000

    def passphrase(self, account: Account) -> str:
        found = self._passphrases.get(account.api_key)
        if found is None:
            found = self._passphrases[account.api_key] = passphrase_for(self.exchange.config.seed, account.api_key)
        return found

    def instrument(self, inst_id: str) -> Instrument:
        inst = self.instruments.get(inst_id)
        if inst is None:
            raise unknown_instrument()
        return inst

    def new_conn_id(self) -> str:
        """OKX's `connId`: 8 hex digits per WebSocket connection (seeded)."""
        return format(self._conn_ids.getrandbits(32), "08x")

    def ledger(self, account_id: int, symbol: str) -> Ledger:
        found = self.ledgers.get((account_id, symbol))
        if found is None:
            found = self.ledgers[(account_id, symbol)] = Ledger()
        return found

    def lever(self, account_id: int, inst: Instrument) -> str:
        if not inst.is_swap:
            return ""
        account = self.engine.accounts.get(account_id)
        leverage = account.leverage.get(inst.symbol) if account is not None else None
        return str(leverage or inst.spec.default_leverage)

    @staticmethod
    def client_id(client_order_id: str) -> str:
        """The clOrdId OKX shows: "" for an order sent without one (see `ANONYMOUS`)."""
        return "" if client_order_id.startswith(ANONYMOUS) else client_order_id

    def client_id_of(self, order_id: int) -> str:
        try:
            return self.client_id(self.engine.order_by_id(order_id).client_order_id)
        except EngineError:  # forgotten by the engine (retention)
            return ""
