"""The demo database is the runbook's 'before': what a real app has, the three indexes absent."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from perfkit.db.migration_reader import SHIPPED_INDEXES, expected_indexes, load_statements
from perfkit.demo import data, schema
from perfkit.demo.app import (
    ACCOUNT_BY_PHONE_SQL,
    ACCOUNTS_OF_USER_SQL,
    CONTACT_CONVERSATION_SQL,
    CONVERSATIONS_SQL,
    MESSAGES_SQL,
)
from perfkit.demo.auth import USER_BY_TOKEN_SQL


def _plan(conn: psycopg.Connection[tuple[object, ...]], sql: str, *params: object) -> str:
    rows = conn.execute(f"EXPLAIN {sql}", params).fetchall()
    return "\n".join(str(r[0]) for r in rows)


def test_the_app_indexes_are_there_and_nothing_else(demo_dsn: str) -> None:
    with psycopg.connect(demo_dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisunique FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND NOT i.indisprimary").fetchall()
    assert dict(rows) == {"users_token_key": True, "whatsapp_accounts_user_id_idx": False,
                          "conversations_account_id_contact_wa_id_key": True}
    assert set(dict(rows)) == set(schema.SCHEMA_INDEXES)


def test_the_app_lookups_use_their_index_and_the_runbook_queries_do_not(
        demo_dsn: str, demo_token: str) -> None:
    with psycopg.connect(demo_dsn) as conn:
        assert "users_token_key" in _plan(conn, USER_BY_TOKEN_SQL, demo_token)
        assert "whatsapp_accounts_user_id_idx" in _plan(conn, ACCOUNTS_OF_USER_SQL, 1)
        assert "conversations_account_id_contact_wa_id_key" in _plan(
            conn, CONTACT_CONVERSATION_SQL, 1, "33600000001")
        messages = _plan(conn, MESSAGES_SQL, uuid.UUID(int=1))
        accounts = _plan(conn, ACCOUNT_BY_PHONE_SQL, "100000000000001")
        conversations = _plan(conn, CONVERSATIONS_SQL, 1)
    assert "Seq Scan on messages" in messages
    assert "Seq Scan on whatsapp_accounts" in accounts
    assert "Sort" in conversations  # no index gives an account's latest conversations
    runbook = {s.index_name for s in expected_indexes(load_statements([SHIPPED_INDEXES]))
               if s.index_name}
    assert not runbook & set(schema.SCHEMA_INDEXES)


def test_statement_statistics_and_hypothetical_indexes_are_ready(demo_dsn: str) -> None:
    with psycopg.connect(demo_dsn) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        calls = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
        hypopg = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").fetchone()
        created = conn.execute("SELECT extname FROM pg_extension ORDER BY 1").fetchall()
    assert preload is not None and "pg_stat_statements" in str(preload[0])
    assert calls is not None and calls[0] > 0
    if hypopg is None:
        pytest.skip("HypoPG is not installed here (scripts/bootstrap installs it)")
    assert {"pg_stat_statements", "hypopg"} <= {str(r[0]) for r in created}
    assert data.ensure_extensions(demo_dsn) == []  # nothing to say when all is there


def test_data_of_an_older_schema_is_reloaded(fresh_db: Callable[[float], str]) -> None:
    dsn = fresh_db(0.001)
    loaded = data.loaded_data(dsn)
    assert loaded is not None and loaded.current and loaded.scale == 0.001
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM perfkit_demo_meta WHERE key = 'schema'")
    old = data.loaded_data(dsn)
    assert old is not None and not old.current
