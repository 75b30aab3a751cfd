"""A Supabase-shaped database behind a real PgBouncer in transaction mode (plain module).

What perfkit meets on Supabase, on loopback: the tables owned by a role that is not a
superuser (Supabase's `postgres`), API roles with a `statement_timeout` of their own
(`authenticated`, `anon`, and the `api_user` login role that holds them, as `authenticator`
does), `pg_stat_statements` and `hypopg` in a schema named `extensions`, row level security
with a policy calling an `auth.uid()`-like function, and every client through a transaction
pooler whose few server connections serve them all, one transaction at a time.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.db.support import Server, copy_template, run_sql

OWNER, OWNER_PASSWORD = "app_owner", "owner-Pw-81f3"
API_USER, API_PASSWORD = "api_user", "api-Pw-2c9d"
#: The role timeouts Supabase-like roles carry (Supabase sets seconds on its API roles).
OWNER_TIMEOUT, API_TIMEOUT = "1min", "8s"
#: Server connections per (database, user): few, so a test can hold them all at once.
POOL_SIZE = 3
#: What a fresh server connection shows, and what perfkit must leave it with.
WATCHED = ("default_transaction_read_only", "statement_timeout", "lock_timeout",
           "plan_cache_mode", "role", "row_security")


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None)


def _roles(admin: str) -> None:
    """The cluster's roles, once (roles are cluster-wide)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        have = {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles")}
        for role, ddl in (
                (OWNER, f"CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}'"),
                ("authenticated", "CREATE ROLE authenticated NOLOGIN"),
                ("anon", "CREATE ROLE anon NOLOGIN"),
                (API_USER, f"CREATE ROLE {API_USER} LOGIN NOINHERIT PASSWORD "
                           f"'{API_PASSWORD}'")):
            if role not in have:
                conn.execute(ddl)  # type: ignore[arg-type]
        conn.execute(f"GRANT pg_read_all_stats TO {OWNER}")  # type: ignore[arg-type]
        conn.execute(f"GRANT anon, authenticated TO {API_USER}")  # type: ignore[arg-type]
        conn.execute(f"ALTER ROLE {OWNER} SET statement_timeout = '{OWNER_TIMEOUT}'")  # type: ignore[arg-type]
        conn.execute(f"ALTER ROLE {API_USER} SET statement_timeout = '{API_TIMEOUT}'")  # type: ignore[arg-type]
        conn.execute("ALTER ROLE authenticated SET statement_timeout = '8s'")
        conn.execute("ALTER ROLE anon SET statement_timeout = '3s'")


def supabase_database(server: Server) -> str:
    """A copy of the advice template as Supabase would hold it; its superuser DSN."""
    _roles(server.dsn)
    dsn = copy_template(server)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP EXTENSION IF EXISTS hypopg")
        conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
        conn.execute("CREATE SCHEMA extensions")
        conn.execute("CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions")
        conn.execute("CREATE EXTENSION hypopg WITH SCHEMA extensions")
        tables = [str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            conn.execute(f"ALTER TABLE public.{table} OWNER TO {OWNER}")  # type: ignore[arg-type]
        conn.execute(f"GRANT USAGE ON SCHEMA extensions, public TO {OWNER}, {API_USER}, "  # type: ignore[arg-type]
                     "authenticated, anon")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {OWNER}")  # type: ignore[arg-type]
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {API_USER}, "  # type: ignore[arg-type]
                     "authenticated")
        conn.execute("CREATE SCHEMA auth")
        conn.execute("CREATE FUNCTION auth.uid() RETURNS bigint LANGUAGE sql STABLE AS $$ "
                     "SELECT nullif(current_setting('request.jwt.claim.sub', true), '')"
                     "::bigint $$")
        conn.execute("GRANT USAGE ON SCHEMA auth TO authenticated, anon")
        conn.execute("ALTER TABLE whatsapp_accounts ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY own_accounts ON whatsapp_accounts FOR SELECT "
                     "TO authenticated USING (user_id = auth.uid())")
    return dsn


def as_role(dsn: str, user: str, password: str, port: int | None = None) -> str:
    """The same database as another role (and through another port)."""
    rest = dsn.split("@", 1)[1]
    host_port, database = rest.split("/", 1)
    host = host_port.rsplit(":", 1)[0]
    old_port = host_port.rsplit(":", 1)[1]
    return f"postgresql://{user}:{password}@{host}:{port or old_port}/{database}"


@dataclass(frozen=True)
class Pooler:
    """A PgBouncer on loopback: its port, and what it logged."""

    port: int
    log_file: Path


@contextlib.contextmanager
def running_pgbouncer(server_port: int, users: dict[str, str], *,
                      mode: str = "transaction") -> Iterator[Pooler]:
    """PgBouncer in `mode` in front of 127.0.0.1:server_port, POOL_SIZE server connections
    per database and user; stopped on exit."""
    from perfkit.demo import procs

    binary = find_pgbouncer()
    assert binary is not None, "pgbouncer is not installed (scripts/bootstrap installs it)"
    work = Path(tempfile.mkdtemp(prefix="perfkit-pgbouncer-"))
    port = procs.free_port()
    userlist = "".join(f'"{u}" "{p}"\n' for u, p in users.items())
    (work / "userlist.txt").write_text(userlist)
    config = work / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={server_port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {work / 'userlist.txt'}\n"
        f"pool_mode = {mode}\ndefault_pool_size = {POOL_SIZE}\nmin_pool_size = 0\n"
        "max_client_conn = 200\nserver_idle_timeout = 600\n"
        f"pidfile = {work / 'pgbouncer.pid'}\nlogfile = {work / 'pgbouncer.log'}\n")
    for path in (work, *work.iterdir()):
        procs.hand_over(path)
    log = work / "pgbouncer.log"
    pid = procs.spawn(procs.as_unprivileged([binary, str(config)]), work / "stdout.log")
    try:
        procs.wait_until(lambda: procs.port_in_use(port), 15, pid, "pgbouncer", log)
        yield Pooler(port, log)
    finally:
        procs.stop_pid(pid, "pgbouncer")
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class ServerConnection:
    """What one pooled server connection shows, seen from inside a client's transaction."""

    pid: int
    settings: dict[str, str]
    prepared: list[str]
    hypothetical: int


def server_connections(pooled_dsn: str) -> list[ServerConnection]:
    """Every server connection of the pool: POOL_SIZE clients each hold a transaction open
    at once, so the pooler must give each its own."""
    clients = [psycopg.connect(pooled_dsn, autocommit=True, prepare_threshold=None)
               for _ in range(POOL_SIZE)]
    seen = []
    try:
        for conn in clients:
            conn.execute("BEGIN")
            seen.append(_look(conn))
    finally:
        for conn in clients:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            conn.close()
    assert len({s.pid for s in seen}) == POOL_SIZE, "the pool did not show all its connections"
    return seen


def _look(conn: psycopg.Connection[Any]) -> ServerConnection:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    settings = {}
    for name in WATCHED:
        value = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        assert value is not None
        settings[name] = str(value[0])
    prepared = [str(r[0]) for r in conn.execute("SELECT name FROM pg_prepared_statements")]
    hypo = conn.execute("SELECT count(*) FROM extensions.hypopg()").fetchone()
    assert hypo is not None
    return ServerConnection(int(row[0]), settings, prepared, int(hypo[0]))


def fresh_settings(direct_dsn: str) -> dict[str, str]:
    """The settings a new session of this role starts with (the role's own included)."""
    with psycopg.connect(direct_dsn, autocommit=True) as conn:
        return _look(conn).settings


def run_as(dsn: str, *statements: str) -> None:
    run_sql(dsn, *statements)
