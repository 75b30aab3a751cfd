"""Retry once, where it is safe: a read-only step whose connection was lost.

A catalog read, an EXPLAIN in a rolled-back READ ONLY transaction or the advisor's costing
with hypothetical indexes (HypoPG keeps them in the memory of one backend) leaves nothing
behind when its session dies: running it again on a new connection is safe. A terminated
session, a failover or a pooler's reaper is often a single event, so one retry, said in a
note, turns it into a completed command; a second loss is exit 3, one line. Never for a
build: a CREATE INDEX that died is repaired by rerunning apply-indexes, which the user
decides (db/ddl_runner.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from perfkit.db.connect import connect, safe_dsn, scrub
from perfkit.errors import PerfkitError, Unreachable

T = TypeVar("T")
Step = Callable[[psycopg.Connection[Any]], T]
Say = Callable[[str], None]
_AGAIN = "rerun once the database answers"


def lost(conn: psycopg.Connection[Any]) -> bool:
    """The session is gone (terminated, restarted, a network cut), not a failed statement."""
    return conn.closed or conn.broken


def _detail(error: BaseException, dsn: str) -> str:
    """What the server said when the session died: the first driver error of the chain (a
    rollback on the dead connection adds "the connection is closed" on top of it)."""
    root: BaseException | None = None
    seen: BaseException | None = error
    for _ in range(20):  # a chain is short; a cycle must not hang the error path
        if seen is None:
            break
        if isinstance(seen, psycopg.Error):
            root = seen
        seen = seen.__cause__ or seen.__context__
    if root is None:
        return scrub(error.message if isinstance(error, PerfkitError) else str(error), dsn)
    text = str(root).strip()
    return scrub(text.splitlines()[0] if text else type(root).__name__, dsn)


def once(dsn: str | None, step: Step[T], *, doing: str, say: Say | None = None,
         application_name: str = "perfkit") -> T:
    """`step` on a new connection; if that connection is lost under it, once more on another
    (`say` tells the user). Any other error is the step's own and is raised as it was."""
    with connect(dsn, application_name=application_name) as conn:
        try:
            return step(conn)
        except (psycopg.Error, PerfkitError) as exc:
            if not lost(conn):
                raise
            first = exc
    return again(dsn or "", step, first, doing=doing, say=say,
                 application_name=application_name)


def again(dsn: str, step: Step[T], first: BaseException, *, doing: str,
          say: Say | None = None, application_name: str = "perfkit") -> T:
    """The one retry of a read-only `step` whose connection was lost with `first`: on a new
    connection; a second loss (or no connection) is exit 3, nothing retried further."""
    where = f"the connection to {safe_dsn(dsn)} was lost while {doing}"
    if say is not None:
        say(f"{where} ({_detail(first, dsn)}): retried once on a new connection (read-only: "
            "nothing was left behind)")
    try:
        conn = connect(dsn, application_name=application_name)
    except Unreachable as exc:
        raise Unreachable(f"{where} ({_detail(first, dsn)}) and the one retry could not "
                          f"connect: {exc.message}; nothing was changed (read-only)",
                          hint=_AGAIN) from None
    with conn:
        try:
            return step(conn)
        except (psycopg.Error, PerfkitError) as exc:
            if not lost(conn):
                raise
            raise Unreachable(f"{where}, and again on the one retry ({_detail(exc, dsn)}); "
                              "nothing was changed (read-only)", hint=_AGAIN) from None
