"""The instrumentator profile: detected by its metric names, and its coarse buckets flagged.

prometheus-fastapi-instrumentator's per-route histogram has buckets 0.1, 0.5 and 1 s: a
1.1 s route reads P99 = 1.0 s exactly. The report must say it is clamped, not claim 1 s.
The demo stack is shared by the session: the backend goes back to fastapi-observability.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perfkit.events import list_events
from perfkit.prom import PromClient, ReportOptions, build_report

pytestmark = pytest.mark.integration

UNKNOWN = "/no-such-route"


@pytest.fixture(scope="module")
def instrumentator_record(lab: Any) -> Iterator[dict[str, Any]]:
    from perfkit.demo import stack

    try:
        stack.restart_backend(metrics_profile="instrumentator")
        restart = list_events()[-1]
        assert restart.kind == "demo-restart"
        lab.faults(latency_ms={"/auth/me": 1100})
        lab.drive({"/auth/me": ("/auth/me", 12, 0.0), "/accounts": ("/accounts", 1, 0.05),
                   UNKNOWN: (UNKNOWN, 1, 0.3)}, 4.5)
        lab.faults()
        time.sleep(2.5)
        window_s = math.floor((datetime.now(UTC) - restart.at).total_seconds())
        yield build_report(PromClient(lab.prometheus_url), ReportOptions(
            since_s=window_s, now=restart.at + timedelta(seconds=window_s)))
    finally:
        lab.faults()
        stack.restart_backend(metrics_profile="fastapi-observability")


def test_instrumentator_profile_is_detected(instrumentator_record: dict[str, Any]) -> None:
    assert instrumentator_record["profile"] == "instrumentator"
    assert instrumentator_record["profile_source"] == "auto"
    routes = {r["route"] for r in instrumentator_record["routes"]}
    assert {"/auth/me", "/accounts"} <= routes
    assert "/metrics" not in routes  # excluded by default


def test_p99_above_the_last_bucket_is_flagged_as_clamped(
        instrumentator_record: dict[str, Any]) -> None:
    auth = next(r for r in instrumentator_record["routes"] if r["route"] == "/auth/me")
    after = auth["after"]
    assert 1090 <= after["mean_ms"] <= 1600  # the mean is exact: _sum / _count
    assert after["p99_ms"] == 1000.0  # what histogram_quantile answers, clamped
    assert after["p99_bucket_ms"] == [1000.0, None] and after["p99_clamped"]
    messages = [w["message"] for w in instrumentator_record["warnings"]
                if w["kind"] == "clamped-p99" and w["route"] == "/auth/me"]
    assert messages and "P99 >= 1 s in the after window, clamped at the last bucket" in messages[0]


def test_requests_no_route_matched_are_labelled_and_never_judged(
        instrumentator_record: dict[str, Any]) -> None:
    # prometheus-fastapi-instrumentator groups 404s for unknown paths as handler="none"
    routes = {r["route"]: r for r in instrumentator_record["routes"]}
    assert UNKNOWN not in routes
    none = routes["none"]
    assert none["unmatched"] and none["verdict"] == "not-judged"
    assert "no route matched" in none["verdict_reason"]
    assert none["after"]["count"] >= 5
    assert not routes["/auth/me"]["unmatched"]
