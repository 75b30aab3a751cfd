"""advise-indexes on a real PostgreSQL with HypoPG: the runbook's traffic gives the runbook's
three indexes and nothing else; advice changes nothing in the database."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from pglast import parse_sql

from perfkit.db.advisor.migration_writer import migration_text
from perfkit.db.advisor.orchestrate import advise
from perfkit.db.advisor.record import Advice, Source, SourceKind, StatementStatus
from perfkit.db.apply import ApplyOptions, apply_indexes
from perfkit.db.catalog import definition_tree
from perfkit.db.migration_reader import StatementKind, load_statements
from perfkit.db.statements import DbStats, cumulative, run_statements
from tests.db.support import SEED_FILE, index_names, run_sql, runbook_traffic

pytestmark = pytest.mark.integration
CUMULATIVE = Source(SourceKind.CUMULATIVE, "pg_stat_statements")


def advice_after_runbook(dsn: str, iterations: int = 30) -> Advice:
    runbook_traffic(dsn, iterations)
    stats, _since = cumulative(dsn)
    return advise(dsn, stats, CUMULATIVE)


def seed_trees() -> list[tuple[str, Any]]:
    """(table, definition parse tree) of each index of indexes/010_performance_indexes.sql."""
    stmts = [s for s in load_statements([SEED_FILE]) if s.kind is StatementKind.CREATE_INDEX]
    return sorted((str(s.table), definition_tree(s.node)) for s in stmts)


def advised_trees(advice: Advice) -> list[tuple[str, Any]]:
    nodes = [parse_sql(i.create_sql)[0].stmt for i in advice.indexes]
    return sorted((str(n.relation.relname), definition_tree(n)) for n in nodes)


def catalog_state(dsn: str) -> tuple[Any, ...]:
    """What advice must never change: relations, indexes, settings, statistics resets."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        relations = conn.execute("SELECT relname, relkind FROM pg_class c JOIN pg_namespace n "
                                 "ON n.oid = c.relnamespace WHERE nspname = 'public' "
                                 "ORDER BY 1").fetchall()
        reset = conn.execute("SELECT stats_reset FROM pg_stat_statements_info").fetchone()
        analyzed = conn.execute("SELECT relname, last_analyze FROM pg_stat_user_tables "
                                "ORDER BY 1").fetchall()
    return tuple(relations), reset, tuple(analyzed)


def test_the_runbook_traffic_gives_exactly_the_three_indexes_of_the_runbook(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    before = catalog_state(dsn)
    advice = advice_after_runbook(dsn)
    assert advised_trees(advice) == seed_trees(), [i.create_sql for i in advice.indexes]
    assert catalog_state(dsn) == before  # only hypothetical indexes, in its own session
    for index in advice.indexes:
        assert index.proven and index.size_bytes and index.size_bytes > 0
        assert index.writes_per_s is not None and len(index.statements) == 1
        cut = index.statements[0].cut
        assert cut is not None and cut >= 0.5
    served = [s for s in advice.statements if s.status is StatementStatus.SERVED]
    assert len(served) == 3
    others = [s for s in advice.statements if s.status is not StatementStatus.SERVED]
    assert others and all(s.status is StatementStatus.COVERED for s in others), [
        (s.status, s.stats.query) for s in others]
    data = advice.to_json()
    assert data["schema"] == "perfkit.advice/1"
    messages = next(i for i in data["indexes"] if i["table"] == "messages")
    assert messages["columns"] == [{"name": "conversation_id", "descending": False},
                                   {"name": "timestamp", "descending": True}]
    assert set(messages["cost_before"]) == {"generic", "heaviest"}
    assert messages["statements"] == [s.stats.queryid for s in served
                                      if "FROM messages" in s.stats.query]
    json.dumps(data)


def test_the_migration_builds_proves_and_silences_the_next_advice(
        advice_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = advice_db()
    advice = advice_after_runbook(dsn)
    text = migration_text(advice, written_at="now")
    assert text is not None and text.count("-- perfkit:query") >= 3
    migration = tmp_path / "020_advised.sql"
    migration.write_text(text)
    statements = load_statements([migration])
    assert all(s.query is not None for s in statements if s.kind is StatementKind.CREATE_INDEX)
    result = apply_indexes(dsn, statements, ApplyOptions(explain=True))
    assert result.verify is not None and result.verify.ok, [
        (c.name, c.state, c.detail) for c in result.verify.indexes]
    for check in result.verify.indexes:  # EXPLAIN ANALYZE before and after the build
        assert check.used_by_query and check.plan and check.plan_before
        assert check.name not in check.plan_before.index_names
        assert check.plan.actual_ms is not None and check.plan_before.actual_ms is not None
    assert {i.name for i in advice.indexes} <= index_names(dsn)
    again = advice_after_runbook(dsn, iterations=10)
    assert again.indexes == [], [i.create_sql for i in again.indexes]
    assert migration_text(again, written_at="now") is None


def test_an_index_on_the_same_leading_column_is_no_reason_to_stay_silent(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    run_sql(dsn, "CREATE INDEX messages_conversation_id_idx ON messages (conversation_id)",
            "ANALYZE messages")
    advice = advice_after_runbook(dsn)
    messages = [i for i in advice.indexes if i.candidate.table.name == "messages"]
    assert [str(i.candidate) for i in messages] == ["messages (conversation_id, timestamp DESC)"]
    assert messages[0].makes_redundant == ("messages_conversation_id_idx",)
    stmt = messages[0].statements[0]
    assert stmt.before is not None and stmt.after is not None
    assert stmt.before.heaviest is not None and stmt.after.heaviest is not None
    # the generic plan hardly moves; the heaviest conversation is what the index is for
    assert stmt.after.heaviest < stmt.before.heaviest / 2


def test_without_hypopg_candidates_are_listed_unproven(advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    run_sql(dsn, "DROP EXTENSION hypopg")
    advice = advice_after_runbook(dsn)
    assert not advice.hypopg and advice.indexes
    assert all(not i.proven and i.size_bytes for i in advice.indexes)  # sized from stats
    assert any("CREATE EXTENSION hypopg" in note and "create extension hypopg with schema "
               "extensions" in note for note in advice.notes)
    assert {str(i.candidate) for i in advice.indexes} >= {
        "messages (conversation_id, timestamp DESC)", "whatsapp_accounts (phone_number_id)"}
    assert migration_text(advice, written_at="now") is None
    assert any(s.status is StatementStatus.UNPROVEN for s in advice.statements)


def test_statements_that_do_not_parse_or_name_a_dropped_table_are_skipped_with_a_reason(
        advice_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 10)
    run_sql(dsn, "CREATE TABLE scratch (id int, k int)", "SELECT id FROM scratch WHERE k = 1",
            "DROP TABLE scratch")
    stats, _since = cumulative(dsn)
    broken = {"queryid": 1, "query": "SELEC id FROM messages WHERE", "calls": 1,
              "total_ms": 1.0}
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"schema": "perfkit.run/1", "db": {
        "statements": [broken, *[s.to_json() for s in stats.statements]]}}))
    advice = advise(dsn, run_statements(run), Source(SourceKind.RUN, str(run)), top=20)
    reasons = {s.stats.query: s.reason for s in advice.statements
               if s.status is StatementStatus.SKIPPED}
    assert reasons[broken["query"]].startswith("does not parse: syntax error")
    assert "names table scratch, which does not exist" in reasons[
        "SELECT id FROM scratch WHERE k = $1"]
    assert len(advice.indexes) == 3


def test_a_read_only_role_gets_advice_and_what_it_may_not_read_is_skipped(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 20)
    role, password = f"pk_ro_{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    database = urlsplit(dsn).path.lstrip("/")
    run_sql(dsn, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
            f"GRANT CONNECT ON DATABASE {database} TO {role}", f"GRANT pg_read_all_stats TO {role}",
            f"GRANT SELECT ON conversations, whatsapp_accounts, users, bot_profiles TO {role}")
    reader = dsn.replace(urlsplit(dsn).netloc.split("@")[0], f"{role}:{password}")
    try:
        before = catalog_state(dsn)
        stats, _since = cumulative(reader)
        advice = advise(reader, stats, CUMULATIVE)
        assert catalog_state(dsn) == before
        skipped = [s for s in advice.statements if s.status is StatementStatus.SKIPPED]
        assert skipped and all("permission denied for table messages" in s.reason
                               for s in skipped)
        assert sorted(str(i.candidate) for i in advice.indexes) == [
            "conversations (account_id, updated_at DESC)", "whatsapp_accounts (phone_number_id)"]
    finally:
        run_sql(dsn, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_top_limits_the_statements_advised_on(advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 10)
    stats, _since = cumulative(dsn)
    advice = advise(dsn, stats, CUMULATIVE, top=1)
    assert len(advice.statements) == 1 and len(advice.indexes) <= 1
    assert advise(dsn, DbStats(()), CUMULATIVE).statements == []


def test_values_of_a_secret_looking_column_never_reach_the_migration(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    run_sql(dsn, "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_token_key",
            "DROP INDEX IF EXISTS users_token_key", "ANALYZE users")
    with psycopg.connect(dsn, autocommit=True) as conn:  # the auth lookup of every request
        tokens = [str(r[0]) for r in conn.execute("SELECT token FROM users LIMIT 50")]
        for token in tokens * 6:
            conn.execute("SELECT id, email, full_name FROM users WHERE token = %s", (token,))
    advice = advice_after_runbook(dsn)
    users = [i for i in advice.indexes if i.candidate.table.name == "users"]
    assert [str(i.candidate) for i in users] == ["users (token)"]
    text = migration_text(advice, written_at="now")
    assert text is not None
    with psycopg.connect(dsn) as conn:
        tokens = [str(r[0]) for r in conn.execute("SELECT token FROM users")]
    assert not any(token in text for token in tokens)
    block = text.split("users (token)")[1].split("CREATE INDEX")[0]
    assert "-- perfkit:query" not in block and "secret-looking column" in block


def test_a_statement_whose_plan_reads_no_index_is_no_gain_not_covered(
        advice_db: Callable[[], str]) -> None:
    """A 20-row table filtered on a column: no index beats its scan, and none is in use."""
    dsn = advice_db()
    run_sql(dsn, "CREATE TABLE tiny (id int PRIMARY KEY, k int)",
            "INSERT INTO tiny SELECT g, g % 5 FROM generate_series(1, 20) g", "ANALYZE tiny")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for k in range(50):
            conn.execute("SELECT id FROM tiny WHERE k = %s", (k % 5,)).fetchall()
    runbook_traffic(dsn, 10)
    stats, _since = cumulative(dsn)
    advice = advise(dsn, stats, CUMULATIVE, top=40)
    tiny = next(s for s in advice.statements if "FROM tiny" in s.stats.query)
    assert tiny.status is StatementStatus.NO_GAIN, tiny
    covered = [s for s in advice.statements if s.status is StatementStatus.COVERED]
    assert covered and all(s.before and s.before.indexes for s in covered)
