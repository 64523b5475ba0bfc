"""Run the reference connector against a mock exchange started in this process (127.0.0.1 only).

    .venv/bin/python examples/reference_connector_demo.py [--seed 7] [--dialect binance|okx|bitstamp]

Spot: wait until ready, print the BTC-USDT book (checked against the exchange's own book at the update id
the connector claims), place a limit order away from the market and cancel it, take liquidity with a market
order, print fills, fees and balances. Perpetual: funding info, a position, leverage. Then the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from decimal import Decimal
from typing import Any

from mock_exchanges.engine import Account
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from reference_connector import (
    BinanceExchange,
    BinancePerpetualDerivative,
    BitstampExchange,
    BitstampPerpetualDerivative,
    Exchange,
    OkxExchange,
    OkxPerpetualDerivative,
    OrderBook,
)
from reference_connector.derivative import Derivative

CONNECTORS: dict[str, tuple[type[Exchange], type[Derivative]]] = {
    "binance": (BinanceExchange, BinancePerpetualDerivative),
    "okx": (OkxExchange, OkxPerpetualDerivative),
    "bitstamp": (BitstampExchange, BitstampPerpetualDerivative),
}


def credentials(server: MockExchangeServer, dialect: str) -> tuple[Account, dict[str, Any]]:
    """The first trading account, and what else its dialect needs (an OKX key has a passphrase)."""
    account = server.exchange.trading_accounts[0]
    extra: dict[str, Any] = {}
    if dialect == "okx":
        from mock_exchanges.dialects.okx.dialect import OKX

        extra["passphrase"] = server.app[OKX].passphrase(account)
    return account, extra


def show_book(name: str, book: OrderBook, depth: int = 5) -> None:
    print(f"\n{name} book at update id {book.update_id}")
    print(f"  {'bid qty':>14s} {'bid':>12s} | {'ask':<12s} {'ask qty':<14s}")
    for (bid, bid_qty), (ask, ask_qty) in zip(book.bids(depth), book.asks(depth), strict=False):
        print(f"  {bid_qty:>14} {bid:>12} | {ask:<12} {ask_qty:<14}")


async def spot(server: MockExchangeServer, seed: int, dialect: str) -> None:
    account, extra = credentials(server, dialect)
    connector = CONNECTORS[dialect][0](server.base_url, server.ws_url, account.api_key, account.api_secret,
                                       trading_pairs=["BTC-USDT", "ETH-USDT"], seed=seed, **extra)
    await connector.start()
    try:
        await connector.wait_ready(timeout=10)
        book = connector.order_books["BTC-USDT"]
        update_id, bids, asks = book.update_id, book.bids(), book.asks()
        show_book("BTC-USDT", book)
        if update_id is not None:
            truth = server.exchange.engine.book_at("BTCUSDT", update_id)
            print(f"  equal to the exchange's book at {update_id}: {bids == truth.bids and asks == truth.asks}")
        else:
            print(f"  (this dialect has no update ids: the book reflects exchange time {book.timestamp})")

        best_bid = book.best_bid()
        assert best_bid is not None
        price = (best_bid * Decimal("0.95")).quantize(Decimal("0.01"))
        client_id = await connector.buy("BTC-USDT", Decimal("0.01"), "LIMIT", price)
        order = connector.in_flight_orders[client_id]
        print(f"\nlimit buy 0.01 BTC @ {price}: {order.state.value} (exchange id {order.exchange_order_id})")
        canceled = await connector.cancel("BTC-USDT", client_id)
        print(f"cancel confirmed: {canceled}; transitions: "
              + " -> ".join(t.to_state.value for t in order.transitions))

        btc_before = connector.get_balance("BTC")
        client_id = await connector.buy("BTC-USDT", Decimal("0.02"), "MARKET")
        order = connector.in_flight_orders[client_id]
        for _ in range(200):  # balances arrive on the user stream; give them a moment (bounded)
            if order.state.is_terminal and not order.missing_fills and connector.get_balance("BTC") != btc_before:
                break
            await asyncio.sleep(0.01)
        print(f"market buy 0.02 BTC: {order.state.value}, executed {order.executed_amount} at avg "
              f"{order.average_price}, fees {order.fees}, trades {order.trade_ids}")
        print(f"balances: BTC {connector.get_balance('BTC')} (available {connector.get_available_balance('BTC')}), "
              f"USDT {connector.get_balance('USDT')} (available {connector.get_available_balance('USDT')})")
        stats = connector.stats()
        print("spot counters:", {k: stats[k] for k in ("messages_applied", "messages_dropped", "gaps_detected",
                                                      "resyncs", "reconnects", "update_ids")})
    finally:
        await connector.stop()


async def perpetual(server: MockExchangeServer, seed: int, dialect: str) -> None:
    account, extra = credentials(server, dialect)
    connector = CONNECTORS[dialect][1](server.base_url, server.ws_url, account.api_key, account.api_secret,
                                       trading_pairs=["BTC-USDT"], seed=seed, **extra)
    await connector.start()
    try:
        await connector.wait_ready(timeout=10)
        show_book("BTC-USDT perpetual", connector.order_books["BTC-USDT"], depth=3)
        print(f"\nfunding: {connector.get_funding_info('BTC-USDT')}")
        print(f"leverage set to {await connector.set_leverage('BTC-USDT', 10)}")
        client_id = await connector.sell("BTC-USDT", Decimal("0.05"), "MARKET")
        order = connector.in_flight_orders[client_id]
        for _ in range(200):  # the position comes on the user stream, available margin by a REST refresh
            if ("BTC-USDT" in connector.account_positions and not order.missing_fills
                    and connector.get_available_balance("USDT") <= connector.get_balance("USDT")):
                break
            await asyncio.sleep(0.01)
        print(f"market sell 0.05 BTC: {order.state.value}, fees {order.fees}")
        print(f"positions: {connector.account_positions}")
        print(f"USDT wallet {connector.get_balance('USDT')}, available {connector.get_available_balance('USDT')}")
    finally:
        await connector.stop()


async def main(seed: int, dialect: str) -> None:
    config = MockExchangeConfig(seed=seed, flow=FlowConfig(levels_per_side=50, rate_per_s=100))
    async with MockExchangeServer(MockExchange(config), dialects=[dialect]) as server:
        print(f"mock exchange ({dialect} dialect) on {server.base_url} (seed {seed})")
        await spot(server, seed, dialect)
        await perpetual(server, seed, dialect)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dialect", choices=sorted(CONNECTORS), default="binance")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the connector does")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(main(args.seed, args.dialect))
