"""The cache verdict of a route: is a cache miss (cold) slower than a hit (warm)?

`detected` when the rank test of cold vs warm is significant after Holm's correction over
the run's routes AND the whole interval of cold/warm lies beyond 1 + threshold; `none` when
the interval lies within ±threshold (no cache, or one that saves less than the threshold);
`inconclusive` otherwise (too few cold samples, or an interval across the threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from perfkit import stats

MIN_COLD_SAMPLES = 5  # and as many warm ones: a mean of one sample is no reference
DEFAULT_THRESHOLD_PCT = 20.0


class CacheEffect(StrEnum):
    DETECTED = "detected"
    NONE = "none"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Speedup:
    """cold mean / warm mean of one route, its interval, and the cache verdict."""

    route: str
    cold_count: int
    warm_count: int
    cold_mean_ms: float | None
    warm_mean_ms: float | None
    ratio: float | None
    ci: tuple[float, float] | None
    p_value_raw: float | None = None
    p_value: float | None = None  # after Holm over the run's routes
    cache_effect: CacheEffect = CacheEffect.INCONCLUSIVE
    threshold_pct: float = DEFAULT_THRESHOLD_PCT
    reason: str = ""
    time_matched: bool = False  # each cold sample against the warm ones of its own moment

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "cold_count": self.cold_count,
                "warm_count": self.warm_count, "cold_mean_ms": self.cold_mean_ms,
                "warm_mean_ms": self.warm_mean_ms, "ratio": self.ratio,
                "ci": list(self.ci) if self.ci else None, "p_value": self.p_value,
                "cache_effect": self.cache_effect.value, "threshold_pct": self.threshold_pct,
                "reason": self.reason, "time_matched": self.time_matched}


def speedup(route: str, cold: stats.Buckets, warm: stats.Buckets,
            confidence: float = stats.CONFIDENCE,
            matched: tuple[float, tuple[float, float]] | None = None) -> Speedup:
    """How many times slower a cache miss is than a hit on one route (not yet judged): the
    time-matched ratio when the run has a time series (`matched`), else the ratio of means."""
    mc, mw = stats.Moments.of(cold), stats.Moments.of(warm)
    test = stats.mann_whitney_u(cold, warm)

    def ms(m: stats.Moments) -> float | None:
        return None if m.count == 0 else round(m.mean / 1000.0, 3)

    ratio: float | None
    ci: tuple[float, float] | None
    if matched is not None:
        ratio, ci = matched
    else:
        plain = stats.ratio_of_means_ci(mc, mw, confidence)
        ratio = round(mc.mean / mw.mean, 3) if mc.count and mw.count and mw.mean > 0 else None
        ci = (round(plain[1], 3), round(plain[2], 3)) if plain else None
    return Speedup(route=route, cold_count=mc.count, warm_count=mw.count, cold_mean_ms=ms(mc),
                   warm_mean_ms=ms(mw), ratio=ratio, ci=ci,
                   p_value_raw=test.p_value if test else None, time_matched=matched is not None)


def _bucket_means(warm: list[tuple[int, float]], buckets: int) -> list[float | None]:
    """Each bucket's warm mean, or the nearest bucket's when it has none."""
    known = dict(warm)
    means: list[float | None] = []
    for b in range(buckets):
        nearest = min(known, key=lambda k: (abs(k - b), k), default=None)
        means.append(None if nearest is None else known[nearest])
    return means


def matched_ratio(cold: Sequence[stats.Buckets], warm: Sequence[stats.Buckets],
                  confidence: float = stats.CONFIDENCE
                  ) -> tuple[float, tuple[float, float]] | None:
    """cold/warm from time-matched pairs: each cold sample over the warm mean of its own
    time bucket (`cold[b]`, `warm[b]`: one bucket's (value, count) list). A server slow at
    some moment (its start-up, a GC) slows both sides of the pair alike, so it neither fakes
    a cache effect nor widens the interval of its absence. (ratio, (low, high)), or None."""
    warm_means = [(b, stats.Moments.of(v).mean) for b, v in enumerate(warm)
                  if sum(c for _, c in v) > 0]
    means = _bucket_means(warm_means, len(cold))
    ratios = [(value / mean, count) for b, values in enumerate(cold)
              if (mean := means[b]) for value, count in values]
    m = stats.Moments.of(ratios)
    if m.count < 2 or not m.mean > 0:
        return None
    half = stats.t_quantile(0.5 + confidence / 2, m.count - 1) * (m.variance / m.count) ** 0.5
    return round(m.mean, 3), (round(m.mean - half, 3), round(m.mean + half, 3))


def _verdict(sp: Speedup, p_value: float | None, threshold: float,
             alpha: float) -> tuple[CacheEffect, str]:
    if sp.cold_count < MIN_COLD_SAMPLES or sp.ci is None:
        return CacheEffect.INCONCLUSIVE, (f"{sp.cold_count} cold sample(s): need "
                                          f"{MIN_COLD_SAMPLES} (more tokens: --tokens-file)")
    if sp.warm_count < MIN_COLD_SAMPLES:
        return CacheEffect.INCONCLUSIVE, (f"{sp.warm_count} warm sample(s): need "
                                          f"{MIN_COLD_SAMPLES} (a longer run: each user's later "
                                          "requests are the warm ones)")
    low, high = sp.ci
    if low > 1 + threshold and p_value is not None and p_value < alpha:
        return CacheEffect.DETECTED, "cold slower than warm beyond the threshold"
    if low >= 1 - threshold and high <= 1 + threshold:
        return CacheEffect.NONE, "cold and warm within the threshold"
    return CacheEffect.INCONCLUSIVE, "the interval crosses the threshold"


def judge(speedups: list[Speedup], *, threshold_pct: float = DEFAULT_THRESHOLD_PCT,
          alpha: float = stats.ALPHA) -> list[Speedup]:
    """Each route's cache verdict, Holm-corrected over the routes judged."""
    eligible = [sp.p_value_raw if min(sp.cold_count, sp.warm_count) >= MIN_COLD_SAMPLES
                else None for sp in speedups]
    adjusted = stats.holm(eligible)
    out = []
    for sp, p_value in zip(speedups, adjusted, strict=True):
        effect, reason = _verdict(sp, p_value, threshold_pct / 100, alpha)
        out.append(replace(sp, p_value=None if p_value is None else round(p_value, 6),
                           cache_effect=effect, threshold_pct=threshold_pct, reason=reason))
    return out
