"""pytest plugin entry point (registered as `pytest11: conformance`): the conformance suite inside pytest.

Kept light on purpose: it is imported by every pytest run in an environment where this distribution is
installed, so it must not import the engine, aiohttp or anything slow at import time (the fixtures import
what they need when they run). Without `--conformance...` options it adds a header line, some markers and
fixtures that nothing uses unless a test asks for them.

A connector author supplies the connector in a conftest.py, by a fixture (or `--conformance-connector`, the
`conformance_connector` ini value, or the `pytest_conformance_connector(config)` hook):

    @pytest.fixture(scope="session")
    def conformance_connector():
        return "reference"        # or a ConnectorFactory, or connector_factory(lambda ctx: MyAdapter(ctx))

then either runs the generated tests (`pytest --conformance`: one test per dialect and scenario) or writes
tests with the fixtures: `conformance_run` (`await conformance_run("gaps")` runs a scenario and fails the test
with the check's message, seed and replay command), `mock_exchange` (a running `MockExchangeServer` per test),
`mock_exchange_session` (one per session, in a thread), `conformance_seed`, `conformance_factory`.

Seeds: the session seed is `--conformance-seed` (default 0, in the header); each test's seed is derived from it
and the test's node id (`conformance.seeds.derive_seed`), so it does not depend on the order, the selection or
the xdist worker. Generated tests run with the session seed itself, exactly as `conformance run --seed N` does.
Every failure shows the seed and how to replay it. See docs/connector-authors.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from mock_exchanges.server import MockExchangeServer

    from .plugin_support import ConformanceRun, ThreadedMockExchange
    from .protocol import ConnectorFactory

#: the level markers, by level name
LEVEL_MARKERS = {"market_data": "conformance_market_data", "orders": "conformance_orders",
                 "perpetuals": "conformance_perpetuals"}

_SECTION = pytest.StashKey[list[str]]()
#: the test was skipped by the plugin: report the test's location, not the plugin's line
_SKIPPED = pytest.StashKey[bool]()


# --- the connector hook -------------------------------------------------------------------------------
class ConformanceHooks:
    @pytest.hookspec(firstresult=True)
    def pytest_conformance_connector(self, config: pytest.Config) -> object | None:
        """The connector under test: a `ConnectorFactory`, a `--connector` string (`"reference"`,
        `"hummingbot:binance"`, `"mypkg.mod:factory"`) or a function `context -> adapter`. None: not this one.

        The fixture `conformance_connector` (if a conftest defines it) and `--conformance-connector` take
        precedence."""
        raise NotImplementedError


#: the results kept for `--conformance-html` (in the config's stash only when the option is given)
HTML_RESULTS: pytest.StashKey[list[Any]] = pytest.StashKey()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(ConformanceHooks)


# --- options and settings -----------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "connector conformance kit")
    group.addoption("--conformance", action="store_true", default=False,
                    help="add the generated conformance tests: one per dialect and scenario")
    group.addoption("--conformance-connector", default=None, metavar="SPEC",
                    help="the connector under test: reference | hummingbot:<preset> | <module:factory> "
                         "(wins over a conftest's conformance_connector fixture)")
    group.addoption("--conformance-seed", type=int, default=None,
                    help="the session seed (default 0); each test's seed is derived from it and the test's id")
    group.addoption("--conformance-scenario", default=None, metavar="NAMES",
                    help="scenarios of the generated tests: all (default), a name, or a,b,c")
    group.addoption("--conformance-scenario-file", default=None, metavar="TOML",
                    help="take the generated tests' scenarios from this TOML file instead of the catalog")
    group.addoption("--conformance-dialect", default=None, metavar="NAMES",
                    help="dialects of the generated tests and the fixtures' default: binance (default), or a,b")
    group.addoption("--conformance-level", default=None, choices=sorted(LEVEL_MARKERS),
                    help="the level to gate at (default: the highest the connector supports)")
    group.addoption("--conformance-known-deviation", action="append", default=[],
                    metavar="[SCENARIO:]CHECK=REASON",
                    help="a check whose failure is a known deviation: reported as xfail with the reason "
                         "(repeatable; CHECK may be a glob such as book.*)")
    group.addoption("--conformance-duration-scale", type=float, default=None, metavar="X",
                    help="scale every scenario's duration (e.g. 0.5 for a quick run)")
    group.addoption("--conformance-html", default=None, metavar="PATH",
                    help="write the conformance runs of this session as one HTML report (under xdist, one file "
                         "per worker: PATH with the worker's name before the suffix)")
    group.addoption("--conformance-out", default=None, metavar="DIR",
                    help="transcripts and logs go under DIR/<test> (default: each test's tmp_path)")
    parser.addini("conformance_connector", "the connector under test (as --conformance-connector)", default="")
    parser.addini("conformance_dialects", "dialects (as --conformance-dialect)", default="")
    parser.addini("conformance_scenarios", "scenarios of the generated tests (as --conformance-scenario)",
                  default="")
    parser.addini("conformance_known_deviations", "known deviations, one [SCENARIO:]CHECK=REASON a line",
                  type="linelist", default=[])


@dataclass(frozen=True)
class Deviation:
    """A check whose failure is known and accepted for now: reported as xfail with `reason`."""

    check: str  # a check name or a glob (fnmatch)
    reason: str
    scenario: str | None = None
    dialect: str | None = None
    origin: str = "marker"

    def matches(self, check: str, scenario: str, dialect: str) -> bool:
        import fnmatch

        return (fnmatch.fnmatchcase(check, self.check) and self.scenario in (None, scenario)
                and self.dialect in (None, dialect))

    def describe(self) -> str:
        where = "".join(f" {k}={v}" for k, v in (("scenario", self.scenario), ("dialect", self.dialect)) if v)
        return f"{self.check}{where}: {self.reason}"


def parse_deviation(text: str, origin: str) -> Deviation:
    """`[SCENARIO:]CHECK=REASON`."""
    target, sep, reason = text.partition("=")
    target, reason = target.strip(), reason.strip()
    if not sep or not target or not reason:
        raise pytest.UsageError(f"{origin} {text!r}: expected [SCENARIO:]CHECK=REASON, e.g. "
                                f"book.truth=resyncs late, tracked in #12")
    scenario, colon, check = target.rpartition(":")
    return Deviation(check.strip(), reason, scenario.strip() or None if colon else None, origin=origin)


@dataclass(frozen=True)
class Settings:
    """What the options and ini values say (parsed once, in `pytest_configure`)."""

    seed: int
    seed_given: bool
    connector: str | None  # from the command line (wins) ...
    ini_connector: str | None  # ... or the ini file (loses to a conftest)
    dialects: tuple[str, ...]
    scenarios: str
    scenario_file: str | None
    level: str | None
    duration_scale: float | None
    out: Path | None
    deviations: tuple[Deviation, ...] = field(default_factory=tuple)
    generate: bool = False

    @property
    def dialect(self) -> str:
        return self.dialects[0]


_SETTINGS = pytest.StashKey[Settings]()


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[_SETTINGS]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a generated conformance test (pytest --conformance)")
    for level, marker in LEVEL_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: needs a connector that claims the {level} level (skipped "
                                           f"otherwise; -m {marker} selects these tests)")
    config.addinivalue_line("markers", "conformance_known_deviation(check, reason, scenario=None, dialect=None): "
                                       "a failure of this check (a name or glob) is a known deviation: xfail")
    config.addinivalue_line("markers", "conformance_exchange(dialect=None, scenario=None, **config): how the "
                                       "mock_exchange fixture is set up for this test")
    if config.getoption("--conformance-html"):
        config.stash[HTML_RESULTS] = []
    seed_option = config.getoption("--conformance-seed")
    deviations = [parse_deviation(text, "--conformance-known-deviation")
                  for text in config.getoption("--conformance-known-deviation")]
    deviations += [parse_deviation(text, "ini conformance_known_deviations")
                   for text in config.getini("conformance_known_deviations")]
    dialects = _split(config.getoption("--conformance-dialect")) or _split(config.getini("conformance_dialects"))
    out = config.getoption("--conformance-out")
    settings = Settings(
        seed=seed_option if seed_option is not None else 0, seed_given=seed_option is not None,
        connector=config.getoption("--conformance-connector"),
        ini_connector=config.getini("conformance_connector") or None,
        dialects=dialects or ("binance",),
        scenarios=config.getoption("--conformance-scenario") or config.getini("conformance_scenarios") or "all",
        scenario_file=config.getoption("--conformance-scenario-file"),
        level=config.getoption("--conformance-level"),
        duration_scale=config.getoption("--conformance-duration-scale"),
        out=Path(out).resolve() if out else None, deviations=tuple(deviations),
        generate=bool(config.getoption("--conformance")))
    config.stash[_SETTINGS] = settings
    if deviations:  # the user asked for the checks: validate the names now (imports the checks, not the engine)
        from .plugin_support import validate_deviations

        validate_deviations(deviations)
    if settings.generate:
        from .plugin_support import SuitePlugin

        config.pluginmanager.register(SuitePlugin(config, settings), "conformance-suite")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = settings_of(config)
    source = "--conformance-seed" if settings.seed_given else "default; --conformance-seed N to change"
    lines = [f"conformance: seed={settings.seed} ({source}); each test's seed is derived from it and the test's id"]
    if settings.generate or settings.connector or settings.deviations:
        connector = settings.connector or settings.ini_connector or "from conftest"
        lines.append(f"conformance: connector {connector}, dialects {','.join(settings.dialects)}, "
                     f"scenarios {settings.scenario_file or settings.scenarios}, level {settings.level or 'auto'}"
                     + (f", {len(settings.deviations)} known deviations" if settings.deviations else ""))
    return lines


# --- seeds and the report section -----------------------------------------------------------------------
def seed_for(item: pytest.Item) -> int:
    """A test's seed: derived from the session seed and the test's node id (the same on every xdist worker)."""
    from .seeds import derive_seed

    return derive_seed(settings_of(item.config).seed, item.nodeid)


def note(item: pytest.Item, line: str) -> None:
    """Add a line to the test's `conformance` report section (shown with a failure, and with -rA)."""
    lines = item.stash.setdefault(_SECTION, [])
    if line not in lines:
        lines.append(line)


def skip(item: pytest.Item, reason: str) -> NoReturn:
    """`pytest.skip`, reported at the test's location rather than the plugin's."""
    item.stash[_SKIPPED] = True
    pytest.skip(reason)


def worker_id(config: pytest.Config) -> str:
    """The xdist worker this session is ("gw0", ...), or "master". Read from the session's own config, not the
    environment: a pytest session started inside a worker (pytester) is not that worker."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    return str(workerinput.get("workerid", "master"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    lines = item.stash.get(_SECTION, None)
    if lines and (report.when == "call" or report.failed):
        report.sections.append(("conformance", "\n".join(lines)))
    if report.skipped and item.stash.get(_SKIPPED, False) and isinstance(report.longrepr, tuple):
        path, lineno, _ = item.reportinfo()
        report.longrepr = (str(path), (lineno or 0) + 1, report.longrepr[2])
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A test marked with a level marker is skipped when the connector does not claim that level."""
    result = yield
    wanted = [level for level, marker in LEVEL_MARKERS.items() if item.get_closest_marker(marker) is not None]
    if wanted and isinstance(item, pytest.Function) and not item.get_closest_marker("conformance"):
        from .plugin_support import claimed_level

        factory = item._request.getfixturevalue("conformance_factory")
        claimed = claimed_level(factory, settings_of(item.config))
        missing = [level for level in wanted if not claimed.includes_name(level)]
        if missing:
            skip(item, f"the connector ({factory.spec}) claims level {claimed.name} on {claimed.dialect}; "
                        f"this test needs {', '.join(missing)}")
    return result


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def conformance_connector(pytestconfig: pytest.Config) -> object | None:
    """The connector under test. Override it in a conftest (session scope) to supply yours: return a
    `ConnectorFactory`, a `--connector` string (`"reference"`, `"mypkg.mod:factory"`) or a function
    `context -> adapter`. This default asks the `pytest_conformance_connector` hook, then the ini value."""
    supplied: object | None = pytestconfig.hook.pytest_conformance_connector(config=pytestconfig)
    if supplied is not None:
        return supplied
    return settings_of(pytestconfig).ini_connector


@pytest.fixture(scope="session")
def conformance_factory(request: pytest.FixtureRequest) -> ConnectorFactory:
    """The connector under test as a `ConnectorFactory` (`--conformance-connector` wins over the conftest)."""
    from .plugin_support import resolve_factory

    settings = settings_of(request.config)
    if settings.connector:
        return resolve_factory(settings.connector, "--conformance-connector")
    return resolve_factory(request.getfixturevalue("conformance_connector"), "the conformance_connector fixture")


@pytest.fixture
def conformance_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: derived from the session seed and the test's id (printed with a failure)."""
    seed = seed_for(request.node)
    note(request.node, f"seed: {seed} (session seed {settings_of(request.config).seed}, derived from the test id "
                       f"{request.node.nodeid}; worker {worker_id(request.config)})")
    return seed


@pytest.fixture
def conformance_out(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where this test's transcripts and logs go: `--conformance-out DIR/<test>`, else the test's tmp_path."""
    from .plugin_support import out_dir

    return out_dir(settings_of(request.config), request.node.nodeid, tmp_path)


@pytest.fixture
def conformance_run(request: pytest.FixtureRequest, conformance_factory: ConnectorFactory, conformance_seed: int,
                    conformance_out: Path) -> ConformanceRun:
    """Run scenarios against the connector: `result = await conformance_run("gaps", dialect="binance")`.

    A required check that fails fails the test with its message, the seed and the replay command (a known
    deviation makes it xfail); `check=False` returns the `ScenarioResult` without judging it.
    `conformance_run.sync(...)` does the same from a test that is not async."""
    from .plugin_support import ConformanceRun

    return ConformanceRun(request.node, conformance_factory, settings_of(request.config), conformance_seed,
                          conformance_out)


def _exchange_marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("conformance_exchange")
    return dict(marker.kwargs) if marker is not None else {}


async def _mock_exchange(request: pytest.FixtureRequest) -> AsyncIterator[MockExchangeServer]:
    """A running `MockExchangeServer` for this test (in the test's event loop): loopback, a free port, seeded
    from the session seed and the test's id, stopped after the test. `@pytest.mark.conformance_exchange(
    dialect=..., scenario=..., **MockExchangeConfig fields)` sets it up differently."""
    from .plugin_support import start_mock_exchange

    seed = seed_for(request.node)
    settings = settings_of(request.config)
    server = await start_mock_exchange(seed, settings.dialect, _exchange_marker(request))
    note(request.node, f"mock_exchange: {server.base_url}, seed {seed} (session seed {settings.seed}, derived "
                       f"from the test id; worker {worker_id(request.config)})")
    try:
        yield server
    finally:
        await server.close()


def _async_fixture() -> Callable[..., Any]:
    """`mock_exchange` as a pytest-asyncio fixture (it runs in the test's event loop), or, without
    pytest-asyncio, a fixture that says what is missing."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - pytest-asyncio is a test dependency of the kit

        @pytest.fixture(name="mock_exchange")
        def missing() -> None:
            pytest.fail("the mock_exchange fixture needs pytest-asyncio (pip install pytest-asyncio); "
                        "mock_exchange_session works without it", pytrace=False)

        return missing
    return pytest_asyncio.fixture(_mock_exchange, name="mock_exchange")


mock_exchange = _async_fixture()


@pytest.fixture(scope="session")
def mock_exchange_session(pytestconfig: pytest.Config) -> Iterator[ThreadedMockExchange]:
    """One mock exchange for the whole session (per xdist worker), served from a thread with its own event
    loop, so sync and async tests in any loop can reach it. Read or steer it with `.call(fn)` (runs
    `fn(exchange)` in the server's loop) or over HTTP (`.control_url`)."""
    from .plugin_support import ThreadedMockExchange
    from .seeds import derive_seed

    settings = settings_of(pytestconfig)
    server = ThreadedMockExchange(derive_seed(settings.seed, "session"), (settings.dialect,))
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["LEVEL_MARKERS", "ConformanceHooks", "Deviation", "Settings", "conformance_connector",
           "conformance_factory", "conformance_out", "conformance_run", "conformance_seed", "mock_exchange",
           "mock_exchange_session", "note", "parse_deviation", "seed_for", "settings_of"]



def pytest_sessionfinish(session: pytest.Session) -> None:
    """`--conformance-html`: the session's conformance runs as one self-contained report."""
    results = session.config.stash.get(HTML_RESULTS, None)
    target = session.config.getoption("--conformance-html")
    if results is None or not target:
        return
    from .reports.html import write_html

    path = Path(target)
    worker = worker_id(session.config)
    if worker != "master":
        path = path.with_name(f"{path.stem}-{worker}{path.suffix}")
    write_html(results, path, title="Conformance report (pytest)")
