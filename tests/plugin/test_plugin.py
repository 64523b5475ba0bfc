"""The pytest plugin, driven through pytester: a conftest supplies a connector, tests and generated tests run
scenarios, the header shows the seed, options parse, markers select, known deviations xfail."""

from __future__ import annotations

import pytest

from .conftest import GAP_BLIND_CONFTEST, INI, TEN_LINE_CONFTEST

pytest_plugins = ["pytester"]

#: a short scenario the gap-blind connector fails every time: three diffs in a row never arrive (each leaves a
#: level wrong until the flow touches it again, and a book this size changes each level about once a second)
DROPS = """
[scenario.drops]
description = "three diffs in a row never arrive"
duration_s = 1.0
levels = ["market_data"]

[scenario.drops.flow]
levels_per_side = 20
rate_per_s = 50

[[scenario.drops.faults]]
kind = "drop"
channel = "depth"
at_message = 20
count = 3
"""


def test_header_shows_the_session_seed(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = inner.runpytest_inprocess("--conformance-seed", "7")
    result.stdout.fnmatch_lines(["conformance: seed=7 (--conformance-seed)*"])
    result.assert_outcomes(passed=1)
    default = inner.runpytest_inprocess()
    default.stdout.fnmatch_lines(["conformance: seed=0 (default*"])


def test_without_options_the_plugin_adds_only_the_header(inner: pytest.Pytester) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)  # a connector is supplied, but nothing is generated without --conformance
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = inner.runpytest_inprocess("-v")
    result.assert_outcomes(passed=1)
    assert "conformance[" not in result.stdout.str()
    assert [line for line in result.stdout.lines if line.startswith("conformance:")] == [
        "conformance: seed=0 (default; --conformance-seed N to change); each test's seed is derived from it and "
        "the test's id"]


def test_ten_line_conftest_runs_a_scenario_and_passes(inner: pytest.Pytester) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)
    inner.makepyfile(test_connector="""
        async def test_gaps(conformance_run):
            result = await conformance_run("gaps", duration_scale=0.25)
            assert result.passed and result.venues == ["spot"]
            assert result.level.value == "orders"  # a spot connector: the highest level it can claim
    """)
    report = inner.path / "out" / "report.html"
    result = inner.runpytest_inprocess("--conformance", "--conformance-scenario", "calm",
                                       "--conformance-duration-scale", "0.25", "-v", "-rA",
                                       "--conformance-html", str(report))
    result.assert_outcomes(passed=2)
    html = report.read_text()  # --conformance-html: both runs of the session in one self-contained page
    assert "calm" in html and "gaps" in html and "<svg" in html and "http://" not in html
    result.stdout.fnmatch_lines([
        "conftest.py::conformance[[]binance-calm[]] PASSED*",
        "test_connector.py::test_gaps PASSED*",
    ])
    # the report section of a passing test (-rA): its seed and the scenario's replay command
    result.stdout.fnmatch_lines([
        "seed: * (session seed 0, derived from the test id test_connector.py::test_gaps; worker master)",
        "gaps on binance: PASS in *",
        "  replay: conformance run --connector reference --dialect binance --scenario gaps --seed * --level orders*",
    ])


def test_options_parse_and_generate_one_test_per_dialect_and_scenario(inner: pytest.Pytester) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)
    result = inner.runpytest_inprocess("--conformance", "--conformance-dialect", "binance,okx",
                                       "--conformance-scenario", "calm,gaps", "--conformance-seed", "3",
                                       "--conformance-level", "market_data", "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "conftest.py::conformance[[]binance-calm[]]", "conftest.py::conformance[[]binance-gaps[]]",
        "conftest.py::conformance[[]okx-calm[]]", "conftest.py::conformance[[]okx-gaps[]]",
    ])
    header = inner.runpytest_inprocess("--conformance", "--conformance-dialect", "binance,okx",
                                       "--conformance-scenario", "calm,gaps", "--conformance-seed", "3",
                                       "--conformance-level", "market_data", "--collect-only")
    header.stdout.fnmatch_lines(["conformance: seed=3 (--conformance-seed)*",
                                 "conformance: connector from conftest, dialects binance,okx, scenarios calm,gaps, "
                                 "level market_data",
                                 "*<ConformanceCase conformance[[]okx-gaps[]]>"])
    bad_level = inner.runpytest_inprocess("--conformance-level", "gold")
    assert bad_level.ret == pytest.ExitCode.USAGE_ERROR
    bad_deviation = inner.runpytest_inprocess("--conformance-known-deviation", "book.truth")
    assert bad_deviation.ret == pytest.ExitCode.USAGE_ERROR
    bad_deviation.stderr.fnmatch_lines(["*expected [[]SCENARIO:[]]CHECK=REASON*"])
    unknown_check = inner.runpytest_inprocess("--conformance-known-deviation", "book.tru=typo")
    assert unknown_check.ret == pytest.ExitCode.USAGE_ERROR
    unknown_check.stderr.fnmatch_lines(["*no check 'book.tru'; known: *book.truth*"])
    unknown_scenario = inner.runpytest_inprocess("--conformance", "--conformance-scenario", "nope")
    assert unknown_scenario.ret == pytest.ExitCode.USAGE_ERROR


def test_generated_tests_from_the_command_line_connector_alone(inner: pytest.Pytester) -> None:
    result = inner.runpytest_inprocess("--conformance", "--conformance-connector", "reference", "--collect-only",
                                       "-q", "--conformance-scenario", "calm")
    result.stdout.fnmatch_lines(["conftest.py::conformance[[]binance-calm[]]"])
    missing = inner.runpytest_inprocess("--conformance", "--conformance-scenario", "calm")
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(["*no connector under test: define a session fixture `conformance_connector`*"])


def test_level_markers_select_and_skip_by_the_claimed_level(inner: pytest.Pytester) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)  # spot only: claims orders, not perpetuals
    inner.makepyfile(test_levels="""
        import pytest

        @pytest.mark.conformance_market_data
        def test_books():
            pass

        @pytest.mark.conformance_orders
        def test_orders():
            pass

        @pytest.mark.conformance_perpetuals
        def test_funding():
            pass

        def test_unmarked():
            pass
    """)
    result = inner.runpytest_inprocess("--strict-markers", "-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] test_levels.py:*: the connector (reference) claims level orders "
                                 "on binance; this test needs perpetuals"])
    selected = inner.runpytest_inprocess("-m", "conformance_orders or conformance_market_data")
    selected.assert_outcomes(passed=2, deselected=2)
    gated = inner.runpytest_inprocess("--conformance-level", "market_data")
    gated.assert_outcomes(passed=2, skipped=2)
    generated = inner.runpytest_inprocess("--conformance", "--collect-only", "-q", "-m",
                                          "conformance_perpetuals and not conformance_orders")
    generated.stdout.fnmatch_lines(["conftest.py::conformance[[]binance-funding[]]", "test_levels.py::test_funding",
                                    "2/18 tests collected (16 deselected)*"])  # 14 generated, 4 written


def test_known_deviation_turns_a_failure_into_xfail(inner: pytest.Pytester) -> None:
    inner.makeconftest(GAP_BLIND_CONFTEST)
    inner.makefile(".toml", scenarios=DROPS)
    inner.makepyfile(test_gaps="""
        import pytest
        from mock_exchanges.scenarios import load_scenarios

        DROPS = load_scenarios("scenarios.toml")["drops"]

        async def test_unexpected(conformance_run):
            await conformance_run(DROPS, level="market_data", depth=1000)

        @pytest.mark.conformance_known_deviation(check="book.*", reason="applies diffs across gaps, see #12")
        async def test_known(conformance_run):
            await conformance_run(DROPS, level="market_data", depth=1000)
    """)
    result = inner.runpytest_inprocess("-rxs", "--conformance-seed", "5")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "XFAIL test_gaps.py::test_known - known deviation: book.truth (applies diffs across gaps, see #12)*"])
    # the failure: what differed, since which fault, the seed, how to rerun it, and the scenario to replay
    result.stdout.fnmatch_lines([
        "conformance: scenario drops on binance, connector tests.plugin.broken:GapBlindFactory, seed * "
        "(scenario seed *): * required check(s) failed",
        "[[]book.truth[]] spot BTC-USDT: * samples differ from the exchange's book at their claimed update id*",
        "  since: last fault before it: drop (depth message #2?, connection 1)*",
        "  seed: * (scenario drops runs with seed *)",
    ])
    result.stdout.fnmatch_lines([
        "rerun: pytest 'test_gaps.py::test_unexpected' --conformance-seed 5",
        "scenario drops is not the catalog's: save it as drops.toml and replay with",
        "  conformance run --connector tests.plugin.broken:GapBlindFactory --dialect binance --scenario-file "
        "drops.toml --seed * --level market_data*",
        "[[]scenario.drops[]]",
    ])
    result.stdout.fnmatch_lines(["*- conformance -*", "seed: * (session seed 5, derived from the test id "
                                                      "test_gaps.py::test_unexpected; worker master)"])
    # the same deviation from the command line, on the generated tests of a scenario file
    generated = inner.runpytest_inprocess("--conformance", "--conformance-scenario-file", "scenarios.toml",
                                          "--conformance-known-deviation", "drops:book.*=gap-blind on purpose",
                                          "--conformance-level", "market_data", "-rx", "-k", "not test_")
    generated.assert_outcomes(xfailed=1, deselected=2)
    generated.stdout.fnmatch_lines(["XFAIL conftest.py::conformance[[]binance-drops[]] - known deviation: "
                                    "book.truth (gap-blind on purpose)*"])


def test_mock_exchange_fixtures(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_exchange="""
        import aiohttp
        import pytest

        URLS = []

        async def test_per_test(mock_exchange, conformance_seed):
            assert mock_exchange.host == "127.0.0.1" and mock_exchange.port > 0
            assert mock_exchange.exchange.config.seed == conformance_seed
            async with aiohttp.ClientSession() as session:
                async with session.get(mock_exchange.base_url + "/api/v3/ping") as response:
                    assert response.status == 200
            URLS.append(mock_exchange.base_url)

        async def test_stopped_after_the_test():
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientConnectionError):
                    await session.get(URLS[0] + "/api/v3/ping")

        @pytest.mark.conformance_exchange(dialect="okx", flow=None)
        async def test_marker_sets_it_up(mock_exchange):
            assert mock_exchange.exchange.config.flow is None
            assert "okx" in " ".join(mock_exchange.describe()).lower() or mock_exchange.describe()

        def test_session_server_sync(mock_exchange_session):
            seed = mock_exchange_session.call(lambda exchange: exchange.config.seed)
            assert seed == mock_exchange_session.seed
            URLS.append(mock_exchange_session.base_url)

        async def test_session_server_async(mock_exchange_session):
            assert mock_exchange_session.base_url == URLS[-1]
            symbols = await mock_exchange_session.acall(lambda exchange: sorted(exchange.engine.markets))
            assert "BTCUSDT" in symbols
            async with aiohttp.ClientSession() as session:
                async with session.get(mock_exchange_session.control_url + "/markets") as response:
                    assert response.status == 200
    """)
    result = inner.runpytest_inprocess("-v")
    result.assert_outcomes(passed=5)


def test_the_connector_from_a_hook_an_ini_value_or_the_command_line(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_which="""
        def test_which(conformance_factory):
            assert conformance_factory.spec == "reference"
    """)
    inner.makeconftest("def pytest_conformance_connector(config):\n    return 'reference'\n")
    inner.runpytest_inprocess().assert_outcomes(passed=1)
    inner.makeconftest("import pytest\n\n@pytest.fixture(scope='session')\n"
                       "def conformance_connector():\n    return 'nope:nothing'\n")
    failed = inner.runpytest_inprocess()
    failed.assert_outcomes(errors=1)
    failed.stdout.fnmatch_lines(["the conformance_connector fixture: --connector 'nope:nothing': No module named*"])
    # the command line wins over the conftest
    inner.runpytest_inprocess("--conformance-connector", "reference").assert_outcomes(passed=1)
    inner.makeconftest("")
    inner.makeini(INI + "conformance_connector = reference\n")
    inner.runpytest_inprocess().assert_outcomes(passed=1)


def test_a_scenario_or_level_the_run_cannot_have_fails_with_a_message(inner: pytest.Pytester) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)
    inner.makepyfile(test_bad="""
        async def test_unknown_scenario(conformance_run):
            await conformance_run("nope")

        def test_level_above_the_connector(conformance_run):
            conformance_run.sync("calm", level="perpetuals")
    """)
    result = inner.runpytest_inprocess()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["conformance_run: unknown scenario 'nope'; known: calm, *"])
    result.stdout.fnmatch_lines(["conformance_run: connector reference supports level orders on binance, "
                                 "not perpetuals"])


def test_a_generated_test_whose_scenario_does_not_apply_to_the_dialect_is_skipped(inner: pytest.Pytester) -> None:
    inner.makeconftest(TEN_LINE_CONFTEST)
    result = inner.runpytest_inprocess("--conformance", "--conformance-scenario", "calm,corrupt_book",
                                       "--conformance-level", "market_data", "--conformance-duration-scale", "0.25",
                                       "-rs", "-v")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "conftest.py::conformance[[]binance-calm[]] PASSED*",
        "conftest.py::conformance[[]binance-corrupt_book[]] SKIPPED*",
        "SKIPPED [[]1[]] conftest.py*: not applicable: scenario corrupt_book needs book messages that carry a checksum "
        "of the book (book_checksum); the binance dialect has none (it applies to: okx)",
    ])
