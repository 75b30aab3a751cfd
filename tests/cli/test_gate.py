"""`perfkit gate` black-box: exit codes, JUnit, markdown and the GitHub step summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import CliResult, lognormal_ms, make_run

Cli = Callable[..., CliResult]


def write_run(path: Path, median_ms: float, n: int = 300, seed: int = 0) -> Path:
    run = make_run({("GET /auth/me", "all"): lognormal_ms(median_ms, n, seed)})
    run.save(path)
    return path


def _check_jenkins_junit(xml_text: str) -> ET.Element:
    """The constraints of Jenkins' JUnit schema (junit-4.xsd) that CI parsers rely on."""
    root = ET.fromstring(xml_text)
    assert root.tag == "testsuites"
    for suite in root:
        assert suite.tag == "testsuite"
        assert {"name", "tests"} <= set(suite.attrib)
        assert int(suite.attrib["tests"]) == len(suite.findall("testcase"))
        for case in suite:
            assert case.tag == "testcase" and "name" in case.attrib
            order = ["skipped", "error", "failure", "system-out", "system-err"]
            tags = [child.tag for child in case]
            assert all(t in order for t in tags)
            assert tags == sorted(tags, key=order.index)
            assert tags.count("skipped") <= 1
    return root


def test_thresholds_fail_with_junit_and_markdown(cli: Cli, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run = write_run(tmp_path / "run.json", 50)
    config = tmp_path / "perfkit.yaml"
    config.write_text('thresholds:\n  "GET /auth/me": {p99: "< 10ms", mean: "< 1s"}\n'
                      '  "GET /missing": {p99: "< 1s"}\n')
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli("gate", str(run), "--thresholds", str(config), "--junit",
                 str(tmp_path / "gate.xml"), "--markdown", str(tmp_path / "gate.md"),
                 "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["schema"] == "perfkit.gate/1" and data["passed"] is False
    assert [c["passed"] for c in data["checks"]] == [False, True, False]
    root = _check_jenkins_junit((tmp_path / "gate.xml").read_text())
    suite = root.find("testsuite")
    assert suite is not None and suite.attrib["failures"] == "1" and suite.attrib["errors"] == "1"
    assert "FAILED" in (tmp_path / "gate.md").read_text()
    assert "| `GET /missing` |" in summary.read_text()


def test_baseline_a_a_passes_regression_fails_strict_inconclusive(cli: Cli,
                                                                  tmp_path: Path) -> None:
    base = write_run(tmp_path / "base.json", 20, seed=1)
    same = write_run(tmp_path / "same.json", 20, seed=2)
    slow = write_run(tmp_path / "slow.json", 24, seed=3)
    tiny = write_run(tmp_path / "tiny.json", 20, n=5, seed=4)
    assert cli("gate", str(same), "--baseline", str(base)).exit_code == 0
    failed = cli("gate", str(slow), "--baseline", str(base), "--max-regression", "10%")
    assert failed.exit_code == 1 and "beyond the 10% margin" in failed.stdout
    assert "p<0.001" in " ".join(failed.stdout.split()) and "p=0:" not in failed.stdout
    lenient = cli("gate", str(tiny), "--baseline", str(base))
    assert lenient.exit_code == 0
    (line,) = [x for x in lenient.stderr.splitlines() if "inconclusive" in x]
    assert line.startswith("warning: 1 check(s) inconclusive, too few samples to judge: GET ")
    assert line.endswith("--strict would fail on them")
    strict = cli("gate", str(tiny), "--baseline", str(base), "--strict")
    assert strict.exit_code == 4
    assert "perfkit gate: INCONCLUSIVE" in strict.stdout and "PASSED" not in strict.stdout
    assert "they fail the gate (--strict)" in strict.stderr


def test_usage_errors_are_exit_2(cli: Cli, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run.json", 20)
    bad = tmp_path / "bad.yaml"
    bad.write_text('thresholds:\n  "GET /auth/me": {p99: "quick"}\n')
    result = cli("gate", str(run), "--thresholds", str(bad))
    assert result.exit_code == 2 and "cannot read condition" in result.stderr
    assert cli("gate", str(tmp_path / "nope.json")).exit_code == 2
    assert cli("gate", str(run)).exit_code == 2  # nothing to check


def test_gate_on_a_prometheus_report(cli: Cli, tmp_path: Path) -> None:
    span = {"start": "2026-12-05T10:00:00+00:00", "end": "2026-12-05T10:01:00+00:00"}
    report = {"schema": "perfkit.report/1", "before": span, "after": span,
              "split": {"at": "2026-12-05T10:01:00+00:00", "source": "time"}, "routes": [
        {"route": "/auth/me", "before": {"mean_ms": 150, "p99_ms": 240, "ratio_5xx": 0,
                                         "count": 500},
         "after": {"mean_ms": 2, "p99_ms": 9.5, "ratio_5xx": 0.0, "count": 500}}]}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    config = tmp_path / "perfkit.yaml"
    config.write_text('thresholds:\n  "/auth/me": {mean: "< 200ms", after.error_ratio: "< 1%"}\n')
    assert cli("gate", str(path), "--thresholds", str(config)).exit_code == 0
    config.write_text('thresholds:\n  "/auth/me": {before.mean: "< 100ms"}\n')
    assert cli("gate", str(path), "--thresholds", str(config)).exit_code == 1
    del report["split"]
    path.write_text(json.dumps(report))
    cut = cli("gate", str(path), "--thresholds", str(config))
    assert cut.exit_code == 2 and "malformed report record: no 'split'" in cut.stderr


def test_a_json_that_is_neither_run_nor_report_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/1"}')
    result = cli("gate", str(other))
    assert result.exit_code == 2 and "neither a bench run" in result.stderr
