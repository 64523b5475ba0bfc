"""The exchange's fault controller: gives each connection its filter, answers the dialects' hooks, decides
REST faults, and writes the transcript. It never changes the engine's truth, with one recorded exception:
the cancel/fill race fills an order through the engine, as a market participant would.

It also refuses a schedule that the dialects it is served in cannot carry out: a `corrupt` rule needs a dialect
whose book messages carry a checksum (`schedule.KIND_NEEDS`), since on any other no connector could notice it. It
learns the dialects from the app built around the exchange (`fault_middleware`, which `create_app` installs) and
checks when the exchange starts (`start`, so `MockExchangeServer.start` raises a `ValueError` that says which rule
and which dialects) and when a scenario is started on it (`load`: the control API answers 400).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..engine import EngineError, OrderType, Side, TimeInForce, WallClock
from .cursor import RuleCursor
from .schedule import REST_KINDS, FaultKind, FaultRule, Schedule
from .stream import ConnectionFaults
from .transcript import Transcript

if TYPE_CHECKING:
    from ..engine import Engine
    from ..server.connection import ClientConnection

log = logging.getLogger(__name__)

#: what the cancel/fill race's counterparty starts with, per asset (it only ever takes resting orders)
_COUNTERPARTY_FUNDS = Decimal("1e12")
#: how many of the latest fault records `FaultController.recent` keeps (for the dashboard's live log)
RECENT_FAULTS = 500


#: a book request for fewer levels a side than this is a price query, not a snapshot to sync a book from
SNAPSHOT_MIN_LEVELS = 20


class FaultController:
    def __init__(self, engine: Engine, schedule: Schedule | None = None, transcript: Transcript | None = None,
                 scenario: str = "") -> None:
        self.engine = engine
        self.schedule = schedule or Schedule()
        self.transcript = transcript
        self.wall_clock = isinstance(engine.clock, WallClock)
        self.start_us = engine.clock.now_us()
        self.fired = 0
        #: the latest fault records (what `record_fault` writes, numbered by `n`), transcript or not
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_FAULTS)
        self._ordinals = 0
        self._attached: dict[int, ConnectionFaults] = {}
        self._ws_rules = self.schedule.ws_rules()
        scoped = [FaultKind.REFUSE_CONNECT, FaultKind.STALE_SNAPSHOT, FaultKind.CANCEL_FILL_RACE]
        self._global: dict[FaultKind, list[RuleCursor]] = {
            kind: [RuleCursor(i, r, self.schedule.seed, 0) for i, r in enumerate(self.schedule.rules) if r.kind is kind]
            for kind in scoped
        }
        self._rest = [RuleCursor(i, r, self.schedule.seed, 0)
                      for i, r in enumerate(self.schedule.rules) if r.kind in REST_KINDS]
        self._refuse_until: dict[str, int] = {}
        self._rest_counts: dict[str, int] = {}
        self._counterparty: int | None = None
        #: when a book snapshot was served, per engine symbol (µs since start; `snapshot_update_id` is asked once
        #: per snapshot served, by every dialect): what a conformance check counts resyncs by
        self.snapshots_served: dict[str, list[int]] = {}
        #: set by `quiesce()`: no rule fires any more
        self.quiet = False
        #: the dialects the exchange is served in, once an app is built around it (set by `fault_middleware`)
        self.dialects: Callable[[], Sequence[object]] | None = None
        if transcript is not None:
            transcript.write({"ev": "header", "scenario": scenario, **self.schedule.to_dict()})

    # --- time ------------------------------------------------------------------------------------
    def start(self) -> None:
        """The exchange starts: time counts from now. Refuses (ValueError) a schedule the dialects served cannot
        carry out (`check`)."""
        self.check(self.schedule)
        self.start_us = self.engine.clock.now_us()

    def served_dialects(self) -> Sequence[object] | None:
        """The dialects an app serves the exchange in; None before an app is built around it."""
        if self.dialects is None:
            return None
        try:
            return self.dialects()
        except KeyError:  # the app is still being built
            return None

    def check(self, schedule: Schedule) -> None:
        """Raise ValueError when a rule of `schedule` needs what none of the served dialects has (a `corrupt` rule
        where no dialect's book messages carry a checksum). Nothing to check before an app serves the exchange."""
        dialects = self.served_dialects()
        if dialects is None:
            return
        problems = schedule.unsupported(dialects)
        if problems:
            raise ValueError("; ".join(problems))

    def now_us(self) -> int:
        return self.engine.clock.now_us()

    def elapsed_s(self, now_us: int) -> float:
        return (now_us - self.start_us) / 1e6

    def _t(self) -> int:
        return self.now_us() - self.start_us

    def load(self, schedule: Schedule, scenario: str = "") -> None:
        """Swap the schedule of a running exchange (a scenario started from the control API).

        The new rules' time windows (`start_s`/`end_s`) count from now. Connections opened from now on get the
        new WebSocket rules; those already open keep their filters. Handshake refusals, stale snapshots, the
        cancel/fill race and REST faults follow the new rules, counted afresh. Connection ordinals, `fired`,
        `recent` and the transcript (which gets a `schedule` record) go on: a rule's `connection` is an
        ordinal counted since the exchange started. A schedule the served dialects cannot carry out is refused
        (ValueError, see `check`) and the running one kept.
        """
        self.check(schedule)
        offset = self.elapsed_s(self.now_us())

        def shifted(rule: FaultRule) -> FaultRule:
            if rule.start_s is None and rule.end_s is None:
                return rule
            return dataclasses.replace(rule, start_s=None if rule.start_s is None else rule.start_s + offset,
                                       end_s=None if rule.end_s is None else rule.end_s + offset)

        self.schedule = Schedule(seed=schedule.seed, rules=tuple(shifted(r) for r in schedule.rules))
        rules = list(enumerate(self.schedule.rules))
        self._ws_rules = self.schedule.ws_rules()
        for kind in self._global:
            self._global[kind] = [RuleCursor(i, r, schedule.seed, 0) for i, r in rules if r.kind is kind]
        self._rest = [RuleCursor(i, r, schedule.seed, 0) for i, r in rules if r.kind in REST_KINDS]
        self._refuse_until.clear()
        self.quiet = False
        if self.transcript is not None:
            self.transcript.write({"t": self._t(), "ev": "schedule", "scenario": scenario, **self.schedule.to_dict()})

    # --- connections -----------------------------------------------------------------------------
    def attach(self, conn: ClientConnection) -> None:
        self._ordinals += 1
        ordinal = conn.ordinal = self._ordinals
        if self.transcript is not None:
            transcript = self.transcript
            transcript.write({"t": self._t(), "ev": "open", "conn": ordinal, "path": conn.path})

            def record(text: str) -> None:
                transcript.write({"t": self._t(), "ev": "send", "conn": ordinal, "text": text})

            conn.record = record
        cursors = [RuleCursor(i, r, self.schedule.seed, ordinal) for i, r in self._ws_rules
                   if (r.connection is None or r.connection == ordinal)
                   and (r.path is None or conn.path.startswith(r.path))]
        if cursors:
            faults = ConnectionFaults(self, conn, cursors, ordinal)
            conn.faults = faults
            self._attached[ordinal] = faults

    def detach(self, conn: ClientConnection) -> None:
        faults = self._attached.pop(conn.ordinal, None)
        if faults is not None:
            faults.close()
        if self.transcript is not None:
            self.transcript.write({"t": self._t(), "ev": "close", "conn": conn.ordinal})

    def quiesce(self) -> None:
        """Stop firing faults from now on (a harness's settle phase) and let go of what earlier faults hold.

        Frames held back for reordering, in an unfinished burst or behind a fill go out now; the delay line keeps
        its timing; a stall under way goes on (a connector is expected to notice it); refused handshakes end.
        """
        if self.quiet:
            return
        self.quiet = True
        self._refuse_until.clear()
        for faults in list(self._attached.values()):
            faults.release_held()
        self.record_fault("quiesce", None)

    def poll(self, now_us: int) -> None:
        for faults in list(self._attached.values()):
            if faults.holding:
                faults.poll(now_us)

    def admit(self, path: str) -> bool:
        """Whether a WebSocket handshake on `path` is let through (REFUSE_CONNECT says no for a while)."""
        if self.quiet:
            return True
        now = self.now_us()
        for prefix, until in self._refuse_until.items():
            if now < until and path.startswith(prefix):
                self.record_fault(FaultKind.REFUSE_CONNECT.value, None, path=path)
                return False
        cursor = _first_firing([c for c in self._global[FaultKind.REFUSE_CONNECT]
                                if c.rule.path is None or path.startswith(c.rule.path)], self.elapsed_s(now))
        if cursor is None:
            return True
        rule = cursor.rule
        self.record_fault(rule.kind.value, cursor.index, path=path)
        if rule.duration_s:
            self._refuse_until[rule.path or "/"] = now + int(rule.duration_s * 1e6)
        return False

    # --- dialect hooks -----------------------------------------------------------------------------
    def snapshot_update_id(self, symbol: str, levels: int | None = None) -> int | None:
        """The update id a REST snapshot of `symbol` should be served at, or None for the current book. Every
        dialect asks this once per snapshot it serves (REST, or OKX's on the socket), so it also counts those deep
        enough to sync a book from (`levels` per side asked for, None: the whole book); a top-of-book query is not
        a resync."""
        if levels is None or levels >= SNAPSHOT_MIN_LEVELS:
            self.snapshots_served.setdefault(symbol, []).append(self._t())
        if self.quiet:
            return None
        cursor = _first_firing([c for c in self._global[FaultKind.STALE_SNAPSHOT]
                                if c.rule.symbol is None or c.rule.symbol == symbol], self.elapsed_s(self.now_us()))
        if cursor is None:
            return None
        current = self.engine.last_update_id(symbol)
        served = max(current - cursor.rule.lag, self.engine.oldest_update_id(symbol))
        self.record_fault(cursor.rule.kind.value, cursor.index, symbol=symbol, update_id=served, current=current)
        return served

    def before_cancel(self, symbol: str, account_id: int, order_id: int | None = None,
                      client_order_id: str | None = None) -> None:
        """The cancel/fill race: when a rule fires, the order is filled by the market before the cancel runs."""
        cursors = [c for c in self._global[FaultKind.CANCEL_FILL_RACE]
                   if c.rule.symbol is None or c.rule.symbol == symbol]
        if not cursors or self.quiet:
            return
        try:
            order = self.engine.order(account_id, symbol, order_id=order_id, client_order_id=client_order_id)
        except EngineError:
            return
        if order.status.is_terminal:
            return
        cursor = _first_firing(cursors, self.elapsed_s(self.now_us()))
        if cursor is not None:
            self._fill(order.order_id, symbol, order.side, order.price, cursor.index)

    def _fill(self, order_id: int, symbol: str, side: Side, price: Decimal, rule: int) -> None:
        if self._counterparty is None:
            funds = {asset: _COUNTERPARTY_FUNDS for asset in self.engine.assets()}
            self._counterparty = self.engine.create_account(funds, name="fault-counterparty").account_id
        try:
            qty = self.engine.qty_to_fill(order_id)
            taker_side = Side.SELL if side is Side.BUY else Side.BUY
            self.engine.place_order(self._counterparty, symbol, taker_side, OrderType.LIMIT, qty, price,
                                    TimeInForce.IOC)
        except EngineError as error:
            log.info("cancel/fill race on order %s not possible: %s", order_id, error)
            return
        self.record_fault(FaultKind.CANCEL_FILL_RACE.value, rule, symbol=symbol, order_id=order_id)

    # --- REST ------------------------------------------------------------------------------------
    def rest_fault(self, method: str, path: str, role: str | None) -> FaultRule | None:
        if not self._rest or self.quiet:
            return None
        selected = [c for c in self._rest if (c.rule.role is None or c.rule.role == role)
                    and (c.rule.path is None or path.startswith(c.rule.path))]
        cursor = _first_firing(selected, self.elapsed_s(self.now_us()))
        if cursor is None:
            return None
        self.record_fault(cursor.rule.kind.value, cursor.index, method=method, path=path)
        return cursor.rule

    def record_rest(self, key: str, status: int, body: str) -> None:
        if self.transcript is None:
            return
        n = self._rest_counts[key] = self._rest_counts.get(key, 0) + 1
        self.transcript.write({"t": self._t(), "ev": "rest", "key": key, "n": n, "status": status, "body": body})

    # --- record ----------------------------------------------------------------------------------
    def record_fault(self, kind: str, rule: int | None, **where: Any) -> None:
        self.fired += 1
        self.recent.append({"n": self.fired, "t": self._t(), "kind": kind, "rule": rule, **where})
        if self.transcript is not None:
            self.transcript.write({"t": self._t(), "ev": "fault", "kind": kind, "rule": rule, **where})


def _first_firing(cursors: list[RuleCursor], elapsed_s: float) -> RuleCursor | None:
    """Every selected rule counts the request (so `at_message` means the N-th request it selects, whatever
    other rules do); the first rule that fires decides what happens to it."""
    fired = [c for c in cursors if c.fires(elapsed_s)]
    return fired[0] if fired else None
