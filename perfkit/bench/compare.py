"""Before/after comparison of two bench runs, per route and phase (`perfkit.compare/1`)."""

from __future__ import annotations

from typing import Any

from perfkit import stats
from perfkit.bench.record import RouteRecord, Run
from perfkit.errors import UsageError

SCHEMA = "perfkit.compare/1"


def _side(rec: RouteRecord) -> dict[str, Any]:
    return {"count": rec.count, "errors": dict(rec.errors), **stats.summary_ms(rec.corrected)}


def _pairs(run: Run) -> str:
    by_route: dict[str, list[str]] = {}
    for route, phase in run.records:
        by_route.setdefault(route, []).append(phase)
    order = {"cold": 0, "warm": 1, "all": 2}
    return "; ".join(f"{r} ({', '.join(sorted(p, key=lambda x: order.get(x, 9)))})"
                     for r, p in by_route.items()) or "nothing"


def _mixed(route: str, runs: tuple[Run, Run]) -> bool:
    """True when the route's `all` phase pools cold and warm samples on either side: its
    mean then moves with the cold share (fewer misses look "faster") rather than the code."""
    phases = {phase for run in runs for phase in ("cold", "warm")
              if (rec := run.get(route, phase)) is not None and rec.count > 0}
    return phases == {"cold", "warm"}


def compare_runs(before: Run, after: Run, *, alpha: float = 0.05, confidence: float = 0.95,
                 min_effect_pct: float = 0.0) -> dict[str, Any]:
    """Change in mean/p50/p99 with a CI of the mean's change and a Holm-corrected verdict.

    Only (route, phase) pairs present in both runs are compared; the others are listed under
    `unmatched` so nothing disappears silently. A pair with fewer than 2 samples on a side
    gets verdict no-change and `inconclusive: true`. No pair in common is a UsageError.

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
    rows: list[dict[str, Any]] = []
    p_values: list[float | None] = []
    for key, b_rec in before.records.items():
        a_rec = after.records.get(key)
        if a_rec is None:
            continue
        b_buckets, a_buckets = stats.buckets(b_rec.corrected), stats.buckets(a_rec.corrected)
        ci = stats.change_pct_ci(stats.Moments.of(b_buckets), stats.Moments.of(a_buckets),
                                 confidence)
        test = stats.mann_whitney_u(b_buckets, a_buckets)
        b_side, a_side = _side(b_rec), _side(a_rec)
        mixed = key[1] == "all" and _mixed(key[0], (before, after))
        rows.append({
            "route": key[0], "phase": key[1], "before": b_side, "after": a_side,
            "change_pct": {m: stats.change_pct(b_side[m], a_side[m]) for m in ("mean", "p50",
                                                                               "p99")},
            "ci_pct": [ci[1], ci[2]] if ci else None,
            "p_value_raw": test.p_value if test else None,
            "inconclusive": ci is None or test is None,
            "mixed_phases": mixed,
        })
        p_values.append(test.p_value if test and not mixed else None)
    for row, p_adj in zip(rows, stats.holm(p_values), strict=True):
        row["p_value"] = None if p_adj is None else round(p_adj, 6)
        ci_pct = tuple(row["ci_pct"]) if row["ci_pct"] else None
        row["verdict"] = "no-change" if row["mixed_phases"] else stats.verdict(
            ci_pct, p_adj, alpha=alpha, min_effect_pct=min_effect_pct)
    unmatched = [{"route": r, "phase": p, "only_in": "before"}
                 for (r, p) in before.records if (r, p) not in after.records]
    unmatched += [{"route": r, "phase": p, "only_in": "after"}
                  for (r, p) in after.records if (r, p) not in before.records]
    return {"schema": SCHEMA, "alpha": alpha, "confidence": confidence,
            "correction": "holm", "test": "mann-whitney-u",
            "before": {"started_at": before.started_at, "base_url": before.base_url},
            "after": {"started_at": after.started_at, "base_url": after.base_url},
            "routes": rows, "unmatched": unmatched}
