"""PromQL for a real window: grouped by route, with the global figure in the same answer.

Each query is `<per-route expression> or <global expression>`: the global series is the
one without the route label. So a report costs five queries per window however many
routes the backend has, and three range queries for its series over time (the same mean
and P99 over each step's short window, and the counters seen going down). Mean is
`increase(_sum[W]) / increase(_count[W])` and P99 is Prometheus's own `histogram_quantile`
over `increase(_bucket[W])`; perfkit only locates the bucket the P99 fell in, it never
estimates a quantile itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from perfkit.prom.profiles import NO_ROUTE_LABEL, Profile

P99 = 0.99


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(metric: str, profile: Profile, excluded_routes: Sequence[str],
             extra: Mapping[str, str] | None = None) -> str:
    """`metric{filters, route!~"excluded", extra=~…}`; extra values are regex matchers."""
    matchers = [f"{k}={_quote(v)}" for k, v in sorted(profile.filters.items())]
    if excluded_routes:
        matchers.append(f"{profile.route_label}!~{_quote('|'.join(excluded_routes))}")
    matchers += [f"{k}=~{_quote(v)}" for k, v in sorted((extra or {}).items())]
    return f"{metric}{{{', '.join(matchers)}}}"


@dataclass(frozen=True)
class WindowQueries:
    """The five instant queries that describe one window, each evaluated at its end."""

    mean_s: str
    count: str
    p99_s: str
    buckets: str
    ratio_5xx: str

    def items(self) -> list[tuple[str, str]]:
        return [("mean_s", self.mean_s), ("count", self.count), ("p99_s", self.p99_s),
                ("buckets", self.buckets), ("ratio_5xx", self.ratio_5xx)]


def duration(seconds: float) -> str:
    """A PromQL duration: whole seconds when it is whole, else milliseconds (a window cut
    short at a mark rounded to the second would drop up to 0.5 s of its traffic)."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def range_selector(window_s: float) -> str:
    """The window as a range, `[20s]` or `[10400ms]`."""
    return f"[{duration(window_s)}]"


def _named(expr: str, route: str) -> str:
    """Series without the route label (an exporter's unmatched requests) get a name of their
    own, else they would share the global series' empty label set and hide it."""
    return f'label_replace({expr}, "{route}", {_quote(NO_ROUTE_LABEL)}, "{route}", "")'


def window_queries(profile: Profile, window_s: float,
                   excluded_routes: Sequence[str]) -> WindowQueries:
    route, w = profile.route_label, range_selector(window_s)
    h = profile.histogram

    def inc(metric: str, extra: Mapping[str, str] | None = None) -> str:
        return f"increase({selector(metric, profile, excluded_routes, extra)}{w})"

    def named(expr: str) -> str:
        return _named(expr, route)

    h_sum, h_count, h_bucket = inc(f"{h}_sum"), inc(f"{h}_count"), inc(f"{h}_bucket")
    err = inc(profile.requests_total, {profile.status_label: profile.status_5xx})
    total = inc(profile.requests_total)
    by = f"sum by ({route})"
    by_le = f"sum by ({route}, le) ({h_bucket})"
    return WindowQueries(
        mean_s=f"{named(f'{by} ({h_sum}) / {by} ({h_count})')} or (sum({h_sum}) / sum({h_count}))",
        count=f"{named(f'{by} ({h_count})')} or sum({h_count})",
        p99_s=f"histogram_quantile({P99}, {named(by_le)} or sum by (le) ({h_bucket}))",
        buckets=f"{named(by_le)} or sum by (le) ({h_bucket})",
        ratio_5xx=(f"{named(f'({by} ({err}) or 0 * {by} ({total})) / {by} ({total})')} "
                   f"or ((sum({err}) or 0 * sum({total})) / sum({total}))"),
    )


@dataclass(frozen=True)
class SeriesQueries:
    """The range queries of a report's series, each evaluated at every step."""

    mean_s: str
    p99_s: str
    resets: str

    def items(self) -> list[tuple[str, str]]:
        return [("mean_s", self.mean_s), ("p99_s", self.p99_s), ("resets", self.resets)]


def series_queries(profile: Profile, window_s: float, step_s: float, lookback_s: float,
                   excluded_routes: Sequence[str]) -> SeriesQueries:
    """Per point: the window queries' own mean and P99 over the `window_s` before it; and
    per route the counters whose last sample is lower than the one a step earlier (raw
    samples compared, found up to `lookback_s` back across a scrape gap): a reset."""
    window = window_queries(profile, window_s, excluded_routes)
    route, count = profile.route_label, selector(f"{profile.histogram}_count", profile,
                                                  excluded_routes)
    last = f"last_over_time({count}[{duration(lookback_s)}])"
    dropped = f"{last} < last_over_time({count}[{duration(lookback_s)}] offset {duration(step_s)})"
    return SeriesQueries(
        mean_s=window.mean_s, p99_s=window.p99_s,
        resets=f"{_named(f'count by ({route}) ({dropped})', route)} or count({dropped})")


@dataclass(frozen=True)
class BucketBounds:
    """Where a quantile fell: (lo, hi] in seconds; hi is None when it fell in +Inf."""

    lo_s: float
    hi_s: float | None

    @property
    def clamped(self) -> bool:
        """histogram_quantile returns the last finite bound here: the true value is above."""
        return self.hi_s is None


def locate_quantile_bucket(cumulative: Mapping[float, float],
                           q: float = P99) -> BucketBounds | None:
    """The bucket `histogram_quantile(q, …)` interpolates in, by Prometheus's own search:
    the first bucket whose cumulative count reaches q × total (rank in +Inf: clamped)."""
    bounds = sorted(cumulative.items())
    if len(bounds) < 2 or not math.isinf(bounds[-1][0]):
        return None
    counts: list[float] = []
    running = 0.0
    for _, c in bounds:  # Prometheus's ensureMonotonic: increase() may dip by rounding
        running = max(running, c)
        counts.append(running)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    for i in range(len(bounds) - 1):
        if counts[i] >= rank:
            return BucketBounds(0.0 if i == 0 else bounds[i - 1][0], bounds[i][0])
    return BucketBounds(bounds[-2][0], None)
