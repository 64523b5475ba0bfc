"""`mock-exchange` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mock-exchange", description="Simulated crypto exchanges.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="a short seeded tour of the engine")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--commands", type=int, default=20_000)
    sub.add_parser("serve", help="serve a mock exchange over HTTP + WebSocket")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.seed, args.commands)
    if args.command == "serve":
        print("mock-exchange serve: not yet available (see the Binance-dialect issue)", file=sys.stderr)
        return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
