"""doctor's decisions on hand-built reports, and skipped lines when nothing is configured."""

from __future__ import annotations

from typing import Any

from perfkit.doctor import DoctorTarget, run_doctor


def _report(changes: dict[str, float], ratio_5xx: float = 0.0) -> dict[str, Any]:
    routes = [{"route": route, "before": {"mean_ms": 100.0, "count": 100},
               "after": {"mean_ms": 100.0 * (1 + c / 100), "count": 100},
               "change_pct": {"mean": c, "p99": c}} for route, c in changes.items()]
    return {"profile": "fastapi-observability", "prometheus_url": "http://127.0.0.1:9",
            "routes": routes,
            "global": {"after": {"ratio_5xx": ratio_5xx, "count": 400, "mean_ms": 50.0}}}


def _status(target: DoctorTarget) -> dict[str, str]:
    return {c.name: c.status for c in run_doctor(target).checks}


def test_nothing_configured_is_skipped_never_passed() -> None:
    result = run_doctor(DoctorTarget())
    assert {c.status for c in result.checks} == {"skip"}
    assert all(c.detail for c in result.checks)
    assert not result.passed  # all skipped is not a pass


def test_routes_faster_within_noise_margin_and_beyond() -> None:
    ok = _status(DoctorTarget(report=_report({"/auth/me": -90, "/webhooks": +9})))
    assert ok["other routes faster than before"] == "pass"
    assert ok["/auth/me mean < 200 ms after the change"] == "pass"
    bad = _status(DoctorTarget(report=_report({"/auth/me": -90, "/webhooks": +40})))
    assert bad["other routes faster than before"] == "fail"
    flat = _status(DoctorTarget(report=_report({"/auth/me": +5})))
    assert flat["other routes faster than before"] == "fail"
    assert flat["/auth/me mean < 200 ms after the change"] == "pass"


def test_5xx_and_slow_auth_me_fail() -> None:
    status = _status(DoctorTarget(report=_report({"/auth/me": +150}, ratio_5xx=0.05)))
    assert status["5xx near 0%"] == "fail"
    assert status["/auth/me mean < 200 ms after the change"] == "fail"


def test_unreachable_backend_is_a_failed_line_without_the_token() -> None:
    result = run_doctor(DoctorTarget(base_url="http://127.0.0.1:9", token="sekret-token-1"))
    backend = result.checks[0]
    assert backend.status == "fail" and "unreachable" in backend.detail
    assert "sekret-token-1" not in backend.detail
    assert not result.passed
