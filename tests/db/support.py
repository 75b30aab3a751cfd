"""Helpers for the database tests (plain module: test files import it, never a conftest).

`statements_server()` starts a PostgreSQL of our own with pg_stat_statements preloaded, for
tests that need the extension before the demo server preloads it; `faithful_schema()` gives
a demo database what a real app has besides the three indexes of indexes/.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from perfkit.demo.schema import SCHEMA_INDEXES
from tests.support import CliResult

SEED_DIR = Path(__file__).resolve().parents[2] / "indexes"
SEED_FILE = SEED_DIR / "010_performance_indexes.sql"
SEED_INDEXES = ("idx_conversations_account_updated", "idx_messages_conversation_timestamp",
                "idx_accounts_phone_number_id")
PRELOAD = "pg_stat_statements"

#: What a real app of the demo's kind has: a unique token, the foreign key's index, one
#: conversation per (account, contact). Created when no index on those columns exists yet.
REAL_APP_INDEXES = (
    ("users", "(token)", "CREATE UNIQUE INDEX users_token_key ON users (token)"),
    ("whatsapp_accounts", "(user_id)",
     "CREATE INDEX whatsapp_accounts_user_id_idx ON whatsapp_accounts (user_id)"),
    ("conversations", "(account_id, contact_wa_id)",
     "CREATE UNIQUE INDEX conversations_account_id_contact_wa_id_key "
     "ON conversations (account_id, contact_wa_id)"),
)


Cli = Callable[..., CliResult]


def run_sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def index_names(dsn: str) -> set[str]:
    """Every non-primary-key index of the public schema beyond the demo schema's own."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND NOT i.indisprimary").fetchall()
    return {str(r[0]) for r in rows} - set(SCHEMA_INDEXES)


def faithful_schema(dsn: str) -> None:
    """Add the real app's indexes where the table has no index leading with those columns,
    and the extensions advice needs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, columns, ddl in REAL_APP_INDEXES:
            found = conn.execute(
                "SELECT 1 FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                (table, f"%USING btree {columns}%")).fetchone()
            if found is None:
                conn.execute(ddl)  # type: ignore[arg-type]
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("ANALYZE")


def preloaded(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
    return row is not None and PRELOAD in str(row[0])


@dataclass
class Server:
    """A PostgreSQL cluster for tests: `database()` makes a private database on it."""

    dsn: str  # of its `postgres` database
    process: Any = None  # perfkit.demo.postgres.PostgresServer, for a cluster of our own

    def restart(self) -> None:
        """A fast shutdown (every session terminated, as a failover does), then a start."""
        from perfkit.demo import postgres

        postgres.stop(self.process)
        postgres.start(self.process)

    def url(self, database: str) -> str:
        return self.dsn.rsplit("/", 1)[0] + f"/{database}"

    def create(self) -> str:
        name = f"t_{secrets.token_hex(4)}"
        run_sql(self.dsn, f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        run_sql(self.dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def statements_server() -> Iterator[Server]:
    """A cluster of our own with pg_stat_statements preloaded (the demo's may not be yet)."""
    from perfkit.demo import postgres, procs

    base = Path(tempfile.mkdtemp(prefix="perfkit-pgss-"))
    if procs.running_as_root():
        import pwd

        entry = pwd.getpwnam(procs.UNPRIVILEGED_USER)
        import os

        os.chown(base, entry.pw_uid, entry.pw_gid)
    server = postgres.PostgresServer(data_dir=base / "pgdata", port=procs.free_port(),
                                     log_file=base / "postgres.log")
    postgres.init_cluster(server.data_dir)
    with (server.data_dir / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"shared_preload_libraries = '{PRELOAD}'\n")
    try:
        postgres.start(server)
        yield Server(server.admin_dsn, server)
    finally:
        postgres.stop(server)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def runbook_traffic(dsn: str, iterations: int = 30, *, seed: int = 7,
                    prepare_threshold: int | None = 5) -> None:
    """The SQL the demo backend runs for `iterations` of the runbook scenario (auth, accounts,
    conversations, messages, webhook), sent the way the backend sends it (psycopg, server-side
    parameters): what pg_stat_statements sees after `perfkit bench runbook`. Through a
    transaction pooler an app prepares nothing server-side (`prepare_threshold=None`)."""
    import random

    from perfkit.demo.app import ACCOUNT_BY_PHONE_SQL, CONVERSATIONS_SQL, MESSAGES_SQL

    rng = random.Random(seed)
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=prepare_threshold) as conn:
        tokens = [r[0] for r in conn.execute("SELECT token FROM users ORDER BY id LIMIT 20")]
        for i in range(iterations):
            user = conn.execute("SELECT id, email, full_name FROM users WHERE token = %s",
                                (tokens[i % len(tokens)],)).fetchone()
            assert user is not None
            accounts = conn.execute("SELECT id, phone_number_id, display_name FROM "
                                    "whatsapp_accounts WHERE user_id = %s ORDER BY id",
                                    (user[0],)).fetchall()
            account_id, phone = accounts[0][0], accounts[0][1]
            listing = conn.execute(CONVERSATIONS_SQL, (account_id,)).fetchall()
            ids = [r[0] for r in listing] or [None]
            conversation = rng.choice(ids)
            if conversation is not None:
                conn.execute("SELECT id, account_id, contact_wa_id, contact_name, status, "
                             "updated_at FROM conversations WHERE id = %s", (conversation,))
                conn.execute(MESSAGES_SQL, (conversation,)).fetchall()
            _webhook(conn, ACCOUNT_BY_PHONE_SQL, phone)


def _webhook(conn: psycopg.Connection[tuple[object, ...]], by_phone: str, phone: str) -> None:
    account = conn.execute(by_phone, (phone,)).fetchone()
    assert account is not None
    conn.execute("SELECT account_id, name, enabled FROM bot_profiles WHERE account_id = %s",
                 (account[0],))
    with conn.transaction():
        row = conn.execute("SELECT id FROM conversations WHERE account_id = %s AND "
                           "contact_wa_id = %s ORDER BY updated_at DESC LIMIT 1",
                           (account[0], "33612345678")).fetchone()
        if row is None:
            row = conn.execute(
                "INSERT INTO conversations (id, account_id, contact_wa_id, contact_name, "
                "created_at, updated_at) VALUES (gen_random_uuid(), %s, %s, %s, now(), now()) "
                "RETURNING id", (account[0], "33612345678", "33612345678")).fetchone()
        else:
            conn.execute("UPDATE conversations SET updated_at = now() WHERE id = %s", (row[0],))
        assert row is not None
        conn.execute('INSERT INTO messages (conversation_id, "timestamp", direction, body) '
                     "VALUES (%s, now(), 'inbound', %s)", (row[0], "perfkit runbook"))


#: Demo data large enough that each of the three indexes changes its statement's plan.
ADVICE_SCALE = 0.05
_TEMPLATE = "advice_template"
_SHARED: list[Server] = []


def shared_server(config: pytest.Config) -> Server:
    """One cluster with pg_stat_statements preloaded for the whole session, stopped at its
    end, holding a template database: the demo data at ADVICE_SCALE with a real app's
    indexes (the 'before' state of the runbook)."""
    if not _SHARED:
        from perfkit.demo.data import load_demo_data

        stack = contextlib.ExitStack()
        server = stack.enter_context(statements_server())
        config.add_cleanup(stack.close)
        run_sql(server.dsn, f"CREATE DATABASE {_TEMPLATE}")
        load_demo_data(server.url(_TEMPLATE), ADVICE_SCALE)
        faithful_schema(server.url(_TEMPLATE))
        _SHARED.append(server)
    return _SHARED[0]


def copy_template(server: Server) -> str:
    """A private copy of the template database (the caller drops it)."""
    name = f"t_{secrets.token_hex(4)}"
    run_sql(server.dsn, f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    dsn = server.url(name)
    run_sql(dsn, "ANALYZE")  # activity statistics start empty in a new database
    return dsn


@contextlib.contextmanager
def databases(server: Server) -> Iterator[Callable[[], str]]:
    """A factory of private copies of the template database, dropped on exit."""
    made: list[str] = []

    def make() -> str:
        made.append(copy_template(server))
        return made[-1]

    try:
        yield make
    finally:
        for dsn in made:
            server.drop(dsn)
