"""`perfkit doctor`: the seed's checklist, each box checked for real.

- backend answers                       - Prometheus reachable, with request metrics
- logs show Cache HIT / MISS             - /auth/me mean under 200 ms after the change
- the indexes are present and valid      - the other routes faster than before
- their declared queries use them        - 5xx near 0 %
Every line is pass, fail or skipped-with-reason; nothing configured is never a pass.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from perfkit.errors import PerfkitError
from perfkit.redact import redact_text, redact_url

CheckStatus = Literal["pass", "fail", "skip"]
AUTH_ME_TARGET_MS = 200.0
# Window means from Prometheus carry no variance: a route counts as slower only beyond this.
SLOWER_MARGIN_PCT = 25.0
MAX_5XX_RATIO = 0.01


@dataclass(frozen=True)
class DoctorCheck:
    name: str
    status: CheckStatus
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail}


@dataclass
class DoctorTarget:
    """What to check; None means not configured (its checks are skipped, with the reason)."""

    base_url: str | None = None
    token: str | None = None
    dsn: str | None = None
    prometheus_url: str | None = None
    prometheus_token: str | None = None
    backend_log: Path | None = None
    index_paths: list[Path] = field(default_factory=list)
    since_s: float = 300.0
    split: str | None = None
    until: datetime | None = None  # end of the after window (default: now)
    config: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None  # a report already built (the story passes its own)

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.prometheus_token) if s]


@dataclass
class DoctorResult:
    checks: list[DoctorCheck]

    @property
    def checked(self) -> bool:
        return any(c.status != "skip" for c in self.checks)

    @property
    def passed(self) -> bool:
        """No failing line, and something was checked: all skipped is not a pass."""
        return self.checked and all(c.status != "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "perfkit.doctor/1", "passed": self.passed, "checked": self.checked,
                "checks": [c.to_json() for c in self.checks]}


def _guard(name: str, target: DoctorTarget,
           body: Callable[[], tuple[CheckStatus, str]]) -> DoctorCheck:
    """A check that raises becomes a failed line with the reason (secrets scrubbed)."""
    try:
        status, detail = body()
    except PerfkitError as exc:
        status, detail = "fail", str(exc)
    except Exception as exc:
        status, detail = "fail", f"{type(exc).__name__}: {exc}"
    return DoctorCheck(name, status, redact_text(detail, target.secrets()))


def check_backend(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.base_url:
        return "skip", "no backend URL configured (PERFKIT_BASE_URL, perfkit.yaml, demo up)"
    url = target.base_url.rstrip("/") + ("/auth/me" if target.token else "/")
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as resp:
            return "pass", f"{redact_url(url)} answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            return "pass", f"{redact_url(url)} answered HTTP {exc.code}"
        return "fail", f"{redact_url(url)} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return "fail", f"{redact_url(url)} is unreachable: {getattr(exc, 'reason', exc)}"


def check_cache_logs(target: DoctorTarget) -> tuple[CheckStatus, str]:
    from perfkit.logs import count_cache_lines, read_lines

    if target.backend_log is None:
        return "skip", "no backend log configured (PERFKIT_BACKEND_LOG or demo up)"
    if not target.backend_log.is_file():
        return "fail", f"backend log {target.backend_log} does not exist"
    stats = count_cache_lines(read_lines(target.backend_log))
    total = stats.total
    if total.hits == 0:
        return "fail", (f"no `Cache HIT` line in {target.backend_log} ({total.misses} MISS): "
                        "is the cache on, and traffic repeating keys?")
    parts = ", ".join(f"{name} {s.hit_ratio * 100:.0f}%" for name, s in
                      sorted(stats.families.items()))
    return "pass", f"{total.hits} HIT / {total.misses} MISS ({parts})"


def _verify(target: DoctorTarget, explain: bool) -> Any:
    from perfkit.db.connect import connect
    from perfkit.db.parse import load_statements
    from perfkit.db.verify import verify_indexes

    statements = load_statements(target.index_paths)
    with connect(target.dsn) as conn:
        return verify_indexes(conn, statements, explain=explain)


def check_indexes_valid(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.dsn:
        return "skip", "no database configured (PERFKIT_DSN, DATABASE_URL, demo up)"
    report = _verify(target, explain=False)
    bad = [f"{c.name} {c.state.value}" for c in report.indexes if c.state.value != "ok"]
    if bad:
        return "fail", "; ".join(bad) + " (run `perfkit apply-indexes`)"
    return "pass", ", ".join(c.name for c in report.indexes) + " present and valid"


def check_indexes_used(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.dsn:
        return "skip", "no database configured"
    report = _verify(target, explain=True)
    absent = [f"{c.name} ({c.state.value})" for c in report.indexes
              if c.state.value not in ("ok", "unused")]
    if absent:
        return "fail", f"cannot be used: {', '.join(absent)}"
    declared = [c for c in report.indexes if c.used_by_query is not None]
    if not declared:
        return "skip", "no index declares its query (`-- perfkit:query`)"
    unused = [c.name for c in declared if not c.used_by_query]
    if unused:
        return "fail", f"not used by their declared query: {', '.join(unused)}"
    return "pass", f"{len(declared)} declared queries use their index"


def _report(target: DoctorTarget) -> dict[str, Any]:
    if target.report is None:
        from perfkit.prom import PromClient, ReportOptions, build_report

        assert target.prometheus_url
        client = PromClient(target.prometheus_url, token=target.prometheus_token)
        target.report = build_report(client, ReportOptions(
            since_s=target.since_s, split=target.split, now=target.until), target.config)
    return target.report


def check_prometheus(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.prometheus_url and target.report is None:
        return "skip", "no Prometheus configured (PROMETHEUS_URL, perfkit.yaml, demo up)"
    report = _report(target)
    if not report.get("profile"):
        return "fail", f"no request metrics found at {report.get('prometheus_url')}"
    routes = [r for r in report["routes"] if r.get("after")]
    if not routes:
        return "fail", "request metrics exist but no requests in the last window"
    return "pass", (f"{report.get('prometheus_url')}: {report['profile']} metrics, "
                    f"{len(routes)} routes with traffic")


def _route(report: dict[str, Any], path: str) -> dict[str, Any] | None:
    return next((r for r in report.get("routes", []) if r["route"] == path), None)


def check_auth_me(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.prometheus_url and target.report is None:
        return "skip", "no Prometheus configured"
    route = _route(_report(target), "/auth/me")
    mean = ((route or {}).get("after") or {}).get("mean_ms")
    if mean is None:
        return "fail", "no /auth/me requests in the after window"
    status: CheckStatus = "pass" if mean < AUTH_ME_TARGET_MS else "fail"
    return status, f"/auth/me mean {mean:.1f} ms (target < {AUTH_ME_TARGET_MS:.0f} ms)"


def check_routes_faster(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.prometheus_url and target.report is None:
        return "skip", "no Prometheus configured"
    report = _report(target)
    both = [r for r in report["routes"] if r.get("before") and r.get("after")
            and r["change_pct"].get("mean") is not None]
    if not both:
        return "skip", "no route has traffic in both windows (nothing to compare)"
    slower = [f"{r['route']} {r['change_pct']['mean']:+.0f}%" for r in both
              if r["change_pct"]["mean"] > SLOWER_MARGIN_PCT]
    if slower:
        return "fail", (f"slower than before by more than {SLOWER_MARGIN_PCT:.0f}%: "
                        + ", ".join(slower))
    if not any(r["change_pct"]["mean"] < 0 for r in both):
        return "fail", "no route is faster than before"
    changes = ", ".join(f"{r['route']} {r['change_pct']['mean']:+.0f}%" for r in both)
    return "pass", f"{changes} (a route slower by up to {SLOWER_MARGIN_PCT:.0f}% is noise)"


def check_5xx(target: DoctorTarget) -> tuple[CheckStatus, str]:
    if not target.prometheus_url and target.report is None:
        return "skip", "no Prometheus configured"
    after = (_report(target).get("global") or {}).get("after") or {}
    ratio = after.get("ratio_5xx")
    if ratio is None:
        return "fail", "no 5xx ratio: no requests in the after window"
    status: CheckStatus = "pass" if ratio <= MAX_5XX_RATIO else "fail"
    return status, f"5xx {ratio * 100:.2f}% of {after.get('count', 0):.0f} requests"


CHECKS: list[tuple[str, Callable[[DoctorTarget], tuple[CheckStatus, str]]]] = [
    ("backend answers", check_backend),
    ("logs show Cache HIT / MISS", check_cache_logs),
    ("indexes present and valid", check_indexes_valid),
    ("indexes used by their queries", check_indexes_used),
    ("Prometheus has request metrics", check_prometheus),
    ("/auth/me mean < 200 ms after the change", check_auth_me),
    ("other routes faster than before", check_routes_faster),
    ("5xx near 0%", check_5xx),
]


def run_doctor(target: DoctorTarget,
               on_check: Callable[[DoctorCheck], None] | None = None) -> DoctorResult:
    checks = []
    for name, body in CHECKS:
        check = _guard(name, target, lambda body=body: body(target))  # type: ignore[misc]
        checks.append(check)
        if on_check is not None:
            on_check(check)
    return DoctorResult(checks)
