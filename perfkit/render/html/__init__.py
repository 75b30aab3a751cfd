"""`perfkit plot`: one self-contained HTML page of runs, their comparison and a report.

    from perfkit.render.html import plot_page, story_page
    html = plot_page([("before", before_run), ("after", after_run)], report=record)

`story_page` is the same page for `perfkit demo story --html`: the story's before/after
runs, its report JSON and its comparison. Plotly's offline bundle is inlined (no network at
view time); see page.py for the layout and figures.py for the palette.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfkit.bench.compare import Comparison, compare_runs
from perfkit.bench.record import Run
from perfkit.errors import UsageError
from perfkit.prom.record import ReportRecord
from perfkit.prom.report import Report
from perfkit.render.html.page import render, sections
from perfkit.units import fmt_time

__all__ = ["Page", "ReportRecord", "plot_page", "story_page"]


@dataclass(frozen=True)
class Page:
    html: str
    charts: tuple[str, ...]  # the charts' keys, in page order

    @property
    def size_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


def _title(runs: Sequence[tuple[str, Run]], report: ReportRecord | None) -> str:
    if len(runs) == 1:
        run = runs[0][1]
        return f"perfkit: {run.settings.scenario or runs[0][0]} on {run.base_url}"
    if len(runs) == 2:
        return f"perfkit: {runs[0][0]} → {runs[1][0]}"
    if runs:
        return f"perfkit: {len(runs)} runs"
    assert report is not None
    return f"perfkit report: {report.split.label}"


def _when(iso: str) -> str:
    try:
        return fmt_time(iso)
    except ValueError:
        return iso


def _inputs(runs: Sequence[tuple[str, Run]], report: ReportRecord | None) -> list[str]:
    out = [f"run {label} from {_when(run.started_at)}" for label, run in runs]
    if report is not None:
        out.append(f"report split at {_when(report.split.at.isoformat())}")
    return out


def plot_page(runs: Sequence[tuple[str, Run]], report: ReportRecord | None = None, *,
              title: str | None = None, comparison: Comparison | None = None) -> Page:
    """The page of labelled runs (two: the first is before) and/or a report.

    With exactly two runs the comparison is `compare_runs(first, second)` unless given; a
    pair with no route in common is shown uncompared, with the reason."""
    if not runs and report is None:
        raise UsageError("nothing to plot: give bench runs and/or --report",
                         hint="e.g. perfkit plot before.json after.json -o perfkit.html")
    compare_error = None
    if comparison is None and len(runs) == 2:
        try:
            comparison = compare_runs(runs[0][1], runs[1][1])
        except UsageError as exc:
            compare_error = exc.message
    parts = sections(runs, report, comparison, compare_error)
    html = render(title or _title(runs, report), parts, _inputs(runs, report))
    return Page(html, tuple(c.key for s in parts for c in s.charts))


def story_page(before: Run, after: Run, report: ReportRecord | Report | Mapping[str, Any], *,
               comparison: Comparison | None = None,
               title: str = "perfkit demo story: before → after") -> Page:
    """The story's page: its runs as `before` and `after`, its report (typed, or its JSON
    perfkit.report/1) and its comparison (computed when not given). Write
    `story_page(...).html` to the file."""
    if isinstance(report, ReportRecord):
        record = report
    else:
        record = ReportRecord.from_json(report.to_json() if isinstance(report, Report)
                                        else report)
    return plot_page([("before", before), ("after", after)], record, title=title,
                     comparison=comparison)
