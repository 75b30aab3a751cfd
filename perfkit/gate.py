"""The CI gate: absolute thresholds (k6-like `p99 < 200ms`) and a statistical baseline check.

Pure functions over finished records. Nothing passes silently: a threshold whose route or
metric has no samples, or whose value is NaN, is an error check, never a pass. A regression
against the baseline fails only when the rank test is significant after Holm's correction
AND the whole confidence interval of the change lies beyond the allowed margin.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

from perfkit import stats
from perfkit.bench.record import RouteRecord, Run
from perfkit.errors import UsageError

Status = Literal["pass", "fail", "error", "inconclusive"]

_CONDITION = re.compile(r"^\s*(<=|<|>=|>|==)\s*(-?[0-9]*\.?[0-9]+)\s*(ms|s|us|µs|%)?\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
LATENCY_METRICS = ("mean", "p50", "p90", "p99", "p999", "max")
RUN_METRICS = (*LATENCY_METRICS, "error_ratio", "count")
RUN_PHASES = ("all", "cold", "warm")
REPORT_METRICS = {"mean": "mean_ms", "p99": "p99_ms", "error_ratio": "ratio_5xx",
                  "ratio_5xx": "ratio_5xx", "rps": "rps", "count": "count"}
REPORT_PHASES = ("after", "before")


@dataclass(frozen=True)
class Condition:
    op: str
    limit: float
    unit: str  # "ms", "ratio" or "" (a plain number)
    text: str

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)


@dataclass(frozen=True)
class Threshold:
    route: str    # "GET /auth/me", "/auth/me" (any method) or "*"
    phase: str
    metric: str
    condition: Condition

    @property
    def name(self) -> str:
        return f"{self.phase}.{self.metric} {self.condition.text}"


@dataclass
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
        return self.status == "pass"

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "check": self.check, "limit": self.limit,
                "value": self.value, "passed": self.passed, "status": self.status,
                "detail": self.detail, "ci_pct": list(self.ci_pct) if self.ci_pct else None}


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("fail", "error")]

    @property
    def inconclusive(self) -> list[Check]:
        return [c for c in self.checks if c.status == "inconclusive"]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {"schema": "perfkit.gate/1", "passed": self.passed,
                "checks": [c.to_json() for c in self.checks]}


def parse_condition(text: str, metric: str, where: str) -> Condition:
    """`< 200ms`, `<= 1.5s`, `< 1%`, `> 100`: latencies in ms, ratios as fractions."""
    match = _CONDITION.match(str(text))
    if match is None:
        raise UsageError(f"{where}: cannot read condition {text!r}",
                         hint='write it like "< 200ms", "<= 1s", "< 1%" or "> 100"')
    op, number, unit = match.group(1), float(match.group(2)), match.group(3) or ""
    if metric in LATENCY_METRICS:
        if unit == "%":
            raise UsageError(f"{where}: {metric} is a latency; give ms or s, not %")
        factor = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}[unit]
        return Condition(op, number * factor, "ms", str(text).strip())
    if metric in ("error_ratio", "ratio_5xx"):
        if unit not in ("", "%"):
            raise UsageError(f"{where}: {metric} is a ratio; give a % or a fraction")
        return Condition(op, number / 100.0 if unit == "%" else number, "ratio",
                         str(text).strip())
    if unit:
        raise UsageError(f"{where}: {metric} is a plain number; drop the unit {unit!r}")
    return Condition(op, number, "", str(text).strip())


def load_thresholds(config: Mapping[str, Any], source: str, *,
                    for_report: bool = False) -> list[Threshold]:
    """Thresholds from perfkit.yaml's `thresholds:` mapping (route -> {metric: condition})."""
    raw = config.get("thresholds") or {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"{source}: `thresholds` must map routes to checks",
                         hint='e.g. thresholds: {"GET /auth/me": {warm.p99: "< 200ms"}}')
    phases = REPORT_PHASES if for_report else RUN_PHASES
    metrics = tuple(REPORT_METRICS) if for_report else RUN_METRICS
    out: list[Threshold] = []
    for route, checks in raw.items():
        if not isinstance(checks, Mapping):
            raise UsageError(f"{source}: thresholds[{route!r}] must map metrics to conditions")
        for key, condition in checks.items():
            where = f"{source}: thresholds[{route!r}][{key!r}]"
            phase, _, metric = str(key).rpartition(".")
            phase = phase or phases[0]
            if phase not in phases or metric not in metrics:
                raise UsageError(f"{where}: unknown check {key!r}",
                                 hint=f"use [{'|'.join(phases)}.]{'|'.join(metrics)}")
            out.append(Threshold(str(route), phase, metric,
                                 parse_condition(str(condition), metric, where)))
    return out


def _matches(pattern: str, route: str) -> bool:
    if pattern == "*":
        return True
    if pattern == route:
        return True
    return " " not in pattern and route.split(" ", 1)[-1] == pattern


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


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.1f}ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:g}"


def check_thresholds_on_run(run: Run, thresholds: list[Threshold],
                            min_samples: int = 20) -> list[Check]:
    """A latency threshold needs `min_samples` samples: a p99 of 3 requests is no measurement
    (inconclusive, a failure only with --strict)."""
    checks: list[Check] = []
    for threshold in thresholds:
        routes = [r for r in run.routes() if _matches(threshold.route, r)]
        if not routes:
            checks.append(Check(threshold.route, threshold.name, threshold.condition.text, None,
                                "error", "no samples: this route is not in the run"))
            continue
        for route in routes:
            record = run.get(route, threshold.phase)
            if record is None:
                checks.append(Check(route, threshold.name, threshold.condition.text, None,
                                    "error", f"no samples: no {threshold.phase} phase"))
                continue
            if threshold.metric in LATENCY_METRICS and 0 < record.count < min_samples:
                checks.append(Check(route, threshold.name, threshold.condition.text, None,
                                    "inconclusive", f"only {record.count} sample(s) in the "
                                    f"{threshold.phase} phase; need {min_samples}"))
                continue
            checks.append(_judge(route, threshold, *_run_value(record, threshold.metric)))
    return checks


def check_thresholds_on_report(report: Mapping[str, Any],
                               thresholds: list[Threshold]) -> list[Check]:
    """The same thresholds over a `perfkit.report/1` (Prometheus figures; route labels)."""
    routes = {str(r["route"]): r for r in report.get("routes") or []}
    checks: list[Check] = []
    for threshold in thresholds:
        matched = [r for r in routes if _matches(threshold.route, r)]
        if not matched:
            checks.append(Check(threshold.route, threshold.name, threshold.condition.text, None,
                                "error", "no samples: this route is not in the report"))
            continue
        for route in matched:
            window = routes[route].get(threshold.phase) or {}
            raw = window.get(REPORT_METRICS[threshold.metric])
            count = window.get("count") or 0
            if raw is None or (isinstance(raw, float) and math.isnan(raw)) or (
                    threshold.metric != "count" and not count):
                checks.append(Check(route, threshold.name, threshold.condition.text, None,
                                    "error", f"no samples in the {threshold.phase} window"))
                continue
            checks.append(_judge(route, threshold, float(raw), None))
    return checks


def _judge(route: str, threshold: Threshold, value: float | None, why: str | None) -> Check:
    cond = threshold.condition
    if value is None:
        return Check(route, threshold.name, cond.text, None, "error", f"no value: {why}")
    ok = cond.holds(value)
    shown = _format(value, cond.unit)
    return Check(route, threshold.name, cond.text, round(value, 6), "pass" if ok else "fail",
                 f"{shown} {'meets' if ok else 'breaks'} {cond.text}")


def widen_for_run_noise(ci: tuple[float, float, float], run_noise_pct: float,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """Add run-to-run noise (sd of a run's mean, in %) to a change interval, in quadrature
    on the log scale: requests within one run are not independent of the run they are in."""
    if run_noise_pct <= 0:
        return ci
    change, low, high = ci
    center = math.log1p(change / 100)
    half = (math.log1p(high / 100) - math.log1p(low / 100)) / 2
    noise = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(2) * math.log1p(
        run_noise_pct / 100)  # two runs, each with its own noise
    wide = math.sqrt(half ** 2 + noise ** 2)
    return (change, round(math.expm1(center - wide) * 100, 3),
            round(math.expm1(center + wide) * 100, 3))


def compare_with_baseline(run: Run, baseline: Run, *, max_regression_pct: float,
                          alpha: float = 0.05, min_samples: int = 20,
                          confidence: float = 0.95, run_noise_pct: float = 0.0) -> list[Check]:
    """Per route and phase, a regression check of the mean: significant after Holm AND the
    interval of the change entirely above the allowed margin. Holm's family is the
    comparisons with enough samples; `run_noise_pct` widens intervals by run-to-run noise."""
    if not math.isfinite(max_regression_pct) or max_regression_pct < 0:
        raise UsageError(f"--max-regression {max_regression_pct}% is not a margin",
                         hint="give a finite percentage >= 0, e.g. 10%")
    pairs: list[tuple[str, str, RouteRecord, RouteRecord]] = []
    missing: list[Check] = []
    limit = f"< +{max_regression_pct:g}%"
    for route in baseline.routes():  # a route that vanished is a failure, not a silence
        if run.get(route, "all") is None and not any(run.get(route, p) for p in RUN_PHASES):
            missing.append(Check(route, "all.mean vs baseline", limit, None, "error",
                                 "in the baseline run but not in this run: no samples"))
    for route in run.routes():
        phases = ["cold", "warm"] if run.get(route, "cold") and run.get(route, "warm") else ["all"]
        for phase in phases:
            now, base = run.get(route, phase), baseline.get(route, phase)
            if now is None:
                continue
            if base is None:
                missing.append(Check(route, f"{phase}.mean vs baseline", limit, None,
                                     "inconclusive", "not in the baseline run"))
                continue
            pairs.append((route, phase, base, now))
    tests = [stats.mann_whitney_u(stats.buckets(b.corrected), stats.buckets(n.corrected))
             if min(b.count, n.count) >= min_samples else None for _, _, b, n in pairs]
    adjusted = stats.holm([t.p_value if t else None for t in tests])
    checks: list[Check] = []
    for (route, phase, base, now), p_adj in zip(pairs, adjusted, strict=True):
        name = f"{phase}.mean vs baseline"
        before = stats.Moments.of(stats.buckets(base.corrected))
        after = stats.Moments.of(stats.buckets(now.corrected))
        if after.count == 0 and before.count > 0:
            checks.append(Check(route, name, limit, None, "error",
                                f"no successful samples (errors: {now.errors or 'none'}); the "
                                f"baseline had {before.count}"))
            continue
        if min(before.count, after.count) < min_samples:
            checks.append(Check(route, name, limit, None, "inconclusive",
                                f"too few samples ({before.count} before, {after.count} after; "
                                f"need {min_samples})"))
            continue
        ci = stats.change_pct_ci(before, after, confidence)
        if ci is not None:
            ci = widen_for_run_noise(ci, run_noise_pct, confidence)
        if ci is None:
            checks.append(Check(route, name, limit, None, "error", "no interval: NaN data"))
            continue
        change, low, high = ci
        p_text = "n/a" if p_adj is None else f"{p_adj:.3g}"
        significant = p_adj is not None and p_adj < alpha
        regression = significant and low > max_regression_pct
        if regression:
            detail = (f"slower by {change:+.1f}% [{low:+.1f}, {high:+.1f}], p={p_text}: beyond "
                      f"the {max_regression_pct:g}% margin")
        elif significant and low > 0:
            detail = (f"slower by {change:+.1f}% [{low:+.1f}, {high:+.1f}], p={p_text}, but not "
                      f"surely beyond the {max_regression_pct:g}% margin")
        elif significant and high < 0:
            detail = f"faster by {change:+.1f}% [{low:+.1f}, {high:+.1f}], p={p_text}"
        else:
            detail = f"no significant change: {change:+.1f}% [{low:+.1f}, {high:+.1f}], p={p_text}"
        checks.append(Check(route, name, limit, round(change, 3),
                            "fail" if regression else "pass", detail, (low, high)))
    return checks + missing + error_ratio_checks(run, baseline, alpha=alpha)


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


def error_ratio_checks(run: Run, baseline: Run, *, alpha: float = 0.05,
                       min_rise: float = 0.01) -> list[Check]:
    """Per route: the error ratio may not rise significantly by more than `min_rise`."""
    rows = []
    for route in run.routes():
        now, base = run.get(route, "all"), baseline.get(route, "all")
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
        p_text = "n/a" if p_adj is None else f"{p_adj:.3g}"
        checks.append(Check(route, "all.error_ratio vs baseline", f"< +{min_rise * 100:g} pt",
                            round(after, 6), "fail" if rose else "pass",
                            f"errors {before * 100:.2f}% -> {after * 100:.2f}%, p={p_text}"))
    return checks


DEFAULT_MAX_REGRESSION_PCT = 5.0  # benchmarks/gate_power.py: catches +15% with 1500 req/run


def run_gate(run: Run, *, thresholds: list[Threshold], baseline: Run | None = None,
             max_regression_pct: float = DEFAULT_MAX_REGRESSION_PCT, alpha: float = 0.05,
             min_samples: int = 20, run_noise_pct: float = 0.0) -> GateResult:
    if not thresholds and baseline is None:
        raise UsageError("nothing to check: no thresholds and no baseline",
                         hint="add `thresholds:` to perfkit.yaml or pass --baseline BASE.json")
    result = GateResult(check_thresholds_on_run(run, thresholds, min_samples))
    if baseline is not None:
        result.checks += compare_with_baseline(run, baseline,
                                               max_regression_pct=max_regression_pct,
                                               alpha=alpha, min_samples=min_samples,
                                               run_noise_pct=run_noise_pct)
    return result
