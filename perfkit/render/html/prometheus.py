"""A report's pictures: the Prometheus timeline (both windows, the change event between them,
the bench runs' spans), each route over time (overtime.py) and per-route before/after bars
of the mean and the P99.

Before is grey and hatched, after blue and solid: told apart without colour, also on paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perfkit.bench.record import Run
from perfkit.prom.record import Figures, ReportRecord, RouteFigures, Span
from perfkit.render.html.figures import (
    AFTER_LOOK,
    BEFORE_LOOK,
    BLUISH_GREEN,
    Chart,
    ChartKind,
    Fact,
    attr_number,
    clock,
    iso_epoch_s,
    layout,
    plot_time,
    rgba,
)
from perfkit.render.html.overtime import series_charts, window_shapes
from perfkit.render.model import Table, name, number, text
from perfkit.units import arrow, fmt_ms, fmt_pct

BAR_METRICS = (("mean_ms", "mean"), ("p99_ms", "P99"))


def _value(figures: Figures | None, metric: str) -> float | None:
    value: float | None = None if figures is None else getattr(figures, metric)
    return value


def _bar_trace(routes: Sequence[RouteFigures], side: str, metric: str) -> dict[str, Any]:
    look = BEFORE_LOOK if side == "before" else AFTER_LOOK
    values = [_value(getattr(r, side), metric) for r in routes]
    return {"type": "bar", "orientation": "h", "name": f"{side} window",
            "y": [r.route for r in routes], "x": values,
            "text": [fmt_ms(v, unit=True) for v in values], "textposition": "outside",
            "cliponaxis": False,
            "marker": {"color": look.color, "line": {"color": "#1a1a1a", "width": 1},
                       "pattern": {"shape": look.pattern, "fgcolor": "#ffffff", "size": 6,
                                   "fillmode": "overlay"}},
            "hovertemplate": "%{y}<br>" + side + " %{x} ms<extra></extra>"}


def _bar_fact(route: RouteFigures, metric: str, label: str) -> Fact:
    before, after = _value(route.before, metric), _value(route.after, metric)
    key = "mean" if metric == "mean_ms" else "p99"
    change = route.change_pct.get(key)
    verdict = route.verdict.value if route.verdict is not None else (
        f"not judged ({route.reason})" if route.reason else "not judged")
    words = (f"{route.route}: {label} {arrow(fmt_ms(before, unit=True), fmt_ms(after, unit=True))}"
             f" ({fmt_pct(change)}); requests {_count(route.before)} → {_count(route.after)};"
             f" verdict {verdict}")
    return Fact(words, {"route": route.route, "before-ms": attr_number(before),
                        "after-ms": attr_number(after), "change-pct": attr_number(change),
                        "verdict": route.verdict.value if route.verdict else "not-judged",
                        "before-count": _count(route.before), "after-count": _count(route.after)})


def _count(figures: Figures | None) -> str:
    return "0" if figures is None else str(figures.count)


def bars_chart(report: ReportRecord, metric: str, label: str, key: str) -> Chart:
    """One horizontal bar per route and window: the seed's Grafana panel, before vs after."""
    # Plotly draws categories and the bars of a group bottom-up: reversed, each route reads
    # top-down with its before bar above its after bar.
    routes = list(reversed(report.routes))
    traces = [_bar_trace(routes, side, metric) for side in ("after", "before")]
    height = 120 + 56 * max(1, len(routes))
    fig_layout = layout(f"{label} per route", x_title=f"{label} ms (Prometheus)",
                        y_title="", barmode="group", height=height,
                        yaxis={"automargin": True, "rangemode": "normal"},
                        legend={"traceorder": "reversed"}, margin={"r": 72})
    rows = [[r.route, fmt_ms(_value(r.before, metric)), fmt_ms(_value(r.after, metric)),
             fmt_pct(r.change_pct.get("mean" if metric == "mean_ms" else "p99"))]
            for r in report.routes]
    table = Table.of(None, (name("route"), number(f"before {label} ms"),
                            number(f"after {label} ms"), number("change")), rows)
    return Chart(key, ChartKind.BARS, f"{label} per route, before vs after (Prometheus)",
                 {"data": traces, "layout": fig_layout},
                 tuple(_bar_fact(r, metric, label) for r in report.routes), table,
                 {"metric": metric.removesuffix("_ms")})


def _window_trace(span: Span, figures: Figures | None, side: str, metric: str,
                  label: str) -> dict[str, Any]:
    look = BEFORE_LOOK if side == "before" else AFTER_LOOK
    value = _value(figures, metric)
    dash = "dot" if metric == "p99_ms" else look.dash
    return {"type": "scatter", "mode": "lines+markers", "name": f"{side}: {label}",
            "x": [plot_time(span.start.timestamp()), plot_time(span.end.timestamp())],
            "y": [value, value], "line": {"color": look.color, "width": 3, "dash": dash},
            "marker": {"symbol": look.symbol, "size": 8, "color": look.color},
            "hovertemplate": f"{side} window {label}: " + "%{y} ms<extra></extra>"}


def _shapes(report: ReportRecord, runs: Sequence[tuple[str, Run]]) -> list[dict[str, Any]]:
    shapes = window_shapes(report)
    for label, run in runs:  # in the headroom the y range leaves above the figures
        if run.started_at and run.ended_at:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "y0": 0.9, "y1": 0.97,
                           "x0": plot_time(iso_epoch_s(run.started_at)),
                           "x1": plot_time(iso_epoch_s(run.ended_at)),
                           "fillcolor": rgba(BLUISH_GREEN, 0.6), "line": {"width": 0},
                           "label": {"text": label, "font": {"size": 10}}})
    return shapes


def _timeline_facts(report: ReportRecord, runs: Sequence[tuple[str, Run]]) -> tuple[Fact, ...]:
    glob = report.overall
    facts = []
    for side, span in (("before", report.before), ("after", report.after)):
        figures: Figures | None = getattr(glob, side)
        facts.append(Fact(
            f"{side} window {clock(span.start.timestamp())} → {clock(span.end.timestamp())} "
            f"({span.seconds:g} s): all routes mean "
            f"{fmt_ms(_value(figures, 'mean_ms'), unit=True)}, P99 "
            f"{fmt_ms(_value(figures, 'p99_ms'), unit=True)}, {_count(figures)} requests",
            {"window": side, "start": span.start.isoformat(), "end": span.end.isoformat(),
             "mean-ms": attr_number(_value(figures, "mean_ms")),
             "p99-ms": attr_number(_value(figures, "p99_ms")), "count": _count(figures)}))
    mark = report.split
    facts.append(Fact(f"change at {clock(mark.at.timestamp())}: {mark.label}",
                      {"split-at": mark.at.isoformat(), "event": mark.event_text or ""}))
    facts += [Fact(f"bench run {label}: {clock(iso_epoch_s(run.started_at))} → "
                   f"{clock(iso_epoch_s(run.ended_at))}", {"run": label})
              for label, run in runs if run.started_at and run.ended_at]
    return tuple(facts)


def timeline_chart(report: ReportRecord, runs: Sequence[tuple[str, Run]], key: str) -> Chart:
    """Both windows on the clock, each at its figures (all routes), the change between."""
    glob = report.overall
    traces = [_window_trace(span, getattr(glob, side), side, metric, label)
              for metric, label in BAR_METRICS
              for side, span in (("before", report.before), ("after", report.after))]
    mark = report.split
    note = {"x": plot_time(mark.at.timestamp()), "y": 0.84, "yref": "paper",
            "yanchor": "top", "xanchor": "left", "xshift": 4, "text": mark.label[:60],
            "showarrow": False, "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 12}}
    values = [v for figures in (glob.before, glob.after) for metric, _ in BAR_METRICS
              if (v := _value(figures, metric)) is not None]
    fig_layout = layout("Prometheus timeline", x_title="time (UTC)",
                        y_title="ms (all routes, Prometheus)", shapes=_shapes(report, runs),
                        annotations=[note],
                        yaxis={"range": [0, 1.3 * max(values, default=1.0)]})
    rows = [[side, clock(span.start.timestamp()), clock(span.end.timestamp()),
             fmt_ms(_value(getattr(glob, side), "mean_ms")),
             fmt_ms(_value(getattr(glob, side), "p99_ms")), _count(getattr(glob, side))]
            for side, span in (("before", report.before), ("after", report.after))]
    table = Table.of(None, (name("window"), name("start"), name("end"), number("mean ms"),
                            number("P99 ms"), number("requests")), rows)
    return Chart(key, ChartKind.TIMELINE, "Prometheus timeline: the change and its windows",
                 {"data": traces, "layout": fig_layout}, _timeline_facts(report, runs), table,
                 {"split-at": mark.at.isoformat()})


def report_table(report: ReportRecord) -> Table:
    """The report's verdicts, one row per route, as `perfkit report` judged them."""
    rows = []
    for r in (*report.routes, report.overall):
        verdict = r.verdict.value if r.verdict is not None else (
            f"not judged: {r.reason}" if r.reason else "not judged")
        rows.append([r.route, f"{_count(r.before)}/{_count(r.after)}",
                     arrow(fmt_ms(_value(r.before, "mean_ms")), fmt_ms(_value(r.after, "mean_ms"))),
                     arrow(fmt_ms(_value(r.before, "p99_ms")), fmt_ms(_value(r.after, "p99_ms"))),
                     fmt_pct(r.change_pct.get("mean")), verdict])
    return Table.of("perfkit report: before → after (Prometheus)",
                    (name("route"), number("requests before/after"), number("mean ms"),
                     number("P99 ms"), number("change"), text("verdict")), rows)


def report_charts(report: ReportRecord, runs: Sequence[tuple[str, Run]]) -> list[Chart]:
    charts = [timeline_chart(report, runs, "prometheus-timeline"), *series_charts(report)]
    if report.routes:
        charts += [bars_chart(report, metric, label, f"prometheus-{label.lower()}")
                   for metric, label in BAR_METRICS]
    return charts
