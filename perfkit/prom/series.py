"""A report's series over time: per route the mean and the P99 at every step of both
windows, from three range queries whatever the number of routes, and the counter resets.

The step is a multiple of the scrape interval giving at most MAX_POINTS points. A point at
t is Prometheus's mean and P99 over (t - step - one scrape, t]: a rate needs two samples,
and consecutive points share one, so no request falls between two points. A time with no
value (no scrape there, or no request: 0/0) is a null point, never interpolated. A reset
is a raw counter sample lower than the last one a step earlier; the record keeps when.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from perfkit.prom.caveats import ReportWarning, Severity
from perfkit.prom.client import PromClient, RangeSeries
from perfkit.prom.profiles import Profile
from perfkit.prom.queries import series_queries
from perfkit.prom.windows import WindowPlan
from perfkit.units import ms_from_s

#: At most this many points per line: enough for a panel, small enough for the record.
MAX_POINTS = 300
#: Assumed when Prometheus does not say (no /api/v1/targets): the usual scrape interval.
ASSUMED_SCRAPE_S = 15.0
#: How far back a reset's earlier sample is looked for across a scrape gap: Prometheus's
#: default lookback. A reset after a longer silence shows as the gap only.
RESET_LOOKBACK_S = 300.0
QUERY_PURPOSES = {"mean_s": "the mean over time (a range query)",
                  "p99_s": "the P99 over time (a range query)",
                  "resets": "the counter resets over time (a range query)"}

#: (epoch seconds, mean ms, P99 ms); None: no value at that time.
Point = tuple[float, float | None, float | None]


@dataclass(frozen=True)
class SeriesPlan:
    """Where the points are: start, start + step, ... <= end (epoch milliseconds, as
    Prometheus steps them), each over the `window_s` before it."""

    start_ms: int
    count: int
    step_s: float
    window_s: float
    scrape_interval_s: float
    scrape_assumed: bool = False

    @property
    def step_ms(self) -> int:
        return round(self.step_s * 1000)

    @property
    def times_ms(self) -> list[int]:
        return [self.start_ms + k * self.step_ms for k in range(self.count)]

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=(self.count - 1) * self.step_ms)


def plan_series(plan: WindowPlan, scrape_interval_s: float | None) -> SeriesPlan:
    """Points over both windows (and the gap between them, if any), one step apart: the
    smallest multiple of the scrape interval that keeps them to MAX_POINTS."""
    scrape = scrape_interval_s or ASSUMED_SCRAPE_S
    span_s = (plan.after.end - plan.before.start).total_seconds()
    step_s = scrape * max(1, math.ceil(span_s / (MAX_POINTS * scrape)))
    step_ms = round(step_s * 1000)
    start_ms = math.floor(plan.before.start.timestamp() * 1000) + step_ms
    end_ms = math.floor(plan.after.end.timestamp() * 1000)  # the last point inside
    count = max(1, (end_ms - start_ms) // step_ms + 1)
    return SeriesPlan(start_ms, count, step_s, step_s + scrape, scrape,
                      scrape_interval_s is None)


@dataclass(frozen=True)
class RouteSeries:
    """One route's line (or all routes'): a point per step, and the resets seen."""

    step_s: float
    window_s: float
    points: tuple[Point, ...]
    resets: tuple[float, ...] = ()  # points whose step holds a counter's first sample after a reset

    @property
    def gaps(self) -> int:
        """Points with no figure: no scrape there, or no request."""
        return sum(1 for _, mean, p99 in self.points if mean is None and p99 is None)

    def to_json(self) -> dict[str, Any]:
        return {"step_s": self.step_s, "window_s": self.window_s,
                "points": [list(p) for p in self.points], "resets": list(self.resets)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RouteSeries | None:
        """The record's `series`; None for a report written before series existed."""
        if not data:
            return None
        points = tuple((float(t), _number(mean), _number(p99))
                       for t, mean, p99 in data.get("points") or [])
        return cls(float(data["step_s"]), float(data["window_s"]), points,
                   tuple(float(t) for t in data.get("resets") or []))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class SeriesSet:
    """Every route's line (key None: all routes together) on one grid of points."""

    plan: SeriesPlan
    lines: dict[str | None, RouteSeries] = field(default_factory=dict)

    def of(self, route: str | None) -> RouteSeries:
        """The route's line; all null when Prometheus had no value for it at any point."""
        found = self.lines.get(route)
        if found is not None:
            return found
        empty = tuple((t / 1000, None, None) for t in self.plan.times_ms)
        return RouteSeries(self.plan.step_s, self.plan.window_s, empty)

    def resets(self, routes: Iterable[str]) -> dict[float, list[str]]:
        """Reset times and the routes seen reset at each, in time order."""
        found: dict[float, list[str]] = {}
        for route in routes:
            for at in self.of(route).resets:
                found.setdefault(at, []).append(route)
        return dict(sorted(found.items()))


def _by_route(answer: list[RangeSeries], label: str) -> dict[str | None, dict[int, float]]:
    return {s.labels.get(label): {round(t * 1000): v for t, v in s.values} for s in answer}


def fetch_series(client: PromClient, profile: Profile, plan: SeriesPlan,
                 excluded: tuple[str, ...]) -> SeriesSet:
    """Three range queries (mean, P99, resets), each grouped by route with all routes in
    the same answer."""
    queries = series_queries(profile, plan.window_s, plan.step_s, RESET_LOOKBACK_S, excluded)
    answers = {name: _by_route(client.range_query(q, plan.start, plan.end, plan.step_s,
                                                  QUERY_PURPOSES[name]), profile.route_label)
               for name, q in queries.items()}
    lines: dict[str | None, RouteSeries] = {}
    for route in {r for answer in answers.values() for r in answer}:
        mean, p99, resets = (answers[k].get(route, {}) for k in ("mean_s", "p99_s", "resets"))
        points = tuple((t / 1000, ms_from_s(mean.get(t)), ms_from_s(p99.get(t)))
                       for t in plan.times_ms)
        seen = tuple(t / 1000 for t in plan.times_ms if resets.get(t, 0) > 0)
        lines[route] = RouteSeries(plan.step_s, plan.window_s, points, seen)
    return SeriesSet(plan, lines)


def _clock(epoch_s: float) -> str:
    return f"{datetime.fromtimestamp(epoch_s, UTC):%H:%M:%S}"


def reset_warnings(series: SeriesSet, routes: Iterable[str]) -> list[ReportWarning]:
    """A note per route whose counters were reset in the windows (a restart)."""
    out = []
    for route in routes:
        seen = series.of(route).resets
        if seen:
            when = " and ".join(_clock(t) for t in seen)
            out.append(ReportWarning(
                "counter-reset", f"its counters were reset at {when} UTC (a restart, within "
                f"the {series.plan.step_s:g} s before): Prometheus counts across a reset, but "
                "requests after the last scrape before it are lost", Severity.NOTE, route))
    return out
