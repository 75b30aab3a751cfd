"""A report's series over time, one chart per route (all routes first): the mean (solid)
and the P99 (dashed) at every step Prometheus evaluated, both windows shaded, the change as
a dashed line, a counter reset as a dotted one: the runbook's Grafana panel, reproduced.

A point with no value is drawn as a break in the line (Plotly's `connectgaps: false` over a
null), never bridged; every point, nulls included, is in the chart's table.
"""

from __future__ import annotations

from typing import Any

from perfkit.prom.record import ReportRecord, RouteFigures
from perfkit.prom.series import RouteSeries
from perfkit.render.html import figures
from perfkit.render.html.figures import (
    AFTER_LOOK,
    BEFORE_LOOK,
    BLUE,
    ORANGE,
    REDDISH_PURPLE,
    Chart,
    ChartKind,
    Fact,
)
from perfkit.render.model import Table, name, number
from perfkit.units import fmt_ms

MEAN_LOOK = (BLUE, "circle", "solid")
P99_LOOK = (ORANGE, "diamond-open", "dash")


def window_shapes(report: ReportRecord) -> list[dict[str, Any]]:
    """Both windows shaded (before grey, after blue) and the change as a dashed line."""
    shapes: list[dict[str, Any]] = []
    for span, look in ((report.before, BEFORE_LOOK), (report.after, AFTER_LOOK)):
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "y0": 0, "y1": 1,
                       "x0": figures.plot_time(span.start.timestamp()),
                       "x1": figures.plot_time(span.end.timestamp()), "layer": "below",
                       "fillcolor": figures.rgba(look.color, 0.08), "line": {"width": 0}})
    split = figures.plot_time(report.split.at.timestamp())
    shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": split, "x1": split,
                   "y0": 0, "y1": 1, "line": {"color": "#1a1a1a", "width": 2, "dash": "dash"}})
    return shapes


def _trace(series: RouteSeries, label: str, index: int,
           look: tuple[str, str, str]) -> dict[str, Any]:
    color, symbol, dash = look
    return {"type": "scatter", "mode": "lines+markers", "name": label,
            "x": [figures.plot_time(p[0]) for p in series.points],
            "y": [p[index] for p in series.points], "connectgaps": False,
            "line": {"color": color, "width": 2, "dash": dash},
            "marker": {"symbol": symbol, "size": 5, "color": color},
            "hovertemplate": "%{x}<br>" + label + " %{y} ms<extra></extra>"}


def _reset_shapes(series: RouteSeries) -> list[dict[str, Any]]:
    return [{"type": "line", "xref": "x", "yref": "paper",
             "x0": figures.plot_time(t), "x1": figures.plot_time(t),
             "y0": 0, "y1": 1, "line": {"color": REDDISH_PURPLE, "width": 2, "dash": "dot"},
             "label": {"text": "counter reset", "textposition": "start", "textangle": 0,
                       "xanchor": "left", "yanchor": "bottom", "padding": 4,
                       "font": {"size": 10, "color": REDDISH_PURPLE}}}
            for t in series.resets]


def _notes(report: ReportRecord) -> list[dict[str, Any]]:
    """`before`, `after` and the change's name at the top of the plot."""
    notes = [{"x": figures.plot_time(span.start.timestamp()), "y": 1, "yref": "paper",
              "yanchor": "top", "xanchor": "left", "xshift": 4, "text": f"{side} window",
              "showarrow": False, "font": {"size": 11, "color": "#4d4d4d"}}
             for side, span in (("before", report.before), ("after", report.after))]
    notes.append({"x": figures.plot_time(report.split.at.timestamp()), "y": 0.9, "yref": "paper",
                  "yanchor": "top", "xanchor": "left", "xshift": 4,
                  "text": report.split.label[:60], "showarrow": False,
                  "bgcolor": "figures.rgba(255,255,255,0.85)", "font": {"size": 11}})
    return notes


def _facts(report: ReportRecord, route: str, series: RouteSeries) -> tuple[Fact, ...]:
    points, gaps = series.points, series.gaps
    facts = [Fact(f"{route}: {len(points)} points every {series.step_s:g} s from "
                  f"{figures.clock(points[0][0])} to {figures.clock(points[-1][0])}, "
                  "each Prometheus's mean "
                  f"and P99 over the {series.window_s:g} s before it",
                  {"route": route, "points": str(len(points)),
                   "step-s": figures.attr_number(series.step_s),
                   "window-s": figures.attr_number(series.window_s),
                   "gaps": str(gaps)})]
    facts.append(Fact(f"{gaps} point(s) with no value (no scrape, or no request): breaks in "
                      "the lines, never bridged" if gaps else "a value at every point",
                      {"gaps": str(gaps)}))
    facts += [Fact(f"counter reset (a restart) seen at {figures.clock(t)}, within the "
                   f"{series.step_s:g} s before: dotted line", {"reset-at": figures.attr_number(t)})
              for t in series.resets]
    mark = report.split
    facts.append(Fact(f"change at {figures.clock(mark.at.timestamp())}: {mark.label}",
                      {"split-at": mark.at.isoformat()}))
    return tuple(facts)


def series_chart(report: ReportRecord, route: RouteFigures, key: str) -> Chart:
    """One route's mean and P99 over time, with the windows, the change and its resets."""
    series = route.series
    assert series is not None
    values = [v for _, mean, p99 in series.points for v in (mean, p99)]
    fig_layout = figures.layout(f"{route.route} over time", x_title="time (UTC)",
                                y_title="latency ms",
                                shapes=window_shapes(report) + _reset_shapes(series),
                                annotations=_notes(report), yaxis=figures.latency_axis(values))
    traces = [_trace(series, "mean", 1, MEAN_LOOK), _trace(series, "P99", 2, P99_LOOK)]
    rows = [[figures.clock(t), fmt_ms(mean), fmt_ms(p99)] for t, mean, p99 in series.points]
    table = Table.of(None, (name(f"time (UTC, every {series.step_s:g} s)"), number("mean ms"),
                            number("P99 ms")), rows)
    return Chart(key, ChartKind.SERIES, f"{route.route}: mean and P99 over time (Prometheus)",
                 {"data": traces, "layout": fig_layout}, _facts(report, route.route, series),
                 table, {"route": route.route})


def series_charts(report: ReportRecord) -> list[Chart]:
    """All routes first, then each route as the report orders them (slowest first); none
    for a report written before series existed."""
    lines = [r for r in (report.overall, *report.routes) if r.series and r.series.points]
    return [series_chart(report, r, f"prometheus-series-{k}") for k, r in enumerate(lines)]
