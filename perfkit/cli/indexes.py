"""`perfkit apply-indexes` and `perfkit verify-indexes`: safe index builds, verified."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.db.apply import ApplyResult
    from perfkit.db.catalog import BuildProgress
    from perfkit.db.verify import VerifyReport

PathsArg = Annotated[list[Path] | None, typer.Argument(
    help="SQL files or folders of *.sql (default: indexes/).", show_default=False)]
DsnOpt = Annotated[str | None, typer.Option(
    "--dsn", help="PostgreSQL DSN (default: DATABASE_URL, PERFKIT_DSN, perfkit.yaml, demo).")]
FormatOpt = Annotated[OutputFormat | None, typer.Option(
    "--format", help="table, json or markdown.")]
ExplainOpt = Annotated[bool, typer.Option(
    "--explain", help="Run each index's declared query (-- perfkit:query) under EXPLAIN and "
                      "check that the plan uses the index.")]

#: PostgreSQL's lock_timeout is an int of milliseconds.
_LOCK_TIMEOUT_MAX_MS = 2**31 - 1
_DURATION_HINT = "e.g. 500ms, 5s, 2m, 1h, or a bare number of seconds"


def parse_duration_s(text: str, *, flag: str = "--lock-timeout") -> float:
    """perfkit's duration grammar (500ms, 5s, 2m, 1h, bare seconds), within lock_timeout's range.

    Below 1 ms is refused: lock_timeout = 0 means wait forever, queueing every writer behind
    the build.
    """
    from perfkit.durations import parse_duration_s as parse

    return parse(text, flag=flag, minimum_s=0.001, maximum_s=_LOCK_TIMEOUT_MAX_MS / 1000,
                 hint=_DURATION_HINT)


_VERIFY_HINT = ("verify-indexes checks the indexes that CREATE INDEX statements declare; "
                "pass your index migrations (default: indexes/)")
_APPLY_HINT = ("an index file holds CREATE INDEX or DROP INDEX statements (COMMENT ON and "
               "ANALYZE may go with them); nothing was applied")


def _statements(paths: list[Path] | None, *, verify: bool) -> list[Any]:
    """The files' statements; exit 2 when they hold nothing to verify or apply."""
    from perfkit.db.parse import (
        StatementKind,
        default_index_paths,
        load_statements,
        require_index_statements,
    )

    chosen = paths or default_index_paths()
    statements = load_statements(chosen)
    kinds = (StatementKind.CREATE_INDEX,) if verify else (
        StatementKind.CREATE_INDEX, StatementKind.DROP_INDEX)
    require_index_statements(chosen, statements, kinds=kinds,
                             hint=_VERIFY_HINT if verify else _APPLY_HINT)
    return statements


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    value = float(size_bytes)
    for unit in ("B", "kB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _plan_cell(check: Any) -> str:
    if check.plan is None:
        return "-"
    text = str(check.plan.describe())
    if check.plan.actual_ms is not None:
        text += f" ({check.plan.actual_ms:.2f} ms, cost {check.plan.total_cost:.0f})"
    if check.plan_before is not None:
        before = check.plan_before
        ms = f"{before.actual_ms:.2f} ms, " if before.actual_ms is not None else ""
        text = f"before: {before.describe()} ({ms}cost {before.total_cost:.0f}) -> {text}"
    return text


def _render_verify(report: VerifyReport, output: OutputFormat, explain: bool) -> None:
    if not report.indexes:
        console.note("no CREATE INDEX left to verify in these files")
        return
    columns = ["index", "table", "state", "idx_scan", "size"]
    if explain:
        columns += ["used by its query", "query ms"]
    rows = []
    for check in report.indexes:
        row = [check.name, check.table, check.state.value,
               "-" if check.idx_scan is None else str(check.idx_scan), _size(check.size_bytes)]
        if explain:
            used = {True: "yes", False: "NO", None: "-"}[check.used_by_query]
            ms = check.plan.actual_ms if check.plan else None
            row += [used, "-" if ms is None else f"{ms:.2f}"]
        rows.append(row)
    if output is OutputFormat.markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        console.print_text("\n".join(lines))
    else:
        console.table("indexes: expected vs database", columns, rows)
    plans = [f"  {c.name}: {_plan_cell(c)}" for c in report.indexes if c.plan is not None]
    if plans:
        console.print_text("plans of the declared queries:\n" + "\n".join(plans))
    for check in report.failing():
        console.warning(f"{check.name} ({check.source}): {check.state.value}: {check.detail}")


def _fail_if_not_ok(report: VerifyReport) -> None:
    from perfkit.errors import CheckFailed

    failing = report.failing()
    if failing:
        names = ", ".join(f"{c.name} {c.state.value}" for c in failing)
        raise CheckFailed(f"{len(failing)} of {len(report.indexes)} indexes not ok: {names}",
                          hint="run `perfkit apply-indexes`")


def verify_indexes(
    paths: PathsArg = None,
    dsn: DsnOpt = None,
    explain: ExplainOpt = False,
    output_format: FormatOpt = None,
) -> None:
    """Compare the indexes the files declare with the database: present, valid, same definition.

    Exit 1 when any is missing, INVALID, different or (with --explain) unused by its query.

    Example: `perfkit verify-indexes indexes/ --explain`
    """
    from perfkit.db.connect import connect
    from perfkit.db.verify import verify_indexes as verify

    statements = _statements(paths, verify=True)
    settings = console.settings(dsn=dsn)
    with connect(settings.dsn) as conn:
        report = verify(conn, statements, explain=explain)
    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(report.to_json())
    else:
        _render_verify(report, output, explain)
    _fail_if_not_ok(report)


def _render_apply(result: ApplyResult, output: OutputFormat, explain: bool) -> None:
    if output is OutputFormat.json:
        console.print_json(result.to_json())
        return
    columns = ["statement", "table", "action", "time", "source"]
    rows = []
    for step in result.steps:
        took = "-" if step.duration_s is None else f"{step.duration_s:.1f} s"
        action = step.action.value + ("" if step.done or result.dry_run or step.action.value in (
            "unchanged", "already-absent", "conflict") else " (skipped)")
        if result.dry_run and step.action.value == "analyze":
            action = "analyze (if anything changes)"
        rows.append([step.name, step.table or "-", action, took, str(step.statement.source)])
    title = "apply-indexes: plan (dry run, nothing changed)" if result.dry_run else "apply-indexes"
    if output is OutputFormat.markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        console.print_text(f"**{title}**\n\n" + "\n".join(lines) + "\n")
    else:
        console.table(title, columns, rows)
    if result.dry_run:
        for step in result.steps:
            for statement in step.sql:
                console.print_text(f"  {statement};")
    if result.verify is not None:
        _render_verify(result.verify, output, explain)


def _progress_sink(prog: Any) -> Any:
    tasks: dict[str, Any] = {}

    def update(sample: BuildProgress) -> None:
        done, total = sample.fraction
        label = f"{sample.index_name}: {sample.phase}"
        if sample.index_name not in tasks:
            tasks[sample.index_name] = prog.add_task(label, total=total or None)
        prog.update(tasks[sample.index_name], description=label, completed=done,
                    total=total or None)

    return update


def apply_indexes(
    paths: PathsArg = None,
    dsn: DsnOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, change nothing.")]
    = False,
    lock_timeout: Annotated[str, typer.Option(
        "--lock-timeout", help="lock_timeout per attempt: 500ms, 5s, 2m, 1h or seconds.")] = "5s",
    retries: Annotated[int, typer.Option(
        "--retries", help="Retries after a lock timeout (with backoff).", min=0, max=20)] = 3,
    no_analyze: Annotated[bool, typer.Option(
        "--no-analyze", help="Do not ANALYZE the tables after building.")] = False,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Rebuild an index whose name exists with another definition.")]
    = False,
    explain: ExplainOpt = False,
    output_format: FormatOpt = None,
) -> None:
    """Build the indexes the files declare, CONCURRENTLY, then ANALYZE, verify and record an event.

    Writes are never blocked: plain CREATE INDEX is rewritten to CONCURRENTLY, lock_timeout
    with retries keeps a busy table from queueing writers behind perfkit, INVALID leftovers
    of failed builds are dropped and rebuilt.

    Example: `perfkit apply-indexes indexes/ --dry-run`
    """
    from perfkit.db.apply import ApplyOptions
    from perfkit.db.apply import apply_indexes as apply
    from perfkit.errors import CheckFailed

    statements = _statements(paths, verify=False)
    settings = console.settings(dsn=dsn)
    options = ApplyOptions(dry_run=dry_run, lock_timeout_s=parse_duration_s(lock_timeout),
                           lock_retries=retries, analyze=not no_analyze, replace=replace,
                           explain=explain)
    from perfkit.db.connect import pooler_warning

    warning = pooler_warning(settings.dsn or "")
    if warning:
        console.warning(warning)
    with console.progress() as prog:
        result = apply(settings.dsn, statements, options, progress=_progress_sink(prog),
                       notify=console.note)
    _render_apply(result, console.fmt(output_format), explain)
    if result.dry_run:
        for step in result.steps:
            if step.builds and step.statement.rewritten:
                console.note(f"{step.statement.source}: {step.name} will be built CONCURRENTLY "
                             "(added: a plain CREATE INDEX blocks every write for the whole "
                             "build)")
    if result.conflicts:
        names = ", ".join(s.name for s in result.conflicts)
        raise CheckFailed(f"conflict: {names} exists with another definition; nothing was "
                          "applied", hint="rerun with --replace to rebuild it")
    if result.analyzed:
        console.note(f"analyzed: {', '.join(result.analyzed)}")
    if result.event_id:
        console.success(f"change event {result.event_id} recorded (`perfkit report --split "
                        f"{result.event_id}`)")
    if result.verify is not None:
        _fail_if_not_ok(result.verify)
