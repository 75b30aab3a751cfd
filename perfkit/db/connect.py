"""Connections for index work: autocommit, no statement timeout, errors without passwords."""

from __future__ import annotations

from typing import LiteralString

import psycopg
from psycopg.conninfo import conninfo_to_dict

from perfkit.errors import Unreachable, UsageError
from perfkit.redact import redact_dsn, redact_text

#: Supabase's transaction pooler: sessions are not kept, so CONCURRENTLY builds break there.
POOLER_PORT = 6543
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
    """An autocommit session with statement_timeout = 0 (Supabase roles set short ones)."""
    if not dsn:
        raise UsageError("no database to connect to",
                         hint="pass --dsn, set DATABASE_URL or PERFKIT_DSN, or run "
                              "`perfkit demo up`")
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10,
                               application_name=application_name)
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
    conn.execute("SET statement_timeout = 0")
    return conn


def failed(exc: psycopg.Error, doing: str) -> Unreachable:
    """A database error in the middle of perfkit's work, as one line (exit 3)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return Unreachable(f"the database failed while {doing}: {redact_text(first)}")
