"""Scenarios: the catalog, TOML round trips, exchange actions, and `serve --scenario`."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal
from pathlib import Path

import pytest

from mock_exchanges.cli import main
from mock_exchanges.dialects.okx import OkxDialect
from mock_exchanges.engine import VirtualClock
from mock_exchanges.faults import FaultKind, FaultRule
from mock_exchanges.scenarios import CATALOG, Action, ActionKind, Scenario, get_scenario, load_scenarios
from mock_exchanges.serve import serve
from mock_exchanges.server import MockExchange
from tests.server.conftest import wait_for

ISSUE_NAMES = ["calm", "out_of_order", "gaps", "duplicates", "stale_snapshot", "disconnects", "stalls",
               "rate_limits", "cancel_fill_race", "user_stream_loss", "funding", "chaos", "merged_depth",
               "corrupt_book"]


def test_the_catalog_has_every_named_scenario() -> None:
    assert list(CATALOG) == ISSUE_NAMES
    assert all(s.description for s in CATALOG.values())
    kinds = {rule.kind for s in CATALOG.values() for rule in s.faults}
    # every fault kind the layer has is exercised by at least one named scenario, except handshake-free ones
    assert set(FaultKind) - kinds <= {FaultKind.BURST, FaultKind.RESET}


def test_merged_depth_runs_on_dialects_that_merge_depth_per_interval() -> None:
    scenario = get_scenario("merged_depth")
    assert scenario.batch_depth and scenario.exchange_config().batch_depth
    assert scenario.needs() == ("depth_intervals",) and scenario.dialects() == ["binance"]
    assert "okx dialect has none" in (scenario.not_applicable("okx") or "")
    with pytest.raises(ValueError, match="batch_depth must be true or false"):
        Scenario.from_dict({"batch_depth": "yes"}, name="x")


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: calm"):
        get_scenario("nope")


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_every_scenario_round_trips_through_toml(name: str, tmp_path: Path) -> None:
    scenario = get_scenario(name, seed=5)
    path = tmp_path / "s.toml"
    path.write_text(_toml(scenario))
    assert load_scenarios(path) == {name: scenario}


def _toml(scenario: Scenario) -> str:
    """A tiny TOML writer for the shapes a scenario has (tomllib only reads)."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    data = scenario.to_dict()
    lines = [f"[scenario.{scenario.name}]"]
    for key in ("description", "seed", "duration_s", "levels", "requires", "batch_depth"):
        if key in data:
            lines.append(f"{key} = {value(data[key])}")
    for table in ("flow", "orders"):
        lines.append(f"[scenario.{scenario.name}.{table}]")
        lines += [f"{k} = {value(v)}" for k, v in data[table].items()]
    for array in ("faults", "actions"):
        for item in data[array]:
            lines.append(f"[[scenario.{scenario.name}.{array}]]")
            lines += [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def test_a_handwritten_toml_scenario(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('''
[scenario.drop_forty]
description = "drop the 40th diff"
duration_s = 2.0
[scenario.drop_forty.flow]
levels_per_side = 20
rate_per_s = 100
[[scenario.drop_forty.faults]]
kind = "drop"
channel = "depth"
at_message = 40
''')
    scenario = load_scenarios(path)["drop_forty"]
    assert scenario.faults == (FaultRule(FaultKind.DROP, channel="depth", at_message=40),)
    assert scenario.flow is not None and scenario.flow.rate_per_s == 100


def test_bad_toml_fields_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[scenario.x]\n[[scenario.x.faults]]\nkind = "drop"\nchanel = "depth"\n')
    with pytest.raises(ValueError, match="chanel"):
        load_scenarios(path)
    with pytest.raises(ValueError, match="unknown action"):
        Action(1.0, "explode")


async def test_actions_change_the_truth_at_their_time() -> None:
    scenario = Scenario("t", flow=None, actions=(
        Action(0.0, ActionKind.SET_FUNDING_RATE, "BTCUSDT-PERP", "0.0007"),
        Action(0.05, ActionKind.TRIGGER_FUNDING, "BTCUSDT-PERP"),
    ))
    exchange = MockExchange(scenario.exchange_config(), clock=VirtualClock())
    await exchange.start()
    try:
        await wait_for(lambda: len(exchange.scenario_actions.applied) == 2)
        assert exchange.engine.funding_info("BTCUSDT-PERP").funding_rate == Decimal("0.0007")
        assert exchange.engine.funding_history("BTCUSDT-PERP")[-1].rate == Decimal("0.0007")
    finally:
        await exchange.stop()


async def test_serve_runs_a_named_scenario_and_writes_its_transcript(tmp_path: Path) -> None:
    out, stop = io.StringIO(), asyncio.Event()
    transcript = tmp_path / "run.jsonl"
    task = asyncio.create_task(serve(["binance"], "127.0.0.1", 0, 3, False, 50, 50, 1, out=out, stop=stop,
                                     scenario=get_scenario("gaps", 3), transcript=str(transcript)))
    await wait_for(lambda: "serving" in out.getvalue())
    stop.set()
    assert await task == 0
    assert "scenario gaps" in out.getvalue()
    assert transcript.read_text().startswith('{"ev":"header","scenario":"gaps","seed":3,')


def test_cli_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert out.split()[0] == "calm"
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["corrupt_book"].endswith("(dialects: okx; needs book_checksum)")
    assert "dialects:" not in lines["gaps"]


# --- which dialects a scenario applies to ----------------------------------------------------------------------
def test_every_scenario_applies_to_every_dialect_but_corrupt_book_and_merged_depth() -> None:
    for scenario in CATALOG.values():
        if scenario.name in ("corrupt_book", "merged_depth"):
            continue
        assert scenario.needs() == () and scenario.dialects() == ["binance", "bitstamp", "okx"], scenario.name
        assert all(scenario.not_applicable(d) is None for d in ("binance", "bitstamp", "okx"))


def test_corrupt_book_needs_a_book_checksum_which_only_okx_has() -> None:
    corrupt = get_scenario("corrupt_book")
    assert corrupt.requires == () and corrupt.needs() == ("book_checksum",)  # derived from its corrupt rules
    assert corrupt.dialects() == ["okx"] and corrupt.not_applicable("okx") is None
    for dialect in ("binance", "bitstamp"):
        why = corrupt.not_applicable(dialect)
        assert why == (f"not applicable: scenario corrupt_book needs book messages that carry a checksum of the book "
                       f"(book_checksum); the {dialect} dialect has none (it applies to: okx)")
    # an installed dialect object is asked too: OKX with its checksum retired (always 0) has none
    assert corrupt.not_applicable(OkxDialect(checksum=False)) is not None
    assert corrupt.not_applicable(OkxDialect()) is None


def test_a_scenario_can_declare_the_capabilities_it_needs(tmp_path: Path) -> None:
    declared = Scenario("checksummed_calm", "calm, on checksummed books only", requires=("book_checksum",))
    assert declared.needs() == ("book_checksum",) and declared.dialects() == ["okx"]
    path = tmp_path / "s.toml"
    path.write_text(_toml(declared))
    assert "requires = [\"book_checksum\"]" in path.read_text()
    assert load_scenarios(path) == {"checksummed_calm": declared}
    with pytest.raises(ValueError, match="unknown dialect capability telepathy; known: book_checksum"):
        Scenario("x", requires=("telepathy",))
    assert "requires" not in get_scenario("calm").to_dict()


def test_serve_refuses_corrupt_book_on_a_dialect_without_a_checksum(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--dialect", "bitstamp", "--scenario", "corrupt_book", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err == ("mock-exchange serve: fault rules #0 (corrupt channel=depth at_message=30), #1 (corrupt "
                   "channel=depth p=0.01) need a dialect with book messages that carry a checksum of the book "
                   "(book_checksum): bitstamp has none (dialects with it by default: okx)\n")


def test_cli_rejects_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--scenario", "nope", "--port", "0"]) == 2
    assert "unknown scenario" in capsys.readouterr().err
