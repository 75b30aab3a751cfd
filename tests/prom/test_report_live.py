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

from perfkit.bench.record import Phase, Run
from perfkit.events import ChangeEvent, record_event
from perfkit.prom import PromClient, ReportOptions, build_report
from perfkit.prom.judge import Rule
from perfkit.prom.profiles import DEFAULT_EXCLUDED_ROUTES
from perfkit.prom.report import Report, collect_report
from perfkit.stats import MIN_SAMPLES, Verdict

pytestmark = pytest.mark.integration

ROUTES = {"/auth/me": ("/auth/me", 4, 0.01), "/accounts": ("/accounts", 2, 0.04)}
RARE = "/conversations/{conversation_id}"


@dataclass
class Phases:
    report: Report
    record: dict[str, Any]
    window_s: int
    mark: ChangeEvent
    now: datetime
    restart_at: datetime
    bench_path: Path


def _route(record: dict[str, Any], route: str) -> dict[str, Any]:
    return next(r for r in record["routes"] if r["route"] == route)


def _bench_run(sent: list[Any], started: datetime, finished: datetime) -> Run:
    """A bench run record from the test's own client-side measurements."""
    run = Run(base_url="http://127.0.0.1", started_at=started.isoformat(),
              ended_at=finished.isoformat())
    for s in sent:
        if s.route in ROUTES and s.status:
            run.record(f"GET {s.route}", Phase.ALL).add_latency(s.latency_ms * 1000,
                                                               s.latency_ms * 1000)
    return run


def _drive_for(lab: Any, routes: dict[str, tuple[str, int, float]], seconds: float) -> list[Any]:
    """Traffic for the whole `seconds`: a drive stops at its request cap (6,000; unpaced,
    /auth/me reached it in 3 s), and an after window cut short no longer reaches back past
    the restart (a clean clone's run: the before window began 43 ms after it). At most 3
    drives."""
    deadline, sent = time.monotonic() + seconds, []
    for _ in range(3):
        left = deadline - time.monotonic()
        if left < 0.2:
            break
        sent += lab.drive(routes, left)
    return sent


@pytest.fixture(scope="module")
def phases(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phases]:
    from perfkit.demo import stack

    if stack.check().metrics_profile != "fastapi-observability":
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
        # the after window (its length is the before window's) must reach back past the
        # restart: a slow restart on a loaded machine takes seconds
        after_s = max(8.0, (mark.at - restart_at).total_seconds() + 1.0 - 2.5)
        sent_b = _drive_for(lab, {**ROUTES, RARE: (f"/conversations/{uuid.uuid4()}", 1, 1.5)},
                            after_s)
        b_end = datetime.now(UTC)
        lab.faults()
        time.sleep(2.5)  # let the last scrape land
        window_s = math.floor((datetime.now(UTC) - mark.at).total_seconds())
        now = mark.at + timedelta(seconds=window_s)
        bench_path = tmp_path_factory.mktemp("report") / "run.json"
        # the run starts 0.4 s before the after window, as a real one started by hand does
        _bench_run(sent_b, mark.at - timedelta(seconds=0.4), b_end).save(bench_path)
        client = PromClient(lab.prometheus_url)
        report = collect_report(client, ReportOptions(since_s=window_s, split=mark.id, now=now,
                                                      bench=Run.load(bench_path),
                                                      bench_name=bench_path.name))
        yield Phases(report, report.to_json(), window_s, mark, now, restart_at, bench_path)
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
    rare = _route(phases.record, RARE)
    assert rare["before"] is None and rare["after"]["count"] < MIN_SAMPLES
    (one,) = [w for w in phases.record["warnings"] if w["route"] == RARE
              and w["kind"] == "one-window"]
    assert one["severity"] == "caveat"
    assert f"only in the after window ({rare['after']['count']} request" in one["message"]
    kinds = {(w["kind"], w["route"]) for w in phases.record["warnings"]}
    assert ("low-samples", "/auth/me") not in kinds
    severities = [w["severity"] for w in phases.record["warnings"]]
    assert severities == sorted(severities, key=["decision", "caveat", "note"].index)


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
                      len(counting_proxy.paths) - before,
                      counting_proxy.paths[before:].count("/api/v1/query_range")))
    (many, q_many, http_many, r_many), (one, q_one, http_one, r_one) = asked
    assert many >= 3 and one == 1
    assert q_many == q_one <= 12
    assert r_many == r_one == 3  # the series over time: mean, P99, resets
    assert http_many == http_one


def test_client_vs_server_from_a_bench_run(phases: Phases) -> None:
    rows = {r["route"]: r for r in phases.record["client_vs_server"]}
    auth = rows["GET /auth/me"]
    assert auth["window"] == "after" and auth["server_route"] == "/auth/me"
    assert auth["phase"] == "all" and auth["client"]["count"] > 100
    # the client sees the server's time plus the network and the queue: never much less
    assert auth["client"]["mean_ms"] >= auth["server"]["mean_ms"] - 0.5
    assert auth["diff_ms"]["mean"] == pytest.approx(
        auth["client"]["mean_ms"] - auth["server"]["mean_ms"], abs=1e-2)
    assert auth["note"]
    assert "GET /accounts" in rows


def test_a_run_started_just_before_the_window_is_matched_to_it(phases: Phases) -> None:
    bench = phases.record["bench"]
    assert bench["matched"] and bench["window"] == "after"
    # 0.4 s of ~8.4 s lies before the window (more on a loaded machine: a slower start)
    assert 0.8 <= bench["run_share"] < 1.0
    said = [w["message"] for w in phases.record["warnings"] if w["kind"] == "bench"]
    assert len(said) == 1 and "of the after window" in said[0]
    assert "started 0.4 s before it" in said[0]


def test_each_route_gets_a_verdict_by_the_one_rule(phases: Phases) -> None:
    auth = _route(phases.record, "/auth/me")
    assert auth["verdict"] == "faster" and auth["method"] == "prometheus-buckets"
    assert auth["threshold_pct"] == 5.0
    low, high = auth["ci_pct"]
    assert low <= auth["change_pct"]["mean"] <= high < -5.0
    assert auth["p_value_raw"] <= auth["p_value"] < 0.05  # Holm-adjusted, never smaller
    rare = _route(phases.record, RARE)
    assert rare["verdict"] == "not-judged" and rare["ci_pct"] is None
    assert "no requests in the before window" in rare["verdict_reason"]
    judged = [r for r in phases.record["routes"] if r["verdict"] != "not-judged"]
    assert all(min(r["before"]["count"], r["after"]["count"]) >= MIN_SAMPLES for r in judged)
    assert phases.record["verdicts"]["min_change_pct"] == 5.0


def test_the_typed_report_exposes_verdicts(phases: Phases) -> None:
    auth = phases.report.route("/auth/me")
    assert auth is not None and auth.verdict is Verdict.FASTER
    assert auth in phases.report.with_verdict(Verdict.FASTER)
    assert auth not in phases.report.with_verdict(Verdict.SLOWER)
    rare = phases.report.route(RARE)
    assert rare is not None and rare.verdict is None and rare not in phases.report.judged


def test_the_samples_are_prometheus_bucket_counts(phases: Phases) -> None:
    auth = phases.report.route("/auth/me")
    assert auth is not None and auth.before is not None
    buckets = auth.before.buckets
    # the per-bucket counts add up to the window's count, and the +100 ms fault puts the
    # bulk of the before window above 100 ms
    assert sum(b.count for b in buckets) == pytest.approx(auth.before.count_exact, rel=0.01)
    slow = sum(b.count for b in buckets if b.lo_s >= 0.1)
    assert slow >= 0.9 * auth.before.count_exact


def test_a_stricter_threshold_turns_faster_into_no_change(phases: Phases, lab: Any) -> None:
    report = collect_report(PromClient(lab.prometheus_url), ReportOptions(
        since_s=phases.window_s, split=phases.mark.id, now=phases.now,
        rule=Rule(min_change_pct=99.9)))
    auth = report.route("/auth/me")
    assert auth is not None and auth.verdict is Verdict.NO_CHANGE  # -99% is not beyond 99.9


def test_series_without_a_route_label_keep_the_global_line(phases: Phases, lab: Any) -> None:
    config = {"profiles": {"unlabelled": {
        "histogram": "fastapi_requests_duration_seconds", "requests_total":
        "fastapi_responses_total", "route_label": "no_such_label"}}}
    record = build_report(PromClient(lab.prometheus_url), ReportOptions(
        since_s=phases.window_s, split=phases.mark.id, now=phases.now, profile="unlabelled"),
        config)
    assert [r["route"] for r in record["routes"]] == ["(no route label)"]
    only = record["routes"][0]
    assert only["unmatched"] and only["verdict"] == "not-judged"
    # the global series is not hidden by the unlabelled one: both count every request
    assert record["global"]["after"]["count"] == only["after"]["count"] > 0


def test_cli_prints_both_windows_bars_and_warnings(phases: Phases,
                                                   cli: Callable[..., Any]) -> None:
    result = cli("report", "--since", "60s", "--bench", str(phases.bench_path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "before:" in out and "after:" in out and phases.mark.id in out
    assert "/auth/me" in out and "█" in out and "all routes" in out
    table = out[out.index("slowest first"):]
    assert table.index("/auth/me") < table.index("/accounts")
    auth_line = next(line for line in table.splitlines() if "/auth/me" in line)
    assert "faster" in auth_line  # the verdict column
    assert "Client (bench run) → server (Prometheus)" in out
    assert "beyond ±5%" in out  # the method and its threshold are stated
    assert "only in the after window" in result.stderr
    # one line per route: the rare route's warnings are grouped, not repeated
    rare_lines = [line for line in result.stderr.splitlines() if line.startswith(
        f"warning: {RARE}:")]
    assert len(rare_lines) == 1


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_tables_keep_route_names_whole(phases: Phases, cli: Callable[..., Any],
                                       monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("report", "--since", "60s", "--bench", str(phases.bench_path))
    assert result.exit_code == 0, result.output
    record = json.loads(cli("report", "--since", "60s", "--bench", str(phases.bench_path),
                            "--format", "json").stdout)
    server = [r["route"] for r in record["routes"]]
    client = [r["route"] for r in record["client_vs_server"]]
    assert RARE in server and "GET /auth/me" in client
    lines = result.stdout.splitlines()
    # whole on one line in each table that shows it: the two server panels, the client one
    for name, tables in [*((n, 2) for n in server), *((n, 1) for n in client)]:
        assert sum(name in line for line in lines) >= tables, (columns, name, result.stdout)
    if columns >= 100:
        widest = max(len(line.rstrip()) for line in lines if "│" in line)
        assert widest <= columns, (columns, result.stdout)


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



def _range(prometheus_url: str, query: str, series: dict[str, Any]
           ) -> dict[str | None, dict[float, float]]:
    """Prometheus's own answer to a range query on the series' grid, per route."""
    times = [p[0] for p in series["points"]]
    url = f"{prometheus_url}/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": query, "start": f"{times[0]:.3f}", "end": f"{times[-1]:.3f}",
         "step": f"{series['step_s']:g}"})
    with urllib.request.urlopen(url, timeout=10) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return {r["metric"].get("path"): {round(float(t), 3): float(v) for t, v in r["values"]}
            for r in result}


def _expected(answer: dict[float, float], times: list[float]) -> list[float | None]:
    """Prometheus's values in ms on the grid; no value (or NaN: no request) is None."""
    values = [answer.get(round(t, 3)) for t in times]
    return [None if v is None or math.isnan(v) else round(v * 1000, 3) for v in values]


def test_series_points_are_prometheus_own_range_answers(phases: Phases, lab: Any) -> None:
    record, h = phases.record, "fastapi_requests_duration_seconds"
    series = _route(record, "/auth/me")["series"]
    # the demo scrapes every second: a point per second, each over the 2 s before it
    assert series["step_s"] == 1 and series["window_s"] == 2
    times = [p[0] for p in series["points"]]
    before_start = datetime.fromisoformat(record["before"]["start"]).timestamp()
    after_end = datetime.fromisoformat(record["after"]["end"]).timestamp()
    assert times[0] == pytest.approx(before_start + 1, abs=1e-3) and times[-1] <= after_end + 1e-3
    assert len(times) == math.floor(after_end - before_start)
    w = f'{{path!~"{"|".join(DEFAULT_EXCLUDED_ROUTES)}"}}[{series["window_s"]:g}s]'
    means = _range(lab.prometheus_url, f"sum by (path) (rate({h}_sum{w})) / sum by (path) "
                   f"(rate({h}_count{w})) or sum(rate({h}_sum{w})) / sum(rate({h}_count{w}))",
                   series)
    p99s = _range(lab.prometheus_url, f"histogram_quantile(0.99, sum by (path, le) (rate("
                  f"{h}_bucket{w})) or sum by (le) (rate({h}_bucket{w})))", series)
    for route in [*record["routes"], {"route": None, **record["global"]}]:
        points = route["series"]["points"]
        assert [p[0] for p in points] == times, route["route"]
        assert [p[1] for p in points] == _expected(means.get(route["route"], {}), times)
        assert [p[2] for p in points] == _expected(p99s.get(route["route"], {}), times)
    # a step without a request of the rare route (0/0: NaN) or before it existed: null
    assert any(p[1] is None for p in _route(record, RARE)["series"]["points"])
    auth = [p for p in series["points"] if p[1] is not None]
    assert len(auth) >= 0.6 * len(times)  # traffic in both windows, some steps without
    slow = [p[1] for p in auth if p[0] <= phases.mark.at.timestamp() - 2]
    fast = [p[1] for p in auth if p[0] >= phases.mark.at.timestamp() + 2]
    assert slow and fast and min(slow) > 95 and max(fast) < 50  # the +100 ms fault, then none


def test_the_restart_is_a_counter_reset_on_the_series(phases: Phases,
                                                      cli: Callable[..., Any]) -> None:
    restart = phases.restart_at.timestamp()
    for route in (*ROUTES, None):
        line = (_route(phases.record, route) if route else phases.record["global"])["series"]
        # the first point whose step holds a sample of the restarted process
        seen = [t for t in line["resets"] if restart < t <= restart + 8]
        # a route's counter once; all routes' at each route's first sample after it
        assert len(seen) == 1 if route else len(seen) >= 1, (route, restart, line["resets"])
        assert all(t < restart for t in line["resets"] if t not in seen)  # earlier restarts
    notes = {w["route"]: w for w in phases.record["warnings"] if w["kind"] == "counter-reset"}
    assert set(ROUTES) <= set(notes) and notes["/auth/me"]["severity"] == "note"
    assert "counters were reset at" in notes["/auth/me"]["message"]
    result = cli("report", "--since", f"{phases.window_s}s", "--split", phases.mark.id)
    assert result.exit_code == 0, result.output
    # one line per time seen: each route's counter at its own first sample after it
    said = " ".join(x for x in result.stdout.splitlines() if "counter reset (a restart)" in x)
    assert "/auth/me" in said and "/accounts" in said
    assert "over time: mean and P99 per route every 1 s" in result.stdout
