"""The HDR percentile spectrum of each route, as HdrHistogram plots it: latency against
1/(1-p) on a log axis (50% at 2, 99% at 100, 99.9% at 1000), every run overlaid.

Points follow HdrHistogram's percentile distribution (5 ticks per halving of the distance to
100%) up to the last sample, whose value is the max; each value is the run histogram's own
percentile (HdrHistogram's definition, as `perfkit bench` prints it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from perfkit.bench.cache import CacheEffect
from perfkit.bench.record import Phase, Run
from perfkit.render.html.figures import (
    PHASE_LOOKS,
    RUN_DASHES,
    Chart,
    ChartKind,
    Fact,
    attr_number,
    latency_axis,
    layout,
)
from perfkit.render.model import Table, name, number
from perfkit.stats import summary_ms
from perfkit.units import fmt_ms

TICKS_PER_HALF = 5  # HdrHistogram's default for its percentile distribution
SUMMARY_PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# HdrHistogram's plot labels the decades of 1/(1-p)
AXIS_TICKS = ((1, "0%"), (10, "90%"), (100, "99%"), (1_000, "99.9%"), (10_000, "99.99%"),
              (100_000, "99.999%"), (1_000_000, "99.9999%"))


@dataclass(frozen=True)
class Point:
    percentile: float
    value_ms: float

    @property
    def x(self) -> float:
        """1/(1-p): where HdrHistogram's plot puts the percentile."""
        return 1.0 / (1.0 - self.percentile / 100.0)


def percentile_label(percentile: float) -> str:
    return f"{percentile:.6f}".rstrip("0").rstrip(".") + "%"


def spectrum_points(hist: HdrHistogram) -> list[Point]:
    """The spectrum of one histogram: its percentiles up to the last sample, then its max."""
    total = int(hist.get_total_count())
    if total == 0:
        return []
    levels, j = [], 0
    while 2 ** (j / TICKS_PER_HALF) < total:
        levels.append(100.0 * (1.0 - 2 ** (-j / TICKS_PER_HALF)))
        j += 1
    levels += [p for p in SUMMARY_PERCENTILES if 1.0 / (1.0 - p / 100.0) < total]
    values = hist.get_percentile_to_value_dict(levels)
    points = sorted({Point(p, values[p] / 1000.0) for p in values}, key=lambda pt: pt.x)
    last = 100.0 * (1.0 - 1.0 / total) if total > 1 else 0.0
    max_ms = summary_ms(hist)["max"]
    if max_ms is not None:
        points.append(Point(last, max_ms))
    return points


@dataclass(frozen=True)
class Curve:
    label: str  # the run's
    phase: Phase
    run_index: int
    hist: HdrHistogram

    @property
    def name(self) -> str:
        return f"{self.label} {self.phase.value}"


def cache_effects(run: Run) -> dict[str, CacheEffect]:
    """Each route's cache verdict, as the run record states it (judged once per run)."""
    return {sp.route: sp.cache_effect for sp in run.speedups()}


def display_phases(run: Run, route: str,
                   effects: Mapping[str, CacheEffect] | None = None) -> list[Phase]:
    """The phases the run's table shows: a route without a cache effect is one `all` row."""
    effect = (effects if effects is not None else cache_effects(run)).get(route)
    return [Phase.ALL] if effect is CacheEffect.NONE else run.phases(route)


def _curves(runs: Sequence[tuple[str, Run]], route: str,
            effects: Sequence[Mapping[str, CacheEffect]]) -> list[Curve]:
    return [Curve(label, phase, i, run.records[(route, phase)].corrected)
            for i, (label, run) in enumerate(runs) if route in run.routes()
            for phase in display_phases(run, route, effects[i])
            if run.records[(route, phase)].count > 0]


def _dash(curve: Curve, runs: int) -> str:
    """Two runs: before dashed, after solid; more: a dash per run."""
    if runs == 2:
        return ("dash", "solid")[curve.run_index]
    return RUN_DASHES[curve.run_index % len(RUN_DASHES)]


def _trace(curve: Curve, points: list[Point], runs: int) -> dict[str, Any]:
    look = PHASE_LOOKS[curve.phase]
    return {"type": "scatter", "name": curve.name, "mode": "lines+markers",
            "x": [pt.x for pt in points], "y": [pt.value_ms for pt in points],
            "customdata": [percentile_label(pt.percentile) for pt in points],
            "line": {"color": look.color, "dash": _dash(curve, runs), "width": 2},
            "marker": {"symbol": look.symbol, "size": 5, "color": look.color},
            "hovertemplate": curve.name + "<br>%{customdata}: %{y} ms<extra></extra>"}


def _fact(curve: Curve) -> Fact:
    s = summary_ms(curve.hist)
    count = int(curve.hist.get_total_count())
    text = (f"{curve.name}: {count} requests · p50 {fmt_ms(s['p50'])} · p90 {fmt_ms(s['p90'])}"
            f" · p99 {fmt_ms(s['p99'])} · p99.9 {fmt_ms(s['p999'])} · max {fmt_ms(s['max'])} ms")
    attrs = {"run": curve.label, "phase": curve.phase.value, "count": str(count)}
    attrs.update({f"{k}-ms": attr_number(s[k]) for k in ("p50", "p90", "p99", "p999", "max")})
    return Fact(text, attrs)


def _table(curves: list[Curve], points: list[list[Point]]) -> Table:
    levels = sorted({pt.percentile for pts in points for pt in pts[:-1]})
    by_curve = [{pt.percentile: pt.value_ms for pt in pts[:-1]} for pts in points]
    rows = [[percentile_label(p), *[fmt_ms(values.get(p)) for values in by_curve]]
            for p in levels]
    rows.append(["max", *[fmt_ms(pts[-1].value_ms) for pts in points]])
    columns = [name("percentile"), *[number(f"{c.name} ms") for c in curves]]
    return Table.of(None, columns, rows)


def spectrum_chart(runs: Sequence[tuple[str, Run]], route: str, key: str,
                   effects: Sequence[Mapping[str, CacheEffect]]) -> Chart | None:
    curves = _curves(runs, route, effects)
    if not curves:
        return None
    points = [spectrum_points(c.hist) for c in curves]
    top = max(pt.x for pts in points for pt in pts)
    ticks = [t for t in AXIS_TICKS if t[0] <= max(10, top * 10)]
    axis = {"type": "log", "tickvals": [t[0] for t in ticks],
            "ticktext": [t[1] for t in ticks]}
    fig_layout = layout(f"{route}: percentile spectrum",
                        x_title="percentile (axis: 1/(1-p), log scale)",
                        y_title="latency ms", xaxis=axis,
                        yaxis=latency_axis([pt.value_ms for pts in points for pt in pts]))
    traces = [_trace(c, pts, len(runs)) for c, pts in zip(curves, points, strict=True)]
    return Chart(key, ChartKind.SPECTRUM, f"{route}: percentile spectrum",
                 {"data": traces, "layout": fig_layout},
                 tuple(_fact(c) for c in curves), _table(curves, points), {"route": route})


def spectrum_charts(runs: Sequence[tuple[str, Run]]) -> list[Chart]:
    routes = list(dict.fromkeys(route for _, run in runs for route in run.routes()))
    effects = [cache_effects(run) for _, run in runs]
    charts = [spectrum_chart(runs, route, f"spectrum-{k}", effects)
              for k, route in enumerate(routes)]
    return [c for c in charts if c is not None]
