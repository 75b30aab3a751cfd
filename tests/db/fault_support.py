"""Helpers for the database fault tests (tests/db/test_faults*.py): perfkit in a process of
its own, the session doing something (pg_stat_activity), terminating it, and the one line a
fault must end with."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

#: the tests' DSNs carry this password: no output may show it
PASSWORD = "perfkit-demo"


def perfkit(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "perfkit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "160", **(env or {})})


def no_demo(tmp_path: Path) -> dict[str, str]:
    """An environment where no demo stack fills in what a command is not given."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    return {"PERFKIT_STATE_DIR": str(state)}


def backend_doing(dsn: str, condition: str, what: str, deadline_s: float = 30,
                  proc: subprocess.Popen[str] | None = None) -> int:
    """The pid of the session of this database that matches `condition` (pg_stat_activity),
    once it does; an AssertionError with perfkit's output if `proc` ends first."""
    end = time.monotonic() + deadline_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"{what} never happened: perfkit ended with "
                                     f"{proc.returncode}: {out}{err}")
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                f"AND pid <> pg_backend_pid() AND {condition}").fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"{what} never happened")


def terminate(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def one_error(err: str, out: str = "") -> str:
    """The one `error:` line of a fault: no traceback, no internal error, no password."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert PASSWORD not in out + err
    return lines[0]


def perfkit_sessions(dsn: str) -> list[str]:
    """perfkit's sessions still open on this database (none once a command has ended)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT application_name FROM pg_stat_activity WHERE datname = "
                            "current_database() AND application_name LIKE 'perfkit%'"
                            ).fetchall()
    return [str(r[0]) for r in rows]


@contextmanager
def old_snapshot(dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A transaction holding an old snapshot: a concurrent build waits at its end (visible in
    pg_stat_activity) until the caller rolls it back or the block ends."""
    with psycopg.connect(dsn) as holder:
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT count(*) FROM users").fetchone()
        yield holder
        holder.rollback()
