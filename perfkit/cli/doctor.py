"""`perfkit doctor`: the checklist against the configured (or demo) system.

Imports of the core sit inside the commands (start-up: `perfkit doctor --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.config import Settings
    from perfkit.doctor import Rule


def _index_paths(given: list[Path] | None, settings: Settings) -> list[Path]:
    """The migrations named, else ./indexes/, else (the demo only) the shipped ones."""
    from perfkit.db.migration_reader import SHIPPED_INDEXES

    if given:
        return given
    if Path("indexes").is_dir():
        return [Path("indexes")]
    return [SHIPPED_INDEXES] if "dsn" in settings.from_demo else []


def _rules(settings: Settings) -> list[Rule]:
    """`checks:` of perfkit.yaml, else the demo's default list (on the demo stack only)."""
    from perfkit.doctor import DEMO_RULES, load_rules

    rules = load_rules(settings.config, str(settings.config_path or "perfkit.yaml"))
    if not rules and "base_url" in settings.from_demo:
        return list(DEMO_RULES)
    return rules


def doctor(
    indexes: Annotated[list[Path] | None, typer.Argument(
        help="Index migrations whose indexes must exist (default: ./indexes/; on the demo "
             "stack, its migration).")] = None,
    since: Annotated[str, typer.Option(
        help="Prometheus window length for the before/after checks.")] = "5m",
    split: Annotated[str | None, typer.Option(
        help="Where the before window ends (event id or time; default: latest event).")]
    = None,
    base_url: Annotated[str | None, typer.Option(
        help="Backend base URL (default: PERFKIT_BASE_URL, perfkit.yaml, demo).")] = None,
    dsn: Annotated[str | None, typer.Option(
        help="Database DSN (default: PERFKIT_DSN, DATABASE_URL, perfkit.yaml, demo).")] = None,
    prometheus: Annotated[str | None, typer.Option(
        "--prometheus", help="Prometheus URL (default: PROMETHEUS_URL, perfkit.yaml, demo).")]
    = None,
    until: Annotated[str | None, typer.Option(
        help="End of the after window (ISO time; default: now).")] = None,
    log: Annotated[Path | None, typer.Option(help="Backend log with Cache HIT/MISS lines.")]
    = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """A checklist of the system, each line checked for real.

    On any backend: it answers, the indexes of your migrations are present, valid and used,
    Prometheus has request metrics, 5xx near 0%, no route slower than before beyond noise,
    and the cache hits when the log shows one. `checks:` in perfkit.yaml adds limits per
    route (e.g. {route: /auth/me, mean: "< 200ms"}). Exit 1 if any line fails; a line whose
    system is not configured, or with too few requests to judge, is skipped with the reason.

    Example: `perfkit doctor migrations/ --since 10m`
    """
    from datetime import datetime

    from perfkit.doctor import DoctorTarget, run_doctor
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError
    from perfkit.render.doctor import doctor_document

    try:
        until_at = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise UsageError(f"--until {until!r} is not an ISO time",
                         hint="e.g. --until 2026-11-25T14:05:00+00:00") from None
    settings = console.settings(base_url=base_url, dsn=dsn, prometheus_url=prometheus)
    target = DoctorTarget(
        base_url=settings.base_url, token=settings.token, dsn=settings.dsn,
        prometheus_url=settings.prometheus_url, prometheus_token=settings.prometheus_token,
        backend_log=log or settings.backend_log, index_paths=_index_paths(indexes, settings),
        since_s=parse_duration_s(since, flag="--since"), split=split, until=until_at,
        config=settings.config, rules=_rules(settings), on_retry=console.note)
    with console.status("checking the system, line by line"):
        result = run_doctor(target)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(result.to_json())
    else:
        console.show(doctor_document(result), output_format)
    if not result.passed:
        raise typer.Exit(1)
