"""Hand-built window figures and reports: what Prometheus would answer for known requests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from perfkit.events import ChangeEvent
from perfkit.prom.figures import WindowFigures, WindowPair, per_bucket
from perfkit.prom.queries import locate_quantile_bucket
from perfkit.prom.windows import Window, WindowPlan

#: prometheus_client's default buckets (fastapi-observability), in seconds.
DEFAULT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                     7.5, 10.0, math.inf)
#: prometheus-fastapi-instrumentator's per-route buckets.
COARSE_BUCKETS_S = (0.1, 0.5, 1.0, math.inf)
SPLIT = datetime(2026, 1, 31, 14, 0, tzinfo=UTC)


def figures(latencies_ms: Sequence[float], *, window_s: float = 600.0,
            buckets_s: Sequence[float] = DEFAULT_BUCKETS_S, p99_ms: float | None = None,
            ratio_5xx: float = 0.0) -> WindowFigures:
    """The figures of a window whose requests took `latencies_ms`: exact mean and count,
    the bucket counts a histogram with `buckets_s` would hold."""
    cumulative = {le: float(sum(1 for v in latencies_ms if v / 1000 <= le))
                  for le in buckets_s}
    n = float(len(latencies_ms))
    return WindowFigures(count_exact=n, rps=round(n / window_s, 3),
                         mean_ms=round(sum(latencies_ms) / n, 3) if n else None,
                         p99_ms=p99_ms, p99_bucket=locate_quantile_bucket(cumulative),
                         ratio_5xx=ratio_5xx, buckets=per_bucket(cumulative))


def p99_figures(p99_ms: float, bucket_ms: tuple[float, float | None],
                count: float = 500.0) -> WindowFigures:
    """Figures whose P99 lies at `p99_ms` in the bucket (lo, hi] ms (hi None: +Inf)."""
    from perfkit.prom.queries import BucketBounds

    lo, hi = bucket_ms
    return WindowFigures(count_exact=count, rps=round(count / 1200, 3), mean_ms=p99_ms / 2,
                         p99_ms=p99_ms, ratio_5xx=0.0,
                         p99_bucket=BucketBounds(lo / 1000, None if hi is None else hi / 1000))


def pair(before: WindowFigures | None, after: WindowFigures | None) -> WindowPair:
    return WindowPair(before, after)


def plan(seconds: float = 1200.0, gap_s: float = 600.0) -> WindowPlan:
    """Windows split at a mark, the after window `gap_s` after it."""
    width = timedelta(seconds=seconds)
    after_start = SPLIT + timedelta(seconds=gap_s)
    event = ChangeEvent("20260131T140000-1a2b", SPLIT, "mark", "restart with the auth cache")
    return WindowPlan(Window(SPLIT - width, SPLIT), Window(after_start, after_start + width),
                      SPLIT, "event", event)
