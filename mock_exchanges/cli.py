"""`mock-exchange` command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import TYPE_CHECKING

from .flow import FlowConfig

if TYPE_CHECKING:
    from .scenarios import Scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mock-exchange", description="Simulated crypto exchanges.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="a short seeded tour of the engine")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--commands", type=int, default=20_000)
    serve = sub.add_parser("serve", help="serve a mock exchange over HTTP + WebSocket until Ctrl-C")
    serve.add_argument("--dialect", action="append", dest="dialects", default=None,
                       help="wire dialect to serve (repeatable; default: binance)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; beyond loopback the control API needs a token)")
    serve.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--quiet", action="store_true", help="no synthetic order flow")
    serve.add_argument("--rate", type=float, default=50.0, help="flow commands per second per market")
    serve.add_argument("--levels", type=int, default=200, help="live price levels per book side")
    serve.add_argument("--accounts", type=int, default=2, help="trading accounts to create")
    serve.add_argument("--scenario", help="a named scenario (flow, faults, actions); see `mock-exchange scenarios`")
    serve.add_argument("--scenario-file", help="a TOML file of scenarios ([scenario.<name>] tables)")
    serve.add_argument("--faults", help="a TOML fault schedule (seed + [[rules]]) on top of the scenario's")
    serve.add_argument("--transcript", help="write the run's transcript (JSON Lines) to this file")
    serve.add_argument("--batch-depth", action="store_true",
                       help="depth streams at the venue's documented speed: one merged frame per interval (Binance "
                            "@depth@100ms every 100 ms, spot @depth every 1000 ms), not one frame per change")
    sub.add_parser("scenarios", help="list the named scenarios")
    replay = sub.add_parser("replay", help="serve a recorded transcript back, exactly as it was sent")
    replay.add_argument("transcript")
    replay.add_argument("--host", default="127.0.0.1")
    replay.add_argument("--port", type=int, default=8080)
    replay.add_argument("--speed", type=float, default=1.0, help="timing scale (0: as fast as possible)")
    args = parser.parse_args(argv)
    if args.command == "scenarios":
        from .scenarios import CATALOG

        for named in CATALOG.values():
            needs = named.needs()  # a scenario that needs a dialect capability runs only where a dialect has it
            only = f" (dialects: {', '.join(named.dialects())}; needs {', '.join(needs)})" if needs else ""
            print(f"{named.name:18s} {named.description}{only}")
        return 0
    if args.command == "replay":
        from .serve import serve_replay

        return asyncio.run(serve_replay(args.transcript, args.host, args.port, args.speed))
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.seed, args.commands)
    if args.command == "serve":
        from .serve import serve as run_serve

        try:
            scenario = _scenario(args)
            return asyncio.run(run_serve(args.dialects or ["binance"], args.host, args.port, args.seed, args.quiet,
                                         args.rate, args.levels, args.accounts, scenario=scenario,
                                         transcript=args.transcript, batch_depth=args.batch_depth))
        except (ValueError, OSError) as error:
            print(f"mock-exchange serve: {error}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


def _scenario(args: argparse.Namespace) -> Scenario | None:
    """The scenario `serve` was asked for, with `--seed`, and with `--faults` rules added to it."""
    from .faults import Schedule
    from .scenarios import Scenario, get_scenario, load_scenarios

    scenario: Scenario | None = None
    if args.scenario_file:
        loaded = load_scenarios(args.scenario_file)
        name = args.scenario or next(iter(loaded))
        if name not in loaded:
            raise ValueError(f"no scenario {name!r} in {args.scenario_file}; it has: {', '.join(loaded)}")
        scenario = loaded[name].with_seed(args.seed)
    elif args.scenario:
        scenario = get_scenario(args.scenario, args.seed)
    if args.faults:
        extra = Schedule.load(args.faults)
        base = scenario or Scenario("custom", flow=None if args.quiet else FlowConfig(
            levels_per_side=args.levels, rate_per_s=args.rate), seed=args.seed, duration_s=0)
        scenario = dataclasses.replace(base, faults=base.faults + extra.rules)
    return scenario


if __name__ == "__main__":
    sys.exit(main())
