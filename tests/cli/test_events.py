"""`perfkit mark` records for the current target and says which; `perfkit events` lists the
events of the current target (or all), in a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from perfkit.events import find_event
from tests.support import CliResult, DemoStack

Cli = Callable[..., CliResult]
STAGING = {"PERFKIT_BASE_URL": "http://staging.internal:8000",
           "DATABASE_URL": "postgresql://app:db-pw-never@db.staging:5432/app"}
PROD = {"PERFKIT_BASE_URL": "https://api.example.com", "PROMETHEUS_URL": "http://prom:9090"}


def _use(monkeypatch: pytest.MonkeyPatch, target: dict[str, str]) -> None:
    for name in ("PERFKIT_BASE_URL", "DATABASE_URL", "PROMETHEUS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in target.items():
        monkeypatch.setenv(name, value)


def test_mark_records_for_the_current_target_and_says_which(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, STAGING)
    result = cli("mark", "cache on")
    assert result.exit_code == 0, result.output
    event = find_event(result.stdout.strip())
    assert event is not None and event.target is not None
    assert event.target.to_json() == {"base_url": "http://staging.internal:8000",
                                      "database": "db.staging:5432/app"}
    assert "for backend http://staging.internal:8000, database db.staging:5432/app" in (
        result.stderr)
    assert "db-pw-never" not in result.output
    flagged = cli("mark", "other", "--prometheus", "http://prom.staging:9090", "--format",
                  "json")
    assert json.loads(flagged.stdout)["target"]["prometheus_url"] == "http://prom.staging:9090"


def test_events_lists_this_target_s_events_and_all_with_all(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, STAGING)
    staging_id = cli("mark", "staging: indexes").stdout.strip()
    _use(monkeypatch, PROD)
    prod_id = cli("mark", "prod: cache on").stdout.strip()
    mine = cli("events", "--format", "json")
    assert mine.exit_code == 0, mine.output
    data = json.loads(mine.stdout)
    assert data["schema"] == "perfkit.events/1"
    assert data["target"] == {"base_url": "https://api.example.com",
                              "prometheus_url": "http://prom:9090"}
    ids = [e["id"] for e in data["events"]]
    assert prod_id in ids and staging_id not in ids
    every = json.loads(cli("events", "--all", "--format", "json").stdout)
    assert {staging_id, prod_id} <= {e["id"] for e in every["events"]}
    table = cli("events")
    assert prod_id in table.stdout and "prod: cache on" in table.stdout
    assert "change events for backend https://api.example.com" in table.stdout
    assert staging_id not in table.stdout
    # the addresses are in the title: each row says which parts its event was recorded for
    assert "recorded for" in table.stdout and "backend, Prometheus" in table.stdout
    assert "https://api.example.com," not in table.stdout.split("\n", 1)[1]
    assert "backend http://prom.staging" not in table.stdout
    markdown = cli("events", "--all", "--format", "markdown")
    assert f"| `{staging_id}` |" in markdown.stdout
    assert "db-pw-never" not in table.output + markdown.output + json.dumps(every)


def test_events_since_takes_a_duration(cli: Cli) -> None:
    assert cli("events", "--since", "1h").exit_code == 0
    assert cli("events", "--since", "soon").exit_code == 2


def test_a_mark_for_another_target_does_not_split_a_report_on_the_demo(
        cli: Cli, demo_stack: DemoStack) -> None:
    from datetime import timedelta

    from perfkit.config import Target
    from perfkit.events import record_event
    from tests.support.events import quiet_since

    demo = Target.of(base_url=demo_stack.url, dsn=demo_stack.dsn,
                     prometheus_url=demo_stack.prometheus_url)
    other = Target.of(base_url="http://127.0.0.1:18080", prometheus_url="http://127.0.0.1:19090")
    now = quiet_since(8)
    ours = record_event("mark", "demo: cache on", target=demo, at=now - timedelta(seconds=8))
    record_event("mark", "other: cache on", target=other, at=now - timedelta(seconds=4))
    result = cli("report", "--since", "10s", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["split"]["event"]["id"] == ours.id
