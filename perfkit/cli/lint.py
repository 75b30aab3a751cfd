"""`perfkit lint`: the schema's performance faults, each proven, each with its migration.

Imports of the core sit inside the commands (start-up: `perfkit lint --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat
from perfkit.cli.indexes import DsnOpt, FormatOpt

if TYPE_CHECKING:
    from perfkit.db.lint import LintReport, Severity

#: --min-age: from none at all to ten years of statistics.
MIN_AGE_MAX_S = 10 * 365 * 86400.0


def _write(path: Path, text: str) -> None:
    from perfkit.errors import UsageError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_fixes(report: LintReport, out: Path) -> None:
    from perfkit.db.lint.fix import index_migration, policies_path, policy_migration

    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    indexes = index_migration(report, written_at=stamp)
    policies = policy_migration(report, written_at=stamp)
    if indexes is None and policies is None:
        console.note(f"{out} not written: no finding to fix")
        return
    if indexes is not None:
        _write(out, indexes)
        console.success(f"wrote the index fixes to {out}: `perfkit apply-indexes {out}` "
                        "runs them CONCURRENTLY")
    if policies is not None:
        second = policies_path(out)
        _write(second, policies)
        console.success(f"wrote the policy fixes to {second}: run it as a regular migration "
                        "(it is not index DDL)")


def _fail(report: LintReport, level: Severity) -> None:
    from perfkit.errors import CheckFailed

    failing = report.at_or_above(level)
    if not failing:
        return
    shown = ", ".join(f"{f.rule} {f.object}" for f in failing[:5])
    more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
    raise CheckFailed(f"lint: {len(failing)} finding(s) at {level.label} or above: "
                      f"{shown}{more}",
                      hint="fix them (--out writes the migration) or suppress one with its "
                           "reason in perfkit.yaml lint.ignore")


def lint(
    schema: Annotated[list[str] | None, typer.Option(
        "--schema", help="A schema to lint (repeat for more; default: every schema but the "
                         "system's and those Supabase manages).", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the index fixes as a migration for apply-indexes; policy "
                      "rewrites go beside it (fix.sql -> fix.policies.sql).",
        show_default=False)] = None,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help="Exit 1 when a finding is at this level or above: warn or error "
                          "(info, an unused index, never fails).")] = "warn",
    min_age: Annotated[str, typer.Option(
        "--min-age", help="Call an index unused only when the statistics have counted this "
                          "long (7d, 12h, 0s).")] = "7d",
    dsn: DsnOpt = None,
    output_format: FormatOpt = None,
) -> None:
    """Find the schema's performance faults, each with the database's evidence and its fix.

    Unindexed foreign keys (the delete lookup's plan cost with and without a hypothetical
    index, HypoPG), duplicate, redundant, unused and INVALID indexes, row level security
    policies calling a function per row (EXPLAIN as the policy's role), several permissive
    policies for one role and action, large tables without a primary key. Read-only: works
    through a transaction pooler and leaves nothing on it. Suppress a finding in
    perfkit.yaml: `lint: {ignore: [{rule: unused_index, index: NAME, reason: WHY}]}`.

    Example: `perfkit lint --out fix.sql`, then `perfkit apply-indexes fix.sql`
    """
    from perfkit.db.lint import LintOptions
    from perfkit.db.lint import lint as run_lint
    from perfkit.db.lint.settings import fail_level, from_config
    from perfkit.durations import parse_duration_s
    from perfkit.render.lint import lint_document

    level = fail_level(fail_on)
    age_s = parse_duration_s(min_age, flag="--min-age", maximum_s=MIN_AGE_MAX_S)
    settings = console.settings(dsn=dsn)
    ignore, pk_min_rows = from_config(settings.config, str(settings.config_path or
                                                           "perfkit.yaml"))
    options = LintOptions(schemas=tuple(schema or ()), min_age_s=age_s,
                          pk_min_rows=pk_min_rows, ignore=ignore, fail_on=level)
    with console.status("linting the schema (read-only)"):
        report = run_lint(settings.dsn, options, on_retry=console.note)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(report.to_json())
    else:
        console.show(lint_document(report), output_format)
    if not report.hypopg and any(f.rule == "unindexed_foreign_key" for f in report.findings):
        console.warning("HypoPG is not installed: the unindexed foreign keys are reported "
                        "unproven (CREATE EXTENSION hypopg proves them)")
    if out is not None:
        _write_fixes(report, out)
    _fail(report, level)
