"""Connections that leave nothing behind: autocommit, no session settings, no server-side
prepared statements, errors without passwords.

Users reach their database through transaction poolers (Supavisor, PgBouncer), where one
server connection serves many clients, one transaction at a time: a session `SET` would stay
on a connection the application gets next (a `default_transaction_read_only = on` there
fails its writes). So every setting perfkit needs lives in the transaction that needs it
(`read_only()` below) or, for index builds that need a session of their own, is reset before
the connection goes back (`ddl_session()`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, LiteralString

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from perfkit.errors import Unreachable, UsageError
from perfkit.redact import redact_dsn, redact_text

#: Supabase's transaction pooler (a hint only: poolers are told by behaviour, db/pooler.py).
POOLER_PORT = 6543
#: How long a read-only transaction of perfkit's waits for a lock before giving up: a
#: catalog read queued behind an ALTER TABLE would queue the application behind it.
READ_LOCK_TIMEOUT_MS = 2_000
#: libpq's words for a DSN whose option values are wrong (a port that is not a number...).
_BAD_OPTION = "for connection option"


def sql_text(text: str) -> LiteralString:
    """Generated or user-file SQL passed to psycopg, which types queries as literal strings."""
    return text  # mypy treats LiteralString as str; the contract is the docstring's


def dsn_password(dsn: str) -> str | None:
    try:
        value = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        return None
    return str(value) if value else None


def pooler_warning(dsn: str) -> str | None:
    """A warning when the DSN points at a transaction pooler, where CONCURRENTLY cannot work."""
    try:
        port = conninfo_to_dict(dsn).get("port")
    except psycopg.ProgrammingError:
        return None
    if port is not None and str(port) == str(POOLER_PORT):
        return (f"port {POOLER_PORT} is Supabase's transaction pooler: CREATE INDEX CONCURRENTLY "
                "needs a session of its own; use the direct connection (port 5432)")
    return None


def scrub(text: str, dsn: str) -> str:
    """Any text about a connection, with its password masked."""
    password = dsn_password(dsn)
    return redact_text(text, [password] if password else [])


def safe_dsn(dsn: str) -> str:
    """The DSN for messages: password masked even when the DSN is malformed."""
    try:
        return redact_dsn(dsn)
    except ValueError:
        return scrub(redact_text(dsn), dsn)


def connect(dsn: str | None, *, application_name: str = "perfkit") -> psycopg.Connection[
        tuple[object, ...]]:
    """An autocommit connection that sets nothing on its session and never prepares
    statements server-side (a transaction pooler would hand them to another client)."""
    if not dsn:
        raise UsageError("no database to connect to",
                         hint="pass --dsn, set PERFKIT_DSN or DATABASE_URL, or run "
                              "`perfkit demo up`")
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10,
                               application_name=application_name, prepare_threshold=None)
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid DSN {safe_dsn(dsn)}: {scrub(str(exc), dsn)}") from None
    except psycopg.Error as exc:
        detail = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else
                       type(exc).__name__, dsn)
        if _BAD_OPTION in detail:  # libpq refuses the DSN itself: nothing was reached
            raise UsageError(f"invalid DSN {safe_dsn(dsn)}: {detail.split(': ', 1)[-1]}",
                             hint="fix the DSN") from None
        raise Unreachable(f"cannot connect to {safe_dsn(dsn)}: {detail}",
                          hint="is the database up and the DSN right?") from None


@contextlib.contextmanager
def read_only(conn: psycopg.Connection[Any], *, timeout_ms: int | None = None
              ) -> Iterator[None]:
    """One READ ONLY transaction whose settings end with it (`SET LOCAL`), so a pooled server
    connection goes back as perfkit found it. Inside a transaction already: a savepoint (an
    error inside leaves the outer transaction usable)."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        with conn.transaction():
            yield
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(sql_text(f"SET LOCAL lock_timeout = {READ_LOCK_TIMEOUT_MS}"))
        if timeout_ms is not None:
            conn.execute(sql_text(f"SET LOCAL statement_timeout = {max(1, int(timeout_ms))}"))
        yield


@contextlib.contextmanager
def ddl_session(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """The session of an index build (CONCURRENTLY cannot run in a transaction): no statement
    timeout (Supabase roles set short ones; a build takes minutes), lock_timeout set per
    attempt by the caller; both reset on the way out, for a session pooler's next client.
    Only on a direct connection or a session pooler (apply refuses transaction poolers)."""
    conn.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute("RESET statement_timeout")
                conn.execute("RESET lock_timeout")


def failed(exc: psycopg.Error, doing: str) -> Unreachable:
    """A database error in the middle of perfkit's work, as one line (exit 3)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    hint = None
    if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in first:
        hint = ("the role's statement_timeout cut it short: raise it for this role (ALTER "
                "ROLE name SET statement_timeout = '5min') or connect as a role without one")
    return Unreachable(f"the database failed while {doing}: {redact_text(first)}", hint=hint)
