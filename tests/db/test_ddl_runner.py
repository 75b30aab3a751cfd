"""A build that waits names who it waits for; a leftover it cannot drop is named, then repaired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from perfkit.db.apply import ApplyOptions, LockTimeout, apply_indexes
from perfkit.db.ddl_runner import OLDER_THAN_BUILD
from perfkit.db.migration_reader import load_statements

States = Callable[[str], dict[str, bool]]
PHONE_INDEX = "idx_accounts_phone_number_id"


def phone_index_file(tmp_path: Path) -> Path:
    sql = tmp_path / "phone.sql"
    sql.write_text(f"CREATE INDEX {PHONE_INDEX} ON whatsapp_accounts (phone_number_id);\n")
    return sql


def test_an_old_snapshot_is_named_and_the_invalid_leftover_is_named_then_repaired(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    """The reviewer's case: a REPEATABLE READ transaction open while the build runs."""
    dsn = fresh_db(0.01)
    sql = phone_index_file(tmp_path)
    notes: list[str] = []
    with psycopg.connect(dsn, application_name="psql-operator") as old:
        old.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        old.execute("SELECT count(*) FROM whatsapp_accounts WHERE display_name <> 'x'")
        old_pid = old.info.backend_pid
        # long enough for the watcher (polls every 0.25 s) to see the wait on a busy machine
        with pytest.raises(LockTimeout) as failure:
            apply_indexes(dsn, load_statements([sql]),
                          ApplyOptions(lock_timeout_s=1.5, lock_retries=0), notify=notes.append)
        left = index_states(dsn)
        # a rerun while the session is still open: the leftover's DROP waits for it, and says so
        rerun_notes: list[str] = []
        with pytest.raises(LockTimeout, match=f"{PHONE_INDEX} is left INVALID"):
            apply_indexes(dsn, load_statements([sql]),
                          ApplyOptions(lock_timeout_s=1.0, lock_retries=0),
                          notify=rerun_notes.append)
        old.rollback()
    message, hint = str(failure.value), failure.value.hint or ""
    assert any(f"{PHONE_INDEX} (dropping its INVALID leftover first): waiting for a lock held "
               f"by: pid {old_pid}" in n for n in rerun_notes), rerun_notes

    # the wait was shown while it happened, with the phase from pg_stat_progress_create_index
    waits = [n for n in notes if OLDER_THAN_BUILD in n]
    assert waits, notes
    assert f"pid {old_pid} (idle in transaction" in waits[0]
    assert "(waiting for old snapshots)" in waits[0]
    # the error names the session, its state, age and application, never its query's literals
    assert f"{OLDER_THAN_BUILD}: pid {old_pid} (idle in transaction, transaction open" in message
    assert "application psql-operator" in message and "holds a lock on the table" in message
    assert "'x'" not in message and "count(*)" not in message
    assert f"pg_terminate_backend({old_pid})" in hint
    # the old snapshot also holds the table, so both DROP tries fail: the leftover is named
    assert left == {PHONE_INDEX: False}
    assert f"index public.{PHONE_INDEX} is left INVALID on public.whatsapp_accounts" in message
    assert "the next `perfkit apply-indexes` drops and rebuilds it" in message
    assert "its DROP waited for the same session(s)" in message
    assert any("one more try" in n for n in notes)  # the cleanup DROP got its second chance

    repaired = apply_indexes(dsn, load_statements([sql]))
    assert repaired.verify is not None and repaired.verify.ok
    assert index_states(dsn) == {PHONE_INDEX: True}


def test_a_dropped_leftover_is_said_and_nothing_is_left(
        fresh_db: Callable[[float], str], index_states: States, tmp_path: Path) -> None:
    """An old snapshot that never touched the table: the build fails, its DROP succeeds."""
    dsn = fresh_db(0.01)
    sql = phone_index_file(tmp_path)
    with psycopg.connect(dsn) as old:
        old.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        old.execute("SELECT count(*) FROM users")
        old_pid = old.info.backend_pid
        with pytest.raises(LockTimeout) as failure:
            apply_indexes(dsn, load_statements([sql]),
                          ApplyOptions(lock_timeout_s=0.3, lock_retries=0))
        left = index_states(dsn)
        old.rollback()
    message = str(failure.value)
    assert f"{OLDER_THAN_BUILD}: pid {old_pid} (idle in transaction" in message
    assert f"the INVALID leftover {PHONE_INDEX} was dropped, nothing was left half-done" in (
        message)
    assert left == {}


def test_a_held_lock_names_its_holder(fresh_db: Callable[[float], str], index_states: States,
                                      tmp_path: Path) -> None:
    """A timeout shorter than the watcher's poll: the holder is found after the fact."""
    dsn = fresh_db(0.01)
    sql = phone_index_file(tmp_path)
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE whatsapp_accounts IN SHARE MODE")
        holder_pid = holder.info.backend_pid
        with pytest.raises(LockTimeout) as failure:
            apply_indexes(dsn, load_statements([sql]),
                          ApplyOptions(lock_timeout_s=0.05, lock_retries=0))
    message = str(failure.value)
    assert f"waiting for a lock held by: pid {holder_pid} (idle in transaction" in message
    assert "holds a lock on the table" in message and "LOCK TABLE" not in message
    assert "nothing was left half-done" in message
    assert index_states(dsn) == {}
