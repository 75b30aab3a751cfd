"""Before/after comparison of two bench runs, per route and phase (`perfkit.compare/1`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from perfkit import stats
from perfkit.bench.record import Phase, RouteRecord, Run
from perfkit.errors import UsageError

SCHEMA = "perfkit.compare/1"
METRICS = ("mean", "p50", "p99")


@dataclass(frozen=True)
class Method:
    """How rows are judged: the same rule for compare and the gate."""

    alpha: float = stats.ALPHA
    confidence: float = stats.CONFIDENCE
    min_change_pct: float = stats.MIN_CHANGE_PCT
    min_samples: int = stats.MIN_SAMPLES
    run_noise_pct: float = 0.0


@dataclass(frozen=True)
class Side:
    """One run's figures for a (route, phase): counts and the latency summary in ms."""

    count: int
    errors: dict[str, int]
    latency_ms: dict[str, float | None]

    @classmethod
    def of(cls, rec: RouteRecord) -> Side:
        return cls(rec.count, dict(rec.errors), stats.summary_ms(rec.corrected))

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "errors": self.errors, **self.latency_ms}


@dataclass(frozen=True)
class ComparedRow:
    route: str
    phase: Phase
    before: Side
    after: Side
    change_pct: dict[str, float | None]
    ci_pct: tuple[float, float] | None
    p_value_raw: float | None
    mixed_phases: bool
    p_value: float | None = None
    verdict: stats.Verdict = stats.Verdict.NO_CHANGE

    @property
    def inconclusive(self) -> bool:
        return self.ci_pct is None or self.p_value_raw is None

    @property
    def judged(self) -> bool:
        """In Holm's family: a rank test was possible and the row is not a mixed `all`."""
        return self.p_value is not None

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "phase": self.phase.value, "before": self.before.to_json(),
                "after": self.after.to_json(), "change_pct": self.change_pct,
                "ci_pct": list(self.ci_pct) if self.ci_pct else None,
                "p_value_raw": self.p_value_raw, "inconclusive": self.inconclusive,
                "mixed_phases": self.mixed_phases, "p_value": self.p_value,
                "verdict": self.verdict.value}


@dataclass(frozen=True)
class Unmatched:
    route: str
    phase: Phase
    only_in: str

    def to_json(self) -> dict[str, str]:
        return {"route": self.route, "phase": self.phase.value, "only_in": self.only_in}


@dataclass(frozen=True)
class Comparison:
    before_started_at: str
    before_base_url: str
    after_started_at: str
    after_base_url: str
    rows: list[ComparedRow]
    unmatched: list[Unmatched] = field(default_factory=list)
    method: Method = field(default_factory=Method)

    def to_json(self) -> dict[str, Any]:
        m = self.method
        return {"schema": SCHEMA, "alpha": m.alpha, "confidence": m.confidence,
                "min_change_pct": m.min_change_pct, "min_samples": m.min_samples,
                "run_noise_pct": m.run_noise_pct, "correction": "holm", "test": "mann-whitney-u",
                "before": {"started_at": self.before_started_at,
                           "base_url": self.before_base_url},
                "after": {"started_at": self.after_started_at, "base_url": self.after_base_url},
                "routes": [r.to_json() for r in self.rows],
                "unmatched": [u.to_json() for u in self.unmatched]}


def _pairs(run: Run) -> str:
    return "; ".join(f"{route} ({', '.join(p.value for p in run.phases(route))})"
                     for route in run.routes()) or "nothing"


def _mixed(route: str, runs: tuple[Run, Run]) -> bool:
    """True when the route's `all` phase pools cold and warm samples on either side: its
    mean then moves with the cold share (fewer misses look "faster") rather than the code."""
    phases = {phase for run in runs for phase in (Phase.COLD, Phase.WARM)
              if (rec := run.get(route, phase)) is not None and rec.count > 0}
    return phases == {Phase.COLD, Phase.WARM}


def _row(key: tuple[str, Phase], before: Run, after: Run, method: Method) -> ComparedRow:
    b_rec, a_rec = before.records[key], after.records[key]
    b_side, a_side = Side.of(b_rec), Side.of(a_rec)
    row = ComparedRow(
        route=key[0], phase=key[1], before=b_side, after=a_side,
        change_pct={m: stats.change_pct(b_side.latency_ms[m], a_side.latency_ms[m])
                    for m in METRICS},
        ci_pct=None, p_value_raw=None,
        mixed_phases=key[1] is Phase.ALL and _mixed(key[0], (before, after)))
    if min(b_rec.count, a_rec.count) < max(2, method.min_samples):
        return row  # too few samples: shown, inconclusive, outside Holm's family
    b_buckets, a_buckets = stats.buckets(b_rec.corrected), stats.buckets(a_rec.corrected)
    ci = stats.change_pct_ci(stats.Moments.of(b_buckets), stats.Moments.of(a_buckets),
                             method.confidence)
    if ci is not None:
        ci = stats.widen_for_run_noise(ci, method.run_noise_pct, method.confidence)
    test = stats.mann_whitney_u(b_buckets, a_buckets)
    return replace(row, ci_pct=(ci[1], ci[2]) if ci else None,
                   p_value_raw=test.p_value if test else None)


def compare_runs(before: Run, after: Run, method: Method | None = None) -> Comparison:
    """Change in mean/p50/p99 with a CI of the mean's change and a Holm-corrected verdict.

    faster/slower needs the rank test significant after Holm AND the whole interval beyond
    ±min_change_pct. Only (route, phase) pairs present in both runs are compared; the others
    are listed under `unmatched` so nothing disappears silently. A pair with fewer than
    min_samples on a side gets verdict no-change and `inconclusive: true`, outside Holm's
    family. No pair in common is a UsageError.

    The `all` row of a route that has cold and warm samples is kept for reference but not
    judged (`mixed_phases: true`, verdict no-change) and stays out of Holm's family: its
    samples are already judged in the cold and warm rows, and its mean moves with the share
    of cache misses, not with the code.
    """
    common = [key for key in before.records if key in after.records]
    if not common:
        raise UsageError(f"no route/phase in common: before has {_pairs(before)}; after has "
                         f"{_pairs(after)}",
                         hint="compare runs of the same scenario or path")
    method = method or Method()
    rows = [_row(key, before, after, method) for key in common]
    adjusted = stats.holm([None if r.mixed_phases else r.p_value_raw for r in rows])
    judged = [replace(row, p_value=None if p is None else round(p, 6),
                      verdict=stats.Verdict.NO_CHANGE if row.mixed_phases else stats.verdict(
                          row.ci_pct, p, alpha=method.alpha,
                          min_effect_pct=method.min_change_pct))
              for row, p in zip(rows, adjusted, strict=True)]
    unmatched = [Unmatched(r, p, "before") for (r, p) in before.records
                 if (r, p) not in after.records]
    unmatched += [Unmatched(r, p, "after") for (r, p) in after.records
                  if (r, p) not in before.records]
    return Comparison(before.started_at, before.base_url, after.started_at, after.base_url,
                      judged, unmatched, method)
