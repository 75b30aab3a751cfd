"""apply-indexes on a real PostgreSQL: builds, no-op reruns, INVALID repair, conflicts, locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from perfkit.db.apply import Action, ApplyOptions, LockTimeout, apply_indexes
from perfkit.db.catalog import BuildProgress
from perfkit.db.migration_reader import load_statements
from perfkit.errors import Unreachable
from perfkit.events import list_events
from tests.db.support import SEED_INDEXES, run_sql

States = Callable[[str], dict[str, bool]]


def last_analyze(dsn: str) -> dict[str, object]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT relname, last_analyze FROM pg_stat_user_tables").fetchall()
    return {str(name): when for name, when in rows}


def test_apply_builds_the_three_indexes_then_reruns_as_a_no_op(
        fresh_db: Callable[[float], str], seed_dir: Path, index_states: States) -> None:
    dsn = fresh_db(0.01)
    statements = load_statements([seed_dir])
    analyzed_before = last_analyze(dsn)
    events_before = len(list_events())
    samples: list[BuildProgress] = []

    result = apply_indexes(dsn, statements, progress=samples.append)

    assert index_states(dsn) == dict.fromkeys(SEED_INDEXES, True)
    assert [s.action for s in result.steps[:3]] == [Action.CREATE] * 3
    assert all(s.done for s in result.steps[:3])
    assert result.verify is not None and result.verify.ok
    assert set(result.analyzed) == {"conversations", "messages", "whatsapp_accounts"}
    analyzed_after = last_analyze(dsn)
    for table in ("conversations", "messages", "whatsapp_accounts"):
        assert analyzed_after[table] != analyzed_before[table]
    assert result.event_id is not None
    events = list_events()
    assert len(events) == events_before + 1
    assert events[-1].kind == "apply-indexes" and "idx_messages_conversation_timestamp" in (
        events[-1].text)

    again = apply_indexes(dsn, statements)
    assert [s.action for s in again.steps[:3]] == [Action.UNCHANGED] * 3
    assert again.analyzed == [] and again.event_id is None and again.changed == []
    assert len(list_events()) == events_before + 1
    assert last_analyze(dsn) == analyzed_after


def test_a_real_invalid_index_is_found_and_rebuilt(
        fresh_db: Callable[[float], str], seed_dir: Path, index_states: States) -> None:
    dsn = fresh_db(0.01)
    # a concurrent UNIQUE build over duplicated rows fails and leaves an INVALID index behind
    run_sql(dsn, 'INSERT INTO messages (conversation_id, "timestamp", direction, body) '
                 'SELECT conversation_id, "timestamp", direction, body FROM messages LIMIT 1')
    with pytest.raises(psycopg.errors.UniqueViolation):
        run_sql(dsn, "CREATE UNIQUE INDEX CONCURRENTLY idx_messages_conversation_timestamp "
                     'ON messages (conversation_id, "timestamp" DESC)')
    assert index_states(dsn) == {"idx_messages_conversation_timestamp": False}

    result = apply_indexes(dsn, load_statements([seed_dir]))

    by_name = {s.name: s for s in result.steps}
    assert by_name["idx_messages_conversation_timestamp"].action is Action.REBUILD
    assert index_states(dsn) == dict.fromkeys(SEED_INDEXES, True)
    assert result.verify is not None and result.verify.ok


def test_same_name_other_definition_is_a_conflict_until_replace(
        fresh_db: Callable[[float], str], seed_dir: Path, index_states: States) -> None:
    dsn = fresh_db(0.01)
    run_sql(dsn, "CREATE INDEX idx_accounts_phone_number_id ON whatsapp_accounts (display_name)")
    statements = load_statements([seed_dir])

    result = apply_indexes(dsn, statements)
    assert [s.name for s in result.conflicts] == ["idx_accounts_phone_number_id"]
    assert not any(s.done for s in result.steps)
    assert index_states(dsn) == {"idx_accounts_phone_number_id": True}  # nothing else applied

    replaced = apply_indexes(dsn, statements, ApplyOptions(replace=True))
    by_name = {s.name: s for s in replaced.steps}
    assert by_name["idx_accounts_phone_number_id"].action is Action.REPLACE
    assert index_states(dsn) == dict.fromkeys(SEED_INDEXES, True)
    assert replaced.verify is not None and replaced.verify.ok


def test_dry_run_changes_nothing(fresh_db: Callable[[float], str], seed_dir: Path,
                                 index_states: States) -> None:
    dsn = fresh_db(0.01)
    events_before = len(list_events())
    result = apply_indexes(dsn, load_statements([seed_dir]), ApplyOptions(dry_run=True))
    assert [s.action for s in result.steps[:3]] == [Action.CREATE] * 3
    assert all("CONCURRENTLY" in s.sql[0] for s in result.steps[:3])
    assert not any(s.done for s in result.steps)
    assert index_states(dsn) == {}
    assert len(list_events()) == events_before


def test_a_lock_that_never_comes_times_out_after_retries_with_nothing_half_done(
        fresh_db: Callable[[float], str], seed_dir: Path, index_states: States,
        tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    only_messages = tmp_path / "messages.sql"
    only_messages.write_text(
        "CREATE INDEX idx_messages_conversation_timestamp "
        "ON messages (conversation_id, timestamp DESC);\n")
    notes: list[str] = []
    ready, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(dsn) as conn:  # a transaction: the lock is held until release
            conn.execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
            ready.set()
            release.wait(60)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="after 3 tries") as failure:
            apply_indexes(dsn, load_statements([only_messages]),
                          ApplyOptions(lock_timeout_s=0.1, lock_retries=2), notify=notes.append)
        assert time.monotonic() - started < 30
    finally:
        release.set()
        holder.join(60)
    assert "nothing was left half-done" in str(failure.value)
    assert sum("retry" in n for n in notes) == 2
    assert index_states(dsn) == {}


def test_a_writer_that_never_commits_leaves_an_invalid_index_the_next_run_repairs(
        fresh_db: Callable[[float], str], seed_dir: Path, index_states: States,
        tmp_path: Path) -> None:
    """CONCURRENTLY waits for open writers after creating its catalog entry: the worst case."""
    dsn = fresh_db(0.01)
    only_messages = tmp_path / "messages.sql"
    only_messages.write_text(
        "CREATE INDEX idx_messages_conversation_timestamp "
        "ON messages (conversation_id, timestamp DESC);\n")
    with psycopg.connect(dsn) as writer:  # an uncommitted insert: a transaction open on the table
        writer.execute('INSERT INTO messages (conversation_id, "timestamp", direction, body) '
                       "VALUES (md5('conv-1')::uuid, now(), 'inbound', 'hold')")
        with pytest.raises(LockTimeout) as failure:
            apply_indexes(dsn, load_statements([only_messages]),
                          ApplyOptions(lock_timeout_s=0.1, lock_retries=1))
        left = index_states(dsn)
        writer.rollback()
    assert "idx_messages_conversation_timestamp" in str(failure.value)
    if left:  # the leftover could not be dropped while the writer held the table
        assert left == {"idx_messages_conversation_timestamp": False}
        assert "idx_messages_conversation_timestamp is left INVALID" in str(failure.value)
        assert "drops and rebuilds it" in str(failure.value)
    repaired = apply_indexes(dsn, load_statements([only_messages]))
    assert repaired.verify is not None and repaired.verify.ok
    assert index_states(dsn) == {"idx_messages_conversation_timestamp": True}


def test_progress_comes_from_pg_stat_progress_create_index(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    # an expression that takes ~1 ms per row makes a build long enough to watch
    run_sql(dsn, "CREATE FUNCTION slow_id(x bigint) RETURNS bigint IMMUTABLE LANGUAGE plpgsql "
                 "AS $$ BEGIN PERFORM pg_sleep(0.001); RETURN x; END $$")
    sql = tmp_path / "slow.sql"
    sql.write_text("CREATE INDEX idx_slow ON messages (slow_id(id)) WHERE id <= 1500;\n")
    samples: list[BuildProgress] = []
    result = apply_indexes(dsn, load_statements([sql]), progress=samples.append)
    assert result.verify is not None and result.verify.ok
    assert samples and {s.index_name for s in samples} == {"idx_slow"}
    assert any(s.phase.startswith("building index") for s in samples)


def test_a_build_cancelled_mid_way_leaves_nothing_half_done(
        fresh_db: Callable[[float], str], tmp_path: Path, index_states: States) -> None:
    dsn = fresh_db(0.01)
    run_sql(dsn, "CREATE FUNCTION slow_id(x bigint) RETURNS bigint IMMUTABLE LANGUAGE plpgsql "
                 "AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN x; END $$")
    sql = tmp_path / "slow.sql"
    sql.write_text("CREATE INDEX idx_slow ON messages (slow_id(id)) WHERE id <= 5000;\n")
    cancelled: list[bool] = []

    def cancel_once(sample: BuildProgress) -> None:
        if cancelled or not sample.phase.startswith("building index"):
            return
        with psycopg.connect(dsn, autocommit=True) as conn:  # an operator's pg_cancel_backend
            row = conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_progress_create_index "
                               "WHERE datname = current_database()").fetchone()
        cancelled.append(bool(row and row[0]))

    with pytest.raises(Unreachable, match="canceling statement") as failure:
        apply_indexes(dsn, load_statements([sql]), progress=cancel_once)
    assert cancelled == [True]
    assert "INVALID leftover idx_slow was dropped" in str(failure.value)
    assert index_states(dsn) == {}


def test_a_failure_after_some_builds_says_what_was_done_and_journals_it(
        fresh_db: Callable[[float], str], seed_dir: Path, index_states: States) -> None:
    dsn = fresh_db(0.01)
    events_before = len(list_events())
    with psycopg.connect(dsn) as holder:  # the second index of the file cannot get its lock
        holder.execute("LOCK TABLE messages IN SHARE MODE")
        with pytest.raises(LockTimeout) as failure:
            apply_indexes(dsn, load_statements([seed_dir]),
                          ApplyOptions(lock_timeout_s=0.05, lock_retries=0))
    message = str(failure.value)
    assert "010_performance_indexes.sql:18" in message
    assert "done before: idx_conversations_account_updated" in message
    assert index_states(dsn) == {"idx_conversations_account_updated": True}
    events = list_events()
    assert len(events) == events_before + 1 and "stopped at" in events[-1].text
    rerun = apply_indexes(dsn, load_statements([seed_dir]))
    assert rerun.verify is not None and rerun.verify.ok
