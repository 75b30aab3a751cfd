"""Faults in the middle of apply-indexes, against the real PostgreSQL: the build's session
terminated (as an administrator, a failover or a pooler's reaper does). One line naming the
index, exit 3, what was left and how to repair it; a rerun leaves the database as a
fault-free run would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.integration
States = Callable[[str], dict[str, bool]]
INDEX = "idx_messages_by_conversation"


def _perfkit(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "perfkit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "160"})


def _backend_doing(dsn: str, condition: str, what: str, deadline_s: float = 30) -> int:
    """The pid of the session of this database that matches `condition` (pg_stat_activity),
    once it does."""
    end = time.monotonic() + deadline_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < end:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                f"AND {condition}").fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"{what} never happened")


def _build_backend(dsn: str) -> int:
    """perfkit's session once its CREATE INDEX waits (for the old snapshot)."""
    return _backend_doing(dsn, "query LIKE 'CREATE INDEX%%' AND wait_event_type = 'Lock'",
                          "the build's wait")


def test_a_build_whose_session_is_terminated_says_what_it_left_and_a_rerun_repairs(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "one.sql"
    migration.write_text(f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    with psycopg.connect(dsn) as holder:  # an old snapshot: the build waits at its end
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT count(*) FROM users").fetchone()
        proc = _perfkit("apply-indexes", str(migration), "--dsn", dsn, "--lock-timeout", "60s")
        pid = _build_backend(dsn)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=60)
        holder.rollback()
    assert proc.returncode == 3, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    assert f"was lost while building {INDEX}" in lines[0]
    assert f"index public.{INDEX} is left INVALID" in lines[0]
    assert f"DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"{INDEX}\"" in lines[0], lines
    assert "perfkit-demo" not in out + err  # the DSN's password
    assert index_states(dsn) == {INDEX: False}

    again = _perfkit("apply-indexes", str(migration), "--dsn", dsn)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert index_states(dsn) == {INDEX: True}


def _explaining_backend(dsn: str) -> int:
    return _backend_doing(dsn, "query LIKE 'EXPLAIN%%' AND state = 'active'", "the EXPLAIN")


def test_verify_explain_whose_session_is_terminated_is_a_failed_database_not_a_bad_file(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX {INDEX} ON messages (conversation_id)")
    migration = tmp_path / "one.sql"
    migration.write_text(
        "-- perfkit:query SELECT id FROM messages WHERE conversation_id = $1\n"
        "-- perfkit:query AND (SELECT pg_sleep(5)) IS NOT NULL LIMIT 5\n"
        "-- perfkit:params '00000000-0000-0000-0000-000000000000'\n"
        f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    proc = _perfkit("verify-indexes", str(migration), "--explain", "--dsn", dsn)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (_explaining_backend(dsn),))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "the database failed while proving" in lines[0] and "one.sql" in lines[0], lines
    assert "perfkit-demo" not in err
