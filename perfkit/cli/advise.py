"""`perfkit advise-indexes`: the indexes the traffic needs, proven with HypoPG.

Imports of the core sit inside the commands (start-up: `perfkit advise-indexes --help` and shell
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
    from perfkit.db.advisor.record import Advice, Source
    from perfkit.db.statements import DbStats
    from perfkit.db.vocabulary import TableName

#: --since: at least a second of traffic, at most an hour of waiting.
SINCE_MIN_S, SINCE_MAX_S = 1.0, 3600.0


def _observe(dsn: str | None, since: str) -> tuple[DbStats, Source, dict[TableName, float]]:
    from perfkit.db.advisor.orchestrate import watch
    from perfkit.db.advisor.record import Source, SourceKind
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError

    seconds = parse_duration_s(since, flag="--since", minimum_s=SINCE_MIN_S,
                               maximum_s=SINCE_MAX_S)
    if not dsn:
        raise UsageError("no database to observe", hint="pass --dsn, set DATABASE_URL or "
                         "PERFKIT_DSN, or run `perfkit demo up`")
    with console.progress() as prog:
        task = prog.add_task(f"observing the database's traffic for {seconds:g} s",
                             total=seconds)
        stats, writes = watch(dsn, seconds,
                              lambda elapsed: prog.update(task, completed=elapsed),
                              say=console.note)
    return stats, Source(SourceKind.WINDOW, f"{seconds:g} s", seconds=seconds), writes


def _statements(dsn: str | None, from_run: Path | None, since: str | None
                ) -> tuple[DbStats, Source, dict[TableName, float] | None]:
    """The statements to advise on: a run's, a window's, or everything since the reset."""
    from perfkit.db.advisor.record import Source, SourceKind
    from perfkit.db.statements import cumulative, run_statements

    if from_run is not None:
        return run_statements(from_run), Source(SourceKind.RUN, str(from_run)), None
    if since is not None:
        return _observe(dsn, since)
    stats, reset = cumulative(dsn)
    return stats, Source(SourceKind.CUMULATIVE, "pg_stat_statements", since=reset), None


def _untouched(out: Path | None) -> str:
    """What --out holds after an interrupt: never a part of a migration (written whole or not
    at all), so the previous file or nothing."""
    if out is None:
        return "nothing to write (no --out)"
    return f"{out} still holds its previous content" if out.exists() else \
        f"nothing was written to {out}"


def _write(advice: Advice, out: Path) -> None:
    from perfkit.atomic import write_output
    from perfkit.db.advisor.migration_writer import migration_text
    from perfkit.errors import Interrupted

    text = migration_text(advice, written_at=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    if text is None:
        why = "no index is proven (HypoPG is missing)" if not advice.hypopg and (
            advice.indexes) else "nothing to propose"
        console.note(f"{out} not written: {why}")
        return
    try:
        write_output(out, text, "--out")
    except KeyboardInterrupt:
        raise Interrupted(f"advise-indexes interrupted while writing --out: {_untouched(out)}; "
                          "the advice is printed above") from None
    count = sum(1 for i in advice.indexes if i.proven)
    console.success(f"wrote {count} index(es) to {out}: `perfkit apply-indexes {out} "
                    f"--explain` builds them, `perfkit verify-indexes {out} --explain` proves "
                    "them")


def advise_indexes(
    from_run: Annotated[Path | None, typer.Option(
        "--from", help="A bench run record with db.statements (bench with a DSN).",
        show_default=False)] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Observe the live traffic for this long (1s to 1h), then advise.",
        show_default=False)] = None,
    top: Annotated[int, typer.Option(
        "--top", help="How many of the costliest statements to advise on.", min=1,
        max=100)] = 10,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the proven indexes as a migration for apply-indexes.",
        show_default=False)] = None,
    explain_choice: Annotated[bool, typer.Option(
        "--explain-choice", help="Also say why each candidate index was kept or dropped "
                                 "(the JSON always has it: choices).")] = False,
    dsn: DsnOpt = None,
    output_format: FormatOpt = None,
) -> None:
    """Propose the indexes the traffic needs, each proven with HypoPG, without changing the
    database.

    Reads the costliest statements from pg_stat_statements (a bench run's with --from, live
    traffic with --since, else everything since the statistics' last reset), derives
    candidate btree indexes from their SQL and keeps those that cut a statement's plan cost
    by half or more, on the generic plan or with the heaviest value, over the existing
    indexes, and save at least 0.25% of the source's database time by their own cut. Only
    hypothetical indexes are created, in read-only transactions that keep nothing.

    Example: `perfkit advise-indexes --since 10m --out indexes/020_advised.sql`
    """
    from perfkit.db.advisor.orchestrate import advise
    from perfkit.errors import Interrupted, UsageError
    from perfkit.jsonfile import check_writable
    from perfkit.render.advice import advice_document, choice_table

    if from_run is not None and since is not None:
        raise UsageError("--from and --since are exclusive",
                         hint="advise on a run's statements or on live traffic, not both")
    settings = console.settings(dsn=dsn)
    if out is not None:
        check_writable(out, "--out")  # before minutes of --since, not after
    doing = "observing the traffic (--since)" if since else "reading the statements"
    try:
        stats, source, writes = _statements(settings.dsn, from_run, since)
        doing = "proving candidate indexes with HypoPG"
        with console.status("proving candidate indexes with HypoPG (hypothetical only)"):
            advice = advise(settings.dsn, stats, source, top=top, writes_per_s=writes,
                            say=console.note)
    except KeyboardInterrupt:  # a partial advice is no advice: nothing is written
        raise Interrupted(f"advise-indexes interrupted while {doing}: {_untouched(out)}; the "
                          "database is unchanged (hypothetical indexes end with their "
                          "read-only transaction)") from None
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(advice.to_json())
    else:
        document = advice_document(advice)
        if explain_choice:
            document.table(choice_table(advice))
        console.show(document, output_format)
    if out is not None:
        _write(advice, out)
