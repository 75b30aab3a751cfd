"""Before/after comparison of two bench runs, per route and phase (`perfkit.compare/1`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from perfkit import stats
from perfkit.bench.cache import CacheEffect
from perfkit.bench.capacity import capacity_change
from perfkit.bench.provenance import LoopMode
from perfkit.bench.record import Phase, RouteRecord, Run
from perfkit.bench.routesql import RouteSql
from perfkit.errors import UsageError

SCHEMA = "perfkit.compare/1"
METRICS = ("mean", "p50", "p99")
MIN_RUNS = 4  # an exact rank test of 3 runs against 3 can never reach p < 0.05


class Basis(StrEnum):
    """What the samples of a comparison are."""

    REQUESTS = "requests"  # one run a side: each request a sample (run-to-run noise unseen)
    RUNS = "runs"  # --repeat on both sides: each run's mean a sample, as benchstat does


@dataclass(frozen=True)
class Method(stats.Rule):
    """How rows are judged: the rule of every verdict, plus the run-to-run noise added to
    intervals (one run a side: between runs; --repeat: between the before and the after
    blocks): None is the measured floor (stats.run_noise_floor_pct), a number is the user's
    own (the gate's --run-noise; 0 adds none)."""

    run_noise_pct: float | None = None


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
    basis: Basis = Basis.REQUESTS
    runs: tuple[int, int] | None = None  # runs a side, with the runs basis

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
                "verdict": self.verdict.value, "method": self.basis.value,
                "runs": list(self.runs) if self.runs else None}


@dataclass(frozen=True)
class Unmatched:
    route: str
    phase: Phase
    only_in: str

    def to_json(self) -> dict[str, str]:
        return {"route": self.route, "phase": self.phase.value, "only_in": self.only_in}


@dataclass(frozen=True)
class SqlRow:
    """A route's SQL per request on both sides (runs with --dsn): exact counts, no verdict."""

    route: str
    before: RouteSql
    after: RouteSql

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route,
                "calls_per_request": [self.before.calls_per_request,
                                      self.after.calls_per_request],
                "ms_per_request": [self.before.ms_per_request, self.after.ms_per_request]}


def sql_rows(before: Run, after: Run) -> list[SqlRow]:
    """The routes with SQL figures in both runs."""
    return [SqlRow(b.route, b, a) for b in before.route_sql.routes
            if (a := after.route_sql.get(b.route)) is not None]


@dataclass(frozen=True)
class Comparison:
    before_started_at: str
    before_base_url: str
    after_started_at: str
    after_base_url: str
    rows: list[ComparedRow]
    unmatched: list[Unmatched] = field(default_factory=list)
    method: Method = field(default_factory=Method)
    basis: Basis = Basis.REQUESTS
    notes: list[str] = field(default_factory=list)
    sql: list[SqlRow] = field(default_factory=list)
    capacity: tuple[str, str] | None = None  # (change, sentence) of two --find-max runs

    def to_json(self) -> dict[str, Any]:
        m = self.method
        return {"schema": SCHEMA, "alpha": m.alpha, "confidence": m.confidence,
                "min_change_pct": m.min_change_pct, "min_samples": m.min_samples,
                "run_noise_pct": m.run_noise_pct, "threshold_pct": m.min_change_pct,
                "method": self.basis.value, "notes": self.notes,
                "correction": "holm", "test": "mann-whitney-u",
                "before": {"started_at": self.before_started_at,
                           "base_url": self.before_base_url},
                "after": {"started_at": self.after_started_at, "base_url": self.after_base_url},
                "routes": [r.to_json() for r in self.rows],
                "unmatched": [u.to_json() for u in self.unmatched],
                "sql": [r.to_json() for r in self.sql],
                "capacity": None if self.capacity is None else {
                    "change": self.capacity[0], "text": self.capacity[1]}}


def _pairs(run: Run) -> str:
    return "; ".join(f"{route} ({', '.join(p.value for p in run.phases(route))})"
                     for route in run.routes()) or "nothing"


def _mixed(route: str, runs: tuple[Run, Run]) -> bool:
    """True when the route's `all` phase pools cold and warm samples on either side: its
    mean then moves with the cold share (fewer misses look "faster") rather than the code."""
    phases = {phase for run in runs for phase in (Phase.COLD, Phase.WARM)
              if (rec := run.get(route, phase)) is not None and rec.count > 0}
    return phases == {Phase.COLD, Phase.WARM}


def _bucket_moments(run: Run, key: tuple[str, Phase]) -> list[stats.Moments]:
    """The row's requests per time bucket of the run's series (all of a route's lines for
    its `all` row); empty without a series."""
    route, phase = key
    lines = [line for line in (run.series.lines if run.series else [])
             if line.route == route and phase in (Phase.ALL, Phase(line.phase))]
    if not lines or run.series is None:
        return []
    return [stats.combine([stats.Moments.of(stats.buckets(line.corrected[b]))
                           for line in lines if line.corrected[b] is not None])
            for b in range(run.series.buckets)]


def _estimate(run: Run, key: tuple[str, Phase], buckets: stats.Buckets
              ) -> stats.MeanEstimate | None:
    """The row's mean, with the variance of that mean from batch means over the run's time
    buckets when the run drifted more than its requests' spread implies (a single run's
    interval then holds its own drift); requests as independent samples otherwise."""
    iid = stats.MeanEstimate.of(stats.Moments.of(buckets))
    batches = stats.batch_means(_bucket_moments(run, key))
    if iid is None or batches is None or batches.var_mean / batches.mean ** 2 <= (
            iid.var_mean / iid.mean ** 2):
        return iid
    return stats.MeanEstimate(iid.mean, batches.var_mean * (iid.mean / batches.mean) ** 2,
                              batches.df)


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
    b_est, a_est = _estimate(before, key, b_buckets), _estimate(after, key, a_buckets)
    ci = None if b_est is None or a_est is None else stats.change_pct_ci(b_est, a_est,
                                                                         method.confidence)
    if ci is not None:
        ci = stats.widen_for_run_noise(ci, _run_noise_pct(method, b_side), method.confidence)
    test = stats.mann_whitney_u(b_buckets, a_buckets)
    return replace(row, change_pct=_centred(row.change_pct, ci),
                   ci_pct=(ci[1], ci[2]) if ci else None,
                   p_value_raw=test.p_value if test else None)


def _centred(change_pct: dict[str, float | None], ci: tuple[float, float, float] | None
             ) -> dict[str, float | None]:
    """The mean's change as the interval's own centre: the summaries' means are rounded to
    the microsecond (0.5% of a 0.2 ms route), enough to show a change outside a tight
    interval of the exact one."""
    return change_pct if ci is None else {**change_pct, "mean": ci[0]}


def _run_noise_pct(method: Method, before: Side) -> float:
    """The run-to-run noise added to an interval: the user's, else the measured floor."""
    if method.run_noise_pct is not None:
        return method.run_noise_pct
    return stats.run_noise_floor_pct(before.latency_ms["mean"])


def _run_means(run: Run, key: tuple[str, Phase]) -> list[float]:
    means = []
    for repeat in run.repeats:
        rec = repeat.records.get(key)
        mean = stats.summary_ms(rec.corrected)["mean"] if rec is not None else None
        if mean is not None:
            means.append(mean)
    return means


def _row_of_runs(row: ComparedRow, before: Run, after: Run, method: Method) -> ComparedRow:
    """The row judged with runs as samples: each repeat's mean is one observation."""
    key = (row.route, row.phase)
    b_means, a_means = _run_means(before, key), _run_means(after, key)
    row = replace(row, basis=Basis.RUNS, runs=(len(b_means), len(a_means)))
    if min(len(b_means), len(a_means)) < MIN_RUNS:
        return row
    ci = stats.change_pct_ci(stats.Moments.of([(v, 1) for v in b_means]),
                             stats.Moments.of([(v, 1) for v in a_means]), method.confidence)
    if ci is not None:  # the runs of a block share its moment: a shift between blocks is unseen
        ci = stats.widen_for_run_noise(ci, _run_noise_pct(method, row.before), method.confidence)
    return replace(row, change_pct=_centred(row.change_pct, ci),
                   ci_pct=(ci[1], ci[2]) if ci else None,
                   p_value_raw=stats.mann_whitney_exact(b_means, a_means))


def _basis(before: Run, after: Run) -> tuple[Basis, list[str]]:
    runs = (len(before.repeats), len(after.repeats))
    if min(runs) >= MIN_RUNS:
        return Basis.RUNS, [f"runs as samples ({runs[0]} before, {runs[1]} after): run-to-run "
                            "noise is in the interval, plus an assumed shift between the "
                            f"before and the after runs (~{stats.RUN_NOISE_PCT:g}% + "
                            f"{stats.RUN_NOISE_MS * 1000:.0f} µs of a run's mean), which runs "
                            "taken one block after the other cannot show"]
    why = ("one run a side" if max(runs) == 0 else
           f"{runs[0] or 1} and {runs[1] or 1} run(s): runs as samples need {MIN_RUNS} a side")
    return Basis.REQUESTS, [f"requests as samples ({why}): run-to-run noise cannot be "
                            "measured from one run, so each interval adds an assumed one "
                            f"(~{stats.RUN_NOISE_PCT:g}% + {stats.RUN_NOISE_MS * 1000:.0f} µs "
                            "of a run's mean; --run-noise sets it); --repeat 5 on both sides "
                            "measures the noise between runs"]


def _load_note(before: Run, after: Run) -> list[str]:
    """Closed loops send as fast as answers come: one route made slower slows the whole run,
    and every other route is then measured under another load (an idle server answers
    differently from a busy one). Say so; an open loop at one --rate keeps the load equal."""
    then, now = before.generator.achieved_rate_per_s, after.generator.achieved_rate_per_s
    closed = LoopMode.CLOSED in (before.settings.mode, after.settings.mode)
    if not closed or not then or not now or max(then, now) / min(then, now) <= stats.LOAD_RATIO:
        return []
    return [f"the runs sent {then:.0f} and {now:.0f} req/s in a closed loop: every "
            "route was measured under another load, so a change on routes you did not touch "
            "may be the load's; compare runs made at one --rate (an open loop) to tell"]


def _folded(run: Run, other: Run) -> set[str]:
    """Routes with no cache effect in both runs: compared as one `all` row."""
    none = [{sp.route for sp in r.speedups() if sp.cache_effect is CacheEffect.NONE}
            for r in (run, other)]
    return none[0] & none[1]


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
    basis, notes = _basis(before, after)
    folded = _folded(before, after)
    rows = [_row(key, before, after, method) for key in common
            if key[0] not in folded or key[1] is Phase.ALL]
    rows = [replace(r, mixed_phases=r.mixed_phases and r.route not in folded) for r in rows]
    if basis is Basis.RUNS:
        rows = [_row_of_runs(r, before, after, method) for r in rows]
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
    if folded:
        notes.append(f"no cache effect on either side: {', '.join(sorted(folded))} compared "
                     "as one row (all requests)")
    notes += _load_note(before, after)
    return Comparison(before.started_at, before.base_url, after.started_at, after.base_url,
                      judged, unmatched, method, basis, notes, sql_rows(before, after),
                      _capacity(before, after))


def _capacity(before: Run, after: Run) -> tuple[str, str] | None:
    if before.capacity is None or after.capacity is None:
        return None
    change, text = capacity_change(before.capacity, after.capacity)
    return change.value, text
