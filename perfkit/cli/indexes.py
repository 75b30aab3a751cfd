"""`perfkit apply-indexes` and `perfkit verify-indexes`: safe index builds, verified.

Imports of the core sit inside the commands (start-up: `perfkit apply-indexes --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.db.apply import ApplyResult
    from perfkit.db.catalog import BuildProgress
    from perfkit.db.migration_reader import IndexStatement
    from perfkit.db.verify import VerifyReport

PathsArg = Annotated[list[Path] | None, typer.Argument(
    help="SQL files or folders of *.sql (default: ./indexes/; without it, the demo's migration, "
         "on the demo's database only).", show_default=False)]
DsnOpt = Annotated[str | None, typer.Option(
    "--dsn", help="PostgreSQL DSN (default: PERFKIT_DSN, DATABASE_URL, perfkit.yaml, demo).")]
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


@contextmanager
def _about_the_default(paths: list[Path] | None, command: str) -> Iterator[None]:
    """An error in the runbook's migration, used because no path was given and there is no
    ./indexes/ here, says so: the user never named that file."""
    from perfkit.db.migration_reader import SHIPPED_INDEXES, default_index_paths
    from perfkit.errors import PerfkitError

    try:
        yield
    except PerfkitError as exc:
        if not paths and default_index_paths() == [SHIPPED_INDEXES]:
            exc.hint = ((f"{exc.hint}; " if exc.hint else "") + "no path given and no "
                        "./indexes/ here, so that is the runbook's migration shipped with "
                        f"perfkit: give yours, e.g. perfkit {command} migrations/")
        raise


def _shipped_only_on_the_demo(paths: list[Path] | None, dsn: str | None, command: str) -> None:
    """The runbook's migration (no path given, no ./indexes/ here) is for the demo's database
    only (the DSN of the running demo stack, or a database carrying the demo's marker table):
    anywhere else it would build WhatsApp indexes nobody asked for. Exit 2, nothing done."""
    from perfkit.config import database_identity, demo_defaults, load_demo_state
    from perfkit.db.connect import connect
    from perfkit.db.migration_reader import SHIPPED_INDEXES, default_index_paths
    from perfkit.demo.data import holds_demo_data
    from perfkit.errors import UsageError

    if paths or default_index_paths() != [SHIPPED_INDEXES]:
        return
    database = database_identity(dsn)
    if database and database == database_identity(demo_defaults(load_demo_state())["dsn"]):
        return
    with connect(dsn) as conn:
        if holds_demo_data(conn):
            return
    raise UsageError(f"no path given and no ./indexes/ here, and the migration shipped with "
                     f"perfkit is for the demo's database only: {database} is not it",
                     hint=f"give your migration: perfkit {command} path/to/indexes.sql, or "
                          "write one with perfkit advise-indexes --out indexes.sql")


def _statements(paths: list[Path] | None, *, verify: bool) -> list[IndexStatement]:
    """The files' statements; exit 2 when they hold nothing to verify or apply."""
    from perfkit.db.migration_reader import (
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


def _files(statements: list[IndexStatement]) -> str:
    """The files the statements come from, for a message: one named, else how many."""
    paths = list(dict.fromkeys(str(s.source.path) for s in statements))
    return paths[0] if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more file(s)"


def _warn_failing(report: VerifyReport) -> None:
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
    from perfkit.db.retry import once
    from perfkit.db.verify import verify_indexes as verify

    settings = console.settings(dsn=dsn)
    _shipped_only_on_the_demo(paths, settings.dsn, "verify-indexes")
    with _about_the_default(paths, "verify-indexes"):
        statements = _statements(paths, verify=True)
        report = once(settings.dsn, lambda conn: verify(conn, statements, explain=explain),
                      doing=f"verifying the indexes of {_files(statements)}",
                      say=console.note)
    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(report.to_json())
    else:
        from perfkit.render.indexes import verify_document

        console.show(verify_document(report, explain), output)
        _warn_failing(report)
    _fail_if_not_ok(report)


def _render_apply(result: ApplyResult, output: OutputFormat, explain: bool) -> None:
    if output is OutputFormat.json:
        console.print_json(result.to_json())
        return
    from perfkit.render.indexes import apply_document

    console.show(apply_document(result, explain), output)
    if result.verify is not None:
        _warn_failing(result.verify)


def _after_apply(result: ApplyResult) -> None:
    """What apply-indexes says on stderr once the results are printed, and its exit code."""
    from perfkit.errors import CheckFailed

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

    statements = _statements(paths, verify=False)
    settings = console.settings(dsn=dsn)
    _shipped_only_on_the_demo(paths, settings.dsn, "apply-indexes")
    options = ApplyOptions(dry_run=dry_run, lock_timeout_s=parse_duration_s(lock_timeout),
                           lock_retries=retries, analyze=not no_analyze, replace=replace,
                           explain=explain)
    with console.progress() as prog, _about_the_default(paths, "apply-indexes"):
        result = apply(settings.dsn, statements, options, progress=_progress_sink(prog),
                       notify=console.note)
    _render_apply(result, console.fmt(output_format), explain)
    _after_apply(result)
