"""`conformance` command line: the CI gate.

    conformance run --connector reference --dialect binance --scenario all --seed 7 --jobs 2
    conformance list

Exit codes: 0 every required check passed; 1 a required check failed; 2 a usage error or a harness error
(the gate could not be evaluated).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TextIO


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformance", description="Run a connector against the mock exchanges.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run conformance scenarios and check the connector",
                         description="Run scenarios against a connector; exit 0 only if every required check passes.")
    run.add_argument("--connector", default="reference",
                     help="reference | hummingbot:<preset or module:Class> | <module:factory> (default: reference)")
    run.add_argument("--dialect", default="binance", help="the exchange dialect (default: binance)")
    run.add_argument("--scenario", default="all", help="a scenario name, a comma-separated list, or all (default)")
    run.add_argument("--scenario-file", help="a TOML file of scenarios ([scenario.<name>] tables) to run instead")
    run.add_argument("--seed", type=int, default=0, help="the run's seed; each scenario's is derived from it")
    run.add_argument("--level", choices=["market_data", "orders", "perpetuals"],
                     help="the level to gate at (default: the highest the connector supports)")
    run.add_argument("--jobs", type=int, default=1, help="spread the scenarios over this many processes")
    run.add_argument("--out", default="conformance-out", help="directory for transcripts, logs and reports")
    run.add_argument("--json", dest="json_path", help="JSON report path (default: <out>/report.json)")
    run.add_argument("--junit-xml", dest="junit_path", help="JUnit XML report path (default: <out>/junit.xml)")
    run.add_argument("--html", dest="html_path",
                     help="also write a self-contained HTML report (grid, failures, timelines) to this path")
    run.add_argument("--exchange-url", help="run against an out-of-process `mock-exchange serve` at this URL")
    run.add_argument("--control-token", help="bearer token of that exchange's control API (when not on loopback)")
    run.add_argument("--depth", type=int, default=50, help="book levels compared per side (default 50)")
    run.add_argument("--duration-scale", type=float, default=1.0, help="scale every scenario's duration")
    run.add_argument("--sample-interval", type=float, default=0.1, help="seconds between samples (default 0.1)")
    run.add_argument("--bound", action="append", default=[], metavar="NAME=SECONDS",
                     help="override a time bound (e.g. recovery_s=5); see `conformance list`")
    run.add_argument("--verbose", action="store_true", help="also print advisory failures in full")
    run.add_argument("--no-progress", action="store_true", help="no progress lines")
    sub.add_parser("list", help="list the scenarios, the checks and the bounds")
    return parser


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return 0
    if args.command == "list":
        return _list(out)
    try:
        return _run(args, out, err)
    except ValueError as error:
        print(f"conformance run: {error}", file=err)
        return 2


def _list(out: TextIO) -> int:
    from mock_exchanges.scenarios import CATALOG

    from .checks import Bounds, all_checks

    print("Scenarios:", file=out)
    for scenario in CATALOG.values():
        only = f" (dialects: {', '.join(scenario.dialects())}; needs {', '.join(scenario.needs())})" \
            if scenario.needs() else ""
        print(f"  {scenario.name:18s} [{', '.join(scenario.levels)}] {scenario.description}{only}", file=out)
    print("\nChecks:", file=out)
    for chk in all_checks():
        print(f"  {chk.name:26s} {chk.level.value:11s} {chk.severity.value:8s} {chk.summary}", file=out)
    print("\nBounds (override with --bound NAME=SECONDS):", file=out)
    for name, value in Bounds().to_dict().items():
        print(f"  {name:16s} {value:g}", file=out)
    return 0


def _bounds(overrides: list[str]) -> object:
    from .checks import Bounds

    values: dict[str, float] = {}
    known = Bounds().to_dict()
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in known:
            raise ValueError(f"--bound {item!r}: expected NAME=SECONDS with NAME one of {', '.join(known)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"--bound {item!r}: {value!r} is not a number") from None
    return dataclasses.replace(Bounds(), **values)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .checks import Bounds
    from .levels import parse_level
    from .reports import ProgressPrinter, summary, write_json, write_junit
    from .runner import RunOptions, resolve_scenarios, run_suite
    from .seeds import derive_seed

    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if args.scenario_file:
        from mock_exchanges.scenarios import load_scenarios

        loaded = load_scenarios(args.scenario_file)
        names = list(loaded) if args.scenario == "all" else [n.strip() for n in args.scenario.split(",")]
        missing = [n for n in names if n not in loaded]
        if missing:
            raise ValueError(f"no scenario {', '.join(missing)} in {args.scenario_file}; it has: {', '.join(loaded)}")
        scenarios = [loaded[n] for n in names]
    else:
        scenarios = resolve_scenarios(args.scenario)
    if args.exchange_url and len(scenarios) > 1 and args.jobs > 1:
        raise ValueError("--exchange-url runs scenarios one after the other on that exchange: use --jobs 1")
    out_dir = Path(args.out)
    bounds = _bounds(args.bound)
    assert isinstance(bounds, Bounds)
    options = RunOptions(level=parse_level(args.level) if args.level else None, out_dir=out_dir, depth=args.depth,
                         sample_interval_s=args.sample_interval, duration_scale=args.duration_scale, bounds=bounds,
                         exchange_url=args.exchange_url, control_token=args.control_token,
                         scenario_file=args.scenario_file)
    not_applicable = [s.name for s in scenarios if s.not_applicable(args.dialect) is not None]
    print(f"conformance run: connector {args.connector}, dialect {args.dialect}, seed {args.seed}, "
          f"{len(scenarios)} scenarios, jobs {args.jobs}"
          + (f" ({len(not_applicable)} not applicable to {args.dialect}: {', '.join(not_applicable)})"
             if not_applicable else ""), file=err)
    print("scenario seeds: " + ", ".join(f"{s.name}={derive_seed(args.seed, s.name)}" for s in scenarios), file=err)
    progress = None if args.no_progress else ProgressPrinter(err)
    suite = run_suite(args.connector, args.dialect, scenarios, args.seed, options, jobs=args.jobs, progress=progress)
    json_path = write_json(suite, args.json_path or out_dir / "report.json")
    junit_path = write_junit(suite, args.junit_path or out_dir / "junit.xml")
    reports = [json_path, junit_path]
    if args.html_path:
        from .reports.html import write_html

        reports.append(write_html(suite, args.html_path))
    print(summary(suite, verbose=args.verbose), file=out)
    print(f"reports: {', '.join(map(str, reports))}; transcripts and logs under {out_dir}", file=out)
    return suite.exit_code


if __name__ == "__main__":
    sys.exit(main())
