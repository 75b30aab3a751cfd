"""`perfkit report` against the real demo stack: two phases with known server-side changes.

Phase A: /auth/me +100 ms (fault knob), with a backend restart in the middle (a counter
reset inside the before window). Then a mark. Phase B: no added latency, 30 % of /accounts
answered 500, and a handful of requests to one more route. One report, many assertions.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from perfkit.events import ChangeEvent, record_event
from perfkit.prom import PromClient, ReportOptions, build_report

pytestmark = pytest.mark.integration

ROUTES = {"/auth/me": ("/auth/me", 4, 0.0), "/accounts": ("/accounts", 2, 0.04)}
RARE = "/conversations/{conversation_id}"


@dataclass
class Phases:
    record: dict[str, Any]
    window_s: int
    mark: ChangeEvent
    now: datetime
    restart_at: datetime
    bench_path: Path


def _route(record: dict[str, Any], route: str) -> dict[str, Any]:
    return next(r for r in record["routes"] if r["route"] == route)


def _bench_run(sent: list[Any], started: datetime, finished: datetime) -> dict[str, Any]:
    """A perfkit.run/1 record from the test's own client-side measurements."""
    routes = []
    for route in ROUTES:
        latencies = sorted(s.latency_ms for s in sent if s.route == route and s.status)
        routes.append({"route": f"GET {route}", "phase": "all", "count": len(latencies),
                       "errors": {}, "latency_ms": {
                           "mean": sum(latencies) / len(latencies),
                           "p99": latencies[min(len(latencies) - 1,
                                                math.ceil(0.99 * len(latencies)) - 1)]}})
    return {"schema": "perfkit.run/1", "started_at": started.isoformat(),
            "finished_at": finished.isoformat(), "base_url": "http://127.0.0.1", "routes": routes}


@pytest.fixture(scope="module")
def phases(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phases]:
    from perfkit.demo import stack

    if stack.status()["backend"]["metrics_profile"] != "fastapi-observability":
        stack.restart_backend(metrics_profile="fastapi-observability")
    try:
        lab.faults(latency_ms={"/auth/me": 100})
        lab.drive(ROUTES, 5)
        restart_at = datetime.now(UTC)
        stack.restart_backend()  # faults live in the process: set them again
        lab.faults(latency_ms={"/auth/me": 100})
        lab.drive(ROUTES, 4)
        mark = record_event("mark", "test: latency fault removed, 5xx on /accounts")
        lab.faults(error_ratio={"/accounts": 0.3})
        b_start = datetime.now(UTC)
        sent_b = lab.drive({**ROUTES, RARE: (f"/conversations/{uuid.uuid4()}", 1, 1.5)}, 8)
        b_end = datetime.now(UTC)
        lab.faults()
        time.sleep(2.5)  # let the last scrape land
        window_s = math.floor((datetime.now(UTC) - mark.at).total_seconds())
        now = mark.at + timedelta(seconds=window_s)
        bench_path = tmp_path_factory.mktemp("report") / "run.json"
        bench_path.write_text(json.dumps(_bench_run(sent_b, b_start, b_end)))
        client = PromClient(lab.prometheus_url)
        record = build_report(client, ReportOptions(since_s=window_s, split=mark.id, now=now,
                                                    bench=bench_path))
        yield Phases(record, window_s, mark, now, restart_at, bench_path)
    finally:
        lab.faults()


def test_before_after_means_match_the_injected_latency(phases: Phases) -> None:
    auth = _route(phases.record, "/auth/me")
    # the mean is exact (_sum/_count): +100 ms injected, ~1 ms of cached auth on top
    assert 98 <= auth["before"]["mean_ms"] <= 200
    assert auth["after"]["mean_ms"] < 40
    assert auth["change_pct"]["mean"] < -70
    # the P99 is a bucket estimate, read above the injected 100 ms (a loaded machine may push
    # the tail past 250 ms), and it lies inside the bucket the report names
    lo, hi = auth["before"]["p99_bucket_ms"]
    assert lo >= 100 and lo < auth["before"]["p99_ms"] <= hi
    accounts = _route(phases.record, "/accounts")
    assert accounts["before"]["mean_ms"] < 40 and accounts["after"]["mean_ms"] < 40
    assert phases.record["profile"] == "fastapi-observability"
    assert phases.record["profile_source"] == "auto"


def test_windows_split_at_the_mark(phases: Phases) -> None:
    record = phases.record
    assert record["split"]["event"]["id"] == phases.mark.id
    assert record["before"]["end"] == phases.mark.at.isoformat() == record["after"]["start"]
    assert record["before"]["seconds"] == record["after"]["seconds"] == phases.window_s


def test_5xx_ratio_shows_on_the_faulty_route_only(phases: Phases) -> None:
    accounts = _route(phases.record, "/accounts")
    assert 0.15 <= accounts["after"]["ratio_5xx"] <= 0.45
    assert accounts["before"]["ratio_5xx"] == 0
    for name in ("/auth/me", RARE):
        assert _route(phases.record, name)["after"]["ratio_5xx"] == 0
    assert 0 < phases.record["global"]["after"]["ratio_5xx"] < accounts["after"]["ratio_5xx"]


def test_restart_inside_the_before_window_keeps_counts_right(phases: Phases, lab: Any) -> None:
    before = phases.record["before"]
    start, end = (datetime.fromisoformat(before[k]) for k in ("start", "end"))
    assert start < phases.restart_at < end  # the counter reset really is inside the window
    for name in ROUTES:
        sent = lab.count(name, start, end)
        seen = _route(phases.record, name)["before"]["count"]
        assert sent > 30
        assert 0.65 * sent <= seen <= 1.35 * sent, (name, sent, seen)


def _prometheus_p99(prometheus_url: str, window: dict[str, Any]) -> dict[str, float]:
    query = ("histogram_quantile(0.99, sum by (path, le) (increase("
             f"fastapi_requests_duration_seconds_bucket[{round(window['seconds'])}s])))")
    at = datetime.fromisoformat(window["end"]).timestamp()
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode(
        {"query": query, "time": f"{at:.3f}"})
    with urllib.request.urlopen(url, timeout=10) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return {r["metric"]["path"]: float(r["value"][1]) for r in result}


def test_p99_is_prometheus_own_histogram_quantile(phases: Phases, lab: Any) -> None:
    for side in ("before", "after"):
        theirs = _prometheus_p99(lab.prometheus_url, phases.record[side])
        ours = {r["route"]: r[side]["p99_ms"] for r in phases.record["routes"] if r[side]}
        assert ours
        for route, p99_ms in ours.items():
            assert p99_ms == pytest.approx(theirs[route] * 1000, abs=1e-3), (side, route)


def test_low_samples_and_one_window_routes_are_flagged(phases: Phases) -> None:
    kinds = {(w["kind"], w["route"]) for w in phases.record["warnings"]}
    assert ("low-samples", RARE) in kinds
    assert ("one-window", RARE) in kinds
    assert ("low-samples", "/auth/me") not in kinds
    rare = _route(phases.record, RARE)
    assert rare["before"] is None and rare["after"]["count"] < 30


def test_no_data_says_which_metrics_the_server_has(phases: Phases, lab: Any) -> None:
    record = build_report(PromClient(lab.prometheus_url), ReportOptions(
        since_s=phases.window_s, split=phases.mark.id, now=phases.now,
        profile="starlette-exporter"))
    assert record["routes"] == []
    no_data = [w["message"] for w in record["warnings"] if w["kind"] == "no-data"]
    assert no_data and "fastapi_requests_duration_seconds" in no_data[0]
    assert "starlette_request_duration_seconds" in no_data[0]


def test_custom_profile_from_config(phases: Phases, lab: Any) -> None:
    config = {"profiles": {"ours": {
        "histogram": "fastapi_requests_duration_seconds", "requests_total":
        "fastapi_responses_total", "route_label": "path", "status_label": "status_code",
        "filters": {"app_name": "perfkit-demo"}}}}
    record = build_report(PromClient(lab.prometheus_url), ReportOptions(
        since_s=phases.window_s, split=phases.mark.id, now=phases.now, profile="ours"), config)
    assert record["profile"] == "ours"
    assert _route(record, "/auth/me")["before"] == _route(phases.record, "/auth/me")["before"]


def test_query_count_does_not_grow_with_routes(phases: Phases, counting_proxy: Any) -> None:
    asked = []
    for filters in ({}, {"path": "/auth/me"}):
        before = len(counting_proxy.paths)
        queries_before = counting_proxy.queries()
        record = build_report(PromClient(counting_proxy.url), ReportOptions(
            since_s=phases.window_s, split=phases.mark.id, now=phases.now, filters=filters))
        asked.append((len(record["routes"]), counting_proxy.queries() - queries_before,
                      len(counting_proxy.paths) - before))
    (many, q_many, http_many), (one, q_one, http_one) = asked
    assert many >= 3 and one == 1
    assert q_many == q_one <= 12
    assert http_many == http_one


def test_client_vs_server_from_a_bench_run(phases: Phases) -> None:
    rows = {r["route"]: r for r in phases.record["client_vs_server"]}
    auth = rows["GET /auth/me"]
    assert auth["window"] == "after" and auth["server_route"] == "/auth/me"
    # the client sees the server's time plus the network and the queue: never much less
    assert auth["client"]["mean_ms"] >= auth["server"]["mean_ms"] - 0.5
    assert auth["diff_ms"]["mean"] == pytest.approx(
        auth["client"]["mean_ms"] - auth["server"]["mean_ms"], abs=1e-2)
    assert auth["note"]
    assert "GET /accounts" in rows


def test_cli_prints_both_windows_bars_and_warnings(phases: Phases,
                                                   cli: Callable[..., Any]) -> None:
    result = cli("report", "--since", "60s", "--bench", str(phases.bench_path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "before:" in out and "after:" in out and phases.mark.id in out
    assert "/auth/me" in out and "█" in out and "all routes" in out
    table = out[out.index("slowest first"):]
    assert table.index("/auth/me") < table.index("/accounts")
    assert "Client (bench run) vs server" in out
    assert "only in the after window" in result.stderr


def test_cli_json_and_markdown(phases: Phases, cli: Callable[..., Any]) -> None:
    result = cli("report", "--since", "60s", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["schema"] == "perfkit.report/1"
    assert record["split"]["event"]["id"] == phases.mark.id  # the latest change event
    assert {"route", "before", "after", "change_pct"} <= set(record["routes"][0])
    assert {"mean_ms", "p99_ms", "p99_bucket_ms", "rps", "ratio_5xx", "count"} <= set(
        _route(record, "/auth/me")["after"])
    result = cli("report", "--since", "60s", "--split", phases.mark.id, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "| `/auth/me` |" in result.stdout and "### Warnings" in result.stdout


def test_bearer_and_basic_auth_reach_prometheus(phases: Phases, counting_proxy: Any) -> None:
    options = ReportOptions(since_s=phases.window_s, split=phases.mark.id, now=phases.now)
    build_report(PromClient(counting_proxy.url, token="tok-123"), options)
    assert set(counting_proxy.authorizations) == {"Bearer tok-123"}
    counting_proxy.authorizations.clear()
    host = counting_proxy.url.removeprefix("http://")
    record = build_report(PromClient(f"http://bob:pw-456@{host}"), options)
    assert set(counting_proxy.authorizations) == {"Basic Ym9iOnB3LTQ1Ng=="}  # bob:pw-456
    assert record["prometheus_url"] == counting_proxy.url  # no credentials in the record


def test_prometheus_own_warnings_and_infos_are_kept(phases: Phases, counting_proxy: Any) -> None:
    counting_proxy.inject = {"warnings": ["partial response: store 2 of 3 unreachable"],
                             "infos": ["PromQL info: metric might not be a counter"]}
    record = build_report(PromClient(counting_proxy.url), ReportOptions(
        since_s=phases.window_s, split=phases.mark.id, now=phases.now))
    said = [w["message"] for w in record["warnings"] if w["kind"] == "prometheus"]
    assert said == ["Prometheus: partial response: store 2 of 3 unreachable",
                    "Prometheus: PromQL info: metric might not be a counter"]
