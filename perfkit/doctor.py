"""`perfkit doctor`: a checklist of the system, each box checked for real.

Generic boxes hold on any backend: it answers; the indexes of the given migrations are
present, valid and used; Prometheus has request metrics; 5xx near 0%; no route slower than
before beyond noise (the report's verdict: the rule of compare and the gate); a cache, when
the log shows one, hits. `checks:` in perfkit.yaml adds limits per route; the demo stack's
default is the runbook's list (/auth/me mean < 200 ms). A box whose system is not configured,
or that has too few samples to judge, is skipped with the reason; nothing checked is not a
pass.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfkit import stats
from perfkit.cachestats.logs import choose_pattern, count_cache_lines, read_lines
from perfkit.config import Target
from perfkit.db.migration_reader import load_statements
from perfkit.db.retry import once
from perfkit.db.verify import IndexState, verify_indexes
from perfkit.errors import PerfkitError, UsageError
from perfkit.prom import PromClient, ReportOptions, collect_report
from perfkit.prom.windows import latest_event
from perfkit.redact import redact_text, redact_url
from perfkit.thresholds import Condition, parse_condition

if TYPE_CHECKING:
    from perfkit.prom.report import Report

MAX_5XX_RATIO = 0.01
RULE_METRICS = {"mean": "mean_ms", "p99": "p99_ms", "error_ratio": "ratio_5xx"}
RULE_KEYS = {"route", "window", "not_slower", *RULE_METRICS}


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Box:
    name: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status.value, "detail": self.detail}


@dataclass(frozen=True)
class RouteRule:
    """A limit on one route's figure in one window (`checks:` in perfkit.yaml)."""

    route: str
    metric: str  # mean | p99 | error_ratio
    condition: Condition
    window: str = "after"

    @property
    def name(self) -> str:
        return f"{self.route} {self.metric} {self.condition.text} ({self.window} window)"


@dataclass(frozen=True)
class NotSlower:
    """No route (or this one) slower than before beyond noise."""

    route: str = "*"


Rule = RouteRule | NotSlower
DEMO_RULES: tuple[Rule, ...] = (
    RouteRule("/auth/me", "mean", parse_condition("< 200ms", "mean", "demo"), "after"),
    NotSlower())


def load_rules(config: Mapping[str, Any], source: str) -> list[Rule]:
    """`checks:` of perfkit.yaml as typed rules; a wrong entry names its place."""
    raw = config.get("checks") or []
    if not isinstance(raw, list):
        raise UsageError(f"{source}: `checks` must be a list",
                         hint='e.g. checks: [{route: /auth/me, mean: "< 200ms"}]')
    rules: list[Rule] = []
    for i, entry in enumerate(raw):
        where = f"{source}: checks[{i}]"
        if not isinstance(entry, Mapping) or not entry.get("route"):
            raise UsageError(f"{where}: each check needs a `route`")
        unknown = set(entry) - RULE_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown key {sorted(unknown)[0]!r}",
                             hint=f"known: {', '.join(sorted(RULE_KEYS))}")
        window = str(entry.get("window", "after"))
        if window not in ("after", "before"):
            raise UsageError(f"{where}: window must be after or before, not {window!r}")
        if entry.get("not_slower"):
            rules.append(NotSlower(str(entry["route"])))
        rules += [RouteRule(str(entry["route"]), metric, parse_condition(
            str(entry[metric]), metric, f"{where}.{metric}"), window)
            for metric in RULE_METRICS if metric in entry]
    return rules


@dataclass
class DoctorTarget:
    """What to check; None means not configured (its boxes are skipped, with the reason)."""

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
    rules: list[Rule] = field(default_factory=list)
    report: Report | None = None  # a report already built (the story passes its own)
    on_retry: Callable[[str], None] | None = None  # a Prometheus query sent again, said
    report_error: PerfkitError | None = None  # Prometheus failed: every box it feeds says so

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.prometheus_token) if s]


@dataclass
class DoctorResult:
    checks: list[Box]

    @property
    def checked(self) -> bool:
        return any(c.status is not Status.SKIP for c in self.checks)

    @property
    def passed(self) -> bool:
        """No failing line, and something was checked: all skipped is not a pass."""
        return self.checked and all(c.status is not Status.FAIL for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "perfkit.doctor/1", "passed": self.passed, "checked": self.checked,
                "checks": [c.to_json() for c in self.checks]}


Outcome = tuple[Status, str]


def _guard(name: str, target: DoctorTarget, body: Callable[[], Outcome]) -> Box:
    """A check that raises becomes a failed line with the reason (secrets scrubbed)."""
    try:
        status, detail = body()
    except PerfkitError as exc:
        status, detail = Status.FAIL, str(exc)
    except Exception as exc:
        status, detail = Status.FAIL, f"{type(exc).__name__}: {exc}"
    return Box(name, status, redact_text(detail, target.secrets()))


# -- the generic boxes -------------------------------------------------------------------------
def check_backend(target: DoctorTarget) -> Outcome:
    if not target.base_url:
        return Status.SKIP, "no backend URL configured (PERFKIT_BASE_URL, perfkit.yaml, demo up)"
    url = target.base_url.rstrip("/") + "/"
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as resp:
            return Status.PASS, f"GET {redact_url(url)} answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        status = Status.PASS if exc.code < 500 else Status.FAIL
        return status, f"GET {redact_url(url)} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return Status.FAIL, f"{redact_url(url)} is unreachable: {getattr(exc, 'reason', exc)}"


def check_cache_logs(target: DoctorTarget) -> Outcome:
    """The log's cache lines, read with perfkit.yaml's cache pattern (`cache: preset:`, or
    its only preset), else the runbook's `Cache HIT:` line; no such line: no cache, a skip."""
    if target.backend_log is None:
        return Status.SKIP, "no backend log configured (PERFKIT_BACKEND_LOG or demo up)"
    if not target.backend_log.is_file():
        return Status.FAIL, f"backend log {target.backend_log} does not exist"
    pattern = choose_pattern(target.config)
    stats_ = count_cache_lines(read_lines(target.backend_log), pattern)
    total = stats_.total
    if total.lookups == 0:
        return Status.SKIP, (f"no {pattern.describes} in {target.backend_log}: no cache to "
                             "check")
    if total.hits == 0:
        return Status.FAIL, (f"{total.misses} misses and no hit in {target.backend_log} "
                             f"({pattern.describes}): the cache never serves (TTL too short, "
                             "or keys never repeat?)")
    parts = ", ".join(f"{name} {s.hit_ratio * 100:.0f}%" for name, s in
                      sorted(stats_.families.items()))
    return Status.PASS, f"{total.hits} hits / {total.misses} misses in the log ({parts})"


def _verify(target: DoctorTarget, explain: bool) -> tuple[Any, str]:
    """The indexes' report, and what the line adds when its connection was lost once and
    the (read-only) check retried on a new one; a second loss fails the line (db/retry.py)."""
    statements = load_statements(target.index_paths)
    retried: list[str] = []
    doing = "running the indexes' declared queries" if explain else "reading the indexes"
    report = once(target.dsn, lambda conn: verify_indexes(conn, statements, explain=explain),
                  doing=doing, say=retried.append)
    return report, " (retried once: the first connection was lost)" if retried else ""


def _index_skip(target: DoctorTarget) -> Outcome | None:
    if not target.dsn:
        return Status.SKIP, "no database configured (PERFKIT_DSN, DATABASE_URL, demo up)"
    if not target.index_paths:
        return Status.SKIP, ("no index migrations to check (pass them: `perfkit doctor "
                             "migrations/`, or keep them in ./indexes/)")
    return None


def check_indexes_valid(target: DoctorTarget) -> Outcome:
    skip = _index_skip(target)
    if skip:
        return skip
    report, retried = _verify(target, explain=False)
    bad = [f"{c.name} {c.state.value}" for c in report.indexes if c.state is not IndexState.OK]
    if bad:
        return Status.FAIL, "; ".join(bad) + " (run `perfkit apply-indexes`)" + retried
    return Status.PASS, ", ".join(c.name for c in report.indexes) + " present and valid" + (
        retried)


def check_indexes_used(target: DoctorTarget) -> Outcome:
    skip = _index_skip(target)
    if skip:
        return skip
    report, retried = _verify(target, explain=True)
    absent = [f"{c.name} ({c.state.value})" for c in report.indexes
              if c.state not in (IndexState.OK, IndexState.UNUSED)]
    if absent:
        return Status.FAIL, f"cannot be used: {', '.join(absent)}{retried}"
    declared = [c for c in report.indexes if c.used_by_query is not None]
    if not declared:
        return Status.SKIP, "no index declares its query (`-- perfkit:query`)"
    unused = [c.name for c in declared if not c.used_by_query]
    if unused:
        return Status.FAIL, f"not used by their declared query: {', '.join(unused)}{retried}"
    return Status.PASS, f"{len(declared)} declared queries use their index (EXPLAIN){retried}"


def _split(target: DoctorTarget) -> str:
    """Where doctor's windows split: --split, else the latest change event of this target
    (a mark made for another backend, database or Prometheus never counts), else right
    before the after window."""
    if target.split:
        return target.split
    now = (target.until or datetime.now(UTC)).astimezone(UTC)
    ours = Target.of(base_url=target.base_url, dsn=target.dsn,
                     prometheus_url=target.prometheus_url)
    event = latest_event(target.since_s, now, target=ours)
    return event.id if event is not None else f"-{target.since_s:g}s"


def _report(target: DoctorTarget) -> Report | None:
    """The report every Prometheus box reads, built once; when Prometheus failed it (after
    its one retry), each of those boxes fails with that one reason, without asking again."""
    if target.report_error is not None:
        raise target.report_error
    if target.report is None and target.prometheus_url:
        client = PromClient(target.prometheus_url, token=target.prometheus_token,
                            on_retry=target.on_retry)
        try:
            target.report = collect_report(client, ReportOptions(  # verdicts only: no series
                since_s=target.since_s, split=_split(target), now=target.until, series=False),
                target.config)
        except PerfkitError as exc:
            target.report_error = exc
            raise
    return target.report


NO_PROMETHEUS: Outcome = (Status.SKIP, "no Prometheus configured (PROMETHEUS_URL, perfkit.yaml, "
                                       "demo up)")


def check_prometheus(target: DoctorTarget) -> Outcome:
    report = _report(target)
    if report is None:
        return NO_PROMETHEUS
    if not report.profile:
        return Status.FAIL, f"no request metrics found at {report.prometheus_url}"
    routes = [r for r in report.routes if r.after and not r.unmatched]
    if not routes:
        return Status.FAIL, "request metrics exist but no requests in the after window"
    return Status.PASS, (f"{report.prometheus_url}: {report.profile} metrics, {len(routes)} "
                         "routes with traffic in the after window")


def check_5xx(target: DoctorTarget) -> Outcome:
    report = _report(target)
    if report is None:
        return NO_PROMETHEUS
    after = report.overall.after
    if after is None or after.ratio_5xx is None or not after.count:
        return Status.SKIP, "no requests in the after window: no 5xx ratio to check"
    status = Status.PASS if after.ratio_5xx <= MAX_5XX_RATIO else Status.FAIL
    return status, (f"5xx {after.ratio_5xx * 100:.2f}% of {after.count} requests in the after "
                    f"window (limit {MAX_5XX_RATIO:.0%})")


def _matches(pattern: str, route: str) -> bool:
    return pattern in ("*", route)


def check_not_slower(target: DoctorTarget, rule: NotSlower) -> Outcome:
    """The report's verdicts: slower = significant after Holm AND beyond its threshold."""
    report = _report(target)
    if report is None:
        return NO_PROMETHEUS
    routes = [r for r in report.routes if _matches(rule.route, r.route)]
    judged = [r for r in routes if r.verdict is not None]
    unjudged = [f"{r.route} ({r.judgement.reason})" for r in routes if r.verdict is None]
    threshold = f"{report.rule.min_change_pct:g}%"
    if not judged:
        why = "; ".join(unjudged) or "no such route in either window"
        return Status.SKIP, f"nothing to judge: {why}"
    slower = [f"{r.route} {r.change_pct['mean'] or 0:+.0f}%" for r in judged
              if r.verdict is stats.Verdict.SLOWER]
    if slower:
        return Status.FAIL, (f"slower beyond noise and the {threshold} threshold: "
                             + ", ".join(slower))
    changes = ", ".join(f"{r.route} {r.change_pct['mean'] or 0:+.0f}% ({r.verdict})"
                        for r in judged if r.verdict is not None)
    skipped = f"; not judged: {', '.join(unjudged)}" if unjudged else ""
    return Status.PASS, f"{changes} (slower = beyond noise and {threshold}){skipped}"


def check_route_rule(target: DoctorTarget, rule: RouteRule) -> Outcome:
    report = _report(target)
    if report is None:
        return NO_PROMETHEUS
    route = report.route(rule.route)
    figures = None if route is None else (route.after if rule.window == "after"
                                          else route.before)
    if figures is None or not figures.count:
        return Status.FAIL, f"no {rule.route} requests in the {rule.window} window"
    if figures.count < stats.MIN_SAMPLES:
        return Status.SKIP, (f"skipped: {figures.count} {rule.route} requests in the "
                             f"{rule.window} window (need {stats.MIN_SAMPLES})")
    value = getattr(figures, RULE_METRICS[rule.metric])
    if value is None:
        return Status.FAIL, f"no {rule.metric} for {rule.route} in the {rule.window} window"
    shown = value * (100 if rule.metric == "error_ratio" else 1)
    unit = "%" if rule.metric == "error_ratio" else " ms"
    held = rule.condition.holds(value)
    return (Status.PASS if held else Status.FAIL,
            f"{rule.route} {rule.metric} {shown:.2f}{unit} ({'meets' if held else 'breaks'} "
            f"{rule.condition.text}; {figures.count} requests)")


GENERIC: tuple[tuple[str, Callable[[DoctorTarget], Outcome]], ...] = (
    ("backend answers", check_backend),
    ("cache serves hits (backend log)", check_cache_logs),
    ("indexes present and valid", check_indexes_valid),
    ("indexes used by their queries", check_indexes_used),
    ("Prometheus has request metrics", check_prometheus),
    ("5xx near 0%", check_5xx),
)


def boxes(target: DoctorTarget) -> list[tuple[str, Callable[[], Outcome]]]:
    """The checklist: the generic boxes, then the rules (`checks:` or the demo's default);
    "no route slower than before" is always on the list."""
    out = [(name, (lambda body=body: body(target))) for name, body in GENERIC]
    rules = list(target.rules)
    if not any(isinstance(r, NotSlower) and r.route == "*" for r in rules):
        rules.append(NotSlower())
    for rule in rules:
        if isinstance(rule, NotSlower):
            name = ("no route slower than before" if rule.route == "*"
                    else f"{rule.route} not slower than before")
            out.append((name, lambda rule=rule: check_not_slower(target, rule)))
        else:
            out.append((rule.name, lambda rule=rule: check_route_rule(target, rule)))
    return out  # type: ignore[return-value]


def run_doctor(target: DoctorTarget, on_check: Callable[[Box], None] | None = None
               ) -> DoctorResult:
    checks = []
    for name, body in boxes(target):
        check = _guard(name, target, body)
        checks.append(check)
        if on_check is not None:
            on_check(check)
    return DoctorResult(checks)
