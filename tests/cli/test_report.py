"""`perfkit mark` and `perfkit report`'s contract at the command line: exit codes, messages."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from perfkit.events import find_event
from tests.support import DemoStack


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mark_records_an_event_report_can_split_on(cli: Callable[..., Any]) -> None:
    result = cli("mark", "restart with the auth cache")
    assert result.exit_code == 0, result.output
    event_id = result.stdout.strip()
    event = find_event(event_id)
    assert event is not None and event.text == "restart with the auth cache"
    assert event.kind == "mark"
    assert f"--split {event_id}" in result.stderr


def test_mark_json(cli: Callable[..., Any]) -> None:
    result = cli("mark", "deploy 1.2.3", "--kind", "deploy", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "perfkit.event/1" and data["kind"] == "deploy"
    assert find_event(data["id"]) is not None


def test_unreachable_prometheus_exits_3_without_credentials(
        cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_TOKEN", "tok-never-printed")
    port = _closed_port()
    result = cli("report", "--since", "5m", "--prometheus",
                 f"http://alice:s3cr3t-pw@127.0.0.1:{port}")
    assert result.exit_code == 3, result.output
    assert f"http://127.0.0.1:{port}" in result.stderr
    assert "Connection refused" in result.stderr
    assert "s3cr3t-pw" not in result.output and "tok-never-printed" not in result.output


def test_bad_since_exits_2_with_an_example(cli: Callable[..., Any]) -> None:
    result = cli("report", "--since", "twenty minutes", "--prometheus", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert "--since 20m" in result.stderr


def test_bad_split_exits_2(cli: Callable[..., Any]) -> None:
    result = cli("report", "--split", "not-an-event", "--prometheus",
                 f"http://127.0.0.1:{_closed_port()}")
    assert result.exit_code == 2
    assert "neither a change event id nor a time" in result.stderr


@pytest.mark.integration
def test_window_shorter_than_two_scrapes_is_refused(cli: Callable[..., Any],
                                                    demo_stack: DemoStack) -> None:
    result = cli("report", "--since", "1s", "--split=-30s")
    assert result.exit_code == 2
    assert "shorter than two scrape intervals" in result.stderr


@pytest.mark.integration
def test_a_server_that_is_not_prometheus_exits_3(cli: Callable[..., Any],
                                                demo_stack: DemoStack) -> None:
    backend = demo_stack.url
    result = cli("report", "--since", "30s", "--prometheus", backend)
    assert result.exit_code == 3
    assert f"Prometheus at {backend} answered HTTP 404" in result.stderr


def test_unknown_profile_exits_2(cli: Callable[..., Any], demo_stack: DemoStack) -> None:
    result = cli("report", "--since", "30s", "--profile", "nope")
    assert result.exit_code == 2
    assert "unknown profile 'nope'" in result.stderr and "instrumentator" in result.stderr


def test_help_has_an_example(cli: Callable[..., Any]) -> None:
    for command in ("report", "mark"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout


def test_bad_min_change_exits_2(cli: Callable[..., Any]) -> None:
    for value in ("nan", "-1", "inf"):
        result = cli("report", "--min-change", value, "--prometheus",
                     f"http://127.0.0.1:{_closed_port()}")
        assert result.exit_code == 2, (value, result.output)
        assert "--min-change" in result.stderr and "not a percentage >= 0" in result.stderr


@pytest.mark.integration
def test_the_readme_mark_then_report(cli: Callable[..., Any],
                                     demo_stack: DemoStack) -> None:
    """README: `perfkit mark …`, traffic, then `perfkit report --since 20s`; a report right
    after the mark says what is missing (traffic after it), not to lengthen --since."""
    assert cli("mark", "auth provider latency fixed").exit_code == 0
    early = cli("report", "--since", "20s")
    assert early.exit_code == 2
    assert "the after window starts at the change event" in early.stderr
    assert "send traffic after the change" in early.stderr
    assert "longer --since" not in early.stderr
    time.sleep(1.0)  # a scrape between the mark and the traffic: the window starts clean
    traffic = cli("bench", "/auth/me", "--duration", "3s", "--rate", "20")
    assert traffic.exit_code == 0, traffic.output
    time.sleep(2.5)  # the last scrape lands
    result = cli("report", "--since", "20s")
    assert result.exit_code == 0, result.output
    assert "auth provider latency fixed" in result.stdout and "/auth/me" in result.stdout
    record = json.loads(cli("report", "--since", "20s", "--format", "json").stdout)
    auth = next(r for r in record["routes"] if r["route"] == "/auth/me")
    # the 60 requests sent after the mark (increase() extrapolates at the window's edges)
    assert 45 <= auth["after"]["count"] <= 85
