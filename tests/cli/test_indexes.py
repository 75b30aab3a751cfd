"""`perfkit apply-indexes` / `verify-indexes` black-box: exit codes, output, no password shown."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from perfkit.demo.schema import SCHEMA_INDEXES
from tests.db.support import SEED_DIR, SEED_INDEXES, Cli


def password_of(dsn: str) -> str:
    password = urlsplit(dsn).password
    assert password
    return password


def index_names(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
                            "AND indexname NOT LIKE '%_pkey'").fetchall()
    return {str(r[0]) for r in rows} - set(SCHEMA_INDEXES)  # the app's own, not under test


def test_apply_then_verify_then_rerun(cli: Cli, fresh_db: Callable[[float], str]) -> None:
    dsn = fresh_db(0.01)
    secret = password_of(dsn)

    missing = cli("verify-indexes", str(SEED_DIR), "--dsn", dsn)
    assert missing.exit_code == 1 and "missing" in missing.stdout
    assert secret not in missing.output

    dry = cli("apply-indexes", str(SEED_DIR), "--dsn", dsn, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "CREATE INDEX CONCURRENTLY idx_messages_conversation_timestamp" in dry.stdout
    assert "will be built CONCURRENTLY" in dry.stderr
    assert index_names(dsn) == set()

    applied = cli("apply-indexes", str(SEED_DIR), "--dsn", dsn, "--explain")
    assert applied.exit_code == 0, applied.output
    assert "change event" in applied.stderr and secret not in applied.output
    assert "CONCURRENTLY added" in applied.stderr
    assert "Seq Scan" in applied.stdout and "Index Scan using idx_messages" in applied.stdout
    assert len(index_names(dsn)) == 3

    again = cli("apply-indexes", str(SEED_DIR), "--dsn", dsn, "--format", "json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["schema"] == "perfkit.apply/1"
    assert {s["action"] for s in data["steps"] if s["kind"] == "create-index"} == {"unchanged"}
    assert data["event_id"] is None and data["verify"]["schema"] == "perfkit.indexes/1"

    verified = cli("verify-indexes", str(SEED_DIR), "--dsn", dsn, "--explain", "--format", "json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["schema"] == "perfkit.indexes/1"
    assert [(i["state"], i["used_by_query"]) for i in report["indexes"]] == [("ok", True)] * 3


def test_verify_exit_codes_per_state(cli: Cli, fresh_db: Callable[[float], str],
                                     tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    sql = tmp_path / "one.sql"
    sql.write_text("-- perfkit:query SELECT id FROM whatsapp_accounts WHERE phone_number_id = $1\n"
                   "-- perfkit:params '100000000000001'\n"
                   "CREATE INDEX idx_accounts_phone_number_id ON whatsapp_accounts "
                   "(phone_number_id);\n")
    assert cli("verify-indexes", str(sql), "--dsn", dsn).exit_code == 1  # missing
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX idx_accounts_phone_number_id ON whatsapp_accounts (user_id)")
    different = cli("verify-indexes", str(sql), "--dsn", dsn)
    assert different.exit_code == 1 and "different" in different.stdout

    conflict = cli("apply-indexes", str(sql), "--dsn", dsn)
    assert conflict.exit_code == 1 and "--replace" in conflict.stderr
    replaced = cli("apply-indexes", str(sql), "--dsn", dsn, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert cli("verify-indexes", str(sql), "--dsn", dsn, "--explain").exit_code == 0

    with psycopg.connect(dsn, autocommit=True) as conn:  # make it INVALID the way it happens
        conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                     "'idx_accounts_phone_number_id'::regclass")
    invalid = cli("verify-indexes", str(sql), "--dsn", dsn, "--format", "json")
    assert invalid.exit_code == 1
    assert json.loads(invalid.stdout)["indexes"][0]["state"] == "invalid"


def test_non_index_ddl_is_refused_and_nothing_applied(cli: Cli, fresh_db: Callable[[float], str],
                                                      tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    sql = tmp_path / "010_mixed.sql"
    sql.write_text("CREATE INDEX idx_a ON messages (status);\n"
                   "ALTER TABLE messages ADD COLUMN x int;\n")
    result = cli("apply-indexes", str(sql), "--dsn", dsn)
    assert result.exit_code == 2
    assert f"{sql}:2" in result.stderr and "ALTER TABLE" in result.stderr
    assert index_names(dsn) == set()

    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE INDEX idx_a ON messages (status;\n")
    syntax = cli("apply-indexes", str(bad), "--dsn", dsn)
    assert syntax.exit_code == 2 and f"{bad}:1: syntax error" in syntax.stderr


def test_unreachable_database_exits_3_without_the_password(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "s3cret-Pa55word"
    for dsn, command in ((f"postgresql://perfkit:{secret}@127.0.0.1:{port}/nowhere",
                          "apply-indexes"),
                         (f"host=127.0.0.1 port={port} user=perfkit password={secret}",
                          "verify-indexes")):
        result = cli(command, str(SEED_DIR), "--dsn", dsn)
        assert result.exit_code == 3, result.output
        assert "cannot connect" in result.stderr and secret not in result.output
    malformed = cli("apply-indexes", str(SEED_DIR), "--dsn",
                    f"postgresql://perfkit:{secret}@127.0.0.1:notaport/db")
    assert malformed.exit_code == 2 and "invalid DSN" in malformed.stderr  # nothing reached
    assert secret not in malformed.output
    pooler = cli("apply-indexes", str(SEED_DIR), "--dsn",
                 f"postgresql://u:{secret}@127.0.0.1:6543/db")
    assert pooler.exit_code == 3 and "transaction pooler" in pooler.stderr
    assert secret not in pooler.output


def test_lock_timeout_flag_gives_up_after_retries(cli: Cli, fresh_db: Callable[[float], str],
                                                  tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    sql = tmp_path / "m.sql"
    sql.write_text("CREATE INDEX idx_m ON messages (conversation_id);\n")
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE messages IN SHARE MODE")
        result = cli("apply-indexes", str(sql), "--dsn", dsn, "--lock-timeout", "100ms",
                     "--retries", "1")
    assert result.exit_code == 3, result.output
    assert "after 2 tries" in result.stderr and password_of(dsn) not in result.output
    assert index_names(dsn) == set()


def test_a_role_that_is_not_the_owner_is_refused_up_front_without_the_password(
        cli: Cli, fresh_db: Callable[[float], str]) -> None:
    dsn = fresh_db(0.01)
    role, secret = f"pk_reader_{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    database = urlsplit(dsn).path.lstrip("/")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
        conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    reader = dsn.replace(urlsplit(dsn).netloc.split("@")[0], f"{role}:{secret}")
    try:
        result = cli("apply-indexes", str(SEED_DIR), "--dsn", reader)
        assert result.exit_code == 2, result.output  # named before anything runs
        assert f"role {role} does not own public.conversations" in result.stderr
        assert "table's owner" in result.stderr
        assert secret not in result.output
        assert index_names(dsn) == set()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_files_without_index_statements_exit_2(cli: Cli, fresh_db: Callable[[float], str],
                                               tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    empty = tmp_path / "empty.sql"
    empty.write_text("-- nothing here yet\n")
    analyze_only = tmp_path / "analyze.sql"
    analyze_only.write_text("ANALYZE messages;\n")
    for command in ("verify-indexes", "apply-indexes"):
        for files in ([empty], [empty, analyze_only], [tmp_path]):
            result = cli(command, *map(str, files), "--dsn", dsn)
            assert result.exit_code == 2, (command, files, result.output)
            assert "no index statements in" in result.stderr and str(empty) in result.stderr
            hint = "default: indexes/" if command == "verify-indexes" else "nothing was applied"
            assert hint in result.stderr
    drop_only = tmp_path / "drop" / "020_drop.sql"
    drop_only.parent.mkdir()
    drop_only.write_text("DROP INDEX IF EXISTS idx_gone;\n")
    nothing_to_verify = cli("verify-indexes", str(drop_only), "--dsn", dsn)
    assert nothing_to_verify.exit_code == 2 and "(only drop-index)" in nothing_to_verify.stderr
    assert cli("apply-indexes", str(drop_only), "--dsn", dsn).exit_code == 0  # a real migration


def test_the_change_event_text_does_not_repeat_its_kind(
        cli: Cli, fresh_db: Callable[[float], str]) -> None:
    from perfkit.events import list_events

    dsn = fresh_db(0.01)
    applied = cli("apply-indexes", str(SEED_DIR), "--dsn", dsn, "--format", "json")
    assert applied.exit_code == 0, applied.output
    event_id = json.loads(applied.stdout)["event_id"]
    event = next(e for e in list_events() if e.id == event_id)
    assert event.kind == "apply-indexes"
    assert event.text.startswith("built idx_conversations_account_updated, ")
    assert "apply-indexes" not in event.text


def test_lock_timeout_accepts_the_duration_grammar_of_other_commands(
        cli: Cli, fresh_db: Callable[[float], str]) -> None:
    from perfkit.cli.indexes import parse_duration_s

    assert [parse_duration_s(t) for t in ("500ms", "5s", "2m", "1h", "1.5h", "10", " 3 S ")] == [
        0.5, 5.0, 120.0, 3600.0, 5400.0, 10.0, 3.0]
    dsn = fresh_db(0.01)
    hour = cli("apply-indexes", str(SEED_DIR), "--dsn", dsn, "--lock-timeout", "1h")
    assert hour.exit_code == 0, hour.output
    assert len(index_names(dsn)) == 3
    for bad in ("0", "0s", "5x", "30d", "-1s", "600h"):
        refused = cli("apply-indexes", str(SEED_DIR), "--dsn", dsn, "--lock-timeout", bad)
        assert refused.exit_code == 2, (bad, refused.output)
        assert "--lock-timeout" in refused.stderr


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_tables_never_break_an_index_or_table_name(cli: Cli, fresh_db: Callable[[float], str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   columns: int) -> None:
    dsn = fresh_db(0.01)
    monkeypatch.setenv("COLUMNS", str(columns))
    names = (*SEED_INDEXES, "whatsapp_accounts", "conversations")
    for args, code in ((("apply-indexes", "--dry-run"), 0), (("verify-indexes", "--explain"), 1),
                       (("apply-indexes", "--explain"), 0)):
        result = cli(*args, str(SEED_DIR), "--dsn", dsn)
        assert result.exit_code == code, result.output
        lines = result.stdout.splitlines()
        for name in names:
            assert any(name in line for line in lines), (args, name, result.stdout)
        assert all(len(line) <= columns for line in lines if "│" in line), result.stdout


def test_markdown_is_the_shared_renderer(cli: Cli, fresh_db: Callable[[float], str]) -> None:
    dsn = fresh_db(0.01)
    result = cli("verify-indexes", str(SEED_DIR), "--dsn", dsn, "--format", "markdown")
    assert result.exit_code == 1
    assert "**indexes: expected vs database**" in result.stdout
    assert "| `idx_messages_conversation_timestamp` | `messages` | `missing` |" in result.stdout


def test_the_shipped_migration_is_for_the_demo_database_only(
        cli: Cli, fresh_db: Callable[[float], str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No path and no ./indexes/: the runbook's migration builds on the demo's database, and on
    any other (here the same tables, without the demo's marker) exits 2 having done nothing."""
    demo, other = fresh_db(0.01), fresh_db(0.01)
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("DROP TABLE perfkit_demo_meta")  # an app's own database, not the demo's
    monkeypatch.chdir(tmp_path)  # no ./indexes/ here
    monkeypatch.setenv("DATABASE_URL", other)
    for command, extra in (("apply-indexes", ()), ("apply-indexes", ("--dry-run",)),
                           ("verify-indexes", ())):
        refused = cli(command, *extra)
        assert refused.exit_code == 2, (command, refused.output)
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
        assert f"give your migration: perfkit {command} path/to/indexes.sql" in refused.stderr
        assert password_of(other) not in refused.output
    assert index_names(other) == set()
    from perfkit.config import Target
    from perfkit.events import list_events

    database = Target.of(dsn=other).database
    assert not [e for e in list_events() if e.target and e.target.database == database]

    monkeypatch.setenv("DATABASE_URL", demo)
    applied = cli("apply-indexes")
    assert applied.exit_code == 0, applied.output
    assert index_names(demo) == set(SEED_INDEXES)
    assert cli("verify-indexes").exit_code == 0
    own = tmp_path / "mine.sql"
    own.write_text("CREATE INDEX idx_mine ON messages (status);\n")
    monkeypatch.setenv("DATABASE_URL", other)
    assert cli("apply-indexes", str(own)).exit_code == 0  # a migration given: any database
    assert index_names(other) == {"idx_mine"}
