"""The HTML report (`conformance run --html`, `conformance.reports.html.write_html`): one self-contained page
with the run, a checks x scenarios grid by level, every failure with its replay command, and timelines.

A passing run (the reference connector through `calm`, via the CLI) and a failing one (the reference connector
wrapped so that for a second its spot book loses its best ask: `book.truth` fails) are rendered, parsed with
`html.parser`, their SVG plots with `xml.etree`, and their content asserted. In Chromium (skipped without it or
Playwright) the failing report loads with no request beyond the file itself; SAVE_SCREENSHOTS=1 saves it as
docs/report.png.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance import connector_factory
from conformance.adapters import resolve_connector
from conformance.checks import all_checks, get_check
from conformance.cli import main
from conformance.levels import ConformanceLevel
from conformance.protocol import BookView, ConnectorAdapter, ConnectorContext, Venue
from conformance.reports.html import render_html, write_html
from conformance.runner import RunOptions, ScenarioResult, SuiteResult, run_suite

SEED = int(os.environ.get("CONFORMANCE_TEST_SEED", "3"))
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "report.png"
#: the broken adapter's window of wrong books, seconds after it was ready
BROKEN_FROM_S, BROKEN_FOR_S = 0.8, 1.0


# --- a connector that is wrong for a second ---------------------------------------------------------------
class DropsBestAsk:
    """The reference adapter, except that its spot book loses its best ask for `BROKEN_FOR_S` seconds."""

    def __init__(self, inner: ConnectorAdapter) -> None:
        self.inner = inner
        self.ready_at: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def wait_ready(self, timeout_s: float) -> None:
        await self.inner.wait_ready(timeout_s)
        self.ready_at = time.monotonic()

    def book(self, trading_pair: str, depth: int | None = None) -> BookView | None:
        view = self.inner.book(trading_pair, depth)
        if view is None or self.ready_at is None or self.inner.venue is not Venue.SPOT:
            return view
        if BROKEN_FROM_S <= time.monotonic() - self.ready_at < BROKEN_FROM_S + BROKEN_FOR_S:
            return BookView(view.bids, view.asks[1:], view.update_id)
        return view


def broken_factory() -> Any:
    reference = resolve_connector("reference")

    def create(context: ConnectorContext) -> Any:
        return DropsBestAsk(reference.create(context))

    return connector_factory(create, venues=(Venue.SPOT, Venue.PERPETUAL),
                             spec="tests.conformance.test_html_report:broken_factory")


# --- parsing ----------------------------------------------------------------------------------------------
@dataclass
class Page(HTMLParser):
    """What the tests look at: every tag with its attributes, the grid's cells, the text, the raw SVGs."""

    source: str = ""
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    cells: list[tuple[str, str]] = field(default_factory=list)  # (row's check, cell text), per grid cell
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._row: str | None = None
        self._in_cell = False
        self._cell: list[str] = []
        self._in_row_head = False
        self.feed(self.source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "th" and values.get("scope") == "row":
            self._in_row_head, self._row = True, ""
        if tag == "td" and "cell" in values.get("class", "").split():
            self._in_cell, self._cell = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_row_head = False
        if tag == "td" and self._in_cell:
            self._in_cell = False
            self.cells.append((self._row or "", "".join(self._cell).strip()))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_row_head and self._row is not None:
            self._row += data
        if self._in_cell:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)

    def svgs(self) -> list[ET.Element]:
        return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", self.source, flags=re.S)]


def assert_self_contained(page: Page) -> None:
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), f"external resource: <{tag} {attrs}>"
        assert not (tag == "script" and "src" in attrs), "a script loaded from elsewhere"
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name, "")
            assert not value or value.startswith("#"), f"<{tag} {name}={value!r}>: only in-page links"
    assert "http://" not in page.source and "https://" not in page.source
    assert "@import" not in page.source and "url(" not in page.source


def assert_grid(page: Page, scenarios: int) -> None:
    names = {c.name for c in all_checks()}
    rows = [name for name, _ in page.cells]
    assert set(rows) == names
    assert len(page.cells) == len(names) * scenarios  # a cell per check x scenario
    for name, text in page.cells:
        assert re.match(r"^\S (PASS|FAIL|WARN|ERROR|SKIP|N/A|n/a)(\b|$)", text), (name, text)
    groups = [attrs for tag, attrs in page.tags if tag == "th" and attrs.get("scope") == "rowgroup"]
    assert len(groups) == len({c.level for c in all_checks()})
    for level in ConformanceLevel:
        assert f">{level.value}</th>" in page.source


def timeline_svgs(page: Page) -> list[ET.Element]:
    plots = [svg for svg in page.svgs() if "timeline" in svg.get("class", "")]
    for svg in plots:
        assert svg.find("title") is not None and svg.get("role") == "img"
    return plots


def series(svg: ET.Element, css: str) -> list[ET.Element]:
    return [p for p in svg.iter("polyline") if p.get("class") == css]


def diff_marks(svg: ET.Element) -> list[ET.Element]:
    """The strip's marks of samples that differ from the truth (not the legend's key)."""
    return [r for r in svg.iter("rect") if (r.get("class") or "").split() == ["st", "st-diff"]]


def points(svg: ET.Element, css: str) -> list[tuple[float, float]]:
    return [tuple(map(float, xy.split(","))) for p in series(svg, css)  # type: ignore[misc]
            for xy in (p.get("points") or "").split()]


# --- the runs ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("passing")
    html, report = out / "report.html", out / "report.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["run", "--scenario", "calm", "--seed", str(SEED), "--duration-scale", "0.5", "--out", str(out),
                 "--json", str(report), "--html", str(html), "--no-progress"], stdout=stdout, stderr=stderr)
    assert code == 0, stdout.getvalue()
    assert str(html) in stdout.getvalue()
    return html.read_text(encoding="utf-8"), json.loads(report.read_text())


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> SuiteResult:
    out = tmp_path_factory.mktemp("failing")
    return run_suite(broken_factory(), "binance", ["gaps"], SEED, RunOptions(out_dir=out, duration_scale=0.6))


# --- the tests --------------------------------------------------------------------------------------------
def test_a_passing_run_shows_the_run_the_grid_and_flat_timelines(passing: tuple[str, dict[str, Any]]) -> None:
    source, report = passing
    page = Page(source)
    assert_self_contained(page)
    text = page.all_text
    assert "PASSED" in text and "reference" in text and "binance" in text and "calm" in text
    assert f"{SEED}" in text and "connector-conformance-kit" in text and "aiohttp" in text and "python" in text
    assert "No check failed." in text
    [scenario] = report["scenarios"]
    assert_grid(page, 1)
    assert {t for _, t in page.cells} == {"\u2713 PASS"}  # funding.* passed on perpetual (not applicable on spot)
    plots = timeline_svgs(page)
    assert len(plots) == len(scenario["venues"]) == 2
    for svg in plots:
        for css in ("truth bid", "truth ask", "conn bid", "conn ask", "truth uid", "conn uid"):
            assert series(svg, css), f"no {css} line"
        # flat: the connector's lines lie on the truth's (at most the odd sample not compared)
        assert points(svg, "conn bid") == points(svg, "truth bid")
        assert points(svg, "conn ask") == points(svg, "truth ask")
        assert not diff_marks(svg)
        assert "no fault fired" in "".join(svg.itertext())  # calm injects none


def test_the_json_report_carries_the_timelines(passing: tuple[str, dict[str, Any]]) -> None:
    _, report = passing
    [scenario] = report["scenarios"]
    assert scenario["faults"] == []
    assert [t["venue"] for t in scenario["timelines"]] == ["spot BTC-USDT", "perpetual BTC-USDT"]
    for line in scenario["timelines"]:
        columns = ("t", "bid", "ask", "update_id", "truth_bid", "truth_ask", "truth_update_id", "status")
        assert len({len(line[c]) for c in columns}) == 1 and 0 < len(line["t"]) <= 400
        assert len(line["t"]) <= line["samples"] and line["t"] == sorted(line["t"])
        assert set(line["status"]) <= {"ok", "no_id"} and "ok" in line["status"]
        assert line["t"][0] <= line["run_t"] + 0.5 and line["run_t"] < line["settle_t"] <= line["t"][-1] + 0.5


def test_a_failing_run_names_the_check_the_replay_and_plots_the_divergence(failing: SuiteResult) -> None:
    assert failing.exit_code == 1
    [result] = failing.results
    failed = {(c.venue, c.name) for c in result.failures}
    assert ("spot BTC-USDT", "book.truth") in failed
    assert not [c for c in result.failures if c.venue.startswith("perpetual")]
    page = Page(render_html(failing))
    assert_self_contained(page)
    assert_grid(page, len(failing.results))
    text = page.all_text
    assert "FAILED" in text
    assert ("book.truth", "✗ FAIL spot") in page.cells  # the worst result, and on which connector
    articles = [a for t, a in page.tags if t == "article"]
    assert {a["data-check"] for a in articles} >= {"book.truth"}
    assert f"Rule: {get_check('book.truth').summary}" in text
    assert result.replay in text and "tests.conformance.test_html_report:broken_factory" in result.replay
    assert result.transcript and f"mock-exchange replay {result.transcript}" in text
    assert "differ from the exchange's book at their claimed update id" in text
    assert "last fault before it" in text or "no fault had fired" in text  # the first divergent message
    assert 'href="#f-0-spot-btc-usdt"' in page.source and 'id="f-0-spot-btc-usdt"' in page.source
    plots = timeline_svgs(page)
    assert len(plots) == 3  # the failing connector's in the failures, both connectors' in the scenario
    spot = plots[0]
    assert "spot BTC-USDT" in (spot.findtext("title") or "")
    assert series(spot, "conn ask") and series(spot, "truth ask")
    assert points(spot, "conn ask") != points(spot, "truth ask")  # the lost best ask shows
    assert diff_marks(spot)
    faults = [line for line in spot.iter("line") if (line.get("class") or "").startswith("fault ")]
    assert len(faults) == len(result.faults) > 0 and {f.get("data-kind") for f in faults} >= {"drop"}
    labels = [t.text or "" for t in spot.iter("text") if "failure" in (t.get("class") or "")]
    assert labels and "book.truth" in labels[0]
    for svg in plots[1:]:
        assert len([line for line in svg.iter("line") if (line.get("class") or "").startswith("fault ")]) > 0


def test_results_from_the_pytest_plugin_render_too(failing: SuiteResult, tmp_path: Path) -> None:
    [result] = failing.results
    again = pickle.loads(pickle.dumps(result))  # as --jobs and xdist workers hand results back
    path = write_html([again, again], tmp_path / "sub" / "plugin.html", title="plugin run")
    page = Page(path.read_text(encoding="utf-8"))
    assert_self_contained(page)
    assert "<title>plugin run</title>" in page.source
    assert len(page.cells) == 2 * len(all_checks())
    assert len(timeline_svgs(page)) == 6


# --- in a browser -----------------------------------------------------------------------------------------
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", exc_type=ImportError, reason="Playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
        finally:
            browser.close()


def test_the_report_opens_offline_in_a_browser(failing: SuiteResult, browser_page: Any, tmp_path: Path) -> None:
    path = write_html(failing, tmp_path / "report.html")
    requests: list[str] = []
    errors: list[str] = []
    browser_page.on("request", lambda request: requests.append(request.url))
    browser_page.on("pageerror", lambda error: errors.append(str(error)))
    browser_page.goto(path.as_uri())
    assert requests == [path.as_uri()] and errors == []
    assert browser_page.locator("svg.timeline").count() == 3
    box = browser_page.locator("svg.timeline").first.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    if os.environ.get("SAVE_SCREENSHOTS"):  # the top of the page: the run, the grid, the first failure
        card = browser_page.locator("article.failure").first.bounding_box()
        assert card is not None
        browser_page.screenshot(path=str(SCREENSHOT), full_page=True,
                                clip={"x": 0, "y": 0, "width": 1200, "height": card["y"] + card["height"] + 12})


def test_harness_errors_and_skipped_scenarios_render_without_timelines() -> None:
    level = ConformanceLevel.ORDERS
    broken = ScenarioResult("gaps", "", "reference", "okx", 1, 11, level, error="Traceback: boom <here>",
                            replay="conformance run --scenario gaps")
    skipped = ScenarioResult("funding", "", "reference", "okx", 1, 12, level, skipped="not gated at orders")
    page = Page(render_html([broken, skipped]))
    assert_self_contained(page)
    assert_grid(page, 2)
    assert {t for _, t in page.cells} == {"\u26a0 ERROR", "\u2013 SKIP"}
    assert "Traceback: boom <here>" in page.all_text and "the harness failed" in page.all_text
    assert "ERROR" in page.all_text and not timeline_svgs(page)


def test_a_scenario_not_applicable_to_the_dialect_is_shown_as_such() -> None:
    level = ConformanceLevel.MARKET_DATA
    why = "not applicable: scenario corrupt_book needs book messages that carry a checksum of the book"
    na = ScenarioResult("corrupt_book", "", "reference", "binance", 1, 13, level, skipped=why, not_applicable=True)
    skipped = ScenarioResult("funding", "", "reference", "binance", 1, 12, level, skipped="not gated at orders")
    page = Page(render_html([na, skipped]))
    assert_self_contained(page)
    assert_grid(page, 2)
    assert {t for _, t in page.cells} == {"\u2205 N/A", "\u2013 SKIP"}
    assert "\u2205 N/A" in page.all_text and why in page.all_text
    assert "not applicable to the dialect (not run): corrupt_book" in page.all_text
