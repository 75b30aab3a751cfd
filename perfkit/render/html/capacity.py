"""The knee of a capacity search (`bench --find-max`): latency and achieved rate against the
offered rate, each step a point marked held or broke, the bracket drawn. k6, Locust and
Gatling leave the knee to the eye; the chart shows the one the search stated."""

from __future__ import annotations

from typing import Any

from perfkit.bench.capacity import Capacity, Step
from perfkit.render.html import figures
from perfkit.render.html.figures import (
    ACHIEVED_LOOK,
    INTENDED_LOOK,
    VERMILLION,
    Chart,
    ChartKind,
    Fact,
)
from perfkit.render.model import Table, name, number, text

HELD, BROKE = "circle", "x"


def _verdict(step: Step) -> str:
    return ("held" if step.held else "broke") + (" (estimate)" if step.on_estimate else "")


def _bracket_lines(capacity: Capacity) -> list[dict[str, Any]]:
    """Vertical lines at the highest rate held and the lowest that broke twice."""
    lines = []
    for rate, dash in ((capacity.max_rate_per_s, "solid"), (capacity.broke_at_per_s, "dot")):
        if rate is not None:
            lines.append({"type": "line", "xref": "x", "yref": "paper", "x0": rate, "x1": rate,
                          "y0": 0, "y1": 1, "line": {"color": "#444", "dash": dash}})
    return lines


def knee_chart(capacity: Capacity, label: str, key: str) -> Chart:
    steps = sorted(capacity.steps, key=lambda s: s.rate)
    rates = [s.rate for s in steps]
    p99 = [s.latency_ms.get("p99") for s in steps]
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "name": "p99 ms", "x": rates, "y": p99, "mode": "lines+markers",
         "line": {"color": VERMILLION, "width": 2},
         "marker": {"symbol": [HELD if s.held else BROKE for s in steps], "size": 9}},
        {"type": "scatter", "name": "achieved /s", "x": rates, "y": [s.achieved for s in steps],
         "yaxis": "y2", "mode": "lines+markers",
         "line": {"color": ACHIEVED_LOOK.color, "width": 2},
         "marker": {"symbol": ACHIEVED_LOOK.symbol, "size": 7}},
        {"type": "scatter", "name": "offered /s", "x": rates, "y": rates, "yaxis": "y2",
         "mode": "lines", "line": {"color": INTENDED_LOOK.color, "dash": INTENDED_LOOK.dash}}]
    fig_layout = figures.layout("capacity", x_title="offered rate /s (log scale)", y_title="p99 ms",
                        xaxis={"type": "log"}, yaxis=figures.latency_axis(p99),
                        yaxis2={"title": {"text": "rate /s"}, "overlaying": "y", "side": "right",
                                "rangemode": "tozero", "showgrid": False},
                        shapes=_bracket_lines(capacity))
    rows = [[f"{s.rate:.4g}", f"{s.achieved:.4g}", "-" if s.latency_ms.get("p99") is None
             else f"{s.latency_ms['p99']:g}", str(s.errors), _verdict(s)] for s in steps]
    table = Table.of(None, (name("offered /s"), number("achieved /s"), number("p99 ms"),
                            number("errors"), text("verdict")), rows)
    facts = (Fact(f"{capacity.bracket} within {capacity.slo} ({len(steps)} steps)",
                  {"max-rate": figures.attr_number(capacity.max_rate_per_s),
                   "broke-at": figures.attr_number(capacity.broke_at_per_s)}),
             Fact("each step's p99 (circle: held, cross: broke), the rate it achieved beside "
                  "the rate offered; lines at the highest rate held (solid) and the lowest "
                  "that broke (dotted)", {}))
    return Chart(key, ChartKind.CAPACITY, f"Capacity: latency and achieved rate against the "
                 f"offered rate ({label})", {"data": traces, "layout": fig_layout}, facts,
                 table, {"run": label})
