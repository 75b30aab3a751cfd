"""N+1 caught by the gate on real runs of the demo backend: `demo fault --n-plus-one` turns
GET /conversations (50 rows for account 1) into 1 + 50 statements a request; the gate fails
naming the route, the count and the statement; without the fault it passes.

The 20-runs-each-way false-verdict count is benchmarks/n_plus_one.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import CliResult, DemoStack

Cli = Callable[..., CliResult]
LIST = "/conversations?account_id=1"  # the hot account: more than 50 conversations
PER_ROW = "FROM whatsapp_accounts WHERE id = $1"


@pytest.fixture
def demo(cli: Cli, demo_stack: DemoStack, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoStack]:
    monkeypatch.chdir(tmp_path)  # no stray perfkit.yaml
    try:
        yield demo_stack
    finally:
        assert cli("demo", "fault", "--clear").exit_code == 0


def bench(cli: Cli, demo: DemoStack, out: Path) -> dict[str, Any]:
    result = cli("bench", LIST, "--base-url", demo.url,
                 "--tokens-file", demo.tokens_file, "--users", "4", "-n", "40",
                 "--dsn", demo.dsn, "--out", str(out))
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text())["db"])


def test_the_gate_fails_an_n_plus_one_against_the_baseline_and_passes_without(
        cli: Cli, demo: DemoStack, tmp_path: Path) -> None:
    base = bench(cli, demo, tmp_path / "base.json")
    (before,) = base["routes"]
    assert base["attribution"]["method"] == "one-route"
    assert before["route"] == "GET /conversations" and before["calls_per_request"] < 2
    same = bench(cli, demo, tmp_path / "same.json")
    assert same["routes"][0]["calls_per_request"] < 2
    passed = cli("gate", str(tmp_path / "same.json"), "--baseline", str(tmp_path / "base.json"),
                 "--format", "json")
    checks = {c["check"]: c for c in json.loads(passed.stdout)["checks"]
              if c["route"] == "GET /conversations"}
    assert checks["db.calls vs baseline"]["status"] == "pass"

    assert cli("demo", "fault", "--n-plus-one", "/conversations").exit_code == 0
    after = bench(cli, demo, tmp_path / "after.json")
    # 1 list + 50 lookups, and the auth lookup of users the cache did not hold yet
    assert 51 <= after["routes"][0]["calls_per_request"] <= 52
    failed = cli("gate", str(tmp_path / "after.json"), "--baseline",
                 str(tmp_path / "base.json"))
    assert failed.exit_code == 1, failed.output
    (line,) = [ln for ln in failed.stdout.splitlines() if "db.calls vs baseline" in ln]
    assert "GET /conversations" in line
    text = " ".join(failed.stdout.split())
    assert f"-> {after['routes'][0]['calls_per_request']:g}" in text
    assert PER_ROW in text and "0 -> 50 per request" in text
    compared = cli("compare", str(tmp_path / "base.json"), str(tmp_path / "after.json"))
    (row,) = [ln for ln in compared.stdout.split("SQL per request", 1)[1].splitlines()
              if "GET /conversations" in ln]
    assert f"{before['calls_per_request']:g} → {after['routes'][0]['calls_per_request']:g}" in row


def test_a_db_calls_threshold_fails_naming_the_route_and_its_statements(
        cli: Cli, demo: DemoStack, tmp_path: Path) -> None:
    (tmp_path / "perfkit.yaml").write_text(
        'thresholds:\n  "GET /conversations": {db.calls: "<= 3"}\n')
    assert cli("demo", "fault", "--n-plus-one", "/conversations").exit_code == 0
    bench(cli, demo, tmp_path / "run.json")
    result = cli("gate", str(tmp_path / "run.json"), "--format", "json")
    assert result.exit_code == 1, result.output
    (check,) = json.loads(result.stdout)["checks"]
    assert check["route"] == "GET /conversations" and check["check"] == "db.calls <= 3"
    assert check["value"] >= 51 and "most: 50 x SELECT" in check["detail"]


def test_the_statements_window_starts_after_the_warm_up(
        cli: Cli, demo: DemoStack, tmp_path: Path) -> None:
    """--warmup's requests run before the measurement: 40 of them before 10 measured ones
    would read as 5x the statements per request if the database's window held them."""
    out = tmp_path / "warm.json"
    result = cli("bench", LIST, "--base-url", demo.url,
                 "--tokens-file", demo.tokens_file, "--users", "4", "-n", "10",
                 "--warmup", "40", "--dsn", demo.dsn, "--out", str(out))
    assert result.exit_code == 0, result.output
    (route,) = json.loads(out.read_text())["db"]["routes"]
    assert route["calls_per_request"] < 2, route


def test_with_workers_the_window_starts_once_every_worker_warmed_up(
        cli: Cli, demo: DemoStack, tmp_path: Path) -> None:
    out = tmp_path / "warm-workers.json"
    result = cli("bench", LIST, "--base-url", demo.url,
                 "--tokens-file", demo.tokens_file, "--users", "4", "-n", "10",
                 "--warmup", "40", "--workers", "2", "--dsn", demo.dsn,
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    (route,) = record["db"]["routes"]
    assert route["calls_per_request"] < 2, route  # 5x with the warm-up counted
    assert not any("include" in n for n in record["notes"]), record["notes"]


def test_with_repeats_the_warm_up_in_the_window_is_said(
        cli: Cli, demo: DemoStack, tmp_path: Path) -> None:
    out = tmp_path / "warm2.json"
    result = cli("bench", LIST, "--base-url", demo.url,
                 "--tokens-file", demo.tokens_file, "--users", "2", "-n", "4",
                 "--repeat", "2", "--warmup", "4", "--dsn", demo.dsn,
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    notes = json.loads(out.read_text())["notes"]
    assert any("include the --warmup requests" in n for n in notes), notes
