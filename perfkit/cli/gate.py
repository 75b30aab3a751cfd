"""`perfkit gate`: thresholds and a baseline comparison as a CI pass/fail."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat


def _percent(text: str, flag: str) -> float:
    import math

    from perfkit.errors import UsageError

    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{flag} {text!r} is not a percentage >= 0", hint=f"e.g. {flag} 10%")
    return value


def gate(
    record: Annotated[Path, typer.Argument(
        help="A bench run (perfkit.run/1) or a report (perfkit.report/1) JSON.")],
    baseline: Annotated[Path | None, typer.Option(
        help="Bench run to compare with (statistical regression check).")] = None,
    thresholds: Annotated[Path | None, typer.Option(
        help="YAML with a `thresholds:` mapping (default: perfkit.yaml).")] = None,
    max_regression: Annotated[str, typer.Option(
        help="Allowed slowdown of the mean vs the baseline (5% catches a 15% regression "
             "with ~1500 requests a run).")] = "5%",
    run_noise: Annotated[str, typer.Option(
        help="Run-to-run noise of a run's mean, added to each interval (measure it with A/A "
             "runs).")] = "0%",
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

    Thresholds like `warm.p99: "< 200ms"` come from perfkit.yaml; a baseline run is
    compared with a rank test (Holm-corrected) and a confidence interval of the change.

    Exit 0 pass, 1 fail, 2 usage, 4 inconclusive with --strict.

    Example: `perfkit gate run.json --baseline main.json --max-regression 10% --junit gate.xml`
    """
    from perfkit.bench.record import Run
    from perfkit.config import load_config_file
    from perfkit.errors import UsageError
    from perfkit.gate import (
        GateResult,
        check_thresholds_on_report,
        load_thresholds,
        run_gate,
    )
    from perfkit.jsonfile import read_json_object
    from perfkit.render.gate_markdown import gate_markdown
    from perfkit.render.junit import gate_junit

    config_path = thresholds or console.state.config_path
    config, found = load_config_file(config_path)
    source = str(found or "perfkit.yaml")
    data = read_json_object(record)
    margin = _percent(max_regression, "--max-regression")
    if data.get("schema") not in ("perfkit.run/1", "perfkit.report/1"):
        raise UsageError(f"{record}: neither a bench run (perfkit.run/1) nor a report "
                         "(perfkit.report/1)",
                         hint="use `perfkit bench --out` or `perfkit report --format json`")
    if data.get("schema") == "perfkit.report/1":
        if baseline is not None:
            raise UsageError("--baseline compares bench runs; a report has no per-request data",
                             hint="gate the report with thresholds only")
        rules = load_thresholds(config, source, for_report=True)
        if not rules:
            raise UsageError(f"nothing to check in {source}: no `thresholds:`")
        result = GateResult(check_thresholds_on_report(data, rules))
    else:
        run = Run.from_json(data, source=str(record))
        base = Run.load(baseline) if baseline is not None else None
        result = run_gate(run, thresholds=load_thresholds(config, source), baseline=base,
                          max_regression_pct=margin, alpha=alpha, min_samples=min_samples,
                          run_noise_pct=_percent(run_noise, "--run-noise"))

    summary = gate_markdown(result)
    if junit is not None:
        junit.write_text(gate_junit(result, strict=strict))
    if markdown is not None:
        markdown.write_text(summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(summary + "\n")

    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(result.to_json())
    elif output is OutputFormat.markdown:
        console.print_text(summary)
    else:
        rows = []
        for c in result.checks:
            value = "-" if c.value is None else f"{c.value:g}"
            rows.append([c.route, c.check, c.limit, value, c.status.upper(), c.detail])
        verdict = "PASSED" if result.passed else f"FAILED ({len(result.failed)} failing)"
        console.table(f"perfkit gate: {verdict}", ["route", "check", "limit", "value", "result",
                                                   "why"], rows)
    for check in result.inconclusive:
        console.warning(f"{check.route} {check.check}: inconclusive ({check.detail})")
    if not result.passed:
        raise typer.Exit(1)
    if strict and result.inconclusive:
        raise typer.Exit(4)
