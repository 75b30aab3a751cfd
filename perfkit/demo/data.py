"""Seed data generated server-side with generate_series, skewed like real traffic.

Ids are derived from integers (`md5(i)::uuid` for conversations), so messages reference
conversations without a join, and a busy minority of accounts and conversations holds
most of the rows (index ~ n * random()^2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from perfkit.demo import schema

#: Row counts at scale 1.0: large enough that each of the seed's indexes changes its route.
BASE_ROWS = {"users": 20_000, "whatsapp_accounts": 50_000, "conversations": 400_000,
             "messages": 4_000_000}


@dataclass(frozen=True)
class DemoScale:
    users: int
    accounts: int
    conversations: int
    messages: int

    @classmethod
    def of(cls, scale: float) -> DemoScale:
        def rows(name: str, floor: int) -> int:
            return max(floor, int(BASE_ROWS[name] * scale))

        return cls(users=rows("users", 50), accounts=rows("whatsapp_accounts", 100),
                   conversations=rows("conversations", 1_000), messages=rows("messages", 10_000))


def conversation_uuid_sql(expr: str) -> str:
    """The uuid of conversation number `expr` (so Python and SQL agree on ids)."""
    return f"md5('conv-' || ({expr})::text)::uuid"


def demo_token_sql(expr: str) -> str:
    return f"'demo-' || substr(md5('token-' || ({expr})::text), 1, 24)"


def load_steps(scale: DemoScale) -> list[tuple[str, str]]:
    """(label, SQL) for each step; every insert is one set-based statement. Contacts are
    numbered per conversation, so (account_id, contact_wa_id) is unique as the schema wants."""
    u, a, c, m = scale.users, scale.accounts, scale.conversations, scale.messages
    return [
        ("schema", schema.DROP + schema.EXTENSIONS_SQL + schema.DDL),
        ("users", f"""
            INSERT INTO users (id, email, full_name, token)
            SELECT i, 'user' || i || '@example.com', 'Demo User ' || i, {demo_token_sql('i')}
            FROM generate_series(1, {u}) AS i"""),
        ("whatsapp_accounts", f"""
            INSERT INTO whatsapp_accounts (id, user_id, phone_number_id, display_name)
            SELECT i, 1 + (i - 1) % {u}, (100000000000000 + i)::text, 'Account ' || i
            FROM generate_series(1, {a}) AS i"""),
        ("bot_profiles", f"""
            INSERT INTO bot_profiles (account_id, name, prompt)
            SELECT i, 'Bot ' || i, 'You answer customers of account ' || i
            FROM generate_series(1, {a}) AS i"""),
        ("conversations", f"""
            INSERT INTO conversations (id, account_id, contact_wa_id, contact_name, created_at,
                                       updated_at)
            SELECT {conversation_uuid_sql('i')},
                   1 + floor({a} * random() ^ 2)::bigint,
                   (33600000000 + i)::text, 'Contact ' || i,
                   now() - interval '90 days' * random(),
                   now() - interval '90 days' * random()
            FROM generate_series(1, {c}) AS i"""),
        ("messages", f"""
            INSERT INTO messages (conversation_id, "timestamp", direction, body)
            SELECT {conversation_uuid_sql(f'1 + floor({c} * random() ^ 2)::bigint')},
                   now() - interval '90 days' * random(),
                   CASE WHEN random() < 0.5 THEN 'inbound' ELSE 'outbound' END,
                   'Message ' || i || ': ' || md5(i::text) || md5((i * 7)::text)
            FROM generate_series(1, {m}) AS i"""),
        ("indexes", schema.APP_INDEXES),
        ("analyze", "ANALYZE"),
    ]


def load_demo_data(dsn: str, scale: float,
                   on_step: Callable[[str, int, int], None] | None = None) -> float:
    """Create the schema and rows; returns the load time in seconds."""
    rows = DemoScale.of(scale)
    steps = load_steps(rows)
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("SET synchronous_commit = off")
        for i, (label, sql) in enumerate(steps):
            if on_step:
                on_step(label, i, len(steps))
            conn.execute(sql)  # trusted, generated SQL
        conn.execute(
            "CREATE TABLE IF NOT EXISTS perfkit_demo_meta (key text PRIMARY KEY, value text)"
        )
        conn.execute(
            "INSERT INTO perfkit_demo_meta VALUES ('scale', %s), ('schema', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(scale), schema.VERSION)
        )
    return time.perf_counter() - started


def ensure_extensions(dsn: str) -> list[str]:
    """Create the demo's extensions when missing; one note for each that cannot work."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema.EXTENSIONS_SQL)
        preloaded = conn.execute("SHOW shared_preload_libraries").fetchone()
        hypopg = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone()
    notes = []
    if not preloaded or "pg_stat_statements" not in str(preloaded[0]):
        notes.append("pg_stat_statements is not preloaded by this PostgreSQL (started before "
                     "perfkit set it): `perfkit demo down` then `perfkit demo up` restarts it")
    if hypopg is None:
        notes.append("HypoPG is not installed on this PostgreSQL: index advice will be "
                     "unproven (Debian: apt-get install postgresql-<major>-hypopg)")
    return notes


@dataclass(frozen=True)
class LoadedData:
    scale: float
    schema_version: str | None

    @property
    def current(self) -> bool:
        """Made with this perfkit's schema (an older one lacks its indexes or columns)."""
        return self.schema_version == schema.VERSION


#: Created by `load_demo_data`: its presence marks a database as the demo's.
MARKER_TABLE = "perfkit_demo_meta"


def holds_demo_data(conn: psycopg.Connection[Any]) -> bool:
    """The database was loaded by `perfkit demo up` (it carries the demo's marker table)."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MARKER_TABLE,)).fetchone()
    return bool(row and row[0])


def loaded_data(dsn: str) -> LoadedData | None:
    """What the database was loaded with, or None when it holds no demo data."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('perfkit_demo_meta') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        rows = conn.execute("SELECT key, value FROM perfkit_demo_meta").fetchall()
    meta = {str(key): str(value) for key, value in rows}
    if "scale" not in meta:
        return None
    return LoadedData(float(meta["scale"]), meta.get("schema"))


def demo_tokens(dsn: str, limit: int = 1000) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT token FROM users ORDER BY id LIMIT %s", (limit,)).fetchall()
    return [r[0] for r in rows]
