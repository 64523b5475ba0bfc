"""Transcripts: the same seed, schedule and driving give the same bytes; a recording replays exactly.

The runs are driven step by step on a virtual clock (see conftest): every record is written while the test
steps the flow, calls REST or advances the clock, so nothing in the transcript depends on wall time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from mock_exchanges.faults import FaultKind, FaultRule, Schedule, Transcript, read_transcript
from mock_exchanges.faults.replay import Recording, create_replay_app
from tests.faults.conftest import (
    SEED,
    RawClient,
    Reply,
    advance,
    call,
    caught_up,
    disconnected,
    schedule_server,
    settled,
    step,
    subscribed,
)

DEPTH = "/ws/btcusdt@depth"
SNAPSHOT: dict[str, str | int] = {"symbol": "BTCUSDT", "limit": 5}
RULES = (
    FaultRule(FaultKind.DROP, channel="depth", connection=1, probability=0.2, end_s=3600),
    FaultRule(FaultKind.DUPLICATE, channel="depth", connection=1, at_message=7),
    FaultRule(FaultKind.REORDER, channel="depth", connection=1, at_message=12, hold=2),
    FaultRule(FaultKind.DELAY, channel="depth", connection=1, at_message=30, delay_ms=100),
    FaultRule(FaultKind.STALE_SNAPSHOT, symbol="BTCUSDT", at_message=2, lag=3),
    FaultRule(FaultKind.RATE_LIMIT, role="snapshot", at_message=3),
)


class Run:
    """What a driven run produced: the transcript, and what each client received and each REST call got."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.received: list[list[str]] = []
        self.replies: list[Reply] = []

    def records(self, event: str) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.transcript.lines) if r["ev"] == event]


@asynccontextmanager
async def clients(session: aiohttp.ClientSession, base: str, count: int) -> AsyncIterator[list[RawClient]]:
    opened: list[RawClient] = []
    try:
        for _ in range(count):
            opened.append(RawClient(await session.ws_connect(base + DEPTH)))
        yield opened
    finally:
        for client in opened:
            await client.close()


async def drive(schedule: Schedule, transcript: Transcript | None = None, rounds: int = 6) -> Run:
    """Two depth clients (1 faulty, 2 control), the flow stepped in rounds, a REST snapshot after each round,
    then the delay released by advancing the clock."""
    print(f"exchange seed={SEED} schedule seed={schedule.seed}")
    run = Run(transcript or Transcript())
    async with schedule_server(schedule, transcript=run.transcript) as server, aiohttp.ClientSession() as session:
        async with clients(session, server.ws_url, 2) as (faulty, control):
            await subscribed(server, 2)
            for _ in range(rounds):
                step(server, 8)
                await caught_up(server, control)
                run.replies.append(await call(session, server, "GET", "/api/v3/depth", SNAPSHOT))
            advance(server, 101)
            await settled(server, faulty, control)
            run.received = [list(faulty.texts), list(control.texts)]
        await disconnected(server)
    return run


def sends(run: Run, conn: int) -> list[str]:
    return [r["text"] for r in run.records("send") if r["conn"] == conn]


# --- (a) determinism -------------------------------------------------------------------------------------
async def test_same_seed_same_driving_same_bytes() -> None:
    schedule = Schedule(seed=SEED, rules=RULES)
    first = await drive(schedule)
    second = await drive(schedule)
    assert first.transcript.text() == second.transcript.text()
    assert first.received == second.received
    kinds = {r["kind"] for r in first.records("fault")}
    assert kinds == {"drop", "duplicate", "reorder", "delay", "stale_snapshot", "rate_limit"}
    # the transcript is what the clients got, byte for byte
    assert sends(first, 1) == first.received[0] and sends(first, 2) == first.received[1]
    assert [(r["status"], r["body"]) for r in first.records("rest")] == [(x.status, x.text) for x in first.replies]


async def test_another_seed_drops_other_messages() -> None:
    first = await drive(Schedule(seed=SEED, rules=RULES))
    other = await drive(Schedule(seed=SEED + 1, rules=RULES))

    def dropped(run: Run) -> list[int]:
        return [r["i"] for r in run.records("fault") if r["kind"] == "drop"]

    print("dropped (seed 7):", dropped(first), "dropped (seed 8):", dropped(other))
    assert dropped(first) and dropped(other) and dropped(first) != dropped(other)
    assert first.received[0] != other.received[0]
    assert first.received[1] == other.received[1]  # the same engine run: the control saw the same thing
    body = slice(1, None)  # past the header, which names the seed
    assert first.transcript.lines[body] != other.transcript.lines[body]


# --- (b) replay ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("speed", [0.0, 50.0])
async def test_replay_serves_the_recording_back(speed: float) -> None:
    rules = (FaultRule(FaultKind.DROP, channel="depth", connection=1, at_message=5),
             FaultRule(FaultKind.RATE_LIMIT, role="snapshot", at_message=2),
             FaultRule(FaultKind.STALE_SNAPSHOT, symbol="BTCUSDT", at_message=2, lag=4))
    recorded = await drive(Schedule(seed=SEED, rules=rules), rounds=4)
    assert [x.status for x in recorded.replies] == [200, 429, 200, 200]
    recording = Recording(map(json.loads, recorded.transcript.lines))
    assert recording.header["seed"] == SEED
    async with TestServer(create_replay_app(recording, speed=speed), host="127.0.0.1") as replay, \
            aiohttp.ClientSession() as session:
        base = str(replay.make_url("")).rstrip("/").replace("http://", "ws://")
        async with clients(session, base, 2) as (first, second):
            for client in (first, second):
                await client.closed  # the replay closes once everything recorded has been sent
            replayed = [first.texts, second.texts]
        replies = []
        for _ in recorded.replies:
            async with session.get(replay.make_url("/api/v3/depth"), params=SNAPSHOT) as response:
                replies.append((response.status, await response.text()))
        async with session.get(replay.make_url("/api/v3/depth"), params=SNAPSHOT) as response:
            assert response.status == 404  # nothing more was recorded
    assert replayed == recorded.received
    assert replies == [(x.status, x.text) for x in recorded.replies]
    assert json.loads(replies[1][1])["code"] == -1003


async def test_replay_drops_a_connection_the_run_dropped() -> None:
    # count=2: aiohttp retries a GET once on a dropped connection, so it takes two resets to fail one call
    rules = (FaultRule(FaultKind.RESET, role="snapshot", at_message=2, count=2),)
    transcript = Transcript()
    async with schedule_server(Schedule(seed=SEED, rules=rules), transcript=transcript) as server, \
            aiohttp.ClientSession() as session:
        assert (await call(session, server, "GET", "/api/v3/depth", SNAPSHOT)).status == 200
        with pytest.raises(aiohttp.ClientError):
            await call(session, server, "GET", "/api/v3/depth", SNAPSHOT)
        assert (await call(session, server, "GET", "/api/v3/depth", SNAPSHOT)).status == 200
    recording = Recording(map(json.loads, transcript.lines))
    assert [status for status, _ in recording.answers["GET /api/v3/depth?limit=5&symbol=BTCUSDT"]] == [
        200, 0, 0, 200]
    async with TestServer(create_replay_app(recording, speed=0), host="127.0.0.1") as replay, \
            aiohttp.ClientSession() as session:
        url = replay.make_url("/api/v3/depth")
        async with session.get(url, params=SNAPSHOT) as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientError):
            async with session.get(url, params=SNAPSHOT) as response:
                await response.read()
        async with session.get(url, params=SNAPSHOT) as response:
            assert response.status == 200


# --- (c) on disk ------------------------------------------------------------------------------------------
async def test_a_transcript_file_is_jsonl_for_read_transcript_and_recording(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "run.jsonl"
    transcript = Transcript(path)
    try:
        run = await drive(Schedule(seed=SEED, rules=RULES), transcript=transcript, rounds=3)
    finally:
        transcript.close()
    text = path.read_text(encoding="utf-8")
    assert text == transcript.text()
    records = list(read_transcript(path))
    assert records == [json.loads(line) for line in text.splitlines()]
    assert records[0]["ev"] == "header" and records[0]["seed"] == SEED
    assert [FaultRule.from_dict(r) for r in records[0]["rules"]] == list(RULES)
    assert {r["ev"] for r in records} == {"header", "open", "send", "fault", "rest", "close"}
    recording = Recording.load(path)
    assert [[text for _, text in conn] for conn in recording.connections[DEPTH]] == run.received
    assert [body for _, body in recording.answers["GET /api/v3/depth?limit=5&symbol=BTCUSDT"]] == [
        x.text for x in run.replies]
