"""One window's figures per route, as Prometheus computes them: five instant queries.

Prometheus does every estimate (increase, histogram_quantile); this module asks, and keeps
the answers typed: mean, P99 and the bucket it lies in, req/s, 5xx ratio, the request count,
and the per-bucket counts of the window (the bucket increases, differenced) that the
verdicts rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perfkit import stats
from perfkit.prom.client import PromClient, Sample
from perfkit.prom.profiles import Profile
from perfkit.prom.queries import BucketBounds, locate_quantile_bucket, window_queries
from perfkit.prom.windows import Window
from perfkit.units import ms_from_s

#: A change of P99 below this share of it is not a change worth explaining.
P99_CLAIM_SHARE = 0.01


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class BucketCount:
    """Requests of one window in one bucket (lo, hi] seconds; hi None is the +Inf bucket.

    A count is Prometheus's increase(), extrapolated to the window's edges: not an integer."""

    lo_s: float
    hi_s: float | None
    count: float

    @property
    def value_us(self) -> int:
        """The value a request of this bucket stands for: the bucket's midpoint; the +Inf
        bucket's at its lower bound (the only thing known about it)."""
        value_s = self.lo_s if self.hi_s is None else (self.lo_s + self.hi_s) / 2
        return round(value_s * 1e6)

    @property
    def width_us(self) -> float:
        return 0.0 if self.hi_s is None else (self.hi_s - self.lo_s) * 1e6


def per_bucket(cumulative: Mapping[float, float]) -> tuple[BucketCount, ...]:
    """Cumulative `le` counts -> per-bucket counts, made monotonic as Prometheus does."""
    out: list[BucketCount] = []
    lo, seen = 0.0, 0.0
    for le, count in sorted(cumulative.items()):
        running = max(seen, count)
        if running > seen:
            out.append(BucketCount(lo, None if math.isinf(le) else le, running - seen))
        lo, seen = le, running
    return tuple(out)


@dataclass(frozen=True)
class WindowFigures:
    """One route (or all routes) in one window."""

    count_exact: float
    rps: float
    mean_ms: float | None = None
    p99_ms: float | None = None
    p99_bucket: BucketBounds | None = None
    ratio_5xx: float | None = None
    buckets: tuple[BucketCount, ...] = ()

    @property
    def count(self) -> int:
        return round(self.count_exact)

    @property
    def p99_clamped(self) -> bool:
        return self.p99_bucket is not None and self.p99_bucket.clamped

    @property
    def p99_bucket_ms(self) -> tuple[float, float | None] | None:
        """(lo, hi] of the P99's bucket in ms; hi None when clamped (+Inf)."""
        b = self.p99_bucket
        if b is None:
            return None
        return (round(b.lo_s * 1000, 3), None if b.hi_s is None else round(b.hi_s * 1000, 3))

    @property
    def p99_in_first_bucket(self) -> bool:
        """histogram_quantile interpolates from 0 in the first bucket: an upper bound only."""
        bounds = self.p99_bucket_ms
        return bounds is not None and bounds[0] == 0 and bounds[1] is not None

    def moments(self) -> stats.Moments:
        """Count, mean and variance (µs) of the window's requests: the exact mean
        (_sum/_count) and the spread of the buckets, each request uniform within its bucket
        (the model histogram_quantile uses); the +Inf bucket adds no spread of its own."""
        n = sum(b.count for b in self.buckets)
        if n <= 0:
            return stats.Moments(0, math.nan, math.nan)
        grid_mean = sum(b.value_us * b.count for b in self.buckets) / n
        mean = grid_mean if self.mean_ms is None else self.mean_ms * 1000
        if n < 2:
            return stats.Moments(round(n), mean, math.nan)
        spread = sum(b.count * ((b.value_us - grid_mean) ** 2 + b.width_us ** 2 / 12)
                     for b in self.buckets)
        return stats.Moments(round(n), mean, spread / (n - 1))

    def ranked(self) -> list[tuple[int, int]]:
        """(value µs, count) per bucket, for a rank test: every request of a bucket ties."""
        return [(b.value_us, round(b.count)) for b in self.buckets if round(b.count) > 0]

    def to_json(self) -> dict[str, Any]:
        bounds = self.p99_bucket_ms
        return {"mean_ms": self.mean_ms, "p99_ms": self.p99_ms,
                "p99_bucket_ms": None if bounds is None else list(bounds),
                "p99_clamped": self.p99_clamped, "rps": self.rps, "ratio_5xx": self.ratio_5xx,
                "count": self.count}


@dataclass(frozen=True)
class P99Change:
    """after - before of the P99 (ms), and the range the true change lies in: the after
    bucket's bounds minus the before bucket's."""

    change_ms: float
    low_ms: float
    high_ms: float
    widest_bucket_ms: float
    before_ms: float
    same_bucket: bool

    @property
    def claimed(self) -> bool:
        """A change big enough to be read as one (1% of the P99 or more)."""
        return abs(self.change_ms) >= P99_CLAIM_SHARE * max(self.before_ms, 1e-9)

    @property
    def finer_than_buckets(self) -> bool:
        """The change is smaller than a bucket it is read from: its size is a guess."""
        return self.widest_bucket_ms > abs(self.change_ms)

    @property
    def sign_known(self) -> bool:
        """Buckets are (lo, hi]: after <= its hi and before > its lo, so a range ending at 0
        still has a sure sign. Only a change inside one bucket has none."""
        return self.high_ms <= 0 or self.low_ms >= 0


@dataclass(frozen=True)
class WindowPair:
    """The same route (or all routes) in the before and the after window."""

    before: WindowFigures | None
    after: WindowFigures | None

    @property
    def both(self) -> bool:
        return self.before is not None and self.after is not None

    def change_pct(self) -> dict[str, float | None]:
        b, a = self.before, self.after
        if b is None or a is None:
            return {"mean": None, "p99": None}
        # rounded as the interval is (stats): the shown change then never falls outside it
        return {"mean": stats.change_pct(b.mean_ms, a.mean_ms),
                "p99": stats.change_pct(b.p99_ms, a.p99_ms)}

    def p99_change(self) -> P99Change | None:
        """The P99 change and where it truly lies given its two buckets; None unless both
        P99s lie in finite buckets."""
        b, a = self.before, self.after
        if b is None or a is None or b.p99_ms is None or a.p99_ms is None:
            return None
        bb, ab = b.p99_bucket_ms, a.p99_bucket_ms
        if bb is None or ab is None or bb[1] is None or ab[1] is None:
            return None
        return P99Change(round(a.p99_ms - b.p99_ms, 3), ab[0] - bb[1], ab[1] - bb[0],
                         max(bb[1] - bb[0], ab[1] - ab[0]), b.p99_ms, bb == ab)

    def to_json(self) -> dict[str, Any]:
        return {"before": None if self.before is None else self.before.to_json(),
                "after": None if self.after is None else self.after.to_json(),
                "change_pct": self.change_pct()}


def _by_route(samples: list[Sample], label: str) -> dict[str | None, float]:
    return {s.labels.get(label): s.value for s in samples}


def _cumulative(samples: list[Sample], label: str) -> dict[str | None, dict[float, float]]:
    out: dict[str | None, dict[float, float]] = {}
    for s in samples:
        try:
            le = float(s.labels["le"])
        except (KeyError, ValueError):
            continue
        per_route = out.setdefault(s.labels.get(label), {})
        per_route[le] = per_route.get(le, 0.0) + s.value
    return out


QUERY_PURPOSES = {"mean_s": "mean", "count": "request count", "p99_s": "P99",
                  "buckets": "latency buckets", "ratio_5xx": "5xx ratio"}


def window_figures(client: PromClient, profile: Profile, window: Window,
                   excluded: tuple[str, ...], side: str = "") -> dict[str | None, WindowFigures]:
    """Figures per route (key None = all routes together) for one window, five queries.
    A route with no request in the window is absent, not zero. `side` (before, after) names
    the window in a failure."""
    queries = window_queries(profile, window.seconds, excluded)
    where = f"the {side} window's" if side else "a window's"
    answers = {name: client.instant(q, window.end, f"{where} {QUERY_PURPOSES[name]}")
               for name, q in queries.items()}
    label = profile.route_label
    count, mean, p99, ratio = (_by_route(answers[k], label)
                               for k in ("count", "mean_s", "p99_s", "ratio_5xx"))
    cumulative = _cumulative(answers["buckets"], label)
    figures: dict[str | None, WindowFigures] = {}
    for route, n in count.items():
        if not (_finite(n) or 0) > 0:
            continue
        route_buckets = cumulative.get(route, {})
        figures[route] = WindowFigures(
            count_exact=n, rps=round(n / window.seconds, 3), mean_ms=ms_from_s(mean.get(route)),
            p99_ms=ms_from_s(p99.get(route)), p99_bucket=locate_quantile_bucket(route_buckets),
            ratio_5xx=_finite(ratio.get(route)), buckets=per_bucket(route_buckets))
    return figures
