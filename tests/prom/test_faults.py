"""Prometheus failing in the middle of `report` and `doctor`, between two of their queries.

A real Prometheus (the demo stack's) answers behind a loopback proxy (tests/faultproxy.py)
that forwards the first queries, then answers 503, closes the connection unanswered, or goes
away. A report asks, in order: the scrape interval (/api/v1/targets), the metric names, then
five queries for the before window, five for the after window, and three range queries for
its series over time (mean, P99, counter resets).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

TOKEN = "prom-bearer-never-printed"
PROFILE = "fastapi-observability"
WINDOWS = ("--since", "30s", "--split=-30s", "--profile", PROFILE)
BEFORE_P99 = 4  # requests forwarded before the before window's P99 (its third query)
AFTER_MEAN = 7  # ... before the after window's mean (its first query)
RANGE_MEAN = 12  # ... before the mean over time (the first range query)


@pytest.fixture
def traffic(lab: Any) -> None:
    """Requests in the after window that the report itself sees (a route in its JSON): then
    it sends its window queries and its range queries. Waited for on the report, not on a
    query of our own: after the demo tests (backends restarted under other metrics
    profiles) a clean clone's CI saw Prometheus answer our query while the report's windows
    held no data."""
    import subprocess
    import sys

    from perfkit.demo import stack

    if stack.check().metrics_profile != PROFILE:
        stack.restart_backend(metrics_profile=PROFILE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lab.drive({"/auth/me": ("/auth/me", 2, 0.02)}, 0.5)
        seen = subprocess.run([sys.executable, "-m", "perfkit", "report", *WINDOWS,
                               "--prometheus", lab.prometheus_url, "--format", "json"],
                              capture_output=True, text=True, timeout=30, check=False)
        if seen.returncode == 0 and json.loads(seen.stdout)["routes"]:
            return
        time.sleep(0.5)
    raise AssertionError("the report did not see the traffic")


@pytest.fixture
def proxies(lab: Any, traffic: None, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[Callable[..., FaultProxy]]:
    """FaultProxies in front of the demo's Prometheus, all closed at the end; perfkit is
    given a bearer token that must never show."""
    made: list[FaultProxy] = []
    monkeypatch.setenv("PROMETHEUS_TOKEN", TOKEN)

    def make(**kwargs: Any) -> FaultProxy:
        made.append(FaultProxy(lab.prometheus_url, **kwargs))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


def _retry_notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "retrying once" in line]


def test_one_503_mid_report_is_retried_and_the_report_completes(
        proxies: Callable[..., FaultProxy], cli: Callable[..., Any]) -> None:
    proxy = proxies(forward=BEFORE_P99, fault="503", times=1)
    result = cli("report", *WINDOWS, "--prometheus", proxy.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert _retry_notes(result.stderr) == [
        f"Prometheus at {proxy.url} answered HTTP 503 (upstream unavailable) asking for the "
        "before window's P99; retrying once in 0.5 s"]
    # the report is whole: 5 per window, 3 range queries
    report = json.loads(result.stdout)
    assert report["queries"] == 13, (report["routes"], report["warnings"], result.stderr)
    assert len(proxy.paths) == 16 and proxy.paths[4] == proxy.paths[5] == "/api/v1/query"
    assert set(proxy.authorizations) == {f"Bearer {TOKEN}"}  # the retry carries it too
    assert "error:" not in result.stderr and TOKEN not in result.output


@pytest.mark.parametrize(("fault", "says", "asked"), [
    ("503", "answered HTTP 503 (upstream unavailable)", 9),
    ("close", "is unreachable (Remote end closed connection without response)", 9),
    ("gone", "is unreachable (Connection refused)", 8),  # the retry finds no listener
])
def test_prometheus_failing_for_good_mid_report_exits_3_in_one_line(
        proxies: Callable[..., FaultProxy], cli: Callable[..., Any], fault: str, says: str,
        asked: int) -> None:
    proxy = proxies(forward=AFTER_MEAN, fault=fault)
    result = cli("report", *WINDOWS, "--prometheus", proxy.url)
    assert result.exit_code == 3, result.output
    assert result.stdout == ""  # no half report
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == result.stderr.splitlines()[-1:]
    assert errors[0].startswith(
        f"error: Prometheus at {proxy.url} {says} asking for the after window's mean, and "
        "again on the retry (check that it is up and healthy, then rerun")
    assert len(_retry_notes(result.stderr)) == 1
    assert len(proxy.paths) == asked  # sent once more, not more
    assert "Traceback" not in result.output and TOKEN not in result.output


def test_a_503_on_a_range_query_is_retried_and_the_series_complete(
        proxies: Callable[..., FaultProxy], cli: Callable[..., Any]) -> None:
    proxy = proxies(forward=RANGE_MEAN, fault="503", times=1)
    result = cli("report", *WINDOWS, "--prometheus", proxy.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert _retry_notes(result.stderr) == [
        f"Prometheus at {proxy.url} answered HTTP 503 (upstream unavailable) asking for the "
        "mean over time (a range query); retrying once in 0.5 s"]
    record = json.loads(result.stdout)
    assert record["queries"] == 13 and len(proxy.paths) == 16
    assert proxy.paths[RANGE_MEAN] == proxy.paths[RANGE_MEAN + 1] == "/api/v1/query_range"
    assert any(p[1] is not None for p in record["routes"][0]["series"]["points"])
    assert "error:" not in result.stderr and TOKEN not in result.output


@pytest.mark.parametrize(("fault", "says", "asked"), [
    ("503", "answered HTTP 503 (upstream unavailable)", 15),
    ("gone", "is unreachable (Connection refused)", 14),
])
def test_prometheus_failing_for_good_during_the_range_queries_exits_3_in_one_line(
        proxies: Callable[..., FaultProxy], cli: Callable[..., Any], fault: str, says: str,
        asked: int) -> None:
    proxy = proxies(forward=RANGE_MEAN + 1, fault=fault)  # the mean over time went through
    result = cli("report", *WINDOWS, "--prometheus", proxy.url)
    assert result.exit_code == 3, result.output
    assert result.stdout == ""  # no report without its series
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == result.stderr.splitlines()[-1:]
    assert errors[0].startswith(
        f"error: Prometheus at {proxy.url} {says} asking for the P99 over time (a range "
        "query), and again on the retry (check that it is up and healthy, then rerun")
    assert len(_retry_notes(result.stderr)) == 1 and len(proxy.paths) == asked
    assert "Traceback" not in result.output and TOKEN not in result.output


def test_doctor_fails_the_prometheus_boxes_with_the_one_reason(
        proxies: Callable[..., FaultProxy], cli: Callable[..., Any], lab: Any) -> None:
    proxy = proxies(forward=1, fault="503")  # its report's scrape interval, then it fails
    result = cli("doctor", *WINDOWS[:3], "--prometheus", proxy.url, "--base-url",
                 lab.backend_url, "--format", "json")
    assert result.exit_code == 1, result.output  # doctor: a failing line is exit 1
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["backend answers"]["status"] == "pass"  # the boxes before it were checked
    reason = (f"Prometheus at {proxy.url} answered HTTP 503 (upstream unavailable) asking for "
              "the metric names, and again on the retry")
    fed = ["Prometheus has request metrics", "5xx near 0%", "no route slower than before"]
    for name in fed:
        assert checks[name]["status"] == "fail" and reason in checks[name]["detail"], name
    # asked once and retried once: the other boxes reuse the failure, they do not ask again
    assert len(proxy.paths) == 3 and len(_retry_notes(result.stderr)) == 1
    assert "Traceback" not in result.output and TOKEN not in result.output
