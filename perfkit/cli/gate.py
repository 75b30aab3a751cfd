"""`perfkit gate`: thresholds and a baseline comparison as a CI pass/fail.

Imports of the core sit inside the commands (start-up: `perfkit gate --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.gate import GateResult


def gate(
    record: Annotated[Path, typer.Argument(
        help="A bench run (perfkit.run/2) or a report (perfkit.report/1) JSON.")],
    baseline: Annotated[Path | None, typer.Option(
        help="Bench run to compare with (statistical regression check).")] = None,
    thresholds: Annotated[Path | None, typer.Option(
        help="YAML with a `thresholds:` mapping (default: perfkit.yaml).")] = None,
    max_regression: Annotated[str, typer.Option(
        help="Allowed slowdown of the mean vs the baseline, 5% or 5 (5% catches a 15% "
             "regression with ~1500 requests a run).")] = "5%",
    run_noise: Annotated[str, typer.Option(
        help="Run-to-run noise of a run's mean added to one-run intervals: auto (1% + 60 µs, "
             "measured on loopback), a percentage of your own from A/A runs (2% or 2), or 0. "
             "Runs "
             "with --repeat 4+ a side measure the noise between runs and keep this for a "
             "shift between the before and the after blocks.")] = "auto",
    max_calls_rise: Annotated[float, typer.Option(
        help="Statements per request a route may gain over the baseline (runs with --dsn): "
             "an N+1 adds one per row, caches move it by fractions.", min=0.0)] = 0.5,
    alpha: Annotated[float, typer.Option(help="Significance level (after Holm).", min=0.0001,
                                         max=0.5)] = 0.05,
    min_samples: Annotated[int, typer.Option(
        help="Fewer samples a side is inconclusive.", min=2)] = 20,
    strict: Annotated[bool, typer.Option(
        help="Inconclusive checks fail the gate (exit 4).")] = False,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a markdown summary here.")] = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """CI regression gate: thresholds and a statistical baseline comparison.

    Thresholds like `warm.p99: "< 200ms"` or `db.calls: "<= 3"` (statements per request, a
    run with --dsn) come from perfkit.yaml; a baseline run is compared with a rank test
    (Holm-corrected) and a confidence interval of the change, and its statements per
    request exactly (an N+1 fails).

    Exit 0 pass, 1 fail, 2 usage, 4 inconclusive with --strict.

    Example: `perfkit gate run.json --baseline main.json --max-regression 10% --junit gate.xml`
    """
    from perfkit.config import load_config_file
    from perfkit.gate import GateOptions, gate_record
    from perfkit.percentages import parse_percent, parse_percent_or_auto
    from perfkit.records import load_run, load_run_or_report
    from perfkit.render.gate import gate_document
    from perfkit.render.markdown import document as markdown_document
    from perfkit.thresholds import load_thresholds

    config, found = load_config_file(thresholds or console.state.config_path)
    rules = load_thresholds(config, str(found or "perfkit.yaml"))
    options = GateOptions(
        max_regression_pct=parse_percent(max_regression, flag="--max-regression"), alpha=alpha,
        min_samples=min_samples, run_noise_pct=parse_percent_or_auto(run_noise,
                                                                     flag="--run-noise"),
        max_calls_rise=max_calls_rise)
    base = load_run(baseline) if baseline is not None else None
    gated = load_run_or_report(record)
    result = gate_record(gated, rules, base, options)
    doc = gate_document(result, strict=strict)
    _write_reports(result, markdown_document(doc), junit=junit, markdown=markdown,
                   strict=strict)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(result.to_json())
    else:
        console.show(doc, output_format)
    if result.inconclusive:
        console.warning(inconclusive_line(result, strict=strict))
    code = result.exit_code(strict=strict)
    if code:
        raise typer.Exit(code)


def inconclusive_line(result: GateResult, *, strict: bool) -> str:
    """The inconclusive checks in one line: the table has their details."""
    names = ", ".join(f"{c.route} {c.check.split(' ')[0]}" for c in result.inconclusive)
    consequence = "they fail the gate (--strict)" if strict else "--strict would fail on them"
    return (f"{len(result.inconclusive)} check(s) inconclusive, too few samples to judge: "
            f"{names}; {consequence}")


def _write_reports(result: GateResult, summary: str, *, junit: Path | None,
                   markdown: Path | None, strict: bool) -> None:
    """JUnit, the markdown summary, and GitHub's step summary when it is set."""
    from perfkit.atomic import write_output
    from perfkit.render.junit import gate_junit

    if junit is not None:
        write_output(junit, gate_junit(result, strict=strict), "--junit")
    if markdown is not None:
        write_output(markdown, summary, "--markdown")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(summary + "\n")
