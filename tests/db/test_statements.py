"""pg_stat_statements windows on a real PostgreSQL: what a run executed, never a reset."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest

from perfkit.db.statements import (
    ENABLE_HINT,
    DbStats,
    StatementStats,
    StatementsUnavailable,
    StatementWindow,
    cumulative,
    share_of_latency,
    take_snapshot,
)
from perfkit.demo.app import MESSAGES_SQL
from tests.db.support import preloaded, run_sql

pytestmark = pytest.mark.integration


def conversation_ids(dsn: str, n: int) -> list[object]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM conversations ORDER BY id LIMIT %s",
                                           (n,))]


def the_messages_statement(db: DbStats) -> StatementStats:
    found = [s for s in db.statements if s.query.startswith("SELECT id, conversation_id")]
    assert len(found) == 1, [s.query for s in db.statements]
    return found[0]


def test_a_window_holds_what_ran_in_it_once_per_request(advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    ids = conversation_ids(dsn, 12)
    run_sql(dsn, "SELECT count(*) FROM users")  # before the window: not the run's
    with psycopg.connect(dsn, autocommit=True) as conn:
        reset_before = conn.execute("SELECT stats_reset FROM pg_stat_statements_info").fetchone()
    with StatementWindow(dsn) as window, psycopg.connect(dsn, autocommit=True) as conn:
        for conversation in ids:
            conn.execute(MESSAGES_SQL, (conversation,)).fetchall()
    db = window.result(requests=len(ids), mean_latency_ms=100.0)
    messages = the_messages_statement(db)
    assert messages.calls == len(ids) and messages.calls_per_request == 1.0
    assert messages.query.endswith("LIMIT $2") and messages.mean_ms > 0
    assert messages.shared_blks_hit + messages.shared_blks_read > 0
    assert not any("count(*)" in s.query or "perfkit" in s.query for s in db.statements)
    assert db.db_ms_per_request == pytest.approx(db.total_ms / len(ids))
    assert db.share_of_latency == pytest.approx(db.db_ms_per_request / 100.0)
    with psycopg.connect(dsn, autocommit=True) as conn:  # the user's statistics stay theirs
        assert conn.execute("SELECT stats_reset FROM pg_stat_statements_info").fetchone() == (
            reset_before)
    everything, since = cumulative(dsn)
    assert since == reset_before[0] if reset_before else since is None
    assert any("count(*)" in s.query for s in everything.statements)
    assert the_messages_statement(everything).calls == len(ids)


def test_share_of_latency_matches_explain_analyze_time_over_client_latency(
        advice_db: Callable[[], str]) -> None:
    """Each query is timed by the client, then EXPLAIN ANALYZEd right after (same cache, same
    load on the machine): database time x calls / client latency is the share. The share is
    never far below EXPLAIN's and at most a quarter above it: pg_stat_statements also counts
    sending the rows, which EXPLAIN discards, and two timings of one parallel scan on a
    shared 2-core machine differ by up to ~15% (benchmarks/db_share.py has the figures)."""
    dsn = advice_db()
    ids = conversation_ids(dsn, 20)
    explain = "EXPLAIN (ANALYZE, FORMAT JSON) " + MESSAGES_SQL
    client_ms = explain_ms = 0.0
    with StatementWindow(dsn) as window, psycopg.connect(dsn, autocommit=True) as conn:
        for conversation in ids:
            started = time.perf_counter()
            conn.execute(MESSAGES_SQL, (conversation,)).fetchall()
            client_ms += (time.perf_counter() - started) * 1000
            row = conn.execute(explain, (conversation,)).fetchone()  # type: ignore[call-overload]
            explain_ms += row[0][0]["Execution Time"]
    messages = the_messages_statement(window.result(requests=len(ids)))
    assert messages.calls_per_request == 1.0
    # the EXPLAINs are statements of the window too: the messages query's share alone
    share = share_of_latency(messages.total_ms / len(ids), client_ms / len(ids))
    assert share is not None and 0.9 <= share / (explain_ms / client_ms) <= 1.25
    assert share is not None and 0.5 < share <= 1.0  # a seq scan: most of the latency


def test_another_schema_is_found_and_hidden_statements_are_counted(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    run_sql(dsn, "DROP EXTENSION pg_stat_statements", "CREATE SCHEMA extensions",
            "CREATE EXTENSION pg_stat_statements SCHEMA extensions")
    role, password = f"pk_ro_{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    database = urlsplit(dsn).path.lstrip("/")
    run_sql(dsn, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
            f"GRANT CONNECT ON DATABASE {database} TO {role}",
            f"GRANT USAGE ON SCHEMA extensions TO {role}")
    reader = dsn.replace(urlsplit(dsn).netloc.split("@")[0], f"{role}:{password}")
    try:
        run_sql(dsn, "SELECT count(*) FROM messages")  # the owner's: hidden from the reader
        with psycopg.connect(reader, autocommit=True) as conn:
            snapshot = take_snapshot(conn)
        assert snapshot.hidden > 0
        db, _since = cumulative(reader)
        assert db.hidden_statements > 0 and "pg_read_all_stats" in db.notes()[0]
    finally:
        run_sql(dsn, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_without_the_extension_the_error_says_how_to_enable_it(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    run_sql(dsn, "DROP EXTENSION pg_stat_statements")
    with pytest.raises(StatementsUnavailable, match="not installed in database") as missing:
        StatementWindow(dsn).__enter__()
    assert missing.value.hint == ENABLE_HINT and missing.value.exit_code == 2
    assert "shared_preload_libraries" in str(missing.value)
    assert "CREATE EXTENSION pg_stat_statements" in str(missing.value)


def test_installed_but_not_preloaded_says_so(fresh_db: Callable[[float], str],
                                             demo_dsn: str) -> None:
    if preloaded(demo_dsn):
        pytest.skip("the demo server preloads pg_stat_statements")
    dsn = fresh_db(0.01)
    run_sql(dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    with pytest.raises(StatementsUnavailable, match="not loaded by the server"):
        cumulative(dsn)


def test_a_reset_during_the_window_is_flagged(advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    with StatementWindow(dsn) as window:
        run_sql(dsn, "SELECT pg_stat_statements_reset()", "SELECT count(*) FROM users")
    db = window.result()
    assert db.reset_during and "reset during the window" in " ".join(db.notes())
    assert any("count(*)" in s.query for s in db.statements)


def test_records_round_trip_and_share_of_latency_needs_both_figures() -> None:
    stats = StatementStats(1, "SELECT 1", 4, 2.0, 8.0, 2.0, 4, 10, 1)
    db = DbStats((stats,), 0.25, 4.0, 20.0, 3, False, share_of_service_time=0.8)
    assert DbStats.from_json(db.to_json()) == db
    assert db.to_json()["share_of_service_time"] == 0.8
    older = {k: v for k, v in db.to_json().items() if k != "share_of_service_time"}
    assert DbStats.from_json(older).share_of_service_time is None  # a record from before it
    assert set(stats.to_json()) == {"queryid", "query", "calls", "calls_per_request",
                                    "total_ms", "mean_ms", "rows", "shared_blks_hit",
                                    "shared_blks_read"}
    assert share_of_latency(4.0, 16.0) == 0.25
    assert share_of_latency(None, 16.0) is None and share_of_latency(4.0, 0.0) is None


def test_driver_housekeeping_is_counted_apart_never_ranked(advice_db: Callable[[], str]) -> None:
    """asyncpg's pool reset and transaction control, as a pooled app sends them around each
    request: one line of counts, not statements at 1.00 call per request."""
    dsn = advice_db()
    ids = conversation_ids(dsn, 5)
    with StatementWindow(dsn) as window, psycopg.connect(dsn, autocommit=True) as conn:
        for conversation in ids:
            conn.execute("BEGIN")
            conn.execute(MESSAGES_SQL, (conversation,)).fetchall()
            conn.execute("COMMIT")
            for reset in ("RESET ALL", "SELECT pg_advisory_unlock_all()", "CLOSE ALL",
                          "UNLISTEN *", "SET statement_timeout = 0", "SHOW work_mem"):
                conn.execute(reset)  # type: ignore[arg-type]
    db = window.result(requests=len(ids))
    assert [s.query for s in db.statements if not s.query.startswith("SELECT id, conv")] == []
    assert db.housekeeping.statements >= 7 and db.housekeeping.calls >= 7 * len(ids)
    assert any(note.startswith("driver housekeeping and maintenance, not ranked: ")
               for note in db.notes())
    assert DbStats.from_json(db.to_json()).housekeeping == db.housekeeping
    assert db.db_ms_per_request == pytest.approx(
        (db.total_ms + db.housekeeping.total_ms) / len(ids))


def test_one_statement_whose_ints_came_typed_differently_is_one_statement(
        advice_db: Callable[[], str]) -> None:
    """psycopg sends 1 as int2, 100000 as int4 and 10**10 as int8: pg_stat_statements keeps
    three entries of one text; perfkit counts them as the one statement they are."""
    dsn = advice_db()
    sql_text = "SELECT id FROM users WHERE id = %s"
    with StatementWindow(dsn) as window, psycopg.connect(dsn, autocommit=True) as conn:
        for value in (1, 2, 100_000, 10**10):
            conn.execute(sql_text, (value,)).fetchall()  # type: ignore[arg-type]
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = conn.execute("SELECT count(DISTINCT queryid) FROM pg_stat_statements WHERE "
                           "query = 'SELECT id FROM users WHERE id = $1'").fetchone()
    assert ids is not None and ids[0] >= 2  # the split this test is about
    db = window.result(requests=4)
    found = [s for s in db.statements if s.query == "SELECT id FROM users WHERE id = $1"]
    assert len(found) == 1 and found[0].calls == 4 and found[0].calls_per_request == 1.0
