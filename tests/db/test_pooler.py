"""Supabase as it is: through a real PgBouncer in transaction mode, as a non-superuser owner
with the extensions in `extensions`. Every command that touches the database leaves nothing
on the pool's server connections (settings, prepared statements, hypothetical indexes), the
application's writes through the pooler still pass, and apply-indexes refuses there."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from perfkit.db.pooler import probe
from tests.bench.support import RefServer
from tests.db import pooler_support as pool
from tests.db.support import Server, index_names, run_sql, runbook_traffic
from tests.support import CliResult

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(pool.find_pgbouncer() is None,
                                 reason="pgbouncer is not installed (scripts/bootstrap)")]

Cli = Callable[..., CliResult]
ADVISED = {"idx_messages_conversation_id_timestamp", "idx_conversations_account_id_updated_at",
           "idx_whatsapp_accounts_phone_number_id"}


@dataclass(frozen=True)
class Supabase:
    admin: str         # superuser, direct: what the tests use to look
    direct_owner: str  # the owner role, direct (Supabase: db.<ref>.supabase.co:5432)
    pooled_owner: str  # the owner role through the transaction pooler (Supavisor's 6543)
    direct_api: str    # a login role that is neither owner nor pg_read_all_stats
    pooled_api: str
    server: Server


@pytest.fixture(scope="module")
def supabase(advice_server: Server) -> Iterator[Supabase]:
    admin = pool.supabase_database(advice_server)
    port = int(admin.rsplit(":", 1)[1].split("/")[0])
    users = {pool.OWNER: pool.OWNER_PASSWORD, pool.API_USER: pool.API_PASSWORD}
    with pool.running_pgbouncer(port, users) as bouncer:
        yield Supabase(
            admin=admin,
            direct_owner=pool.as_role(admin, pool.OWNER, pool.OWNER_PASSWORD),
            pooled_owner=pool.as_role(admin, pool.OWNER, pool.OWNER_PASSWORD, bouncer.port),
            direct_api=pool.as_role(admin, pool.API_USER, pool.API_PASSWORD),
            pooled_api=pool.as_role(admin, pool.API_USER, pool.API_PASSWORD, bouncer.port),
            server=advice_server)
    advice_server.drop(admin)


def app_traffic(dsn: str, iterations: int = 30) -> None:
    """The demo app's SQL through the pooler, as an app behind one sends it."""
    runbook_traffic(dsn, iterations, prepare_threshold=None)


@contextlib.contextmanager
def background_traffic(dsn: str) -> Iterator[None]:
    """The app's SQL running through the pooler while a command watches (bounded)."""
    stop = threading.Event()

    def loop() -> None:
        for _ in range(200):
            if stop.is_set():
                return
            app_traffic(dsn, 3)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def assert_nothing_left(supabase: Supabase, secret_free: list[CliResult]) -> None:
    """Every pooled server connection as a fresh session of the role, and writes pass."""
    fresh = pool.fresh_settings(supabase.direct_owner)
    for server in pool.server_connections(supabase.pooled_owner):
        assert server.settings == fresh, f"backend {server.pid} kept perfkit's settings"
        assert server.prepared == [], f"backend {server.pid} kept prepared statements"
        assert server.hypothetical == 0, f"backend {server.pid} kept hypothetical indexes"
    with psycopg.connect(supabase.pooled_owner, autocommit=True,
                         prepare_threshold=None) as app:
        for _ in range(pool.POOL_SIZE * 2):  # one write on every server connection
            app.execute("UPDATE conversations SET updated_at = now() WHERE id = "
                        "(SELECT id FROM conversations LIMIT 1)")
            app.execute("INSERT INTO users (id, email, full_name, token) VALUES "
                        "((SELECT max(id) + 1 FROM users), 'w@example.com', 'w', "
                        "md5(random()::text))")
    for result in secret_free:
        assert pool.OWNER_PASSWORD not in result.output


def test_the_tour_through_a_transaction_pooler_leaves_nothing_behind(
        supabase: Supabase, cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    app_traffic(supabase.pooled_owner, 40)
    fix = tmp_path / "fix.sql"
    results = []

    advised = cli("advise-indexes", "--dsn", supabase.pooled_owner, "--out", str(fix))
    results.append(advised)
    assert advised.exit_code == 0, advised.output
    assert "goes through a transaction pooler (fine for advice)" in advised.output
    assert pool.OWNER_PASSWORD not in fix.read_text()
    proposed = {line.split()[6] for line in fix.read_text().splitlines()
                if line.startswith("CREATE INDEX")}
    assert proposed == ADVISED, fix.read_text()

    run = tmp_path / "run.json"
    with background_traffic(supabase.pooled_owner):
        bench = cli("bench", "/fast", "--base-url", ref.url, "--rate", "20",
                    "--duration", "2s", "--dsn", supabase.pooled_owner, "--out", str(run))
        results.append(bench)
        results.append(cli("advise-indexes", "--since", "2s", "--dsn", supabase.pooled_owner))
    assert bench.exit_code == 0, bench.output
    assert json.loads(run.read_text())["db"]["statements"], "the app's SQL was not seen"
    two = tmp_path / "two.yaml"  # two routes: the attribution pass reads through the pooler
    two.write_text("name: two\nsteps:\n  - path: /fast\n  - path: /sleep/1\n")
    mixed = cli("bench", str(two), "--base-url", ref.url, "-n", "20", "--dsn",
                supabase.pooled_owner, "--out", str(tmp_path / "two.json"))
    results.append(mixed)
    assert mixed.exit_code == 0, mixed.output
    assert json.loads((tmp_path / "two.json").read_text())["db"]["attribution"][
        "method"] == "pass"
    results.append(cli("advise-indexes", "--from", str(run), "--dsn", supabase.pooled_owner))
    assert [r.exit_code for r in results[-2:]] == [0, 0], [r.output for r in results]

    refused = cli("apply-indexes", str(fix), "--dsn", supabase.pooled_owner)
    results.append(refused)
    assert refused.exit_code == 2, refused.output
    assert "transaction pooler" in refused.stderr and "session pooler" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert index_names(supabase.admin) & ADVISED == set(), "the refusal built something"

    built = cli("apply-indexes", str(fix), "--dsn", supabase.direct_owner)
    results.append(built)
    assert built.exit_code == 0, built.output
    assert index_names(supabase.admin) >= ADVISED

    verified = cli("verify-indexes", str(fix), "--explain", "--dsn", supabase.pooled_owner,
                   "--format", "json")
    results.append(verified)
    assert verified.exit_code == 0, verified.output
    states = json.loads(verified.stdout)["indexes"]
    assert {i["name"]: (i["state"], i["used_by_query"]) for i in states} == {
        name: ("ok", True) for name in ADVISED}

    results.append(cli("doctor", str(fix), "--dsn", supabase.pooled_owner))
    assert_nothing_left(supabase, results)
    with psycopg.connect(supabase.direct_owner, autocommit=True) as conn:
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                     "('statement_timeout', 'lock_timeout')").fetchall())
    assert settings == {"statement_timeout": "60000", "lock_timeout": "0"}


def test_the_probe_tells_a_transaction_pooler_from_a_session_and_a_direct_connection(
        supabase: Supabase) -> None:
    with psycopg.connect(supabase.pooled_owner, autocommit=True,
                         prepare_threshold=None) as pooled:
        assert probe(pooled, supabase.pooled_owner).transaction_pooled
    with psycopg.connect(supabase.direct_owner, autocommit=True) as direct:
        assert not probe(direct, supabase.direct_owner).transaction_pooled
    port = int(supabase.admin.rsplit(":", 1)[1].split("/")[0])
    with pool.running_pgbouncer(port, {pool.OWNER: pool.OWNER_PASSWORD},
                                mode="session") as session_pooler:
        dsn = pool.as_role(supabase.admin, pool.OWNER, pool.OWNER_PASSWORD,
                           session_pooler.port)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert not probe(conn, dsn).transaction_pooled


def test_a_role_that_does_not_own_the_table_is_named_and_nothing_is_built(
        supabase: Supabase, cli: Cli, tmp_path: Path) -> None:
    migration = tmp_path / "one.sql"
    migration.write_text("CREATE INDEX idx_bot_profiles_name ON bot_profiles (name);\n")
    result = cli("apply-indexes", str(migration), "--dsn", supabase.direct_api)
    assert result.exit_code == 2, result.output
    assert (f"role {pool.API_USER} does not own public.bot_profiles (owner: {pool.OWNER})"
            in result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    assert pool.API_PASSWORD not in result.output
    assert "idx_bot_profiles_name" not in index_names(supabase.admin)


def test_statements_of_other_roles_hidden_without_pg_read_all_stats_are_counted(
        supabase: Supabase, cli: Cli) -> None:
    app_traffic(supabase.pooled_owner, 10)
    result = cli("advise-indexes", "--dsn", supabase.pooled_api, "--format", "json")
    assert result.exit_code == 0, result.output
    notes = " ".join(json.loads(result.stdout)["notes"])
    assert "statement(s) of other roles are hidden from this role" in notes
    assert "% of the database time" in notes and "pg_read_all_stats" in notes


def test_a_role_timeout_shorter_than_the_build_does_not_cut_it(
        supabase: Supabase, cli: Cli, tmp_path: Path) -> None:
    short = supabase.direct_owner + "?options=-c%20statement_timeout%3D20ms"
    migration = tmp_path / "slow.sql"
    migration.write_text(
        "-- perfkit:query SELECT id FROM messages WHERE body > $1 ORDER BY body LIMIT 5\n"
        "-- perfkit:params 'a'\n"
        "CREATE INDEX idx_messages_body ON messages (body);\n")
    result = cli("apply-indexes", str(migration), "--dsn", short, "--format", "json")
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    build = next(s for s in steps if s["name"] == "idx_messages_body")
    assert build["done"] and build["duration_s"] > 0.02, build  # longer than the role allows
    with psycopg.connect(supabase.admin, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_messages_body")


#: A foreign key without an index, owned by the owner role, readable by the API role; the
#: owner may use auth.uid() (Supabase's postgres may).
LINT_FAULT = f"""
CREATE SCHEMA lint_faults AUTHORIZATION {pool.OWNER};
GRANT USAGE ON SCHEMA auth TO {pool.OWNER};
SET ROLE {pool.OWNER};
CREATE TABLE lint_faults.parent (id bigint PRIMARY KEY);
INSERT INTO lint_faults.parent SELECT generate_series(1, 100);
CREATE TABLE lint_faults.child (id bigint PRIMARY KEY,
                                parent_id bigint NOT NULL REFERENCES lint_faults.parent (id));
INSERT INTO lint_faults.child SELECT g, 1 + g % 100 FROM generate_series(1, 20000) g;
GRANT USAGE ON SCHEMA lint_faults TO {pool.API_USER};
GRANT SELECT ON ALL TABLES IN SCHEMA lint_faults TO {pool.API_USER};
RESET ROLE;
ANALYZE lint_faults.parent, lint_faults.child;
"""


def test_lint_through_a_transaction_pooler_works_for_owner_and_api_role_and_leaves_nothing(
        supabase: Supabase, cli: Cli) -> None:
    run_sql(supabase.admin, LINT_FAULT)
    try:
        results = [cli("lint", "--dsn", dsn, "--schema", "public", "--schema", "lint_faults",
                       "--format", "json")
                   for dsn in (supabase.pooled_owner, supabase.pooled_api)]
        assert [r.exit_code for r in results] == [1, 1], [r.output for r in results]
        owner, api = (json.loads(r.stdout) for r in results)
        for record in (owner, api):
            rules = {f["rule"]: f for f in record["findings"]}
            assert {(f["rule"], f["object"]) for f in record["findings"]} == {
                ("unindexed_foreign_key", "lint_faults.child.child_parent_id_fkey"),
                ("rls_per_row_call", "public.whatsapp_accounts.own_accounts")}
            assert rules["unindexed_foreign_key"]["evidence"]["lookup"]["proven"]
        as_owner = {f["rule"]: f for f in owner["findings"]}["rls_per_row_call"]
        assert as_owner["evidence"]["plans"]["as_role"]["error"].startswith(
            f"the current role {pool.OWNER} cannot assume authenticated")
        assert as_owner["evidence"]["plans"]["rewritten"]["initplan"]  # the owner bypasses RLS
        as_api = {f["rule"]: f for f in api["findings"]}["rls_per_row_call"]
        assert as_api["evidence"]["plans"]["as_role"]["role"] == "authenticated"
        assert as_api["evidence"]["plans"]["as_role"]["initplan"] == []
        assert as_api["evidence"]["plans"]["rewritten"]["error"]  # api_user is under RLS
        assert_nothing_left(supabase, results)
        assert pool.API_PASSWORD not in results[1].output
    finally:
        run_sql(supabase.admin, "DROP SCHEMA lint_faults CASCADE",
                f"REVOKE USAGE ON SCHEMA auth FROM {pool.OWNER}")
