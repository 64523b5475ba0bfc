"""The JUnit XML report: one `<testsuite>` per scenario, one `<testcase>` per check and connector.

A required check that fails is a `<failure>`; a check that raised, or a harness error, is an `<error>`; a check
that does not apply (or a scenario not gated at this level, or not applicable to the dialect: its message says
"not applicable: ...") is `<skipped>`. An advisory check that fails is a
passing test case whose `<system-out>` says so, so it shows without failing the build. Each failure's text
carries the replay command and the transcript (see `text.failure_text`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..checks import Severity, Status
from ..runner import ScenarioResult, SuiteResult
from .text import error_text, failure_text


def _suite_element(result: ScenarioResult, dialect: str) -> ET.Element:
    element = ET.Element("testsuite", name=f"conformance.{dialect}.{result.scenario}",
                         timestamp=result.started_at, time=f"{result.duration_s:.3f}")
    properties = ET.SubElement(element, "properties")
    for name, value in (("connector", result.connector), ("dialect", result.dialect), ("seed", str(result.seed)),
                        ("scenario_seed", str(result.scenario_seed)), ("level", result.level.value),
                        ("replay", result.replay), ("transcript", result.transcript or "")):
        ET.SubElement(properties, "property", name=name, value=value)
    counts: dict[str, int] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if result.error is not None:
        case = ET.SubElement(element, "testcase", classname=f"conformance.{result.scenario}", name="harness")
        ET.SubElement(case, "error", message="the harness failed", type="harness").text = error_text(result)
        counts["tests"] += 1
        counts["errors"] += 1
    if result.skipped is not None:
        case = ET.SubElement(element, "testcase", classname=f"conformance.{result.scenario}", name="scenario")
        ET.SubElement(case, "skipped", message=result.skipped)
        counts["tests"] += 1
        counts["skipped"] += 1
    for check in result.checks:
        venue = check.venue.replace(" ", ".")
        case = ET.SubElement(element, "testcase", classname=f"conformance.{result.scenario}.{venue}", name=check.name)
        counts["tests"] += 1
        if check.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=check.message)
            counts["skipped"] += 1
        elif check.status in (Status.FAIL, Status.ERROR) and check.severity is Severity.REQUIRED:
            tag = "failure" if check.status is Status.FAIL else "error"
            node = ET.SubElement(case, tag, message=check.message.splitlines()[0][:500], type=check.name)
            node.text = failure_text(result, check)
            counts["failures" if tag == "failure" else "errors"] += 1
        elif check.status in (Status.FAIL, Status.ERROR):
            ET.SubElement(case, "system-out").text = "ADVISORY (does not gate): " + failure_text(result, check)
    for key, count in counts.items():
        element.set(key, str(count))
    return element


def junit_tree(suite: SuiteResult) -> ET.ElementTree:
    root = ET.Element("testsuites", name=f"conformance {suite.connector} {suite.dialect}",
                      time=f"{suite.wall_time_s:.3f}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in suite.results:
        element = _suite_element(result, suite.dialect)
        root.append(element)
        for key in totals:
            totals[key] += int(element.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(suite: SuiteResult, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(suite).write(target, encoding="utf-8", xml_declaration=True)
    return target
