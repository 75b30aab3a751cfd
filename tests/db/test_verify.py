"""verify-indexes states against a real PostgreSQL, and proof of use by EXPLAIN."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import psycopg

from perfkit.db.apply import apply_indexes
from perfkit.db.catalog import same_definition
from perfkit.db.migration_reader import load_statements, parse_text
from perfkit.db.verify import IndexState, verify_indexes
from tests.db.support import run_sql


def states(dsn: str, seed_dir: Path, explain: bool = False) -> dict[str, IndexState]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        report = verify_indexes(conn, load_statements([seed_dir]), explain=explain)
    return {c.name: c.state for c in report.indexes}


def test_each_state_is_told_apart(fresh_db: Callable[[float], str], seed_dir: Path) -> None:
    dsn = fresh_db(0.01)
    assert set(states(dsn, seed_dir).values()) == {IndexState.MISSING}
    run_sql(dsn,
            # same definition, written differently: schema, quoting, USING btree, NULLS default
            "CREATE INDEX idx_conversations_account_updated ON public.conversations USING btree "
            "(account_id ASC NULLS LAST, \"updated_at\" DESC NULLS FIRST)",
            "CREATE INDEX idx_accounts_phone_number_id ON whatsapp_accounts (display_name)")
    run_sql(dsn, 'INSERT INTO messages (conversation_id, "timestamp", direction, body) '
                 'SELECT conversation_id, "timestamp", direction, body FROM messages LIMIT 1')
    with contextlib.suppress(psycopg.errors.UniqueViolation):
        run_sql(dsn, "CREATE UNIQUE INDEX CONCURRENTLY idx_messages_conversation_timestamp "
                     'ON messages (conversation_id, "timestamp" DESC)')
    assert states(dsn, seed_dir) == {
        "idx_conversations_account_updated": IndexState.OK,
        "idx_messages_conversation_timestamp": IndexState.INVALID,
        "idx_accounts_phone_number_id": IndexState.DIFFERENT,
    }


def test_explain_shows_the_seed_queries_switch_to_their_index(
        fresh_db: Callable[[float], str], seed_dir: Path) -> None:
    dsn = fresh_db(0.01)
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = verify_indexes(conn, load_statements([seed_dir]), explain=True)
    for check in before.indexes:
        assert check.state is IndexState.MISSING and check.used_by_query is False
        assert check.plan is not None and check.name not in check.plan.index_names
    scans = {c.name: " ".join(c.plan.scans) for c in before.indexes if c.plan is not None}
    assert "Seq Scan on messages" in scans["idx_messages_conversation_timestamp"]
    assert "Seq Scan on whatsapp_accounts" in scans["idx_accounts_phone_number_id"]

    result = apply_indexes(dsn, load_statements([seed_dir]))
    assert result.verify is not None and result.verify.ok
    with psycopg.connect(dsn, autocommit=True) as conn:
        after = verify_indexes(conn, load_statements([seed_dir]), explain=True)
    for check in after.indexes:
        assert check.state is IndexState.OK, check.detail
        assert check.used_by_query is True and check.plan is not None
        assert any(check.name in s for s in check.plan.scans)
    json = after.to_json()
    assert json["schema"] == "perfkit.indexes/1"
    assert {i["state"] for i in json["indexes"]} == {"ok"}


def test_an_index_its_query_does_not_use_is_unused(fresh_db: Callable[[float], str],
                                                   tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    sql = tmp_path / "status.sql"
    sql.write_text("-- perfkit:query SELECT id FROM messages WHERE conversation_id = $1\n"
                   "-- perfkit:params md5('conv-1')::uuid\n"
                   "CREATE INDEX idx_messages_status ON messages (status);\n")
    apply_indexes(dsn, load_statements([sql]))
    with psycopg.connect(dsn, autocommit=True) as conn:
        report = verify_indexes(conn, load_statements([sql]), explain=True)
    assert [c.state for c in report.indexes] == [IndexState.UNUSED]
    assert report.indexes[0].used_by_query is False


def test_definitions_compare_by_parse_tree_not_by_string() -> None:
    stmt = parse_text("CREATE INDEX IF NOT EXISTS i ON t (a, b DESC) WHERE status = 'open';",
                      Path("x.sql"))[0]
    assert same_definition(
        stmt, "CREATE INDEX i ON public.t USING btree (a, b DESC) WHERE (status = 'open'::text)")
    assert not same_definition(stmt, "CREATE INDEX i ON public.t USING btree (a, b)")
    assert not same_definition(stmt, "CREATE UNIQUE INDEX i ON public.t USING btree (a, b DESC) "
                                     "WHERE (status = 'open'::text)")
    assert not same_definition(stmt, "CREATE INDEX i ON public.u USING btree (a, b DESC) "
                                     "WHERE (status = 'open'::text)")
    assert not same_definition(stmt, "CREATE INDEX i ON public.t USING hash (a, b DESC) "
                                     "WHERE (status = 'open'::text)")
