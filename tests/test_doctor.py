"""doctor's decisions on hand-built reports: generic boxes, configured limits, one rule for
"slower", and skipped lines when nothing is configured or too little was measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perfkit import stats
from perfkit.doctor import (
    DEMO_RULES,
    DoctorTarget,
    NotSlower,
    RouteRule,
    Status,
    load_rules,
    run_doctor,
)
from perfkit.errors import UsageError
from perfkit.prom.figures import WindowFigures, WindowPair
from perfkit.prom.judge import Judgement, Rule
from perfkit.prom.report import Report, RouteReport
from perfkit.prom.windows import Window, WindowPlan


def _figures(mean_ms: float, count: int, ratio_5xx: float = 0.0) -> WindowFigures:
    return WindowFigures(count_exact=float(count), rps=count / 300, mean_ms=mean_ms,
                         ratio_5xx=ratio_5xx)


def _route(name: str, before_ms: float, after_ms: float, count: int = 100,
           verdict: stats.Verdict | None = stats.Verdict.NO_CHANGE,
           unmatched: bool = False) -> RouteReport:
    reason = "" if verdict is not None else f"only {count} requests (need 20)"
    return RouteReport(name, WindowPair(_figures(before_ms, count), _figures(after_ms, count)),
                       Judgement(verdict=verdict, reason=reason), unmatched)


def _report(*routes: RouteReport, ratio_5xx: float = 0.0) -> Report:
    now = datetime.now(UTC)
    split = now - timedelta(minutes=5)
    plan = WindowPlan(before=Window(now - timedelta(minutes=10), split),
                      after=Window(split, now), split_at=split, split_source="time")
    overall = WindowPair(_figures(50, 400), _figures(50, 400, ratio_5xx))
    return Report("http://127.0.0.1:9", "fastapi-observability", "auto", 1.0, plan, (),
                  tuple(routes), overall, (), 10, Rule())


def _status(target: DoctorTarget) -> dict[str, Status]:
    return {c.name: c.status for c in run_doctor(target).checks}


def test_nothing_configured_is_skipped_never_passed() -> None:
    result = run_doctor(DoctorTarget())
    assert {c.status for c in result.checks} == {Status.SKIP}
    assert all(c.detail for c in result.checks)
    assert not result.passed  # all skipped is not a pass


def test_a_healthy_app_without_auth_me_or_a_cache_passes() -> None:
    # Another backend: no /auth/me, no cache, no checks configured: nothing fails for lack of
    # the demo's route or of cache lines.
    report = _report(_route("/api/v1/items/", 40, 38), _route("/health", 1, 1, count=3,
                                                               verdict=None))
    result = run_doctor(DoctorTarget(report=report))
    status = {c.name: c.status for c in result.checks}
    assert status["no route slower than before"] is Status.PASS
    assert status["Prometheus has request metrics"] is Status.PASS
    assert status["5xx near 0%"] is Status.PASS
    assert result.passed
    detail = next(c.detail for c in result.checks if c.name == "no route slower than before")
    assert "not judged: /health (only 3 requests (need 20))" in detail


def test_slower_is_the_report_s_verdict_not_a_margin_of_its_own() -> None:
    slower = _report(_route("/webhooks", 100, 119, verdict=stats.Verdict.SLOWER),
                     _route("/auth/me", 150, 1, verdict=stats.Verdict.FASTER))
    assert _status(DoctorTarget(report=slower))["no route slower than before"] is Status.FAIL
    within = _report(_route("/webhooks", 100, 119, verdict=stats.Verdict.NO_CHANGE))
    assert _status(DoctorTarget(report=within))["no route slower than before"] is Status.PASS


def test_configured_limits_fail_naming_the_route_and_few_requests_are_skipped() -> None:
    rules = load_rules({"checks": [{"route": "/auth/me", "mean": "< 200ms"},
                                   {"route": "/orders", "p99": "< 1s", "window": "after"},
                                   {"route": "/rare", "mean": "< 10ms"}]}, "perfkit.yaml")
    report = _report(_route("/auth/me", 150, 250), _route("/rare", 50, 50, count=3))
    result = run_doctor(DoctorTarget(report=report, rules=rules))
    by_name = {c.name: c for c in result.checks}
    auth = by_name["/auth/me mean < 200ms (after window)"]
    assert auth.status is Status.FAIL and "/auth/me mean 250.00 ms (breaks < 200ms" in auth.detail
    assert by_name["/orders p99 < 1s (after window)"].status is Status.FAIL  # not there
    assert by_name["/rare mean < 10ms (after window)"].status is Status.SKIP
    assert "skipped: 3 /rare requests" in by_name["/rare mean < 10ms (after window)"].detail
    assert not result.passed


def test_the_demo_list_and_bad_checks() -> None:
    assert isinstance(DEMO_RULES[0], RouteRule) and isinstance(DEMO_RULES[1], NotSlower)
    for bad, message in (({"checks": {"route": "/a"}}, "must be a list"),
                         ({"checks": [{"mean": "< 1s"}]}, "needs a `route`"),
                         ({"checks": [{"route": "/a", "p95": "< 1s"}]}, "unknown key 'p95'"),
                         ({"checks": [{"route": "/a", "mean": "fast"}]}, "cannot read"),
                         ({"checks": [{"route": "/a", "window": "later"}]}, "window")):
        with pytest.raises(UsageError, match=message):
            load_rules(bad, "perfkit.yaml")


def test_5xx_fails_and_no_traffic_is_skipped() -> None:
    status = _status(DoctorTarget(report=_report(_route("/a", 10, 10), ratio_5xx=0.05)))
    assert status["5xx near 0%"] is Status.FAIL


def test_cache_lines_absent_are_a_skip_and_misses_only_a_failure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "app.log"
    log.write_text("INFO started\nGET /items 200\n")
    assert _status(DoctorTarget(backend_log=log))["cache serves hits (backend log)"] is (
        Status.SKIP)
    log.write_text("Cache MISS: user:1\nCache MISS: user:2\n")
    assert _status(DoctorTarget(backend_log=log))["cache serves hits (backend log)"] is (
        Status.FAIL)


def test_unreachable_backend_is_a_failed_line_without_the_token() -> None:
    result = run_doctor(DoctorTarget(base_url="http://127.0.0.1:9", token="sekret-token-1"))
    backend = result.checks[0]
    assert backend.status is Status.FAIL and "unreachable" in backend.detail
    assert "sekret-token-1" not in backend.detail
    assert not result.passed
