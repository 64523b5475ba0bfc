"""`mock-exchange` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys


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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.seed, args.commands)
    if args.command == "serve":
        from .serve import serve as run_serve

        try:
            return asyncio.run(run_serve(args.dialects or ["binance"], args.host, args.port, args.seed, args.quiet,
                                         args.rate, args.levels, args.accounts))
        except ValueError as error:
            print(f"mock-exchange serve: {error}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
