"""`perfkit doctor`: the seed's checklist against the configured (or demo) system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

_MARK = {"pass": "[x]", "fail": "[ ]", "skip": "[-]"}


def render_checklist(result: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.json:
        console.print_json(result)
        return
    if output is OutputFormat.markdown:
        lines = [f"- {_MARK[c['status']]} **{c['check']}**: {c['detail']}"
                 for c in result["checks"]]
        console.print_text("\n".join(lines))
        return
    rows = [[_MARK[c["status"]], c["check"], c["status"].upper(), c["detail"]]
            for c in result["checks"]]
    verdict = ("all pass" if result["passed"] else "SOME FAIL" if result.get("checked", True)
               else "NOTHING CHECKED (nothing configured)")
    console.table(f"perfkit doctor: {verdict}", ["", "check", "result", "detail"], rows)


def doctor(
    indexes: Annotated[list[Path] | None, typer.Argument(
        help="Index files or folders whose indexes must exist (default: indexes/).")] = None,
    since: Annotated[str, typer.Option(
        help="Prometheus window length for the before/after checks.")] = "5m",
    split: Annotated[str | None, typer.Option(
        help="Where the before window ends (event id or time; default: latest event).")]
    = None,
    base_url: Annotated[str | None, typer.Option(help="Backend base URL.")] = None,
    dsn: Annotated[str | None, typer.Option(help="Database DSN.")] = None,
    prometheus: Annotated[str | None, typer.Option("--prometheus",
                                                   help="Prometheus URL.")] = None,
    until: Annotated[str | None, typer.Option(
        help="End of the after window (ISO time; default: now).")] = None,
    log: Annotated[Path | None, typer.Option(help="Backend log with Cache HIT/MISS lines.")]
    = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """The seed's checklist, each line checked for real.

    Backend up, cache hits in the logs, indexes present, valid and used, Prometheus shows the
    improvement, /auth/me under 200 ms, 5xx near 0. Exit 1 if any line fails; lines whose
    system is not configured are skipped with the reason.

    Example: `perfkit doctor --since 10m`
    """
    from datetime import datetime

    from perfkit.db.parse import default_index_paths
    from perfkit.doctor import DoctorTarget, run_doctor
    from perfkit.errors import UsageError
    from perfkit.prom.windows import parse_duration_s

    try:
        until_at = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise UsageError(f"--until {until!r} is not an ISO time",
                         hint="e.g. --until 2026-11-25T14:05:00+00:00") from None
    settings = console.settings(base_url=base_url, dsn=dsn, prometheus_url=prometheus)
    target = DoctorTarget(
        base_url=settings.base_url, token=settings.token, dsn=settings.dsn,
        prometheus_url=settings.prometheus_url, prometheus_token=settings.prometheus_token,
        backend_log=log or settings.backend_log, index_paths=indexes or default_index_paths(),
        since_s=parse_duration_s(since), split=split, until=until_at, config=settings.config)
    with console.status("checking"):
        result = run_doctor(target)
    render_checklist(result.to_json(), console.fmt(output_format))
    if not result.passed:
        raise typer.Exit(1)
