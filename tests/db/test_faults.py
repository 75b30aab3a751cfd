"""Faults in the middle of the work, against the real PostgreSQL: a session terminated (as an
administrator, a failover or a pooler's reaper does) while apply-indexes builds or ANALYZEs,
while verify-indexes --explain and doctor run their EXPLAINs, while advise-indexes costs its
hypothetical indexes. One line naming the fault and the object, the documented exit code,
what was left and how to repair it; a read-only step retried once (db/retry.py); a rerun
leaves the database as a fault-free run would. Server restarts: test_faults_restart.py."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from tests.db.fault_support import (
    PASSWORD,
    backend_doing,
    no_demo,
    old_snapshot,
    one_error,
    perfkit,
    perfkit_sessions,
    terminate,
)
from tests.db.support import runbook_traffic

pytestmark = pytest.mark.integration
States = Callable[[str], dict[str, bool]]
INDEX = "idx_messages_by_conversation"
#: held by a test, it stops a declared query (-- perfkit:query) where the test wants it
GATE = 7_260_026


def _build_backend(dsn: str) -> int:
    """perfkit's session once its CREATE INDEX waits (for the old snapshot)."""
    return backend_doing(dsn, "query LIKE 'CREATE INDEX%%' AND wait_event_type = 'Lock'",
                         "the build's wait")


def test_a_build_whose_session_is_terminated_says_what_it_left_and_a_rerun_repairs(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "one.sql"
    migration.write_text(f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    with old_snapshot(dsn) as holder:  # the build waits at its end
        proc = perfkit("apply-indexes", str(migration), "--dsn", dsn, "--lock-timeout", "60s")
        terminate(dsn, _build_backend(dsn))
        out, err = proc.communicate(timeout=60)
        holder.rollback()
    assert proc.returncode == 3, err
    line = one_error(err, out)
    assert f"was lost while building {INDEX}" in line
    assert f"index public.{INDEX} is left INVALID" in line
    assert f"DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"{INDEX}\"" in line
    assert index_states(dsn) == {INDEX: False}

    again = perfkit("apply-indexes", str(migration), "--dsn", dsn)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert index_states(dsn) == {INDEX: True}


def _last_analyze(dsn: str) -> datetime:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT last_analyze FROM pg_stat_user_tables "
                           "WHERE relname = 'messages'").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


@contextmanager
def _apply_waiting_in_analyze(dsn: str, migration: Path) -> Iterator[
        tuple[subprocess.Popen[str], int]]:
    """apply-indexes whose ANALYZE after the build waits (a session queued behind the build
    takes the table's lock as the build ends): its process and the ANALYZE's session."""
    release = threading.Event()

    def hold_after_the_build() -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute("LOCK TABLE messages IN SHARE UPDATE EXCLUSIVE MODE")
            release.wait(60)
            conn.rollback()

    blocker = threading.Thread(target=hold_after_the_build, daemon=True)
    with old_snapshot(dsn) as holder:  # the build waits at its end
        proc = perfkit("apply-indexes", str(migration), "--dsn", dsn, "--lock-timeout", "60s")
        _build_backend(dsn)
        blocker.start()
        backend_doing(dsn, "query LIKE 'LOCK TABLE%%' AND wait_event_type = 'Lock'",
                      "the blocker's wait behind the build")
        holder.rollback()  # the build ends; the blocker takes the lock before the ANALYZE
    try:
        yield proc, backend_doing(dsn, "query LIKE 'ANALYZE%%' AND wait_event_type = 'Lock'",
                                  "the ANALYZE's wait")
    finally:
        release.set()
        blocker.join(timeout=30)


def test_an_analyze_whose_session_is_terminated_says_the_index_is_valid_and_what_to_run(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "one.sql"
    migration.write_text(f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    analyzed_before = _last_analyze(dsn)  # the data load's
    with _apply_waiting_in_analyze(dsn, migration) as (proc, analyzing):
        terminate(dsn, analyzing)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    line = one_error(err, out)
    assert 'was lost while `ANALYZE "public"."messages"`' in line, line
    assert f"the indexes are done and VALID (built {INDEX})" in line, line
    assert 'run ANALYZE "public"."messages"' in line, line
    assert index_states(dsn) == {INDEX: True}  # built: no INVALID leftover
    assert _last_analyze(dsn) == analyzed_before  # not refreshed, as the line says

    with psycopg.connect(dsn, autocommit=True) as conn:  # the repair the line gives
        conn.execute('ANALYZE "public"."messages"')
    again = perfkit("apply-indexes", str(migration), "--dsn", dsn)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert index_states(dsn) == {INDEX: True} and _last_analyze(dsn) > analyzed_before


def test_ctrl_c_during_the_analyze_says_the_index_is_built_and_a_rerun_completes(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "one.sql"
    migration.write_text(f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    with _apply_waiting_in_analyze(dsn, migration) as (proc, _analyzing):
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    line = one_error(err, out)
    assert f"interrupted while running ANALYZE: {INDEX} is built" in line, line
    assert 'the ANALYZE may not have finished: run ANALYZE "public"."messages"' in line, line
    assert index_states(dsn) == {INDEX: True} and perfkit_sessions(dsn) == []
    again = perfkit("apply-indexes", str(migration), "--dsn", dsn)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err


def _gated_migration(path: Path) -> Path:
    """An index whose declared query waits for the test's advisory lock GATE when EXPLAINed."""
    path.write_text(
        "-- perfkit:query SELECT id FROM messages WHERE conversation_id = $1\n"
        f"-- perfkit:query AND (SELECT pg_advisory_xact_lock_shared({GATE})) IS NOT NULL\n"
        "-- perfkit:query LIMIT 5\n"
        "-- perfkit:params '00000000-0000-0000-0000-000000000000'\n"
        f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    return path


def _gated_explain(dsn: str, but_not: int = 0,
                   proc: subprocess.Popen[str] | None = None) -> int:
    return backend_doing(dsn, f"query LIKE 'EXPLAIN%%' AND wait_event_type = 'Lock' "
                              f"AND pid <> {but_not}", "the EXPLAIN's wait", proc=proc)


def _explains_killed(dsn: str, args: tuple[str, ...], times: int,
                     env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """perfkit ARGS, its gated EXPLAIN's session terminated `times` times (each retry's
    too), then the gate opened: (exit code, stdout, stderr)."""
    with psycopg.connect(dsn, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        proc = perfkit(*args, env=env)
        pid = 0
        for _ in range(times):
            pid = _gated_explain(dsn, but_not=pid)
            terminate(dsn, pid)
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _apply_verify_killed(dsn: str, migration: Path, times: int) -> tuple[int, str, str]:
    """apply-indexes --explain whose final verification (its declared query's EXPLAIN, after
    the build and the ANALYZE) waits for GATE, where its session is terminated `times` times."""
    with old_snapshot(dsn) as holder, psycopg.connect(dsn, autocommit=True) as gate:
        proc = perfkit("apply-indexes", str(migration), "--explain", "--dsn", dsn,
                       "--lock-timeout", "60s")
        backend_doing(dsn, "query LIKE 'CREATE INDEX%%' AND wait_event_type = 'Lock'",
                      "the build's wait", proc=proc)  # the plan before is taken: close the gate
        gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        holder.rollback()  # the build ends, then the ANALYZE, then the verification waits
        pid = 0
        for _ in range(times):
            pid = _gated_explain(dsn, but_not=pid, proc=proc)
            terminate(dsn, pid)
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_apply_verification_is_retried_once_and_a_second_loss_names_the_built_index(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    migration = _gated_migration(tmp_path / "one.sql")
    dsn = fresh_db(0.01)
    code, out, err = _apply_verify_killed(dsn, migration, times=2)
    assert code == 3, err
    line = one_error(err, out)
    assert "was lost while verifying the indexes, and again on the one retry" in line, line
    assert (f"the indexes are built (built {INDEX}; analyzed messages) but could not be "
            f"verified: check them with `perfkit verify-indexes {migration}`") in line, line
    assert "(the change is recorded as event " in line, line  # journaled: report --split
    assert "retried once on a new connection" in err  # the first loss, said as it happened
    assert index_states(dsn) == {INDEX: True} and perfkit_sessions(dsn) == []
    check = perfkit("verify-indexes", str(migration), "--explain", "--dsn", dsn)
    out, err = check.communicate(timeout=60)  # the check the line gives
    assert check.returncode == 0, err
    assert INDEX in out and "ok" in out

    dsn = fresh_db(0.01)
    code, out, err = _apply_verify_killed(dsn, migration, times=1)  # one loss: retried
    assert code == 0, err
    assert "error:" not in err and "retried once on a new connection" in err, err
    assert "was lost while verifying the indexes" in err
    assert index_states(dsn) == {INDEX: True} and perfkit_sessions(dsn) == []


def test_verify_explain_is_retried_once_after_a_lost_session_and_a_second_loss_is_exit_3(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX {INDEX} ON messages (conversation_id)")
    migration = _gated_migration(tmp_path / "one.sql")
    verify = ("verify-indexes", str(migration), "--explain", "--dsn", dsn)

    code, out, err = _explains_killed(dsn, verify, times=2)
    assert code == 3, err
    line = one_error(err, out)
    assert f"was lost while verifying the indexes of {migration}" in line, line
    assert "and again on the one retry" in line and "nothing was changed" in line, line
    assert "retried once on a new connection" in err  # the first loss, said as it happened

    code, out, err = _explains_killed(dsn, verify, times=1)  # one loss: retried, completes
    assert code == 0, err
    assert "error:" not in err and "retried once on a new connection" in err, err
    assert INDEX in out and "ok" in out
    assert perfkit_sessions(dsn) == []


def test_doctor_says_on_its_line_that_the_database_was_lost_and_a_rerun_passes(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX {INDEX} ON messages (conversation_id)")
    migration = _gated_migration(tmp_path / "one.sql")
    doctor = ("doctor", str(migration), "--dsn", dsn, "--format", "json")

    code, out, err = _explains_killed(dsn, doctor, times=2, env=no_demo(tmp_path))
    assert code == 1, err  # doctor: a failed line is exit 1 (docs/guides/doctor.md)
    assert "Traceback" not in out + err and PASSWORD not in out + err
    lines = {c["check"]: c for c in json.loads(out)["checks"]}
    used = lines["indexes used by their queries"]
    assert used["status"] == "fail", used
    assert "was lost while running the indexes' declared queries" in used["detail"], used
    assert "and again on the one retry" in used["detail"] and "\n" not in used["detail"]
    assert lines["indexes present and valid"]["status"] == "pass"

    again = perfkit(*doctor, env=no_demo(tmp_path))
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert perfkit_sessions(dsn) == []


# --- advise-indexes --since: the hypothetical evaluation ---------------------------------------


def _advise_since(dsn: str, kills: int) -> tuple[int, str, str]:
    """advise-indexes --since over the runbook's traffic; its costing made to wait on a lock
    of the messages table, where its session is terminated `kills` times."""
    proc = perfkit("advise-indexes", "--since", "3s", "--dsn", dsn)
    backend_doing(dsn, "application_name = 'perfkit-statements' AND state = 'idle' AND "
                       "query LIKE '%%clock_timestamp%%'", "the window's first snapshot")
    runbook_traffic(dsn, 20)  # about 0.5 s: well inside the window
    with psycopg.connect(dsn) as lock:
        lock.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        pid = 0
        for _ in range(kills):
            pid = backend_doing(dsn, f"application_name = 'perfkit-advise' AND "
                                     f"wait_event_type = 'Lock' AND pid <> {pid}",
                                "the costing's wait")
            terminate(dsn, pid)
        lock.rollback()
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _hypothetical_left(dsn: str) -> list[object]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT * FROM hypopg_list_indexes").fetchall()


def test_advise_since_retries_its_evaluation_once_and_leaves_nothing_behind(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    code, out, err = _advise_since(dsn, kills=2)
    assert code == 3, err
    line = one_error(err, out)
    assert "was lost while evaluating candidate indexes, and again on the one retry" in line
    assert "nothing was changed (read-only)" in line
    assert perfkit_sessions(dsn) == [] and _hypothetical_left(dsn) == []

    code, out, err = _advise_since(dsn, kills=1)  # the rerun, with one loss: retried
    assert code == 0, err
    assert "error:" not in err and "retried once on a new connection" in err, err
    assert "idx_messages_conversation_id" in out, out
    assert perfkit_sessions(dsn) == [] and _hypothetical_left(dsn) == []
    with psycopg.connect(dsn, autocommit=True) as conn:  # nothing built, nothing set
        # pg_db_role_setting is the cluster's: other tests' roles (the pooler's) have theirs
        assert conn.execute("SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON "
                            "d.oid = s.setdatabase WHERE d.datname = current_database()"
                            ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE "
                            "'idx_messages_conversation_id%'").fetchone() == (0,)


# --- lint: its proofs (HypoPG costs, EXPLAINs) --------------------------------------------------


def _lint(dsn: str, kills: int) -> tuple[int, str, str]:
    """lint whose proof of the unindexed messages -> conversations key waits on a lock of the
    messages table, where its session is terminated `kills` times."""
    with psycopg.connect(dsn) as lock:
        lock.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        proc = perfkit("lint", "--dsn", dsn, "--format", "json")
        pid = 0
        for _ in range(kills):
            pid = backend_doing(dsn, f"application_name = 'perfkit-lint' AND "
                                     f"wait_event_type = 'Lock' AND pid <> {pid}",
                                "lint's wait")
            terminate(dsn, pid)
        if kills < 2:  # the retry waits on the lock too: wait for it, then let it through
            backend_doing(dsn, f"application_name = 'perfkit-lint' AND wait_event_type = "
                               f"'Lock' AND pid <> {pid}", "the retry's wait")
        lock.rollback()
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_lint_is_retried_once_after_a_lost_session_and_a_second_loss_is_exit_3(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    code, out, err = _lint(dsn, kills=2)
    assert code == 3, err
    line = one_error(err, out)
    assert "was lost while linting the schema, and again on the one retry" in line, line
    assert perfkit_sessions(dsn) == [] and _hypothetical_left(dsn) == []

    code, out, err = _lint(dsn, kills=1)
    assert code == 0 and "error: " not in err, err
    assert "retried once on a new connection" in err, err
    assert json.loads(out)["schema"] == "perfkit.lint/1", out  # the whole report, after all
    assert perfkit_sessions(dsn) == [] and _hypothetical_left(dsn) == []
