"""Latency over time (one chart per route of a run) and the rate the run intended vs
achieved, from the run record's series (per-bucket 2-digit HDRs on wall-clock buckets).

The summaries quote the run's own histograms (3 digits, the figures `perfkit bench` prints)
for the whole run, and the series for the worst bucket: each figure from the record that
holds it, never recomputed another way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfkit.bench.record import Phase, Run
from perfkit.bench.series import Series, SeriesLine
from perfkit.render.html.figures import (
    ACHIEVED_LOOK,
    BAND_OPACITY,
    ERRORS_LOOK,
    INTENDED_LOOK,
    PHASE_LOOKS,
    Chart,
    ChartKind,
    Fact,
    attr_number,
    clock,
    latency_axis,
    layout,
    plot_time,
    rgba,
)
from perfkit.render.model import Table, name, number
from perfkit.render.run import fmt_errors
from perfkit.stats import summary_ms
from perfkit.units import fmt_ms, fmt_rate

SLOW_SHARE = 0.9  # a bucket that sent less than this share of its intended starts fell behind


def _times(series: Series) -> list[str]:
    return [plot_time(series.start_epoch_s + k * series.width_s) for k in range(series.buckets)]


@dataclass(frozen=True)
class LineFigures:
    """One series line with its per-bucket figures, read once."""

    phase: Phase
    counts: list[int]
    errors: list[int]
    summary: dict[str, list[float | None]]

    @classmethod
    def of(cls, line: SeriesLine) -> LineFigures:
        return cls(Phase(line.phase), line.counts(), line.errors, line.summary())


def route_lines(series: Series, route: str) -> list[LineFigures]:
    """The route's lines, cold before warm before `all` (requests no phase applies to)."""
    lines = sorted((x for x in series.lines if x.route == route),
                   key=lambda x: Phase(x.phase).order)
    return [LineFigures.of(x) for x in lines]


def _contiguous(counts: list[int]) -> bool:
    """True when the line has requests in every bucket between its first and last: a band
    drawn across empty buckets would show figures that do not exist (sparse cold samples
    are markers only)."""
    filled = [k for k, n in enumerate(counts) if n]
    return len(filled) >= 2 and filled[-1] - filled[0] + 1 == len(filled)


def _hover(phase: Phase, stat: str) -> str:
    return f"%{{x}}<br>{phase.value} {stat} %{{y}} ms<br>%{{customdata}} requests<extra></extra>"


def _line_traces(line: LineFigures, times: list[str]) -> list[dict[str, Any]]:
    """p99 dashed, p50 solid, the band between them filled; the phase's colour and marker."""
    look, band, phase = PHASE_LOOKS[line.phase], _contiguous(line.counts), line.phase.value
    common = {"type": "scatter", "x": times, "customdata": line.counts,
              "mode": "lines+markers" if band else "markers", "connectgaps": False,
              "legendgroup": phase}
    p99 = {**common, "name": f"{phase} p99", "y": line.summary["p99"],
           "line": {"color": look.color, "dash": "dash", "width": 1.5},
           "marker": {"symbol": look.symbol + "-open", "size": 6, "color": look.color},
           "hovertemplate": _hover(line.phase, "p99")}
    p50 = {**common, "name": f"{phase} p50" + (" (band: p50-p99)" if band else ""),
           "y": line.summary["p50"], "fill": "tonexty" if band else "none",
           "fillcolor": rgba(look.color, BAND_OPACITY),
           "line": {"color": look.color, "width": 2},
           "marker": {"symbol": look.symbol, "size": 6, "color": look.color},
           "hovertemplate": _hover(line.phase, "p50")}
    return [p99, p50]


def _error_trace(errors: list[int], times: list[str]) -> dict[str, Any]:
    return {"type": "bar", "name": "errors per bucket", "x": times, "y": errors, "yaxis": "y2",
            "marker": {"color": ERRORS_LOOK.color,
                       "pattern": {"shape": ERRORS_LOOK.pattern, "fgcolor": "#ffffff",
                                   "fillmode": "overlay", "size": 6}},
            "opacity": 0.5, "hovertemplate": "%{x}<br>%{y} errors<extra></extra>"}


def _worst_bucket(line: LineFigures, series: Series) -> str:
    present = [(v, k) for k, v in enumerate(line.summary["p99"]) if v is not None]
    if not present:
        return ""
    value, k = max(present)
    at = clock(series.start_epoch_s + k * series.width_s)
    return f"; slowest {series.width_s} s bucket {at} (p99 {fmt_ms(value, unit=True)})"


def _latency_facts(run: Run, route: str, series: Series,
                   route_figures: list[LineFigures]) -> tuple[Fact, ...]:
    lines = {x.phase: x for x in route_figures}
    facts = []
    for phase in run.phases(route):
        rec = run.records[(route, phase)]
        s = summary_ms(rec.corrected)
        same = phase in lines and (phase is not Phase.ALL or len(lines) == 1)
        worst = _worst_bucket(lines[phase], series) if same else ""
        text = (f"{phase.value}: {rec.count} requests · p50 {fmt_ms(s['p50'])} · p99 "
                f"{fmt_ms(s['p99'])} · max {fmt_ms(s['max'])} ms over the run{worst}; errors: "
                f"{fmt_errors(rec.errors) if rec.errors else 'none'}")
        facts.append(Fact(text, {"phase": phase.value, "count": str(rec.count),
                                 "p50-ms": attr_number(s["p50"]),
                                 "p99-ms": attr_number(s["p99"]),
                                 "max-ms": attr_number(s["max"]),
                                 "errors": str(rec.error_count)}))
    return tuple(facts)


def _latency_table(series: Series, lines: list[LineFigures], errors: list[int]) -> Table:
    columns = [name(f"bucket start (UTC, {series.width_s} s)")]
    for line in lines:
        p = line.phase.value
        columns += [number(f"{p} n"), number(f"{p} p50 ms"), number(f"{p} p99 ms"),
                    number(f"{p} max ms")]
    columns.append(number("errors"))
    rows = []
    for k in range(series.buckets):
        if not errors[k] and not any(line.counts[k] for line in lines):
            continue
        row = [clock(series.start_epoch_s + k * series.width_s)]
        for line in lines:
            row += [str(line.counts[k]), fmt_ms(line.summary["p50"][k]),
                    fmt_ms(line.summary["p99"][k]), fmt_ms(line.summary["max"][k])]
        rows.append([*row, str(errors[k])])
    return Table.of(None, columns, rows)


def _errors_axis(errors: list[int]) -> dict[str, Any]:
    """The errors' own axis, on the right; the bars keep to the lowest third, under the
    latency lines."""
    return {"title": {"text": "errors"}, "overlaying": "y", "side": "right",
            "range": [0, 3 * max(errors)], "tickformat": "d", "showgrid": False,
            "zeroline": False}


def latency_chart(run: Run, label: str, route: str, key: str) -> Chart:
    """One route of one run: p50/p99 per bucket and phase, errors per bucket."""
    assert run.series is not None
    series, times = run.series, _times(run.series)
    lines = route_lines(series, route)
    traces = [t for line in lines for t in _line_traces(line, times)]
    errors = [sum(line.errors[k] for line in lines) for k in range(series.buckets)]
    extra: dict[str, Any] = {}
    if any(errors):
        traces.append(_error_trace(errors, times))
        extra["yaxis2"] = _errors_axis(errors)
    values = [v for line in lines for v in line.summary["p99"] + line.summary["p50"]]
    fig_layout = layout(f"{route}: latency over time", x_title="time (UTC)",
                        y_title="latency ms", yaxis=latency_axis(values), **extra)
    return Chart(key, ChartKind.LATENCY, f"{route}: latency over time ({label})",
                 {"data": traces, "layout": fig_layout},
                 _latency_facts(run, route, series, lines),
                 _latency_table(series, lines, errors), {"run": label, "route": route})


def _rate_unit(run: Run) -> str:
    return "req/s" if run.settings.steps_per_iteration == 1 else "iterations/s"


def _rate_facts(run: Run, series: Series) -> tuple[Fact, ...]:
    unit, width = _rate_unit(run), series.width_s
    sent = sum(series.sent)
    attrs = {"sent": str(sent), "width-s": str(width),
             "intended": "" if series.intended is None else str(sum(series.intended))}
    if series.intended is None:
        return (Fact(f"closed loop: {sent} iterations started; the rate follows the server "
                     f"(peak {fmt_rate(max(series.sent, default=0) / width)} {unit})", attrs),)
    intended = series.intended
    behind = [k for k in range(series.buckets) if intended[k]
              and series.sent[k] < SLOW_SHARE * intended[k]]
    text = (f"intended {fmt_rate(run.settings.iterations_per_s)} {unit}: {sum(intended)} "
            f"iterations scheduled, {sent} started")
    if behind:
        text += (f"; {len(behind)} bucket(s) sent less than {SLOW_SHARE:.0%} of their schedule,"
                 f" the first at {clock(series.start_epoch_s + behind[0] * width)}")
    else:
        text += f"; every bucket sent at least {SLOW_SHARE:.0%} of its schedule"
    return (Fact(text + " (the first and last buckets may be partial)", attrs),)


def rate_chart(run: Run, label: str, key: str) -> Chart:
    """Iterations per second the schedule intended vs those actually started."""
    assert run.series is not None
    series, times, unit = run.series, _times(run.series), _rate_unit(run)
    width = series.width_s
    traces: list[dict[str, Any]] = []
    if series.intended is not None:
        traces.append({"type": "scatter", "name": f"intended {unit}", "x": times,
                       "y": [n / width for n in series.intended], "mode": "lines",
                       "line": {"color": INTENDED_LOOK.color, "dash": INTENDED_LOOK.dash,
                                "shape": "hv", "width": 2}})
    traces.append({"type": "scatter", "name": f"achieved {unit}", "x": times,
                   "y": [n / width for n in series.sent], "mode": "lines+markers",
                   "line": {"color": ACHIEVED_LOOK.color, "shape": "hv", "width": 2},
                   "marker": {"symbol": ACHIEVED_LOOK.symbol, "size": 6}})
    rows = [[clock(series.start_epoch_s + k * width),
             "-" if series.intended is None else str(series.intended[k]), str(series.sent[k])]
            for k in range(series.buckets)]
    table = Table.of(None, (name(f"bucket start (UTC, {width} s)"), number("intended"),
                            number("started")), rows)
    fig_layout = layout("rate", x_title="time (UTC)", y_title=unit)
    return Chart(key, ChartKind.RATE, f"Intended vs achieved rate ({label})",
                 {"data": traces, "layout": fig_layout}, _rate_facts(run, series), table,
                 {"run": label})


def run_timeline_charts(run: Run, label: str, prefix: str) -> list[Chart]:
    """The rate chart, then one latency chart per route with a series line."""
    if run.series is None:
        return []
    routes = list(dict.fromkeys(line.route for line in run.series.lines))
    charts = [rate_chart(run, label, f"{prefix}-rate")]
    charts += [latency_chart(run, label, route, f"{prefix}-latency-{k}")
               for k, route in enumerate(routes)]
    return charts
