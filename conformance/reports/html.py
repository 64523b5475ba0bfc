"""The HTML report: one self-contained file (inline CSS and SVG, no script needed, no external reference), so it
opens offline and can be kept as a CI artifact.

    from conformance.reports.html import write_html
    write_html(suite, "report.html")             # a SuiteResult, or a list of ScenarioResults (pytest plugin)

It shows the run (connectors, dialects, level, scenarios, seeds, versions), a grid of checks x scenarios
grouped by conformance level (each cell a word and a symbol, not only a colour), every failure (the rule, what
differed, when and since which message, the command that replays it, the transcript) with the timeline of its
connector, and per scenario the timelines of its connectors (`plots.timeline_svg`).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Sequence
from html import escape
from importlib import metadata
from pathlib import Path

from ..checks import REGISTRY, CheckResult, Severity, Status, all_checks
from ..levels import ConformanceLevel
from ..results import ScenarioResult, SuiteResult
from ..timeline import Timeline
from .html_style import CSS
from .plots import Marker, timeline_svg

#: a cell's state: (css class, symbol, word), worst first
STATES = {"error": ("error", "⚠", "ERROR"), "fail": ("fail", "✗", "FAIL"), "warn": ("warn", "!", "WARN"),
          "pass": ("pass", "✓", "PASS"), "skip": ("skip", "\u2013", "SKIP"), "na": ("na", "\u2205", "N/A"),
          "none": ("none", "·", "n/a")}
_ORDER = list(STATES)
HOW_TO_READ = (
    "Timelines: seconds since the exchange started. The truth beside a sample is the exchange's book at the update id "
    "the connector's book claims (at the time, when it claims none): while the book is right, the thin line lies on "
    "the wide one. Update ids: the exchange's last (wide) and the one the book claims (thin); the gap between them is "
    "the book's lag. Marks in the strip at the top of the price band: samples that differ from the truth (red), "
    "claim an id not reached yet (purple), or claim none (grey). Each tick in the lanes below is a fault the exchange "
    "injected (hover for where); dashed lines: the connector ready, settling begun, a failure first seen.")


def e(value: object) -> str:
    return escape(str(value), quote=True)


def versions() -> dict[str, str]:
    found = {}
    for name, dist in (("connector-conformance-kit", "connector-conformance-kit"), ("aiohttp", "aiohttp")):
        try:
            found[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return {"connector-conformance-kit": found["connector-conformance-kit"],
            "python": platform.python_version(), "aiohttp": found["aiohttp"], "platform": platform.platform()}


def as_suite(results: SuiteResult | Sequence[ScenarioResult]) -> SuiteResult:
    """A suite from a list of scenario results (as the pytest plugin collects them)."""
    if isinstance(results, SuiteResult):
        return results
    items = list(results)
    levels = [r.level for r in items] or [ConformanceLevel.MARKET_DATA]
    highest = max(levels, key=lambda lv: len(lv.covered()))
    return SuiteResult(_joined(r.connector for r in items) or "?", _joined(r.dialect for r in items) or "?",
                       highest, items[0].seed if items else 0, items, jobs=0,
                       started_at=min((r.started_at for r in items if r.started_at), default=""),
                       wall_time_s=sum(r.duration_s for r in items))


def _joined(values: Iterable[object]) -> str:
    """The distinct values, in order, comma-separated."""
    return ", ".join(dict.fromkeys(str(v) for v in values))


# --- the grid ---------------------------------------------------------------------------------------------
def check_state(check: CheckResult) -> str:
    if check.status is Status.PASS:
        return "pass"
    if check.status is Status.SKIP:
        return "skip"
    if check.severity is Severity.ADVISORY:
        return "warn"
    return "fail" if check.status is Status.FAIL else "error"


def cell_state(result: ScenarioResult, name: str) -> tuple[str, list[CheckResult]]:
    """The worst state of a check over a scenario's connectors, and its results."""
    found = [c for c in result.checks if c.name == name]
    if not found:
        if result.skipped is not None:
            return ("na" if result.not_applicable else "skip"), []
        return ("error" if result.error is not None else "none"), []
    return min((check_state(c) for c in found), key=_ORDER.index), found


def _column_label(result: ScenarioResult, suite: SuiteResult) -> str:
    parts = [f'<span class="scn">{e(result.scenario)}</span>']
    if len({r.dialect for r in suite.results}) > 1:
        parts.append(f'<span class="sub">{e(result.dialect)}</span>')
    if len({r.seed for r in suite.results}) > 1:
        parts.append(f'<span class="sub">seed {e(result.seed)}</span>')
    css, symbol, word = STATES[_scenario_state(result)]
    parts.append(f'<span class="badge {css}">{symbol} {word}</span>')
    return "<br>".join(parts)


def _scenario_state(result: ScenarioResult) -> str:
    if result.not_applicable and result.error is None:
        return "na"
    return {"pass": "pass", "fail": "fail", "error": "error", "skip": "skip"}[result.status]


def _cell(index: int, result: ScenarioResult, name: str) -> str:
    state, found = cell_state(result, name)
    css, symbol, word = STATES[state]
    worst = [c for c in found if check_state(c) == state]
    venues = ""
    if state != "pass" and len(worst) < len(found):  # not the same on every connector: say which
        venues = " ".join(c.venue.split(" ")[0] for c in worst)
    tip = "; ".join(f"{c.venue}: {c.status.value.upper()} {c.message.splitlines()[0] if c.message else ''}".strip()
                    for c in found) or (result.skipped or result.error or "not run")
    text = f'{symbol} {word}' + (f'<span class="sub"> {e(venues)}</span>' if venues else "")
    if state in ("fail", "error", "warn") and found:
        text = f'<a href="#f-{index}-{_slug(worst[0].venue)}">{text}</a>'
    return f'<td class="cell {css}" title="{e(tip[:600])}">{text}</td>'


def grid(suite: SuiteResult) -> str:
    checks = all_checks()
    known = {c.name for c in checks}
    extra = sorted({c.name for r in suite.results for c in r.checks} - known)
    head = "".join(f'<th scope="col">{_column_label(r, suite)}</th>' for r in suite.results)
    rows = [f'<p class="note">Each cell is the worst result of the check over the scenario\'s connectors (named when '
            f'they differ); hover over it for each one\'s message, click a failure to go to it.</p>'
            f'<table class="grid"><caption class="visually-hidden">Checks \u00d7 scenarios</caption><thead><tr>'
            f'<th scope="col">check</th><th scope="col">severity</th>{head}</tr></thead>']
    for level in ConformanceLevel:
        names = [c for c in checks if c.level is level]
        if not names:
            continue
        rows.append(f'<tbody><tr class="level"><th colspan="{len(suite.results) + 2}" scope="rowgroup">'
                    f'{e(level.value)}</th></tr>')
        for chk in names:
            cells = "".join(_cell(i, r, chk.name) for i, r in enumerate(suite.results))
            rows.append(f'<tr><th scope="row" title="{e(chk.summary)}">{e(chk.name)}</th>'
                        f'<td class="sev">{e(chk.severity.value)}</td>{cells}</tr>')
        rows.append("</tbody>")
    if extra:
        rows.append(f'<tbody><tr class="level"><th colspan="{len(suite.results) + 2}">other checks</th></tr>')
        for name in extra:
            cells = "".join(_cell(i, r, name) for i, r in enumerate(suite.results))
            rows.append(f'<tr><th scope="row">{e(name)}</th><td class="sev"></td>{cells}</tr>')
        rows.append("</tbody>")
    rows.append("</table>")
    legend = " ".join(f'<span class="cell {css}">{symbol} {word}</span>' for css, symbol, word in STATES.values())
    return "".join(rows) + (f'<p class="legend">{legend} (WARN: an advisory check failed; it does not gate. N/A: the '
                            f'scenario does not apply to the dialect, e.g. it needs a book checksum; not run, neither '
                            f'passed nor failed. n/a: the check was not run on that scenario)</p>')


# --- failures and timelines -------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()


def _failing(result: ScenarioResult) -> list[CheckResult]:
    return [c for c in result.checks if c.status in (Status.FAIL, Status.ERROR)]


def _markers(result: ScenarioResult, venue: str) -> list[Marker]:
    return [Marker(c.t, c.name) for c in _failing(result) if c.venue == venue and c.t is not None]


def _plot(result: ScenarioResult, tl: Timeline) -> str:
    diffs = sum(1 for s in tl.status if s != "ok")
    caption = (f"{tl.venue}: {tl.samples} samples ({tl.points} plotted), {diffs} not equal to the truth; "
               f"{len(result.faults)} faults fired")
    svg = timeline_svg(tl, result.faults, _markers(result, tl.venue),
                       caption=f"{result.scenario} ({result.dialect}) {caption}")
    return f'<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>'


def _rule(check: CheckResult) -> str:
    registered = REGISTRY.get(check.name)
    doc = registered.doc if registered is not None else ""
    rest = doc.split("\n\n", 1)[1] if "\n\n" in doc else ""
    more = f'<details><summary>the rule in full</summary><pre class="doc">{e(rest)}</pre></details>' if rest else ""
    return f'<p class="rule"><b>Rule:</b> {e(check.summary or doc.split(chr(10))[0])}</p>{more}'


def _first_seen(check: CheckResult) -> str:
    if check.t is None:
        return "not timed"
    update_id = check.details.get("update_id") if check.details else None
    return f"t={check.t:.3f}s" + (f", update id {update_id}" if update_id is not None else "")


def failure_card(index: int, result: ScenarioResult, check: CheckResult) -> str:
    css, symbol, word = STATES[check_state(check)]
    advisory = " (advisory: does not gate)" if check.severity is Severity.ADVISORY else ""
    details = ""
    if check.details:
        shown = json.dumps(dict(check.details), indent=1, default=str)
        details = f'<details><summary>details</summary><pre>{e(shown)}</pre></details>'
    transcript = (f'<code>{e(result.transcript)}</code> (serve it back: '
                  f'<code>mock-exchange replay {e(result.transcript)}</code>)' if result.transcript
                  else "none (an out-of-process exchange writes its own, if started with --transcript)")
    rows = [("What differed", f'<pre class="msg">{e(check.message)}</pre>'),
            ("First divergence", e(_first_seen(check))),
            ("First divergent message", e(check.since or "no transcript to tell (or no fault had fired)")),
            ("Seed", f"{e(result.seed)} (scenario {e(result.scenario)} runs with seed {e(result.scenario_seed)})"),
            ("Replay", f'<code class="cmd">{e(result.replay)}</code>'),
            ("Transcript", transcript)]
    if result.log:
        rows.append(("Log", f"<code>{e(result.log)}</code>"))
    body = "".join(f"<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (f'<article class="failure" data-check="{e(check.name)}" data-state="{css}"><h4>'
            f'<span class="badge {css}">{symbol} {word}</span> {e(check.name)}{e(advisory)}</h4>{_rule(check)}'
            f'<table class="facts">{body}</table>{details}</article>')


def failures(suite: SuiteResult) -> str:
    parts: list[str] = []
    for index, result in enumerate(suite.results):
        if result.error is not None:
            parts.append(f'<section class="venue-failures" id="f-{index}-harness"><h3>{e(result.scenario)} '
                         f'({e(result.dialect)}): the harness failed</h3><pre class="msg">{e(result.error)}</pre>'
                         f'<p>Replay: <code class="cmd">{e(result.replay)}</code></p></section>')
        failing = _failing(result)
        for venue in dict.fromkeys(c.venue for c in failing):
            cards = "".join(failure_card(index, result, c)
                            for c in sorted((c for c in failing if c.venue == venue),
                                            key=lambda c: (c.severity is Severity.ADVISORY, c.t or 0.0)))
            plots = "".join(_plot(result, tl) for tl in result.timelines if tl.venue == venue)
            parts.append(f'<section class="venue-failures" id="f-{index}-{_slug(venue)}"><h3>{e(result.scenario)} '
                         f'({e(result.dialect)}, seed {e(result.seed)}): {e(venue)}</h3>{plots}{cards}</section>')
    return "".join(parts) or '<p class="ok">No check failed.</p>'


def scenario_section(index: int, result: ScenarioResult) -> str:
    css, symbol, word = STATES[_scenario_state(result)]
    facts = [("Description", e(result.description)), ("Connector", e(result.connector)),
             ("Dialect", e(result.dialect)), ("Level", e(result.level.value)),
             ("Seed", f"{e(result.seed)} (scenario seed {e(result.scenario_seed)})"),
             ("Connectors", e(", ".join(result.venues) or "none")), ("Time", f"{result.duration_s:.1f}s"),
             ("Replay", f'<code class="cmd">{e(result.replay)}</code>')]
    if result.transcript:
        facts.append(("Transcript", f"<code>{e(result.transcript)}</code>"))
    if result.skipped:
        facts.append(("Not applicable" if result.not_applicable else "Skipped", e(result.skipped)))
    rows = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in facts)
    plots = "".join(_plot(result, tl) for tl in result.timelines) or '<p class="none">No timeline (nothing ran).</p>'
    faults = ""
    if result.faults:
        lines = "".join(f"<tr><td>{f.t:.3f}</td><td>{e(f.kind)}</td><td>{e(f.where)}</td></tr>"
                        for f in result.faults[:500])
        faults = (f'<details><summary>{len(result.faults)} faults fired</summary><table class="faults"><thead><tr>'
                  f'<th>t (s)</th><th>kind</th><th>where</th></tr></thead><tbody>{lines}</tbody></table></details>')
    diagnostics = ""
    if result.diagnostics:
        diagnostics = (f'<details><summary>connector diagnostics</summary><pre>'
                       f'{e(json.dumps(result.diagnostics, indent=1, default=str))}</pre></details>')
    return (f'<section class="scenario" id="s-{index}"><h3><span class="badge {css}">{symbol} {word}</span> '
            f'{e(result.scenario)} <span class="sub">({e(result.dialect)})</span></h3><table class="facts">{rows}'
            f'</table>{plots}{faults}{diagnostics}</section>')


# --- the page ---------------------------------------------------------------------------------------------
def header(suite: SuiteResult) -> str:
    verdict = {0: "pass", 1: "fail"}.get(suite.exit_code, "error")
    css, symbol, word = STATES[verdict]
    word = {"pass": "PASSED", "fail": "FAILED", "error": "ERROR"}[verdict]
    results = suite.results
    seeds = ", ".join(f"{r.scenario}={r.scenario_seed}" for r in results)
    run_seeds = _joined(r.seed for r in results) or str(suite.seed)
    facts = [("Connector", e(_joined(r.connector for r in results) or suite.connector)),
             ("Dialects", e(_joined(r.dialect for r in results) or suite.dialect)),
             ("Level", e(suite.level.value)),
             ("Scenarios", e(_joined(r.scenario for r in results) or "none")),
             ("Seed", f"{e(run_seeds)} <span class=\"sub\">(scenario seeds: {e(seeds)})</span>"),
             ("Result", f"{e(word)}: exit code {suite.exit_code}, {sum(len(r.failures) for r in results)} required "
                        f"check failures, {sum(1 for r in results if r.error is not None)} harness errors"
                        + _not_applicable(results)),
             ("Started", e(suite.started_at or "?")),
             ("Wall time", f"{suite.wall_time_s:.1f}s" + (f" (jobs: {suite.jobs})" if suite.jobs else "")),
             ("Bounds", e(", ".join(f"{k} {v:g}" for k, v in suite.bounds.to_dict().items()))),
             ("Versions", e(", ".join(f"{k} {v}" for k, v in versions().items())))]
    rows = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in facts)
    return (f'<header><h1>Conformance report <span class="badge big {css}">{symbol} {word}</span></h1>'
            f'<table class="facts run">{rows}</table></header>')


def _not_applicable(results: Sequence[ScenarioResult]) -> str:
    names = [r.scenario for r in results if r.not_applicable]
    return f"; not applicable to the dialect (not run): {e(', '.join(names))}" if names else ""


def render_html(suite: SuiteResult | Sequence[ScenarioResult], title: str | None = None) -> str:
    """The report as one HTML document (str). `suite`: a run's `SuiteResult`, or scenario results to show
    together (their connectors, dialects and seeds are listed as found)."""
    run = as_suite(suite)
    name = title or f"Conformance report: {run.connector} on {run.dialect}"
    scenarios = "".join(scenario_section(i, r) for i, r in enumerate(run.results))
    body = (f'{header(run)}<main><section id="grid"><h2>Checks by level</h2>{grid(run)}</section>'
            f'<section id="failures"><h2>Failures</h2>{failures(run)}</section>'
            f'<section id="scenarios"><h2>Scenarios and timelines</h2><p class="note">{e(HOW_TO_READ)}</p>'
            f'{scenarios}</section></main>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{e(name)}</title><style>{CSS}</style></head>'
            f'<body>{body}</body></html>\n')


def write_html(suite: SuiteResult | Sequence[ScenarioResult], path: str | Path, title: str | None = None) -> Path:
    """Write `render_html(suite, title)` to `path` (parent directories created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(suite, title), encoding="utf-8")
    return target
