"""What a chart of the page is: a Plotly figure, the sentences that say what it shows, and the
table of every figure it draws (its text equivalent, in the DOM for readers and tests).

The palette is Okabe and Ito's (distinct for the common colour-blindnesses); every series
also differs by dash, marker or fill pattern, so a grey printout still tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from perfkit.bench.record import Phase
from perfkit.render.model import Table

# Okabe-Ito
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#7F7F7F"


@dataclass(frozen=True)
class Look:
    """How one series is drawn: never by colour alone."""

    color: str
    symbol: str
    dash: str = "solid"
    pattern: str = ""


PHASE_LOOKS = {Phase.COLD: Look(VERMILLION, "triangle-up"),
               Phase.WARM: Look(BLUE, "circle"),
               Phase.ALL: Look(BLUISH_GREEN, "square")}
ERRORS_LOOK = Look(REDDISH_PURPLE, "x", pattern="x")
INTENDED_LOOK = Look(BLACK, "line-ew", dash="dash")
ACHIEVED_LOOK = Look(ORANGE, "diamond")
BEFORE_LOOK = Look(GREY, "square", dash="dash", pattern="/")
AFTER_LOOK = Look(BLUE, "circle")
RUN_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
BAND_OPACITY = 0.18
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


class ChartKind(StrEnum):
    LATENCY = "latency"  # latency over time, one route of one run
    RATE = "rate"  # intended vs achieved rate of one run
    SPECTRUM = "spectrum"  # HDR percentile spectrum of one route, every run overlaid
    BARS = "bars"  # a report's per-route before/after figures
    TIMELINE = "timeline"  # a report's windows and the change event
    CAPACITY = "capacity"  # a capacity search's steps against the offered rate
    SERIES = "series"  # a report's mean and P99 of one route over time


@dataclass(frozen=True)
class Fact:
    """One line of a chart's summary, and its figures exact in data-* attributes."""

    text: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    key: str  # unique in the page: the DOM ids derive from it
    kind: ChartKind
    title: str
    figure: dict[str, Any]  # Plotly's {"data": [...], "layout": {...}}: JSON for the page
    facts: tuple[Fact, ...]
    table: Table  # every figure the chart draws
    attrs: dict[str, str] = field(default_factory=dict)  # what the chart is of (run, route)


def attr_number(value: float | int | None) -> str:
    """A figure as a data-* attribute: exact (repr of the record's float), "" when missing."""
    return "" if value is None else repr(value)


def plot_time(epoch_s: float) -> str:
    """An instant as Plotly's date axis reads it: UTC, no offset (the axis says UTC)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def iso_epoch_s(iso: str) -> float:
    """A record's ISO timestamp (with offset; naive means UTC) as epoch seconds."""
    at = datetime.fromisoformat(iso)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def clock(epoch_s: float) -> str:
    """`14:05:10 UTC`: where a reader finds an instant on a time axis."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%S UTC")


def rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def layout(title: str, *, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    """The layout every chart shares: readable fonts, the legend under the plot (it fits a
    phone), room for tick labels, no title inside the plot (the page's heading has it)."""
    base: dict[str, Any] = {
        "font": {"family": FONT, "size": 13, "color": "#1a1a1a"},
        "margin": {"l": 64, "r": 24, "t": 8, "b": 48},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02,
                   "yanchor": "bottom"},
        "xaxis": {"title": {"text": x_title}, "automargin": True, "showline": True,
                  "linecolor": "#444", "gridcolor": "#e5e5e5"},
        "yaxis": {"title": {"text": y_title}, "automargin": True, "showline": True,
                  "linecolor": "#444", "gridcolor": "#e5e5e5", "rangemode": "tozero"},
        "modebar": {"orientation": "v"}, "hovermode": "closest",
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "meta": {"title": title}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


WIDE_RANGE = 20.0  # figures spanning more than this factor get a log axis


def latency_axis(values: list[float | None]) -> dict[str, Any]:
    """A latency y axis: logarithmic when the figures span more than WIDE_RANGE x (a 1 s
    stall beside 2 ms requests, a 400 ms "before" beside a 5 ms "after"), else linear from
    zero; its title says which."""
    present = [v for v in values if v is not None and v > 0]
    if present and max(present) / min(present) > WIDE_RANGE:
        return {"type": "log", "rangemode": "normal",
                "title": {"text": "latency ms (log scale)"}}
    return {"type": "linear", "title": {"text": "latency ms"}}
