"""Before/after comparison of two bench runs, per route and phase (`perfkit.compare/1`)."""

from __future__ import annotations

from typing import Any

from perfkit import stats
from perfkit.bench.record import RouteRecord, Run

SCHEMA = "perfkit.compare/1"


def _side(rec: RouteRecord) -> dict[str, Any]:
    return {"count": rec.count, "errors": dict(rec.errors), **stats.summary_ms(rec.corrected)}


def compare_runs(before: Run, after: Run, *, alpha: float = 0.05, confidence: float = 0.95,
                 min_effect_pct: float = 0.0) -> dict[str, Any]:
    """Change in mean/p50/p99 with a CI of the mean's change and a Holm-corrected verdict.

    Only (route, phase) pairs present in both runs are compared; the others are listed under
    `unmatched` so nothing disappears silently. A pair with fewer than 2 samples on a side
    gets verdict no-change and `inconclusive: true`.
    """
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
        rows.append({
            "route": key[0], "phase": key[1], "before": b_side, "after": a_side,
            "change_pct": {m: stats.change_pct(b_side[m], a_side[m]) for m in ("mean", "p50",
                                                                               "p99")},
            "ci_pct": [ci[1], ci[2]] if ci else None,
            "p_value_raw": test.p_value if test else None,
            "inconclusive": ci is None or test is None,
        })
        p_values.append(test.p_value if test else None)
    for row, p_adj in zip(rows, stats.holm(p_values), strict=True):
        row["p_value"] = None if p_adj is None else round(p_adj, 6)
        ci_pct = tuple(row["ci_pct"]) if row["ci_pct"] else None
        row["verdict"] = stats.verdict(ci_pct, p_adj, alpha=alpha,
                                       min_effect_pct=min_effect_pct)
    unmatched = [{"route": r, "phase": p, "only_in": "before"}
                 for (r, p) in before.records if (r, p) not in after.records]
    unmatched += [{"route": r, "phase": p, "only_in": "after"}
                  for (r, p) in after.records if (r, p) not in before.records]
    return {"schema": SCHEMA, "alpha": alpha, "confidence": confidence,
            "correction": "holm", "test": "mann-whitney-u",
            "before": {"started_at": before.started_at, "base_url": before.base_url},
            "after": {"started_at": after.started_at, "base_url": after.base_url},
            "routes": rows, "unmatched": unmatched}
