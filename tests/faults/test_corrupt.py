"""The `corrupt` fault: a book push whose content is wrong while its sequence (and checksum) is right.

On OKX (the dialect whose books pushes carry a CRC32 of the top 25 levels) a corrupted push parses, keeps the
seqId/prevSeqId chain and the checksum of the true update, differs from the true push in one level's size, and
so yields a book whose checksum is not the one it carries. The same seed gives the same transcript. On a dialect
without a book checksum (Binance, Bitstamp, OKX with its checksum retired) a schedule with such a rule is refused.

Driven step by step on a virtual clock (see conftest): two clients on the public socket, the first one faulted
(`connection=1`), the second one the control that receives the true pushes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from mock_exchanges.dialects import Dialect
from mock_exchanges.dialects.okx import OkxDialect
from mock_exchanges.faults import FaultKind, FaultRule, Schedule, Transcript
from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from tests.faults.conftest import SEED, RawClient, disconnected, raw_client, schedule_server, settled, step
from tests.server.test_okx_dialect import okx_checksum

PUBLIC = "/ws/v5/public"
SPOT = "BTC-USDT"
Row = tuple[str, str]


def corrupting(probability: float = 0.25, **fields: Any) -> Schedule:
    """Corrupt the first update on connection 1 and a `probability` share of the others."""
    return Schedule(seed=SEED, rules=(
        FaultRule(FaultKind.CORRUPT, channel="depth", connection=1, at_message=1, **fields),
        FaultRule(FaultKind.CORRUPT, channel="depth", connection=1, probability=probability, **fields),
    ))


# --- an OKX client's view, written from OKX's documentation (independently of the server's code) -------------------
@dataclass
class Book:
    bids: dict[Decimal, Row] = field(default_factory=dict)
    asks: dict[Decimal, Row] = field(default_factory=dict)

    def copy(self) -> Book:
        return Book(dict(self.bids), dict(self.asks))

    def apply(self, data: dict[str, Any]) -> Book:
        for side, rows in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for px, sz, _, _ in rows:
                if Decimal(sz) == 0:
                    side.pop(Decimal(px), None)
                else:
                    side[Decimal(px)] = (px, sz)
        return self

    def checksum(self) -> int:
        return okx_checksum([self.bids[p] for p in sorted(self.bids, reverse=True)],
                        [self.asks[p] for p in sorted(self.asks)])

    def levels(self) -> set[tuple[str, Decimal, Decimal]]:
        return ({("bid", p, Decimal(r[1])) for p, r in self.bids.items()}
                | {("ask", p, Decimal(r[1])) for p, r in self.asks.items()})


def pushes(client: RawClient) -> list[tuple[str, dict[str, Any], str]]:
    """The books pushes a client got: (action, data, text)."""
    return [(m["action"], m["data"][0], text) for m, text in zip(client.messages, client.texts, strict=True)
            if isinstance(m, dict) and "data" in m and m["arg"]["channel"] == "books"]


async def subscribe_books(client: RawClient) -> None:
    await client.ws.send_json({"op": "subscribe", "args": [{"channel": "books", "instId": SPOT}]})
    await client.wait(lambda c: any(action == "snapshot" for action, _, _ in pushes(c)))


async def caught_up(server: MockExchangeServer, client: RawClient) -> None:
    """The client has the push of the engine's latest update id."""
    last = server.exchange.engine.last_update_id("BTCUSDT")
    await client.wait(lambda c: any(data["seqId"] >= last for _, data, _ in pushes(c)[-3:]))


@dataclass
class Run:
    transcript: Transcript
    faulty: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    control: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def faults(self) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.transcript.lines) if r["ev"] == "fault"]


async def drive(schedule: Schedule, rounds: int = 10, per_round: int = 6) -> Run:
    """Both clients subscribe to BTC-USDT books, then the flow moves `rounds` times `per_round` commands."""
    print(f"exchange seed={SEED} schedule seed={schedule.seed}")
    run = Run(Transcript())
    async with schedule_server(schedule, transcript=run.transcript, dialect="okx") as server, \
            aiohttp.ClientSession() as session:
        async with raw_client(session, server.ws_url + PUBLIC) as faulty, \
                raw_client(session, server.ws_url + PUBLIC) as control:
            for client in (faulty, control):
                await subscribe_books(client)
            for _ in range(rounds):
                step(server, per_round)
                for client in (faulty, control):
                    await caught_up(server, client)
            await settled(server, faulty, control)
            run.faulty, run.control = pushes(faulty), pushes(control)
        await disconnected(server)
    return run


# --- what a corrupted push is --------------------------------------------------------------------------------------
async def test_a_corrupted_push_keeps_its_ids_and_checksum_but_not_its_book() -> None:
    run = await drive(corrupting())
    faults = [r for r in run.faults() if r["kind"] == "corrupt"]
    assert faults and all(r["conn"] == 1 and r["ch"] == "depth" for r in faults)
    assert len(run.faulty) == len(run.control) > 40
    truth = Book()
    corrupted: list[int] = []
    previous: int | None = None
    for index, ((action, data, text), (true_action, true_data, true_text)) in enumerate(
            zip(run.faulty, run.control, strict=True)):
        assert action == true_action
        if action == "snapshot":  # snapshots are not frames of the fault filter: never corrupted
            assert text == true_text
            truth = Book().apply(true_data)
            previous = data["seqId"]
            continue
        assert data["prevSeqId"] == previous, "the seqId chain is intact"
        previous = data["seqId"]
        got = truth.copy().apply(data)  # the book a client builds from the push it got
        truth.apply(true_data)
        assert truth.checksum() == true_data["checksum"]
        if text == true_text:
            assert got.checksum() == data["checksum"]
            continue
        corrupted.append(index)  # the update's index: the fault layer counts depth frames from 1, snapshot excluded
        same = {k: v for k, v in data.items() if k not in ("bids", "asks")}
        assert same == {k: v for k, v in true_data.items() if k not in ("bids", "asks")}  # ids, ts, checksum kept
        assert got.checksum() != data["checksum"], "only the checksum tells"
        [(side, price, size)] = got.levels() - truth.levels()  # one level at a size the exchange does not have
        assert size > 0
        wrong = [r for r in data["bids" if side == "bid" else "asks"] if Decimal(r[0]) == price]
        assert wrong and Decimal(wrong[0][1]) == size and int(wrong[0][3]) > 0
        rank = sorted(got.bids if side == "bid" else got.asks, reverse=side == "bid").index(price)
        assert rank < 25, "inside the levels the checksum covers"
    assert [r["i"] for r in faults] == corrupted
    for record, index in zip(faults, corrupted, strict=True):
        data = run.faulty[index][1]
        assert record["update_id"] == data["seqId"] and record["rule"] in (0, 1)
        assert record["changed"].startswith(("bid ", "ask ")) and ": sent " in record["changed"]
    print(f"{len(corrupted)} of {len(run.faulty) - 1} updates corrupted, e.g. {faults[0]['changed']}")


async def test_the_same_seed_corrupts_the_same_pushes_the_same_way() -> None:
    first, again = await drive(corrupting()), await drive(corrupting())
    assert first.transcript.text() == again.transcript.text()
    assert [t for _, _, t in first.faulty] == [t for _, _, t in again.faulty]
    other = await drive(Schedule(seed=SEED + 1, rules=corrupting().rules))

    def changes(run: Run) -> list[tuple[int, str]]:
        return [(r["i"], r["changed"]) for r in run.faults() if r["kind"] == "corrupt"]

    print("seed 7:", changes(first)[:4], "seed 8:", changes(other)[:4])
    assert changes(first) and changes(other) and changes(first) != changes(other)
    assert [t for _, _, t in first.control] == [t for _, _, t in other.control]  # the same truth for the control


async def test_the_truth_is_not_changed_by_corrupting_every_push() -> None:
    plain = await drive(Schedule(seed=SEED))
    every = await drive(corrupting(probability=1.0))
    assert len([r for r in every.faults() if r["kind"] == "corrupt"]) == len(every.faulty) - 1  # all but the snapshot
    assert [t for _, _, t in every.control] == [t for _, _, t in plain.control]


# --- refused where no book message carries a checksum ------------------------------------------------------------
@pytest.mark.parametrize("dialect", ["binance", "bitstamp", OkxDialect(checksum=False)],
                         ids=["binance", "bitstamp", "okx-without-checksum"])
async def test_a_corrupt_rule_is_refused_on_a_dialect_without_a_book_checksum(dialect: str | Dialect) -> None:
    config = MockExchangeConfig(seed=SEED, flow=None, faults=corrupting())
    server = MockExchangeServer(MockExchange(config), dialects=[dialect])
    name = dialect if isinstance(dialect, str) else dialect.name
    with pytest.raises(ValueError) as refused:
        await server.start()
    await server.close()
    message = str(refused.value)
    print(message)
    assert message == ("fault rules #0 (corrupt channel=depth connection=1 at_message=1), #1 (corrupt channel=depth "
                       "connection=1 p=0.25) need a dialect with book messages that carry a checksum of the book "
                       f"(book_checksum): {name} has none (dialects with it by default: okx)")
    okx = MockExchangeServer(MockExchange(config), dialects=["okx"])
    await okx.start()  # the same schedule is fine where books pushes carry a checksum
    await okx.close()


async def test_a_scenario_with_corrupt_rules_is_refused_by_the_control_api_of_a_binance_server() -> None:
    config = MockExchangeConfig(seed=SEED, flow=FlowConfig(levels_per_side=20, rate_per_s=1))
    async with MockExchangeServer(MockExchange(config)) as server, aiohttp.ClientSession() as session:
        before = server.exchange.faults.schedule
        async with session.post(server.control_url + "/scenario", json={"name": "corrupt_book"}) as response:
            assert response.status == 400
            error = (await response.json())["error"]
        assert "needs book messages that carry a checksum" in error and "binance dialect has none" in error
        assert server.exchange.faults.schedule is before and server.exchange.scenario_name == ""
        async with session.post(server.control_url + "/scenario", json={"name": "gaps"}) as response:
            assert response.status == 200
