"""What an interrupted apply-indexes left (Ctrl-C, SIGTERM): each index the files change, read
again from the catalog on a new connection, with its repair.

An interrupted CREATE INDEX CONCURRENTLY (psycopg cancels the statement on Ctrl-C) leaves an
INVALID index that every write keeps maintaining; perfkit does no more work once told to stop
(a DROP CONCURRENTLY may wait minutes), so it says what is left and how to repair it: the
next apply-indexes drops and rebuilds it, or one DROP INDEX CONCURRENTLY.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from perfkit.db import catalog

RERUN = "rerun `perfkit apply-indexes`"


@dataclass(frozen=True)
class Change:
    """An index the files build (`builds`) or drop, as the plan named it."""

    schema: str
    name: str
    builds: bool = True


def check_connection(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    """A short-lived connection that reads what a failed or interrupted change left: its own
    session (the work's may be dead), nothing prepared, a bounded wait to connect."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=5, prepare_threshold=None,
                           application_name="perfkit-check")


def _state(conn: psycopg.Connection[tuple[object, ...]], change: Change) -> str:
    found = catalog.find_index(conn, change.schema, change.name)
    name = sql.Identifier(change.schema, change.name).as_string(conn)
    if found is not None and not found.valid:
        return (f"{change.name} is left INVALID (queries ignore it, every write still "
                f"maintains it): {RERUN} (it drops and rebuilds it) or DROP INDEX "
                f"CONCURRENTLY IF EXISTS {name}")
    if change.builds:
        return f"{change.name} is built" if found else f"{change.name} is not built yet"
    return f"{change.name} is not dropped yet" if found else f"{change.name} is dropped"


def left_behind(dsn: str, changes: list[Change]) -> str:
    """Each change's state in one clause, and whether a rerun is needed."""
    if not changes:
        return "nothing was changed"
    try:
        with check_connection(dsn) as conn:
            states = [_state(conn, change) for change in changes]
    except psycopg.Error:
        return (f"what is left could not be read (the database does not answer): {RERUN} once "
                "it does, each index is checked again (an INVALID one is dropped and rebuilt)")
    unfinished = [s for s in states if not s.endswith((" is built", " is dropped"))]
    if unfinished and not any("INVALID" in s for s in unfinished):
        states.append(f"{RERUN} to finish")
    return "; ".join(states)
