"""`perfkit plot`: bench runs and a report as one self-contained HTML page.

Imports of the core sit inside the commands (start-up: `perfkit plot --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.bench.record import Run
    from perfkit.prom.record import ReportRecord

PLOT_SCHEMA = "perfkit.plot/1"


def _load_run(path: Path) -> Run:
    """A bench run; a report given in its place is told where it belongs."""
    from perfkit.errors import UsageError
    from perfkit.prom.record import ReportRecord
    from perfkit.records import load_run_or_report

    record = load_run_or_report(path)
    if isinstance(record, ReportRecord):
        raise UsageError(f"{path} is a Prometheus report, not a bench run",
                         hint=f"pass it with --report {path}")
    return record


def _load_report(path: Path) -> ReportRecord:
    from perfkit.records import load_report

    return load_report(path, label="--report")


def _labels(paths: list[Path]) -> list[str]:
    """File names, or the paths as given when two runs share a name."""
    names = [p.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _save(out: Path, page: str) -> None:
    from perfkit.atomic import write_output

    write_output(out, page, "-o")


def _summary(out: Path, size: int, runs: list[str], report: Path | None,
             charts: int) -> dict[str, Any]:
    return {"schema": PLOT_SCHEMA, "path": str(out), "bytes": size, "runs": runs,
            "report": None if report is None else str(report), "charts": charts}


def plot(
    runs: Annotated[list[Path] | None, typer.Argument(
        help="Bench runs (perfkit bench --out). Two runs: the first is before, the second "
             "after.", show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="A report (perfkit report --format json) to draw beside them.")]
    = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")]
    = Path("perfkit.html"),
    title: Annotated[str | None, typer.Option(help="The page's title.")] = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown (what is printed about the page).")] = None,
) -> None:
    """One self-contained HTML page: latency over time, the percentile spectrum (before and
    after overlaid), Prometheus before/after, and the verdicts beside the charts.

    The page inlines its JavaScript and CSS: it opens offline, e.g. as a CI artifact.

    Example: `perfkit plot before.json after.json --report report.json -o perfkit.html`
    """
    from perfkit.errors import UsageError
    from perfkit.jsonfile import check_writable
    from perfkit.render.html import plot_page
    from perfkit.units import fmt_size

    check_writable(out, "-o")
    paths = list(runs or [])
    if not paths and report is None:
        raise UsageError("nothing to plot: give bench runs and/or --report",
                         hint="e.g. perfkit plot before.json after.json -o perfkit.html")
    loaded = list(zip(_labels(paths), [_load_run(p) for p in paths], strict=True))
    record = _load_report(report) if report is not None else None
    page = plot_page(loaded, record, title=title)
    _save(out, page.html)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(_summary(out, page.size_bytes, [str(p) for p in paths], report,
                                    len(page.charts)))
    else:
        console.print_text(f"wrote {out} ({fmt_size(page.size_bytes)}, {len(page.charts)} "
                           "charts)")
