"""The SQL a run executed, from pg_stat_statements: snapshots of one database, and deltas.

pg_stat_statements counts since its last reset, for every database of the server. perfkit
never resets it (the user's statistics are theirs): it reads the counters of the current
database before and after a window and keeps the statements whose counters moved.

    with StatementWindow(dsn) as window:
        ...  # the run
    db = window.result(requests=n, mean_latency_ms=m, mean_service_ms=s)

perfkit's own queries carry MARK and are left out; other clients of the same database
during the window are counted (the run should be alone on it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from perfkit.db.connect import connect, failed
from perfkit.db.retry import again, lost, once
from perfkit.db.workload import (
    Counters,
    DbStats,
    Housekeeping,
    Snapshot,
    StatementStats,
    is_housekeeping,
    share_of_latency,
)
from perfkit.errors import PerfkitError, UsageError
from perfkit.jsonfile import read_json_object

__all__ = ["MARK", "Counters", "DbStats", "Snapshot", "StatementStats", "StatementWindow",
           "StatementsUnavailable", "share_of_latency"]

#: A comment in every query perfkit runs for statistics or advice, so they can be left out.
MARK = "/* perfkit */"
EXTENSION = "pg_stat_statements"
ENABLE_HINT = ("add shared_preload_libraries = 'pg_stat_statements' to postgresql.conf, restart "
               "the server, then run CREATE EXTENSION pg_stat_statements in this database; on "
               "Supabase it is already on, in schema extensions")
#: What pg_stat_statements shows for other roles' statements without pg_read_all_stats.
HIDDEN_TEXT = "<insufficient privilege>"


class StatementsUnavailable(UsageError):
    """pg_stat_statements cannot be read in this database (not installed, not preloaded)."""


def extension_schema(conn: psycopg.Connection[Any]) -> str:
    """The schema pg_stat_statements lives in (public, extensions on Supabase...)."""
    row = conn.execute(
        "SELECT " + MARK + " n.nspname FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = %s",
        (EXTENSION,)).fetchone()
    if row is None:
        database = conn.info.dbname
        raise StatementsUnavailable(
            f"pg_stat_statements is not installed in database {database}", hint=ENABLE_HINT)
    return str(row[0])


def _columns(conn: psycopg.Connection[Any], schema: str) -> tuple[str, bool]:
    """(the execution time column, whether rows say `toplevel`): they moved across versions."""
    rows = conn.execute(
        "SELECT " + MARK + " a.attname FROM pg_attribute a WHERE a.attrelid = "
        "to_regclass(quote_ident(%s) || '.pg_stat_statements') AND a.attnum > 0",
        (schema,)).fetchall()
    names = {str(r[0]) for r in rows}
    return ("total_exec_time" if "total_exec_time" in names else "total_time",
            "toplevel" in names)


def _snapshot_query(schema: str, time_column: str, toplevel: bool) -> sql.Composed:
    view = sql.Identifier(schema, "pg_stat_statements")
    top = sql.SQL("AND s.toplevel ") if toplevel else sql.SQL("")
    return sql.SQL(
        "SELECT " + MARK + " s.queryid, min(s.query), sum(s.calls), sum(s.{time}), "
        "sum(s.rows), sum(s.shared_blks_hit), sum(s.shared_blks_read), count(*) "
        "FROM {view} s WHERE s.dbid = (SELECT oid FROM pg_database "
        "WHERE datname = current_database()) {top}GROUP BY s.queryid"
    ).format(time=sql.Identifier(time_column), view=view, top=top)


def _stats_reset(conn: psycopg.Connection[Any], schema: str) -> datetime | None:
    """When pg_stat_statements was last reset (None before version 1.9)."""
    info = conn.execute("SELECT " + MARK + " to_regclass(quote_ident(%s) || "
                        "'.pg_stat_statements_info')", (schema,)).fetchone()
    if info is None or info[0] is None:
        return None
    row = conn.execute(sql.SQL("SELECT " + MARK + " stats_reset FROM {}").format(
        sql.Identifier(schema, "pg_stat_statements_info"))).fetchone()
    return None if row is None else row[0]


def take_snapshot(conn: psycopg.Connection[Any], schema: str | None = None) -> Snapshot:
    """The current database's statements, perfkit's own left out."""
    schema = schema or extension_schema(conn)
    time_column, toplevel = _columns(conn, schema)
    try:
        rows = conn.execute(_snapshot_query(schema, time_column, toplevel)).fetchall()
        reset = _stats_reset(conn, schema)
        now = conn.execute("SELECT " + MARK + " clock_timestamp()").fetchone()
    except psycopg.errors.ObjectNotInPrerequisiteState:
        raise StatementsUnavailable(
            "pg_stat_statements is installed but not loaded by the server",
            hint=ENABLE_HINT) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StatementsUnavailable(f"cannot read pg_stat_statements: {exc}".strip(),
                                    hint="grant the role pg_read_all_stats") from None
    except psycopg.Error as exc:
        raise failed(exc, "reading pg_stat_statements") from None
    assert now is not None
    texts: dict[int, str] = {}
    counters: dict[int, Counters] = {}
    hidden, hidden_ms = 0, 0.0
    for queryid, text, calls, total, nrows, hit, read, entries in rows:
        if queryid is None or text == HIDDEN_TEXT:  # other roles' rows: one group of NULLs
            hidden += int(entries or 0)
            hidden_ms += float(total or 0.0)
            continue
        if MARK in str(text):
            continue
        texts[int(queryid)] = str(text)
        counters[int(queryid)] = Counters(int(calls or 0), float(total or 0.0), int(nrows or 0),
                                          int(hit or 0), int(read or 0))
    return Snapshot(now[0], reset, texts, counters, hidden, hidden_ms)


def delta(before: Snapshot | None, after: Snapshot, *, requests: int | None = None,
          mean_latency_ms: float | None = None, mean_service_ms: float | None = None
          ) -> DbStats:
    """The statements whose counters moved between two snapshots, costliest first (with no
    `before`, everything since the statistics' last reset)."""
    reset_during = before is not None and before.stats_reset != after.stats_reset
    by_text: dict[str, tuple[int, Counters]] = {}
    for queryid, now in after.counters.items():
        was = None if before is None or reset_during else before.counters.get(queryid)
        moved = now.minus(was) if was is not None else now
        if moved.calls > 0:
            by_text[after.texts[queryid]] = _merged(by_text.get(after.texts[queryid]),
                                                    queryid, moved)
    stats = [StatementStats.of(queryid, text, moved, requests)
             for text, (queryid, moved) in by_text.items()]
    stats.sort(key=lambda s: (-s.total_ms, s.queryid))
    chores = [s for s in stats if is_housekeeping(s.query)]
    stats = [s for s in stats if not is_housekeeping(s.query)]
    total_ms = sum(s.total_ms for s in stats) + sum(s.total_ms for s in chores)
    per_request = total_ms / requests if requests else None
    seconds = (after.taken_at - before.taken_at).total_seconds() if before else None
    hidden_ms = after.hidden_ms - (before.hidden_ms if before and not reset_during else 0.0)
    return DbStats(tuple(stats), share_of_latency(per_request, mean_latency_ms), per_request,
                   seconds, after.hidden, reset_during, hidden_ms=max(0.0, hidden_ms),
                   housekeeping=Housekeeping.of(chores),
                   share_of_service_time=share_of_latency(per_request, mean_service_ms))


def _merged(seen: tuple[int, Counters] | None, queryid: int, moved: Counters
            ) -> tuple[int, Counters]:
    """One statement whose parameters came typed differently (psycopg sends an int as int2,
    int4 or int8 by its value, and pg_stat_statements counts each apart under one text): its
    counters summed, under the queryid that ran most."""
    if seen is None:
        return queryid, moved
    first, counters = seen
    keep = first if counters.calls >= moved.calls else queryid
    return keep, counters.plus(moved)


@dataclass
class StatementWindow:
    """Snapshots of pg_stat_statements around a run, on one connection of its own.

    Raises StatementsUnavailable on entry when the extension cannot be read (the caller
    says so and runs without SQL figures) and Unreachable when the database is down.
    """

    dsn: str
    before: Snapshot | None = None
    after: Snapshot | None = None
    #: told when the window's connection was lost and its end snapshot retried on a new one
    say: Callable[[str], None] | None = field(default=None, repr=False)
    _conn: psycopg.Connection[Any] | None = field(default=None, repr=False)
    _schema: str = ""

    def __enter__(self) -> StatementWindow:
        return self.open()

    def open(self) -> StatementWindow:
        """Connect and take the first snapshot (what entering the `with` does)."""
        self._conn = connect(self.dsn, application_name="perfkit-statements")
        try:
            self._schema = extension_schema(self._conn)
            self.before = take_snapshot(self._conn, self._schema)
        except BaseException:
            self.close()
            raise
        return self

    def restart(self) -> None:
        """Take the first snapshot again: the window then starts here (a bench run's
        measurement, after its logins and warm-up)."""
        if self._conn is None:
            raise RuntimeError("the statement window is not open")
        self.before = take_snapshot(self._conn, self._schema)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if kind is None:
                self.stop()
        finally:
            self.close()

    def stop(self) -> Snapshot:
        """The snapshot that ends the window (taken once). The window's connection sat idle
        through the run, where a restart or a pooler's reaper ends sessions: lost, the
        snapshot (a read, and the counters are the server's, not the session's) is retried
        once on a new connection; a second loss raises Unreachable."""
        if self.after is None:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the statement window is not open")
            try:
                self.after = take_snapshot(conn, self._schema)
            except (psycopg.Error, PerfkitError) as exc:
                if not lost(conn):
                    raise
                self.close()
                self.after = again(self.dsn, lambda new: take_snapshot(new, self._schema), exc,
                                   doing="reading pg_stat_statements at the window's end",
                                   say=self.say, application_name="perfkit-statements")
        return self.after

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def result(self, *, requests: int | None = None, mean_latency_ms: float | None = None,
               mean_service_ms: float | None = None) -> DbStats:
        """The window's statements; `requests` gives calls per request and the database time
        per request, `mean_service_ms` its share of the service time (from the send) and
        `mean_latency_ms` its share of the latency (from the intended start)."""
        after = self.stop()
        return delta(self.before, after, requests=requests, mean_latency_ms=mean_latency_ms,
                     mean_service_ms=mean_service_ms)


def observe(dsn: str, seconds: float, tick: Callable[[float], None] | None = None,
            *, step_s: float = 0.25, say: Callable[[str], None] | None = None) -> DbStats:
    """The statements of the live traffic over `seconds`; `tick(elapsed_s)` for progress."""
    with StatementWindow(dsn, say=say) as window:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            if tick is not None:
                tick(elapsed)
            time.sleep(min(step_s, seconds - elapsed))
        if tick is not None:
            tick(seconds)
        return window.result()


def cumulative(dsn: str | None) -> tuple[DbStats, datetime | None]:
    """Everything pg_stat_statements holds for this database, and since when (its last reset,
    None when the server does not say)."""
    snap = once(dsn, take_snapshot, doing="reading pg_stat_statements",
                application_name="perfkit-statements")
    return delta(None, snap), snap.stats_reset


def run_statements(path: Path) -> DbStats:
    """The `db` object of a bench run record; UsageError when it has none or is malformed."""
    data = read_json_object(path, label="--from")
    db = data.get("db")
    if not isinstance(db, dict) or not isinstance(db.get("statements"), list):
        raise UsageError(f"--from {path}: no db.statements in this record",
                         hint="bench with a DSN (--dsn, DATABASE_URL) on a database with "
                              "pg_stat_statements, or use --since / no flag to read the "
                              "database's own statistics")
    try:
        return DbStats.from_json(db)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--from {path}: malformed db.statements ({type(exc).__name__}: "
                         f"{exc})") from None
