"""Verdicts on Prometheus's windows: the rule of compare and the gate, on bucket counts.

Prometheus keeps no request, only each window's count per histogram bucket. Those counts
are the samples: a request stands at its bucket's midpoint (the +Inf bucket at its lower
bound), every request of a bucket ties with the others in the rank test. A route is judged
only with `min_samples` requests in BOTH windows and when the server matched it to a route;
faster/slower needs the rank test significant after Holm over the judged routes AND the
whole interval of the mean's change beyond the threshold (`stats.verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perfkit import stats
from perfkit.prom.figures import WindowPair

METHOD = "prometheus-buckets"
ONE_BUCKET = ("every request in one bucket in both windows: the buckets cannot rank them, so "
              "no verdict (finer buckets below it would give one)")


class Rule(stats.Rule):
    """The rule of every verdict, stated with the report's method (bucket counts)."""

    def to_json(self) -> dict[str, Any]:
        return {"method": METHOD, **super().to_json()}


@dataclass(frozen=True)
class Judgement:
    """A route's verdict: None = not judged, and `reason` says why."""

    verdict: stats.Verdict | None
    reason: str | None = None
    ci_pct: tuple[float, float] | None = None
    p_value_raw: float | None = None
    p_value: float | None = None  # Holm-adjusted over the judged routes

    @property
    def judged(self) -> bool:
        return self.verdict is not None

    @property
    def label(self) -> str:
        return "not judged" if self.verdict is None else self.verdict.value

    def to_json(self, rule: Rule) -> dict[str, Any]:
        return {"verdict": "not-judged" if self.verdict is None else self.verdict.value,
                "verdict_reason": self.reason,
                "ci_pct": None if self.ci_pct is None else list(self.ci_pct),
                "p_value": self.p_value, "p_value_raw": self.p_value_raw,
                "threshold_pct": rule.min_change_pct, "method": METHOD}


def not_judged(pair: WindowPair, unmatched: bool, rule: Rule) -> str | None:
    """Why a route gets no verdict, or None when it is judged."""
    if unmatched:
        return "requests no route matched: a mix of paths, not a route"
    if pair.before is None or pair.after is None:
        return f"no requests in the {'before' if pair.before is None else 'after'} window"
    counts = (pair.before.count, pair.after.count)
    if min(counts) < rule.min_samples:
        return (f"{counts[0]} requests before, {counts[1]} after: fewer than "
                f"{rule.min_samples} in a window")
    return None


@dataclass(frozen=True)
class _Test:
    ci_pct: tuple[float, float] | None
    p_value_raw: float | None


def _test(pair: WindowPair, rule: Rule) -> _Test | None:
    before, after = pair.before, pair.after
    if before is None or after is None:
        return None
    ci = stats.change_pct_ci(before.moments(), after.moments(), rule.confidence)
    finite = ci is not None and all(math.isfinite(v) for v in ci)
    rank = stats.mann_whitney_u(before.ranked(), after.ranked())
    return _Test((ci[1], ci[2]) if ci is not None and finite else None,
                 None if rank is None else rank.p_value)


def judge(pairs: Sequence[tuple[WindowPair, bool]], rule: Rule) -> list[Judgement]:
    """One Judgement per (pair, unmatched), in order; Holm over the judged ones."""
    reasons = [not_judged(pair, unmatched, rule) for pair, unmatched in pairs]
    tests = [None if why else _test(pair, rule)
             for (pair, _), why in zip(pairs, reasons, strict=True)]
    adjusted = stats.holm([None if t is None else t.p_value_raw for t in tests])
    out: list[Judgement] = []
    for why, test, p in zip(reasons, tests, adjusted, strict=True):
        if test is None:
            out.append(Judgement(None, why))
            continue
        if test.p_value_raw is None:  # nothing to rank: no verdict, the interval stays shown
            out.append(Judgement(None, ONE_BUCKET, test.ci_pct))
            continue
        verdict = stats.verdict(test.ci_pct, p, alpha=rule.alpha,
                                min_effect_pct=rule.min_change_pct)
        out.append(Judgement(verdict, None, test.ci_pct, test.p_value_raw,
                             None if p is None else round(p, 6)))
    return out
