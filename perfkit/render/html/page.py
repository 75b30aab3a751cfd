"""The page: sections of charts with their tables beside them, filled into one HTML template
with Plotly's offline bundle, the stylesheet and the renderer inlined (nothing is fetched
when the page is viewed).

A section pairs charts with the verdicts they illustrate: the report's timeline and bars
with its verdict table, the spectra with `perfkit compare`'s table, a run's latency over
time with its `perfkit bench` table. Every chart is a <figure> whose caption lists the
figures it shows, with a table of every point it draws: the page reads without JavaScript,
to a screen reader, and on paper.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any

from perfkit import __version__
from perfkit.bench.compare import Comparison
from perfkit.bench.record import Run
from perfkit.prom.record import ReportRecord
from perfkit.render.compare import compare_document
from perfkit.render.html import tables
from perfkit.render.html.capacity import knee_chart
from perfkit.render.html.figures import Chart
from perfkit.render.html.prometheus import report_charts, report_table
from perfkit.render.html.spectrum import spectrum_charts
from perfkit.render.html.timeline import run_timeline_charts
from perfkit.render.html.verdicts import compare_verdicts, report_verdicts, run_verdicts
from perfkit.render.model import Document
from perfkit.render.run import run_document, run_warnings

ASSETS = ("template.html", "style.css", "renderer.js")
_SLOT = re.compile(r"<!--perfkit:(\w+)-->")


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    intro: str
    charts: list[Chart]
    aside: Document = field(default_factory=Document)  # short tables, beside the charts
    full: Document = field(default_factory=Document)  # the tables as perfkit prints them


def _asset(name: str) -> str:
    return resources.files("perfkit.render.html").joinpath(name).read_text(encoding="utf-8")


def plotly_js() -> str:
    """Plotly's offline bundle, from the `plotly` package (no network, no CDN)."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    return re.sub(r"</(script)", r"<\\/\1", str(get_plotlyjs()), flags=re.IGNORECASE)


def _figure(chart: Chart) -> str:
    key = escape(chart.key)
    height = chart.figure["layout"].get("height")
    style = f' style="height:{int(height)}px"' if height else ""
    facts = "".join(f"<li{tables.attrs(f.attrs)}>{escape(f.text)}</li>" for f in chart.facts)
    return (f'<figure class="chart" id="{key}"{tables.attrs({"kind": chart.kind.value})}'
            f"{tables.attrs(chart.attrs)}>"
            f'<h3 class="chart-title" id="{key}-title">{escape(chart.title)}</h3>'
            f'<div class="plot" id="{key}-plot" data-plot="{key}" role="img" '
            f'aria-labelledby="{key}-title" aria-describedby="{key}-summary"{style}></div>'
            f'<figcaption id="{key}-summary"><ul class="facts">{facts}</ul>'
            f"<details><summary>Every figure of this chart</summary>"
            f"{tables.table(chart.table, label=chart.title)}</details></figcaption></figure>")


def _section(section: Section) -> str:
    key = escape(section.key)
    charts = "\n".join(_figure(c) for c in section.charts)
    aside = tables.document(section.aside)
    side = f'<aside class="verdicts" aria-label="Verdicts">{aside}</aside>' if aside else ""
    full = tables.document(section.full)
    tail = (f'<div class="full"><h3>All figures, as perfkit prints them</h3>{full}</div>'
            if full else "")
    return (f'<section class="pair" id="{key}" aria-labelledby="{key}-h">'
            f'<h2 id="{key}-h">{escape(section.heading)}</h2>'
            f'<p class="intro">{escape(section.intro)}</p>'
            f'<div class="charts">{charts}</div>{side}{tail}</section>')


def _report_section(report: ReportRecord, runs: Sequence[tuple[str, Run]]) -> Section:
    aside = Document().table(report_verdicts(report))
    full = Document().table(report_table(report))
    if report.warnings:
        full.heading("Warnings").lines(*report.warnings, bullets=True)
    intro = (f"Per-route figures of two Prometheus windows ({report.profile or 'no profile'}"
             f" metrics from {report.prometheus_url or 'Prometheus'}), split at the change. "
             "Grey hatched: before; blue: after.")
    return Section("prometheus", "The change, as Prometheus saw it", intro,
                   report_charts(report, runs), aside, full)


def _compare_aside(runs: Sequence[tuple[str, Run]], comparison: Comparison | None,
                   compare_error: str | None) -> Document:
    doc = Document()
    if comparison is not None:
        doc.table(compare_verdicts(comparison))
    elif compare_error:
        doc.lines(f"not compared: {compare_error}")
    elif len(runs) > 2:
        doc.lines("compare judges two runs: give exactly two to see verdicts; these are only "
                  "overlaid")
    return doc


def _spectrum_section(runs: Sequence[tuple[str, Run]], comparison: Comparison | None,
                      compare_error: str | None) -> Section:
    who = ("before (dashed) and after (solid) overlaid" if len(runs) == 2 else
           "one line per run and phase" if len(runs) > 2 else "one line per phase")
    intro = ("Latency against percentile, as HdrHistogram plots it: the axis is 1/(1-p) on a "
             f"log scale, so the tail gets the room; {who}. Colour and marker: "
             "cold (triangle), warm (circle), all (square).")
    full = compare_document(comparison) if comparison is not None else Document()
    return Section("spectrum", "Percentile spectrum", intro, spectrum_charts(runs),
                   _compare_aside(runs, comparison, compare_error), full)


def _run_section(label: str, run: Run, index: int) -> Section:
    aside = Document().table(run_verdicts(run, label))
    warnings = run_warnings(run)
    if warnings:
        aside.heading("Warnings").lines(*warnings, bullets=True)
    width = f"{run.series.width_s} s" if run.series is not None else "-"
    intro = (f"{run.settings.scenario or 'run'} on {run.base_url}, from {run.started_at}. "
             f"Per {width} bucket: p50 (solid) and p99 (dashed), the band between them; "
             "errors as hatched bars; the rate the schedule intended vs the one achieved."
             + ("" if run.series is not None else " This record has no time series "
                "(made by an older perfkit): only its tables are shown."))
    return Section(f"run-{index}", f"Latency over time: {label}", intro,
                   run_timeline_charts(run, label, f"run{index}"), aside, run_document(run))


def sections(runs: Sequence[tuple[str, Run]], report: ReportRecord | None,
             comparison: Comparison | None, compare_error: str | None) -> list[Section]:
    out = [_report_section(report, runs)] if report is not None else []
    if runs:
        out.append(_spectrum_section(runs, comparison, compare_error))
    searched = [(label, run) for label, run in runs if run.capacity is not None]
    if searched:
        out.append(_capacity_section(searched))
    out += [_run_section(label, run, k) for k, (label, run) in enumerate(runs)]
    return out


def _capacity_section(runs: Sequence[tuple[str, Run]]) -> Section:
    charts = [knee_chart(run.capacity, label, f"capacity-{k}")
              for k, (label, run) in enumerate(runs) if run.capacity is not None]
    intro = ("bench --find-max: every step of the search at its offered rate, its p99 and the "
             "rate the target achieved; where they part is the knee, bracketed by the search.")
    return Section("capacity", "Capacity", intro, charts)


def _header(title: str, parts: list[Section], inputs: list[str]) -> str:
    nav = "".join(f'<li><a href="#{escape(s.key)}">{escape(s.heading)}</a></li>'
                  for s in parts)
    made = ", ".join(inputs)
    return (f"<header><h1>{escape(title)}</h1><p class=\"meta\">perfkit {escape(__version__)}"
            f" · {escape(made)}</p><nav aria-label=\"Sections\"><ul>{nav}</ul></nav></header>")


def _data(charts: list[Chart]) -> str:
    specs: dict[str, Any] = {c.key: c.figure for c in charts}
    return json.dumps(specs, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def render(title: str, parts: list[Section], inputs: list[str]) -> str:
    """The whole page, one string."""
    charts = [c for s in parts for c in s.charts]
    body = _header(title, parts, inputs) + "<main>" + "\n".join(
        _section(s) for s in parts) + "</main>"
    slots = {"title": escape(title), "style": _asset("style.css"), "body": body,
             "plotly": plotly_js(), "data": _data(charts), "renderer": _asset("renderer.js")}
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("template.html"))
