"""A running mock exchange: the engine, its order flow, time, and the hub that fans events out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web

from ..engine import Account, Clock, Engine, EngineConfig, MarketSpec, WallClock, perpetual_market, spot_market
from ..faults import FaultController, Schedule, Transcript
from ..faults.schedule import dialect_name, dialects_with, has_capability
from ..flow import FlowConfig, FlowGenerator
from ..scenarios.actions import ScenarioActions
from ..scenarios.scenario import Action, Scenario
from .connection import ClientConnection
from .hub import EventHub, Frame


def default_markets() -> list[MarketSpec]:
    return [
        spot_market("BTCUSDT", "BTC", "USDT"),
        spot_market("ETHUSDT", "ETH", "USDT", lot_size=Decimal("0.0001"), min_qty=Decimal("0.0001")),
        perpetual_market("BTCUSDT-PERP", "BTC", "USDT"),
        perpetual_market("ETHUSDT-PERP", "ETH", "USDT", tick_size=Decimal("0.01"), min_price=Decimal("0.01")),
    ]


DEFAULT_MIDS = {"BTC": Decimal("30000"), "ETH": Decimal("2000")}


@dataclass(frozen=True)
class MockExchangeConfig:
    seed: int = 0
    markets: tuple[MarketSpec, ...] = field(default_factory=lambda: tuple(default_markets()))
    #: None: quiet (no synthetic flow); else the flow settings applied to every market
    flow: FlowConfig | None = field(default_factory=lambda: FlowConfig(levels_per_side=200, rate_per_s=50))
    #: trading accounts created at start, each with `starting_balances`
    accounts: int = 2
    starting_balances: tuple[tuple[str, Decimal], ...] = (
        ("USDT", Decimal("1000000")), ("BTC", Decimal("100")), ("ETH", Decimal("1000")),
    )
    tick_interval_s: float = 0.05
    history_window: int = 100_000
    #: frames queued for one WebSocket client before it is cut off as too slow
    max_pending_frames: int = 10_000
    #: what each client gets to see of the truth, and when (None: everything, at once)
    faults: Schedule | None = None
    #: the scenario's name, for the transcript's header
    scenario: str = ""
    #: exchange actions (funding, mark price, price moves) run at their times after start
    actions: tuple[Action, ...] = ()
    #: depth diff streams at the venue's documented speed, every change of an interval merged into one frame
    #: (Binance `@depth@100ms`: one frame per 100 ms spanning many update ids), as the real venue sends them;
    #: False: one frame per engine change, so that every change and every fault on it is seen at once
    batch_depth: bool = False


class MockExchange:
    def __init__(self, config: MockExchangeConfig | None = None, clock: Clock | None = None,
                 transcript: Transcript | None = None) -> None:
        self.config = config or MockExchangeConfig()
        self.engine = Engine(clock or WallClock(), EngineConfig(seed=self.config.seed,
                                                               history_window=self.config.history_window))
        self.hub = EventHub()
        self.faults = FaultController(self.engine, self.config.faults, transcript, self.config.scenario)
        self.engine.subscribe(self.hub.publish)
        for spec in self.config.markets:
            self.engine.add_market(spec)
        self.flows: dict[str, FlowGenerator] = {}
        if self.config.flow is not None:
            for i, spec in enumerate(self.config.markets):
                mid = DEFAULT_MIDS.get(spec.base)
                flow_config = dataclasses.replace(self.config.flow, seed=self.config.seed + i,
                                                  mid_price=self.config.flow.mid_price or mid)
                flow = FlowGenerator(self.engine, spec.symbol, flow_config)
                flow.prefill()
                self.flows[spec.symbol] = flow
        balances = dict(self.config.starting_balances)
        self.trading_accounts: list[Account] = [
            self.engine.create_account(balances) for _ in range(self.config.accounts)
        ]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.flow_paused = False
        self.connections: dict[int, ClientConnection] = {}
        #: functions run by the tick loop with the server time in ms (e.g. listenKey expiry)
        self.periodic: list[Callable[[int], None]] = []
        #: the scenario running now (the configured one, or the last one `start_scenario` started)
        self.scenario_name = self.config.scenario
        #: depth streams merged per interval (`MockExchangeConfig.batch_depth`), until a scenario says otherwise
        self.batch_depth = self.config.batch_depth
        self._scenario_task: asyncio.Task[None] | None = None

    def open_connection(self, ws: web.WebSocketResponse, path: str,
                        render: Callable[[str, Frame], str | None]) -> ClientConnection:
        conn = ClientConnection(ws, self.hub, path, render, self.config.max_pending_frames)
        self.connections[conn.connection_id] = conn
        self.faults.attach(conn)
        return conn

    async def close_connection(self, conn: ClientConnection) -> None:
        if self.connections.pop(conn.connection_id, None) is not None:
            self.faults.detach(conn)
        await conn.aclose()

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self.faults.start()
        served = self.faults.served_dialects() or ()
        if self.batch_depth and served and not any(has_capability(d, "depth_intervals") for d in served):
            names = ", ".join(dialect_name(d) for d in served)
            raise ValueError(f"batch_depth needs a dialect whose depth streams can be merged per interval "
                             f"(depth_intervals): {names} has none (dialects with it: "
                             f"{', '.join(dialects_with('depth_intervals'))})")
        if not self.flow_paused:
            self.resume_flow()
        self._tasks.append(asyncio.get_running_loop().create_task(self._tick_loop()))
        if self.config.actions:
            self.scenario_actions = ScenarioActions(self, self.config.actions)
            self._tasks.append(asyncio.get_running_loop().create_task(self.scenario_actions.run(self._stop)))

    def start_scenario(self, scenario: Scenario) -> ScenarioActions:
        """Run `scenario` on this running exchange from now on: its fault rules replace the schedule (see
        `FaultController.load`: connections opened from now on get them) and its actions run at their times,
        counted from now, and its depth streams are merged per interval or not (`batch_depth`). The flow, seed and
        accounts stay as they are. A scenario that applies to none of the dialects served is refused (ValueError,
        `Scenario.not_applicable`). Actions of a scenario started earlier
        by this method are stopped; the configured scenario's own actions run on."""
        refusal = self.scenario_refusal(scenario)
        if refusal is not None:
            raise ValueError(refusal)
        self.faults.load(scenario.schedule(), scenario.name)
        self.scenario_name = scenario.name
        self.batch_depth = scenario.batch_depth
        if self._scenario_task is not None:
            self._scenario_task.cancel()
            self._scenario_task = None
        actions = ScenarioActions(self, scenario.actions)
        if scenario.actions:
            task = asyncio.get_running_loop().create_task(actions.run(self._stop), name=f"scenario:{scenario.name}")
            self._tasks.append(task)
            self._scenario_task = task
        return actions

    def scenario_refusal(self, scenario: Scenario) -> str | None:
        """Why `scenario` cannot run here (it applies to none of the dialects served), or None when it can (or
        no app serves the exchange yet)."""
        refusals = [scenario.not_applicable(d) for d in self.faults.served_dialects() or ()]
        return refusals[0] if refusals and all(refusals) else None

    def pause_flow(self) -> None:
        self.flow_paused = True
        for task in [t for t in self._tasks if t.get_name().startswith("flow:")]:
            task.cancel()
            self._tasks.remove(task)

    def resume_flow(self) -> None:
        self.flow_paused = False
        loop = asyncio.get_running_loop()
        running = {t.get_name() for t in self._tasks}
        for symbol, flow in self.flows.items():
            if f"flow:{symbol}" not in running:
                self._tasks.append(loop.create_task(flow.run(self._stop), name=f"flow:{symbol}"))

    async def _tick_loop(self) -> None:
        while not self._stop.is_set():
            self.engine.tick()
            now_ms = self.engine.clock.now_us() // 1000
            for job in self.periodic:
                job(now_ms)
            self.faults.poll(self.engine.clock.now_us())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.config.tick_interval_s)

    async def stop(self) -> None:
        self._stop.set()
        for conn in list(self.connections.values()):
            await self.close_connection(conn)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
