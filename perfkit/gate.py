"""The CI gate: absolute thresholds (k6-like `p99 < 200ms`) and a statistical baseline check.

Pure functions over finished records. Nothing passes silently: a threshold whose route or
metric has no samples, or whose value is NaN, is an error check, never a pass. A regression
against the baseline is `perfkit compare`'s "slower" with the margin as its threshold:
significant after Holm's correction AND the whole confidence interval beyond the margin.
The thresholds themselves are read in thresholds.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from perfkit import stats
from perfkit.bench.capacity import Change, capacity_change
from perfkit.bench.compare import ComparedRow, Comparison, Method, compare_runs
from perfkit.bench.record import Phase, RouteRecord, Run
from perfkit.bench.routesql import RouteSql
from perfkit.bench.scenario import METHODS
from perfkit.errors import UsageError
from perfkit.prom.record import ReportRecord, RouteFigures
from perfkit.thresholds import (
    DB_METRICS,
    LATENCY_METRICS,
    REPORT_METRICS,
    RecordKind,
    Threshold,
    matches,
)
from perfkit.units import fmt_p_equals, fmt_value

DEFAULT_MAX_REGRESSION_PCT = stats.MIN_CHANGE_PCT  # benchmarks/gate_power.py: catches +15%
MIN_ERROR_RISE = 0.01  # an error ratio may rise by one point before it can fail the gate
#: Statements per request a route may gain over its baseline: an N+1 adds one per row, one
#: more query adds 1, while caches move the count by fractions (benchmarks/n_plus_one.py).
DEFAULT_MAX_CALLS_RISE = 0.5


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # no data where a check needed some: never a pass
    INCONCLUSIVE = "inconclusive"  # too few samples; a failure only with --strict


@dataclass(frozen=True)
class Check:
    route: str
    check: str
    limit: str
    value: float | None
    status: Status
    detail: str
    ci_pct: tuple[float, float] | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "check": self.check, "limit": self.limit,
                "value": self.value, "passed": self.passed, "status": self.status.value,
                "detail": self.detail, "ci_pct": list(self.ci_pct) if self.ci_pct else None}


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # thresholds for the other record kind
    method: str | None = None  # how the baseline comparison judged: "runs" or "requests"
    notes: list[str] = field(default_factory=list)  # the comparison's method, in words

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status in (Status.FAIL, Status.ERROR)]

    @property
    def inconclusive(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.INCONCLUSIVE]

    @property
    def passed(self) -> bool:
        return not self.failed

    def exit_code(self, *, strict: bool = False) -> int:
        """0 pass, 1 fail, 4 inconclusive under --strict."""
        if self.failed:
            return 1
        return 4 if strict and self.inconclusive else 0

    def headline(self, *, strict: bool = False) -> str:
        if self.failed:
            return f"FAILED ({len(self.failed)} of {len(self.checks)} checks)"
        if strict and self.inconclusive:
            return f"INCONCLUSIVE ({len(self.inconclusive)} of {len(self.checks)} checks)"
        return "PASSED"

    def to_json(self) -> dict[str, Any]:
        return {"schema": "perfkit.gate/1", "passed": self.passed,
                "checks": [c.to_json() for c in self.checks], "skipped": self.skipped,
                "method": self.method, "notes": self.notes}


def _run_value(record: RouteRecord, metric: str) -> tuple[float | None, str | None]:
    """(value, None) or (None, why there is no value)."""
    if metric == "count":
        return float(record.count), None
    if metric == "error_ratio":
        total = record.count + record.error_count
        if total == 0:
            return None, "no requests"
        return record.error_count / total, None
    if record.count == 0:
        return None, "no successful samples"
    value = stats.summary_ms(record.corrected)[metric]
    if value is None or math.isnan(value):
        return None, "value is NaN"
    return float(value), None


def _judge(route: str, name: str, threshold: Threshold, value: float | None,
           why: str | None) -> Check:
    cond = threshold.condition
    if value is None:
        return Check(route, name, cond.text, None, Status.ERROR, f"no value: {why}")
    ok = cond.holds(value)
    return Check(route, name, cond.text, round(value, 6), Status.PASS if ok else Status.FAIL,
                 f"{fmt_value(value, cond.unit)} {'meets' if ok else 'breaks'} {cond.text}")


def _split(thresholds: list[Threshold], kind: RecordKind,
           what: str) -> tuple[list[Threshold], list[str]]:
    applying = [t for t in thresholds if t.applies_to(kind)]
    other = RecordKind.REPORT if kind is RecordKind.RUN else RecordKind.RUN
    skipped = [f"{t.route} {t.name_for(other)}: applies to "
               f"{'reports' if kind is RecordKind.RUN else 'bench runs'}, not to {what}"
               for t in thresholds if not t.applies_to(kind)]
    return applying, skipped


def _db_value(run: Run, route: str, metric: str) -> tuple[float | None, str | None]:
    """A route's SQL per request (db.calls, db.ms, db.share), or why there is none."""
    if run.db is None:
        return None, "no SQL figures in this run: bench with --dsn"
    figures = run.route_sql.get(route)
    if figures is None:
        return None, ("no SQL figures for this route: " + run.route_sql.detail
                      if run.route_sql.detail else "no SQL figures for this route")
    if metric == "db.calls":
        return figures.calls_per_request, None
    if metric == "db.ms":
        return figures.ms_per_request, None
    if figures.share_of_latency is None:
        return None, "no share: the route had no successful request"
    return figures.share_of_latency, None


def _db_check(run: Run, route: str, threshold: Threshold) -> Check:
    check = _judge(route, threshold.name_for(RecordKind.RUN), threshold,
                   *_db_value(run, route, threshold.metric))
    figures = run.route_sql.get(route)
    if threshold.metric != "db.calls" or figures is None or not figures.statements:
        return check
    top = max(figures.statements, key=lambda s: s.calls_per_request)
    return replace(check, detail=f"{check.detail} per request; most: "
                                 f"{top.calls_per_request:g} x {_short(top.query)}")


def _short(query: str, width: int = 90) -> str:
    """A statement on one line within `width` characters; a long SELECT list goes first, as
    the table and the filter say which statement it is."""
    line = " ".join(query.split())
    if len(line) > width:
        line = re.sub(r"^SELECT\s.+?\sFROM\s", "SELECT … FROM ", line, count=1,
                      flags=re.IGNORECASE)
    return line if len(line) <= width else line[:width - 1] + "…"


def _run_threshold_checks(run: Run, threshold: Threshold, min_samples: int) -> list[Check]:
    name, limit = threshold.name_for(RecordKind.RUN), threshold.condition.text
    routes = [r for r in run.routes() if matches(threshold.route, r)]
    if not routes:
        return [Check(threshold.route, name, limit, None, Status.ERROR,
                      "no samples: this route is not in the run")]
    if threshold.metric in DB_METRICS:
        return [_db_check(run, route, threshold) for route in routes]
    checks = []
    phase = Phase(threshold.phase_for(RecordKind.RUN))
    for route in routes:
        record = run.get(route, phase)
        if record is None:
            checks.append(Check(route, name, limit, None, Status.ERROR,
                                f"no samples: no {phase.value} phase"))
        elif threshold.metric in LATENCY_METRICS and 0 < record.count < min_samples:
            checks.append(Check(route, name, limit, None, Status.INCONCLUSIVE,
                                f"only {record.count} sample(s) in the {phase.value} phase; "
                                f"need {min_samples}"))
        else:
            checks.append(_judge(route, name, threshold, *_run_value(record, threshold.metric)))
    return checks


def check_thresholds_on_run(run: Run, thresholds: list[Threshold],
                            min_samples: int = stats.MIN_SAMPLES) -> GateResult:
    """A latency threshold needs `min_samples` samples: a p99 of 3 requests is no measurement
    (inconclusive, a failure only with --strict)."""
    applying, skipped = _split(thresholds, RecordKind.RUN, "a bench run")
    checks = [c for t in applying for c in _run_threshold_checks(run, t, min_samples)]
    return GateResult(checks, skipped)


def _report_threshold_checks(routes: Mapping[str, RouteFigures],
                             threshold: Threshold) -> list[Check]:
    name, limit = threshold.name_for(RecordKind.REPORT), threshold.condition.text
    matched = [r for r in routes if matches(threshold.route, r)]
    if not matched:
        return [Check(threshold.route, name, limit, None, Status.ERROR,
                      "no samples: this route is not in the report")]
    window_name = threshold.phase_for(RecordKind.REPORT)
    checks = []
    for route in matched:
        window = getattr(routes[route], window_name)
        raw = None if window is None else getattr(window, REPORT_METRICS[threshold.metric])
        count = 0 if window is None else window.count
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or (
                threshold.metric != "count" and not count):
            checks.append(Check(route, name, limit, None, Status.ERROR,
                                f"no samples in the {window_name} window"))
        else:
            checks.append(_judge(route, name, threshold, float(raw), None))
    return checks


def check_thresholds_on_report(report: ReportRecord,
                               thresholds: list[Threshold]) -> GateResult:
    """The same thresholds over a `perfkit.report/1` (Prometheus figures; route labels)."""
    applying, skipped = _split(thresholds, RecordKind.REPORT, "a Prometheus report")
    if not applying:
        raise UsageError("nothing to check in this report: no threshold applies to reports",
                         hint="give report checks such as `after.mean` or `p99` in thresholds:")
    routes = {r.route: r for r in report.routes}
    bench_only = [t for t in applying if _names_a_method(t.route) and t.route not in routes]
    skipped += [f"{t.route} {t.name_for(RecordKind.REPORT)}: a route with its method is a bench "
                f"run's; a report's routes are paths (write {t.route.split(' ', 1)[1]!r})"
                for t in bench_only]
    return GateResult([c for t in applying if t not in bench_only
                       for c in _report_threshold_checks(routes, t)], skipped)


def _names_a_method(route: str) -> bool:
    """`GET /auth/me` (a bench run's route), not `/auth/me` (a Prometheus route label)."""
    method, _, path = route.partition(" ")
    return bool(path) and method.upper() in METHODS


def _baseline_check(row: ComparedRow, margin_pct: float, alpha: float) -> Check:
    name, limit = f"{row.phase.value}.mean vs baseline", f"< +{margin_pct:g}%"
    if row.after.count == 0 and row.before.count > 0:
        return Check(row.route, name, limit, None, Status.ERROR,
                     f"no successful samples (errors: {row.after.errors or 'none'}); the "
                     f"baseline had {row.before.count}")
    if row.ci_pct is None:
        return Check(row.route, name, limit, None, Status.INCONCLUSIVE,
                     f"not judged (too few samples: {row.before.count} before, "
                     f"{row.after.count} after)")
    change = row.change_pct["mean"] or 0.0
    low, high = row.ci_pct
    figures = f"{change:+.1f}% [{low:+.1f}, {high:+.1f}], {fmt_p_equals(row.p_value)}"
    significant = row.p_value is not None and row.p_value < alpha
    if row.verdict is stats.Verdict.SLOWER:
        detail = f"slower by {figures}: beyond the {margin_pct:g}% margin"
    elif significant and low > 0:
        detail = f"slower by {figures}, but not surely beyond the {margin_pct:g}% margin"
    elif significant and high < 0:
        detail = f"faster by {figures}"
    else:
        detail = f"no significant change: {figures}"
    failed = row.verdict is stats.Verdict.SLOWER
    return Check(row.route, name, limit, round(change, 3), Status.FAIL if failed else
                 Status.PASS, detail, row.ci_pct)


def _vanished(run: Run, baseline: Run, limit: str) -> list[Check]:
    """A baseline route with no samples in this run is a failure, not a silence."""
    return [Check(route, "all.mean vs baseline", limit, None, Status.ERROR,
                  "in the baseline run but not in this run: no samples")
            for route in baseline.routes() if not run.phases(route)]


def compare_with_baseline(run: Run, baseline: Run, *, max_regression_pct: float,
                          alpha: float = stats.ALPHA, min_samples: int = stats.MIN_SAMPLES,
                          run_noise_pct: float | None = None) -> list[Check]:
    """Per route and phase, a regression check of the mean: compare's "slower" with the
    margin as the threshold; mixed cold+warm rows are not judged (their cold and warm are)."""
    return baseline_comparison(run, baseline, max_regression_pct=max_regression_pct,
                               alpha=alpha, min_samples=min_samples,
                               run_noise_pct=run_noise_pct)[0]


def baseline_comparison(run: Run, baseline: Run, *, max_regression_pct: float,
                        alpha: float = stats.ALPHA, min_samples: int = stats.MIN_SAMPLES,
                        run_noise_pct: float | None = None) -> tuple[list[Check], Comparison]:
    """The baseline checks, and the comparison they come from (its method and notes)."""
    if not math.isfinite(max_regression_pct) or max_regression_pct < 0:
        raise UsageError(f"--max-regression {max_regression_pct}% is not a margin",
                         hint="give a finite percentage >= 0, e.g. 10%")
    method = Method(alpha=alpha, min_change_pct=max_regression_pct, min_samples=min_samples,
                    run_noise_pct=run_noise_pct)
    comparison = compare_runs(baseline, run, method)
    checks = [_baseline_check(row, max_regression_pct, alpha) for row in comparison.rows
              if not row.mixed_phases]
    checks += [Check(u.route, f"{u.phase.value}.mean vs baseline", f"< +{max_regression_pct:g}%",
                     None, Status.INCONCLUSIVE, "not in the baseline run")
               for u in comparison.unmatched if u.only_in == "after"]
    checks += _vanished(run, baseline, f"< +{max_regression_pct:g}%")
    return checks + error_ratio_checks(run, baseline, alpha=alpha), comparison


def error_rise_p_value(errors_before: int, total_before: int, errors_after: int,
                       total_after: int) -> float | None:
    """One-sided two-proportion z-test that the error ratio rose (None without data)."""
    if total_before == 0 or total_after == 0:
        return None
    pooled = (errors_before + errors_after) / (total_before + total_after)
    variance = pooled * (1 - pooled) * (1 / total_before + 1 / total_after)
    if variance <= 0:
        return 1.0 if errors_after <= errors_before else 0.0
    z = (errors_after / total_after - errors_before / total_before) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def error_ratio_checks(run: Run, baseline: Run, *, alpha: float = stats.ALPHA,
                       min_rise: float = MIN_ERROR_RISE) -> list[Check]:
    """Per route: the error ratio may not rise significantly by more than `min_rise`."""
    rows = []
    for route in run.routes():
        now, base = run.get(route, Phase.ALL), baseline.get(route, Phase.ALL)
        if now is None or base is None:
            continue
        totals = (base.error_count, base.count + base.error_count,
                  now.error_count, now.count + now.error_count)
        rows.append((route, totals, error_rise_p_value(*totals)))
    adjusted = stats.holm([p for _, _, p in rows])
    checks = []
    for (route, (eb, tb, ea, ta), _), p_adj in zip(rows, adjusted, strict=True):
        before, after = (eb / tb if tb else 0.0), (ea / ta if ta else 0.0)
        rose = p_adj is not None and p_adj < alpha and after - before > min_rise
        checks.append(Check(route, "all.error_ratio vs baseline", f"< +{min_rise * 100:g} pt",
                            round(after, 6), Status.FAIL if rose else Status.PASS,
                            f"errors {before * 100:.2f}% -> {after * 100:.2f}%, "
                            f"{fmt_p_equals(p_adj)}"))
    return checks


def _added(before: RouteSql, after: RouteSql) -> str:
    """The statement whose calls per request rose most, matched by its text."""
    was = {s.query: s.calls_per_request for s in before.statements}
    rises = [(s.calls_per_request - was.get(s.query, 0.0), s) for s in after.statements]
    if not rises:
        return ""
    rise, top = max(rises, key=lambda r: r[0])
    if rise <= 0:
        return ""
    return (f"; most added: {_short(top.query)} {was.get(top.query, 0.0):g} -> "
            f"{top.calls_per_request:g} per request")


def calls_checks(run: Run, baseline: Run, *, max_rise: float = DEFAULT_MAX_CALLS_RISE
                 ) -> list[Check]:
    """Per route with SQL figures in the baseline: its statements per request may not rise by
    more than `max_rise`. Exact counts, no statistics: the N+1 check."""
    limit, checks = f"< +{max_rise:g} per request", []
    for before in baseline.route_sql.routes:
        after = run.route_sql.get(before.route)
        name = "db.calls vs baseline"
        if after is None:
            why = ("this run has no SQL figures (bench with --dsn)" if run.db is None else
                   f"this run has no SQL figures for it: {run.route_sql.detail}")
            checks.append(Check(before.route, name, limit, None, Status.INCONCLUSIVE, why))
            continue
        rise = after.calls_per_request - before.calls_per_request
        figures = (f"statements per request {before.calls_per_request:g} -> "
                   f"{after.calls_per_request:g} ({rise:+g})")
        failed = rise > max_rise
        checks.append(Check(before.route, name, limit, round(after.calls_per_request, 6),
                            Status.FAIL if failed else Status.PASS,
                            figures + (_added(before, after) if failed else "")))
    return checks


def capacity_checks(run: Run, baseline: Run, *, max_drop_pct: float) -> list[Check]:
    """bench --find-max on both sides: capacity may not drop beyond the margin. It fails only
    when this run's bracket lies below the baseline's held rate less the margin (brackets
    are 10% wide: a drop inside one is no measurement)."""
    if baseline.capacity is None:
        return []
    name, limit = "capacity vs baseline", f"> -{max_drop_pct:g}%"
    if run.capacity is None:
        return [Check("*", name, limit, None, Status.ERROR,
                      "the baseline has a capacity (--find-max), this run has none")]
    change, text = capacity_change(baseline.capacity, run.capacity)
    held = baseline.capacity.max_rate_per_s
    broke = run.capacity.broke_at_per_s
    if change is Change.UNKNOWN:
        return [Check("*", name, limit, None, Status.INCONCLUSIVE, text)]
    dropped = (held is not None and broke is not None
               and broke <= held * (1 - max_drop_pct / 100.0))
    return [Check("*", name, limit, run.capacity.max_rate_per_s,
                  Status.FAIL if dropped else Status.PASS, text)]


def run_gate(run: Run, *, thresholds: list[Threshold], baseline: Run | None = None,
             max_regression_pct: float = DEFAULT_MAX_REGRESSION_PCT, alpha: float = stats.ALPHA,
             min_samples: int = stats.MIN_SAMPLES, run_noise_pct: float | None = None,
             max_calls_rise: float = DEFAULT_MAX_CALLS_RISE) -> GateResult:
    result = check_thresholds_on_run(run, thresholds, min_samples)
    if not result.checks and baseline is None:
        raise UsageError("nothing to check: no threshold applies to a bench run and no baseline",
                         hint="add `thresholds:` to perfkit.yaml or pass --baseline BASE.json")
    if baseline is not None and run.capacity is not None and baseline.capacity is not None:
        result.checks += capacity_checks(run, baseline, max_drop_pct=max_regression_pct)
        result.checks += calls_checks(run, baseline, max_rise=max_calls_rise)
        result.notes.append("--find-max runs on both sides: judged by capacity; their tables "
                            "are steps at different rates, so their latencies are not compared")
    elif baseline is not None:
        checks, comparison = baseline_comparison(run, baseline,
                                                 max_regression_pct=max_regression_pct,
                                                 alpha=alpha, min_samples=min_samples,
                                                 run_noise_pct=run_noise_pct)
        result.checks += checks + calls_checks(run, baseline, max_rise=max_calls_rise)
        result.checks += capacity_checks(run, baseline, max_drop_pct=max_regression_pct)
        result.method, result.notes = comparison.basis.value, list(comparison.notes)
    return result


@dataclass(frozen=True)
class GateOptions:
    max_regression_pct: float = DEFAULT_MAX_REGRESSION_PCT
    alpha: float = stats.ALPHA
    min_samples: int = stats.MIN_SAMPLES
    run_noise_pct: float | None = None
    max_calls_rise: float = DEFAULT_MAX_CALLS_RISE


def gate_record(record: Run | ReportRecord, thresholds: list[Threshold],
                baseline: Run | None, options: GateOptions) -> GateResult:
    """The gate over whatever record it is: a bench run, or a report (thresholds only)."""
    if isinstance(record, ReportRecord):
        if baseline is not None:
            raise UsageError("--baseline compares bench runs; a report has no per-request data",
                             hint="gate the report with thresholds only")
        return check_thresholds_on_report(record, thresholds)
    return run_gate(record, thresholds=thresholds,
                    baseline=baseline, max_regression_pct=options.max_regression_pct,
                    alpha=options.alpha, min_samples=options.min_samples,
                    run_noise_pct=options.run_noise_pct,
                    max_calls_rise=options.max_calls_rise)
