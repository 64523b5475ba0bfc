"""The pytest plugin's machinery (imported only when a fixture or an option needs it; the entry point module
`conformance.pytest_plugin` stays light).

- `ConformanceRun`: the `conformance_run` fixture's object; `judge` turns a `ScenarioResult` into a pytest
  outcome (pass, fail with the full failure text, xfail for a known deviation, skip).
- `start_mock_exchange` / `ThreadedMockExchange`: the `mock_exchange` and `mock_exchange_session` servers.
- `SuitePlugin`, `ConformanceSuite`, `ConformanceCase`: the generated tests of `pytest --conformance`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from .factory import as_factory
from .levels import ConformanceLevel, highest_level, parse_level
from .protocol import ConnectorFactory
from .pytest_plugin import Deviation, Settings, note, skip, worker_id

if TYPE_CHECKING:
    from mock_exchanges.scenarios import Scenario
    from mock_exchanges.server import MockExchange, MockExchangeServer

    from .runner import RunOptions, ScenarioResult

T = TypeVar("T")


# --- the connector ------------------------------------------------------------------------------------
def resolve_factory(value: object, origin: str) -> ConnectorFactory:
    """The connector a conftest / option supplied, as a factory; a clear test error when there is none."""
    if value is None or value == "":
        pytest.fail("no connector under test: define a session fixture `conformance_connector` in conftest.py "
                    "(return 'reference', a ConnectorFactory or connector_factory(lambda ctx: MyAdapter(ctx))), "
                    "implement the hook pytest_conformance_connector(config), or pass --conformance-connector SPEC "
                    "(see docs/connector-authors.md)", pytrace=False)
    try:
        return as_factory(value)
    except (TypeError, ValueError) as error:
        pytest.fail(f"{origin}: {error}", pytrace=False)


@dataclass(frozen=True)
class Claimed:
    """The level a connector claims on a dialect (None: it does not support the dialect)."""

    level: ConformanceLevel | None
    dialect: str

    @property
    def name(self) -> str:
        return self.level.value if self.level is not None else "none"

    def includes_name(self, level: str) -> bool:
        return self.level is not None and self.level.includes(ConformanceLevel(level))


def claimed_level(factory: ConnectorFactory, settings: Settings) -> Claimed:
    venues = factory.venues(settings.dialect)
    if not venues:
        return Claimed(None, settings.dialect)
    best = highest_level(venues)
    if settings.level is None:
        return Claimed(best, settings.dialect)
    wanted = parse_level(settings.level)
    return Claimed(wanted if best.includes(wanted) else best, settings.dialect)


def validate_deviations(deviations: Iterable[Deviation]) -> None:
    """Every known deviation names a check (or a glob matching one): a typo must not hide a failure."""
    import fnmatch

    from .checks import all_checks

    names = [c.name for c in all_checks()]
    for deviation in deviations:
        if not fnmatch.filter(names, deviation.check):
            raise pytest.UsageError(f"known deviation {deviation.describe()} ({deviation.origin}): no check "
                                    f"{deviation.check!r}; known: {', '.join(names)}")


def item_deviations(item: pytest.Item, settings: Settings) -> list[Deviation]:
    """The deviations that apply to a test: its `conformance_known_deviation` markers, then the options'."""
    found: list[Deviation] = []
    for mark in item.iter_markers("conformance_known_deviation"):
        check = mark.kwargs.get("check", mark.args[0] if mark.args else None)
        reason = mark.kwargs.get("reason", mark.args[1] if len(mark.args) > 1 else None)
        if not check or not reason:
            pytest.fail(f"{item.nodeid}: conformance_known_deviation needs a check and a reason, e.g. "
                        f"@pytest.mark.conformance_known_deviation(check='book.truth', reason='#12')", pytrace=False)
        found.append(Deviation(str(check), str(reason), mark.kwargs.get("scenario"), mark.kwargs.get("dialect"),
                               origin=f"marker on {item.nodeid}"))
    if found:
        try:
            validate_deviations(found)
        except pytest.UsageError as error:
            pytest.fail(str(error), pytrace=False)
    return found + list(settings.deviations)


# --- judging a result ---------------------------------------------------------------------------------
def rerun_command(item: pytest.Item, settings: Settings) -> str:
    parts = ["pytest", f"'{item.nodeid}'", f"--conformance-seed {settings.seed}"]
    if item.get_closest_marker("conformance") is not None:
        parts.insert(1, "--conformance")
    if settings.connector:
        parts.append(f"--conformance-connector {settings.connector}")
    if settings.duration_scale is not None:
        parts.append(f"--conformance-duration-scale {settings.duration_scale:g}")
    return " ".join(parts)


def result_note(result: ScenarioResult) -> str:
    from .checks import Status

    counts = {status: sum(1 for c in result.checks if c.status is status) for status in Status}
    lines = [f"{result.scenario} on {result.dialect}: {result.status.upper()} in {result.duration_s:.1f}s "
             f"(connector {result.connector}, level {result.level.value}, seed {result.seed}, scenario seed "
             f"{result.scenario_seed}; checks: {counts[Status.PASS]} passed, {len(result.failures)} failed, "
             f"{counts[Status.SKIP]} skipped)",
             f"  replay: {result.replay}"]
    if result.transcript:
        lines.append(f"  transcript: {result.transcript}")
    return "\n".join(lines)


def scenario_file_text(result: ScenarioResult, scenario: Scenario | None) -> str:
    """For a scenario that is not the catalog's: the TOML that replays it (empty for a catalog scenario)."""
    from mock_exchanges.scenarios import CATALOG

    from .scenario_file import scenario_toml

    if scenario is None or CATALOG.get(scenario.name) == dataclasses.replace(scenario, seed=0):
        return ""
    path = f"{scenario.name}.toml"
    return "\n".join([
        f"scenario {scenario.name} is not the catalog's: save it as {path} and replay with",
        f"  {_with_file(result.replay, scenario.name, str(path))}",
        f"# {path}", scenario_toml(dataclasses.replace(scenario, seed=result.scenario_seed)).rstrip()])


def judge(item: pytest.Item, result: ScenarioResult, settings: Settings, scenario: Scenario | None = None) -> None:
    """Pass, or fail with every failing check in full, or xfail when each failure is a known deviation."""
    from .pytest_plugin import HTML_RESULTS
    from .reports.text import error_text, failure_text

    kept = item.config.stash.get(HTML_RESULTS, None)
    if kept is not None:
        kept.append(result)

    note(item, result_note(result))
    rerun = f"rerun: {rerun_command(item, settings)}"
    head = (f"conformance: scenario {result.scenario} on {result.dialect}, connector {result.connector}, "
            f"seed {result.seed} (scenario seed {result.scenario_seed})")
    if result.error is not None:
        pytest.fail("\n".join([head + ": the harness failed", error_text(result), rerun]), pytrace=False)
    if result.skipped is not None:
        skip(item, result.skipped)
    failures = result.failures
    if not failures:
        return
    deviations = item_deviations(item, settings)
    known: list[tuple[str, Deviation]] = []
    unknown = []
    for check in failures:
        match = next((d for d in deviations if d.matches(check.name, result.scenario, result.dialect)), None)
        if match is None:
            unknown.append(check)
        else:
            known.append((check.name, match))
    for name, deviation in known:
        note(item, f"known deviation: {name} failed ({deviation.reason}; {deviation.origin})")
    if unknown:
        lines = [f"{head}: {len(unknown)} required check(s) failed", ""]
        lines += [failure_text(result, check) + "\n" for check in unknown]
        if known:
            lines.append("known deviations that failed too: " + ", ".join(f"{n} ({d.reason})" for n, d in known))
        lines.append(rerun)
        replay_file = scenario_file_text(result, scenario)
        if replay_file:
            lines += ["", replay_file]
        pytest.fail("\n".join(lines), pytrace=False)
    pytest.xfail("known deviation: " + "; ".join(f"{name} ({deviation.reason})" for name, deviation in known))


# --- conformance_run ----------------------------------------------------------------------------------
def out_dir(settings: Settings, nodeid: str, tmp_path: Path) -> Path:
    if settings.out is None:
        return tmp_path
    return settings.out / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")


class ConformanceRun:
    """`await conformance_run("gaps", dialect="binance")`: run a scenario against the connector under test with
    this test's seed, judge the result (see `judge`), and return the `ScenarioResult`."""

    def __init__(self, item: pytest.Item, factory: ConnectorFactory, settings: Settings, seed: int,
                 out: Path | None) -> None:
        self.item = item
        self.factory = factory
        self.settings = settings
        self.seed = seed
        self.out = out
        self.results: list[ScenarioResult] = []

    def options(self, level: str | ConformanceLevel | None = None, base: RunOptions | None = None,
                **overrides: Any) -> RunOptions:
        from .runner import RunOptions

        chosen = level if level is not None else self.settings.level
        options = base or RunOptions(out_dir=self.out)
        if chosen is not None:
            options = dataclasses.replace(options, level=parse_level(str(chosen)))
        if self.settings.duration_scale is not None and base is None:
            options = dataclasses.replace(options, duration_scale=self.settings.duration_scale)
        return dataclasses.replace(options, **overrides) if overrides else options

    async def __call__(self, scenario: str | Scenario = "calm", dialect: str | None = None, *,
                       level: str | ConformanceLevel | None = None, seed: int | None = None, check: bool = True,
                       options: RunOptions | None = None, **overrides: Any) -> ScenarioResult:
        """Run `scenario` (a catalog name or a `Scenario`) on `dialect` (default: the first
        `--conformance-dialect`). `overrides` are `RunOptions` fields (`duration_scale=0.5`, `depth=20`, ...)."""
        from .runner import run_scenario

        try:
            result = await run_scenario(self.factory, dialect or self.settings.dialect, scenario,
                                        self.seed if seed is None else seed, self.options(level, options, **overrides))
        except ValueError as error:  # an unknown scenario, a dialect or level the connector does not support
            pytest.fail(f"conformance_run: {error}", pytrace=False)
        self.results.append(result)
        if check:
            judge(self.item, result, self.settings, None if isinstance(scenario, str) else scenario)
        return result

    def sync(self, scenario: str | Scenario = "calm", dialect: str | None = None, **kwargs: Any) -> ScenarioResult:
        """The same from a test that is not async (runs its own event loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self(scenario, dialect, **kwargs))
        raise RuntimeError("conformance_run.sync() inside a running event loop: use `await conformance_run(...)`")


# --- mock exchanges -----------------------------------------------------------------------------------
async def start_mock_exchange(seed: int, dialect: str, settings: dict[str, Any]) -> MockExchangeServer:
    """A started `MockExchangeServer` on 127.0.0.1 (a free port). `settings` are the `conformance_exchange`
    marker's: `dialect`/`dialects`, `scenario` (a catalog name or a `Scenario`), and `MockExchangeConfig` fields."""
    from mock_exchanges.scenarios import get_scenario
    from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer

    fields = dict(settings)
    dialects: Sequence[str] = fields.pop("dialects", None) or [fields.pop("dialect", None) or dialect]
    fields.pop("dialect", None)
    scenario = fields.pop("scenario", None)
    fields.pop("seed", None)
    if scenario is None:
        config = MockExchangeConfig(seed=seed, **fields)
    else:
        named = get_scenario(scenario) if isinstance(scenario, str) else scenario
        config = named.with_seed(seed).exchange_config(**fields)
    server = MockExchangeServer(MockExchange(config), dialects=list(dialects))
    await server.start()
    return server


class ThreadedMockExchange:
    """A `MockExchangeServer` running in its own thread and event loop (the `mock_exchange_session` fixture).

    The exchange belongs to that loop: read or change it with `call(fn)` (runs `fn(exchange)` there and
    returns its result), or through the control API at `control_url`, never directly from a test."""

    def __init__(self, seed: int, dialects: Sequence[str], settings: dict[str, Any] | None = None,
                 startup_timeout_s: float = 30.0) -> None:
        self.seed = seed
        self.dialects = tuple(dialects)
        self.settings = dict(settings or {})
        self.startup_timeout_s = startup_timeout_s
        self._server: MockExchangeServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedMockExchange:
        self._thread = threading.Thread(target=self._serve, name="mock-exchange-session", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.startup_timeout_s):
            raise TimeoutError(f"the session mock exchange did not start in {self.startup_timeout_s}s")
        if self._error is not None:
            raise RuntimeError("the session mock exchange failed to start") from self._error
        return self

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to start(); a crash after start ends the thread
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await start_mock_exchange(self.seed, self.dialects[0],
                                           {"dialects": list(self.dialects), **self.settings})
        self._server = server
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await server.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def server(self) -> MockExchangeServer:
        if self._server is None:
            raise RuntimeError("the session mock exchange is not running")
        return self._server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def control_url(self) -> str:
        return self.server.control_url

    @property
    def port(self) -> int:
        return self.server.port

    def call(self, function: Callable[[MockExchange], T], timeout_s: float = 10.0) -> T:
        """`function(exchange)` run in the server's loop (so it never races the engine); its result."""
        assert self._loop is not None

        async def run() -> T:
            return function(self.server.exchange)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout_s)

    async def acall(self, function: Callable[[MockExchange], T]) -> T:
        """`call` for async tests (awaits without blocking the test's loop)."""
        assert self._loop is not None

        async def run() -> T:
            return function(self.server.exchange)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self._loop))


# --- the generated tests (pytest --conformance) -------------------------------------------------------
def supplies_connector(plugin: object) -> bool:
    """A conftest that defines the connector fixture or implements the connector hook."""
    return hasattr(plugin, "conformance_connector") or hasattr(plugin, "pytest_conformance_connector")


class SuitePlugin:
    """Registered with `--conformance`: the generated tests hang under each conftest.py that supplies a connector
    (so they see its fixtures), or under the rootdir when the connector comes from an option or the ini file."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.root: pytest.Collector | None = None

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        if self.root is None and isinstance(collector, pytest.Directory) and collector.path == self.config.rootpath:
            self.root = collector

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.name != "conftest.py":
            return None
        plugin = self.config.pluginmanager.get_plugin(str(file_path))
        if plugin is None or not supplies_connector(plugin):
            return None
        return ConformanceSuite.from_parent(parent, path=file_path, settings=self.settings)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if any(isinstance(item, ConformanceCase) for item in items):
            return  # collected under a conftest.py (one that was not collected is no anchor: it may be filtered out)
        anchor: pytest.Collector = self.root if self.root is not None else session
        suite = ConformanceSuite.from_parent(anchor, path=config.rootpath / "conftest.py", settings=self.settings)
        items.extend(item for item in suite.collect() if isinstance(item, pytest.Item))


class ConformanceSuite(pytest.File):
    """The generated tests of one connector: one `ConformanceCase` per dialect and scenario."""

    def __init__(self, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def scenarios(self) -> list[Scenario]:
        from mock_exchanges.scenarios import load_scenarios

        from .runner import resolve_scenarios

        if self.settings.scenario_file:
            loaded = load_scenarios(self.settings.scenario_file)
            if self.settings.scenarios == "all":
                return list(loaded.values())
            names = [n.strip() for n in self.settings.scenarios.split(",") if n.strip()]
            missing = [n for n in names if n not in loaded]
            if missing:
                raise pytest.UsageError(f"no scenario {', '.join(missing)} in {self.settings.scenario_file}")
            return [loaded[n] for n in names]
        try:
            return resolve_scenarios(self.settings.scenarios)
        except ValueError as error:
            raise pytest.UsageError(f"--conformance-scenario: {error}") from None

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        cases: list[pytest.Item | pytest.Collector] = []
        for dialect in self.settings.dialects:
            for scenario in self.scenarios():
                case = ConformanceCase.from_parent(self, name=f"conformance[{dialect}-{scenario.name}]",
                                                   callobj=_case_function(dialect, scenario, self.settings))
                case.dialect, case.scenario = dialect, scenario.name
                case.add_marker(pytest.mark.conformance)
                for level in scenario.levels:
                    case.add_marker(getattr(pytest.mark, f"conformance_{level}"))
                cases.append(case)
        return cases


class ConformanceCase(pytest.Function):
    """One generated test: a scenario on a dialect, judged like `conformance_run` (fail / xfail / skip)."""

    dialect = ""
    scenario = ""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"conformance: scenario {self.scenario} on {self.dialect}"


def _case_function(dialect: str, scenario: Scenario, settings: Settings) -> Callable[..., None]:
    def conformance(request: pytest.FixtureRequest, conformance_factory: ConnectorFactory,
                    conformance_out: Path) -> None:
        note(request.node, f"seed: {settings.seed} (the session seed, as `conformance run --seed "
                           f"{settings.seed}`; worker {worker_id(request.config)})")
        ConformanceRun(request.node, conformance_factory, settings, settings.seed, conformance_out).sync(
            scenario, dialect)

    return conformance


def _with_file(replay: str, name: str, path: str) -> str:
    """The runner's replay command for a custom scenario, pointed at the file the TOML was saved to."""
    placeholder = " --scenario-file <the TOML file that defines it>"
    return replay.replace(placeholder, "").replace(f"--scenario {name}", f"--scenario-file {path}")
