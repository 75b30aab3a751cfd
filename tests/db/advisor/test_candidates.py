"""Candidate indexes from SQL (no database: a dict plays the catalog)."""

from __future__ import annotations

import pytest

from perfkit.db.advisor.candidates import Candidate, Unadvisable, analyze, one_line
from perfkit.db.vocabulary import IndexColumn, ParamRole, TableInfo, TableName, quote_ident
from perfkit.demo.app import ACCOUNT_BY_PHONE_SQL, CONVERSATIONS_SQL, MESSAGES_SQL

COLUMNS = {
    "messages": {"id", "conversation_id", "timestamp", "direction", "body", "status"},
    "conversations": {"id", "account_id", "contact_wa_id", "contact_name", "status",
                      "created_at", "updated_at"},
    "whatsapp_accounts": {"id", "user_id", "phone_number_id", "display_name"},
    "users": {"id", "email", "full_name", "token"},
    "active_users": {"id", "email"},
}


def resolve(schema: str | None, name: str) -> TableInfo | None:
    if name == "pg_class":
        return TableInfo(TableName("pg_catalog", name), frozenset({"relname", "oid"}),
                         indexable=False, catalog=True)
    if name not in COLUMNS:
        return None
    return TableInfo(TableName(schema or "public", name), frozenset(COLUMNS[name]),
                     indexable=name != "active_users")


def shapes(sql: str) -> list[str]:
    return [str(c) for c in analyze(sql, resolve).candidates]


def pg(sql: str) -> str:
    """The backend's psycopg text as pg_stat_statements normalises it (%s -> $1, 50 -> $2)."""
    return sql.replace("%s", "$1").replace("LIMIT 50", "LIMIT $2")


def test_the_backend_queries_give_the_runbook_indexes_among_their_candidates() -> None:
    assert shapes(pg(MESSAGES_SQL)) == ["messages (conversation_id)",
                                        "messages (conversation_id, timestamp DESC)"]
    assert shapes(pg(CONVERSATIONS_SQL)) == ["conversations (account_id)",
                                             "conversations (account_id, updated_at DESC)"]
    assert shapes(pg(ACCOUNT_BY_PHONE_SQL)) == ["whatsapp_accounts (phone_number_id)"]


def test_parameters_get_the_role_the_prover_plans_them_with() -> None:
    analysis = analyze(pg(MESSAGES_SQL), resolve)
    first, limit = analysis.params
    assert (first.role, first.table, first.column) == (
        ParamRole.EQUALITY, TableName("public", "messages"), "conversation_id")
    assert limit.role is ParamRole.LIMIT and analysis.param_count == 2
    assert analysis.in_conditions == {1} and analysis.is_select
    ranged = analyze("SELECT id FROM messages WHERE \"timestamp\" BETWEEN $1 AND $2 "
                     "AND id = ANY($3) OFFSET $4", resolve)
    assert [p.role for p in ranged.params] == [ParamRole.RANGE, ParamRole.RANGE,
                                                ParamRole.ANY]
    assert shapes("SELECT id FROM messages WHERE \"timestamp\" BETWEEN $1 AND $2 "
                  "AND id = ANY($3)") == ["messages (id)", "messages (id, timestamp)"]


def test_order_by_counts_only_with_a_limit_and_on_one_table() -> None:
    no_limit = "SELECT id FROM whatsapp_accounts WHERE user_id = $1 ORDER BY id"
    assert shapes(no_limit) == ["whatsapp_accounts (user_id)"]
    assert shapes("SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 5") == [
        "conversations (updated_at DESC, id DESC)"]
    # an equality fixes its column: ORDER BY it adds nothing
    assert shapes("SELECT id FROM messages WHERE conversation_id = $1 "
                  "ORDER BY conversation_id, id LIMIT 3") == [
        "messages (conversation_id)", "messages (conversation_id, id)"]
    mixed = ("SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
             "ORDER BY c.updated_at, m.id LIMIT 5")
    assert "updated_at" not in " ".join(shapes(mixed))
    assert shapes("SELECT id FROM messages ORDER BY \"timestamp\" DESC NULLS LAST LIMIT 1") == []


def test_joins_subqueries_and_ctes() -> None:
    join = ("SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.account_id = $1")
    assert set(shapes(join)) == {"conversations (account_id)", "conversations (id)",
                                 "conversations (account_id, id)",
                                 "messages (conversation_id)"}
    exists = ("SELECT id FROM users u WHERE EXISTS (SELECT 1 FROM whatsapp_accounts w "
              "WHERE w.user_id = u.id AND w.phone_number_id = $1)")
    # the outer column is a value for the inner block: both are equalities, in written order
    assert shapes(exists) == ["whatsapp_accounts (user_id, phone_number_id)"]
    cte = ("WITH mine AS (SELECT id FROM users WHERE token = $1) "
           "SELECT w.id FROM mine JOIN whatsapp_accounts w ON w.user_id = mine.id")
    assert shapes(cte) == ["users (token)", "whatsapp_accounts (user_id)"]
    update = "UPDATE conversations SET updated_at = now() WHERE id = $1"
    assert shapes(update) == ["conversations (id)"]
    assert not analyze(update, resolve).is_select


def test_what_cannot_be_advised_says_why() -> None:
    with pytest.raises(Unadvisable, match="does not parse") as bad:
        analyze("SELEC id FROM messages", resolve)
    assert not bad.value.quiet
    with pytest.raises(Unadvisable, match="names table gone, which does not exist"):
        analyze("SELECT id FROM gone WHERE x = $1", resolve)
    with pytest.raises(Unadvisable, match="views are not advised on"):
        analyze("SELECT id FROM active_users WHERE email = $1", resolve)
    for quiet in ("BEGIN", "SET statement_timeout = $1", "SELECT $1",
                  "INSERT INTO messages (body) VALUES ($1)",
                  "SELECT relname FROM pg_class WHERE oid = $1"):
        with pytest.raises(Unadvisable) as skipped:
            analyze(quiet, resolve)
        assert skipped.value.quiet, quiet
    assert shapes("SELECT id FROM conversations WHERE account_id = $1 OR status = $2") == []


def test_prefixes_read_both_ways_and_identifiers_quote_like_postgres() -> None:
    table = TableName("public", "messages")
    one = Candidate(table, (IndexColumn("conversation_id"),))
    two = (IndexColumn("conversation_id"), IndexColumn("timestamp", descending=True))
    assert one.is_prefix_of(two)
    assert Candidate(table, (IndexColumn("conversation_id", True),)).is_prefix_of(two)
    assert Candidate(table, two).is_prefix_of((IndexColumn("conversation_id", True),
                                               IndexColumn("timestamp")))
    assert not Candidate(table, (IndexColumn("timestamp"),)).is_prefix_of(two)
    assert Candidate(table, two).definition("idx_m", concurrently=True) == (
        'CREATE INDEX CONCURRENTLY idx_m ON public.messages (conversation_id, "timestamp" DESC)')
    assert [quote_ident(n) for n in ("a_b", "timestamp", "user", "Mixed", "x y", "é")] == [
        "a_b", '"timestamp"', '"user"', '"Mixed"', '"x y"', '"é"']


def test_one_line_drops_comments_and_keeps_literals() -> None:
    text = "SELECT a.b, 'x  y' -- why\nFROM  t /* c */ WHERE n > $1::int"
    assert " ".join(one_line(text)) == "SELECT a.b, 'x  y' FROM t WHERE n > $1::int"
