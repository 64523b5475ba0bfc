"""Runs a scenario's exchange actions (funding, mark price, price moves, flow pauses) at their times."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from .scenario import Action, ActionKind

if TYPE_CHECKING:
    from ..server.exchange import MockExchange

log = logging.getLogger(__name__)


class ScenarioActions:
    def __init__(self, exchange: MockExchange, actions: tuple[Action, ...]) -> None:
        self.exchange = exchange
        self.actions = sorted(actions, key=lambda a: a.at_s)
        self.applied: list[Action] = []

    def apply(self, action: Action) -> None:
        engine = self.exchange.engine
        kind = action.kind
        if action.symbol and action.symbol not in engine.markets:
            log.warning("scenario action %s skipped: no market %s", kind, action.symbol)
            return
        if kind == ActionKind.TRIGGER_FUNDING:
            engine.trigger_funding(action.symbol)
        elif kind == ActionKind.SET_FUNDING_RATE:
            engine.set_funding_rate(action.symbol, Decimal(action.value))
        elif kind == ActionKind.SET_MARK_PRICE:
            engine.set_mark_price(action.symbol, Decimal(action.value))
        elif kind == ActionKind.MOVE_PRICE:
            flow = self.exchange.flows.get(action.symbol)
            if flow is not None:
                flow.mid_ticks = engine.markets[action.symbol].spec.price_to_ticks(Decimal(action.value))
        elif kind == ActionKind.PAUSE_FLOW:
            self.exchange.pause_flow()
        elif kind == ActionKind.RESUME_FLOW:
            self.exchange.resume_flow()
        self.applied.append(action)
        self.exchange.faults.record_fault("action", None, action=kind, symbol=action.symbol, value=action.value)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for action in self.actions:
            wait = start + action.at_s - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            self.apply(action)
