"""Is a transaction pooler between perfkit and the database? Told by behaviour, not by port.

Behind a transaction pooler (Supavisor on 6543, PgBouncer in transaction mode) a client
connection owns a server connection for one transaction only. So: note our backend pid,
let a second client hold a transaction open (a pooler hands it the server connection we
just released), and ask our pid again. On a direct connection or a session pooler the
second client gets a backend of its own and ours never changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import psycopg

from perfkit.db.connect import POOLER_PORT
from perfkit.errors import UsageError

#: How long the second client may wait for a server connection: a session pooler with a
#: full pool would make it wait for ever (that pooler is not a transaction pooler).
SECOND_CLIENT_WAIT_S = 3.0
_PID = "SELECT /* perfkit */ pg_backend_pid()"


@dataclass(frozen=True)
class PoolerProbe:
    """What the probe saw: whether connections are pooled per transaction, and why."""

    transaction_pooled: bool
    evidence: str


def _pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(_PID).fetchone()
    assert row is not None
    return int(row[0])


def probe(conn: psycopg.Connection[Any], dsn: str) -> PoolerProbe:
    """Whether `conn` (autocommit, idle) goes through a transaction pooler."""
    first = _pid(conn)
    if _pid(conn) != first:
        return PoolerProbe(True, "the backend changed between two transactions")
    try:
        other = psycopg.connect(dsn, autocommit=True, connect_timeout=5,
                                prepare_threshold=None, application_name="perfkit-probe")
    except psycopg.Error:
        return PoolerProbe(False, "no second connection to compare with")
    timer = threading.Timer(SECOND_CLIENT_WAIT_S, other.cancel_safe)
    again = first
    try:
        timer.start()
        with other.transaction():
            theirs = _pid(other)
            timer.cancel()
            if theirs != first:  # (with ours taken, a pool of one would make us wait)
                again = _pid(conn)
    except psycopg.Error:
        return PoolerProbe(False, "a second client waited for a server connection")
    finally:
        timer.cancel()
        other.close()
    if theirs == first:
        return PoolerProbe(True, f"a second client was given this client's backend ({first})")
    if again != first:
        return PoolerProbe(True, f"the backend changed between two transactions "
                                 f"({first} -> {again})")
    return PoolerProbe(False, "one backend for the whole session")


def refuse_transaction_pooler(conn: psycopg.Connection[Any], dsn: str, command: str) -> None:
    """UsageError (exit 2) behind a transaction pooler, before anything is touched."""
    found = probe(conn, dsn)
    if not found.transaction_pooled:
        return
    port = conn.info.port
    supabase = (" (Supabase: port 5432 of the pooler host, or the direct connection)"
                if str(port) == str(POOLER_PORT) else "")
    raise UsageError(
        f"{command}: this connection goes through a transaction pooler ({found.evidence}): "
        "a CONCURRENTLY build needs one session for its whole life, with its lock_timeout",
        hint=f"use the direct connection or a session pooler{supabase}; read-only commands "
             "(verify-indexes, advise-indexes, lint, bench --dsn) work through it")
