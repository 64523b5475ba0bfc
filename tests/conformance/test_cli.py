"""`conformance` CLI: exit codes, reports that parse (json, xml.etree) and name the checks, failures that carry
the replay command and the transcript, and `--jobs 2`."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from conformance.checks import CheckResult, Severity, Status, all_checks
from conformance.cli import main
from conformance.levels import ConformanceLevel
from conformance.reports import summary, write_json, write_junit
from conformance.runner import ScenarioResult, SuiteResult


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_list_shows_scenarios_checks_and_bounds() -> None:
    code, out, _ = cli("list")
    assert code == 0
    for chk in all_checks():
        assert chk.name in out
    assert "stale_snapshot" in out and "recovery_s" in out
    [corrupt] = [line for line in out.splitlines() if line.split()[:1] == ["corrupt_book"]]
    assert corrupt.endswith("(dialects: okx; needs book_checksum)")


def test_usage_errors_exit_2() -> None:
    assert cli("run", "--connector", "nowhere:factory")[0] == 2
    assert cli("run", "--scenario", "nope")[0] == 2
    assert cli("run", "--dialect", "nowhere")[0] == 2
    code, _, err = cli("run", "--connector", "hummingbot:binance", "--level", "perpetuals")
    assert code == 2 and "supports level orders" in err
    assert cli("run", "--bound", "nope=1")[0] == 2


def test_a_passing_run_exits_0_and_writes_both_reports(tmp_path: Path) -> None:
    json_path, junit_path = tmp_path / "r.json", tmp_path / "j.xml"
    code, out, err = cli("run", "--scenario", "calm", "--seed", "5", "--duration-scale", "0.5", "--out",
                         str(tmp_path / "out"), "--json", str(json_path), "--junit-xml", str(junit_path))
    assert code == 0, out
    assert "PASSED" in out and "calm" in out and "wall time" in out and "scenario seeds: calm=" in err
    report = json.loads(json_path.read_text())
    assert report["format"] == "conformance-report" and report["passed"] is True and report["exit_code"] == 0
    [scenario] = report["scenarios"]
    assert scenario["scenario"] == "calm" and scenario["seed"] == 5 and scenario["status"] == "pass"
    assert {c["name"] for c in scenario["checks"]} == {c.name for c in all_checks()}
    assert Path(scenario["transcript"]).exists()
    root = ET.parse(junit_path).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "0" and root.get("errors") == "0"
    names = {case.get("name") for case in root.iter("testcase")}
    assert {c.name for c in all_checks()} <= names


def test_a_failing_required_check_exits_1_and_says_how_to_replay(tmp_path: Path) -> None:
    # a ready bound of 0 s cannot be met: connector.ready fails (fast, and the rest is skipped)
    code, out, _ = cli("run", "--scenario", "calm", "--seed", "9", "--level", "orders", "--bound", "ready_s=0",
                       "--out", str(tmp_path))
    assert code == 1
    assert "FAILED" in out and "[connector.ready]" in out
    assert "replay: conformance run --connector reference --dialect binance --scenario calm --seed 9" in out
    assert "mock-exchange replay" in out
    report = json.loads((tmp_path / "report.json").read_text())
    [failure] = [c for c in report["scenarios"][0]["checks"] if c["status"] == "fail"]
    assert failure["name"] == "connector.ready" and failure["severity"] == "required"
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    [node] = list(junit.iter("failure"))
    assert node.get("type") == "connector.ready" and "replay: conformance run" in (node.text or "")


def test_a_scenario_that_does_not_apply_to_the_dialect_is_reported_not_applicable(tmp_path: Path) -> None:
    code, out, err = cli("run", "--scenario", "corrupt_book", "--out", str(tmp_path), "--no-progress")
    assert code == 0, out
    assert "1 scenarios, jobs 1 (1 not applicable to binance: corrupt_book)" in err
    [row] = [line for line in out.splitlines() if line.startswith("corrupt_book ")]
    assert row.split()[1] == "N/A"
    assert "PASSED: 1 scenarios (1 not applicable), 0 required check failures" in out
    assert "Not applicable (not run, neither passed nor failed):\n  not applicable: scenario corrupt_book needs " in out
    report = json.loads((tmp_path / "report.json").read_text())
    [scenario] = report["scenarios"]
    assert (scenario["status"], scenario["not_applicable"], scenario["checks"]) == ("skip", True, [])
    assert report["passed"] is True and report["exit_code"] == 0
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("1", "0", "1")
    assert next(root.iter("skipped")).get("message", "").startswith("not applicable: scenario corrupt_book")


def test_the_summary_counts_scenarios_by_status() -> None:
    level = ConformanceLevel.ORDERS
    passed = ScenarioResult("calm", "", "reference", "binance", 1, 2, level, ["spot"])
    na = ScenarioResult("corrupt_book", "", "reference", "binance", 1, 3, level, skipped="not applicable: ...",
                        not_applicable=True)
    skipped = ScenarioResult("funding", "", "reference", "binance", 1, 4, level, skipped="not gated at orders")
    suite = SuiteResult("reference", "binance", level, 1, [passed, na, skipped])
    assert suite.counts() == {"PASS": 1, "N/A": 1, "SKIP": 1} and suite.exit_code == 0
    assert "PASSED: 3 scenarios (1 passed, 1 skipped, 1 not applicable), 0 required" in summary(suite)
    assert "PASSED: 1 scenarios, 0 required" in summary(SuiteResult("reference", "binance", level, 1, [passed]))


def test_jobs_2_runs_scenarios_in_separate_processes(tmp_path: Path) -> None:
    code, out, err = cli("run", "--scenario", "calm,duplicates", "--jobs", "2", "--seed", "4", "--duration-scale",
                         "0.5", "--level", "orders", "--out", str(tmp_path), "--no-progress")
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["jobs"] == 2 and [s["scenario"] for s in report["scenarios"]] == ["calm", "duplicates"]
    assert all(s["status"] == "pass" for s in report["scenarios"])
    assert len({s["scenario_seed"] for s in report["scenarios"]}) == 2
    assert "scenario seeds: calm=" in err


def test_reports_of_a_synthetic_suite(tmp_path: Path) -> None:
    level = ConformanceLevel.ORDERS
    checks = [
        CheckResult("book.truth", ConformanceLevel.MARKET_DATA, Severity.REQUIRED, Status.FAIL, "spot BTC-USDT",
                    "bid 100: shown 1 truth 2", 1.5, {"update_id": 7}, "rule", "last fault before it: drop"),
        CheckResult("connector.clean_stop", ConformanceLevel.MARKET_DATA, Severity.ADVISORY, Status.FAIL,
                    "spot BTC-USDT", "a task crashed"),
        CheckResult("funding.truth", ConformanceLevel.PERPETUALS, Severity.REQUIRED, Status.SKIP, "spot BTC-USDT",
                    "not a perpetual market"),
    ]
    failing = ScenarioResult("gaps", "", "reference", "binance", 1, 2, level, ["spot"], checks,
                             transcript="t.jsonl", replay="conformance run --scenario gaps --seed 1")
    broken = ScenarioResult("calm", "", "reference", "binance", 1, 3, level, error="Traceback: boom",
                            replay="conformance run --scenario calm --seed 1")
    suite = SuiteResult("reference", "binance", level, 1, [failing, broken])
    assert suite.exit_code == 1  # a check failure outranks a harness error
    text = summary(suite)
    assert "[book.truth]" in text and "since: last fault before it: drop" in text and "[harness error]" in text
    assert "a task crashed" not in text and "a task crashed" in summary(suite, verbose=True)
    report = json.loads(write_json(suite, tmp_path / "r.json").read_text())
    assert [s["status"] for s in report["scenarios"]] == ["fail", "error"]
    root = ET.parse(write_junit(suite, tmp_path / "j.xml")).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("4", "1", "1", "1")
    failure = next(root.iter("failure"))
    assert "replay: conformance run --scenario gaps --seed 1" in (failure.text or "") and "t.jsonl" in (
        failure.text or "")
    assert any("ADVISORY" in (node.text or "") for node in root.iter("system-out"))
    assert SuiteResult("reference", "binance", level, 1, [broken]).exit_code == 2
