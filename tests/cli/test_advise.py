"""`perfkit advise-indexes` black-box: advice -> migration -> apply -> verify, the error
lines, tables that fit."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.db import support
from tests.db.support import Cli, run_sql, runbook_traffic
from tests.support import CliResult

pytestmark = pytest.mark.integration
STATUS = "proving candidate indexes with HypoPG (hypothetical only)"
ADVISED = ("idx_conversations_account_id_updated_at", "idx_messages_conversation_id_timestamp",
           "idx_whatsapp_accounts_phone_number_id")


@pytest.fixture(scope="session")
def advice_server(pytestconfig: pytest.Config) -> support.Server:
    return support.shared_server(pytestconfig)


@pytest.fixture
def advice_db(advice_server: support.Server) -> Iterator[Callable[[], str]]:
    with support.databases(advice_server) as make:
        yield make


def one_error_line(result: CliResult) -> str:
    """The error line; besides it stderr holds at most what perfkit was doing."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert "Traceback" not in result.output and len(errors) == 1, result.stderr
    assert set(lines) - set(errors) <= {STATUS}, result.stderr
    return errors[0]


def test_advice_migration_apply_verify_then_nothing_left(
        cli: Cli, advice_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 30)
    out = tmp_path / "020_advised.sql"
    advised = cli("advise-indexes", "--dsn", dsn, "--format", "json", "--out", str(out))
    assert advised.exit_code == 0, advised.output
    data = json.loads(advised.stdout)
    assert data["schema"] == "perfkit.advice/1" and data["hypopg"] is True
    assert sorted(i["name"] for i in data["indexes"]) == list(ADVISED)
    assert f"wrote 3 index(es) to {out}" in advised.stderr
    assert "perfkit-demo" not in advised.output  # the DSN's password

    applied = cli("apply-indexes", str(out), "--dsn", dsn, "--explain")
    assert applied.exit_code == 0, applied.output
    for name in ADVISED:  # EXPLAIN ANALYZE before the build -> after, per statement
        line = next(line for line in applied.stdout.splitlines() if f"  {name}: before:" in line)
        assert "Seq Scan" in line.split("->")[0] or "Bitmap" in line.split("->")[0], line
        assert f"using {name}" in line.split("->")[1] and line.count(" ms,") == 2, line
    verified = cli("verify-indexes", str(out), "--dsn", dsn, "--explain", "--format", "json")
    assert verified.exit_code == 0, verified.output
    assert [i["state"] for i in json.loads(verified.stdout)["indexes"]] == ["ok"] * 3

    out.unlink()
    again = cli("advise-indexes", "--dsn", dsn, "--out", str(out))
    assert again.exit_code == 0, again.output
    assert "nothing to propose" in again.stdout and not out.exists()


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_tables_fit_without_breaking_a_name(cli: Cli, advice_db: Callable[[], str],
                                            monkeypatch: pytest.MonkeyPatch,
                                            columns: int) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 10)
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("advise-indexes", "--dsn", dsn)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in (*ADVISED, "whatsapp_accounts", "conversations"):
        assert any(name in line for line in lines), (name, result.stdout)
    table_lines = [line for line in lines if "│" in line]
    assert table_lines
    markdown = cli("advise-indexes", "--dsn", dsn, "--format", "markdown")
    assert "| index | table | columns |" in markdown.stdout
    assert "`idx_messages_conversation_id_timestamp`" in markdown.stdout


def test_since_observes_live_traffic_for_the_window(cli: Cli,
                                                    advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 3)  # before the window: not counted
    traffic = threading.Thread(target=runbook_traffic, args=(dsn, 15), daemon=True)
    traffic.start()
    result = cli("advise-indexes", "--dsn", dsn, "--since", "2s", "--format", "json")
    traffic.join(timeout=60)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"]["kind"] == "window" and data["source"]["seconds"] == 2.0
    calls = {s["query"].split()[1]: s["calls"] for s in data["statements"]}
    assert calls and all(0 < n <= 15 for n in calls.values()), calls
    assert all(i["writes_per_s"] is not None for i in data["indexes"])


def test_usage_errors_are_one_line(cli: Cli, tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"schema": "perfkit.run/1", "routes": []}))
    both = cli("advise-indexes", "--from", str(run), "--since", "10s", "--dsn", "x")
    assert both.exit_code == 2 and "exclusive" in one_error_line(both)
    no_db = cli("advise-indexes", "--from", str(run), "--dsn", "postgresql://127.0.0.1:1/x")
    assert no_db.exit_code == 2 and "no db.statements" in one_error_line(no_db)
    for bad in ("0s", "2h", "soon"):
        since = cli("advise-indexes", "--since", bad, "--dsn", "postgresql://127.0.0.1:1/x")
        assert since.exit_code == 2 and "--since" in one_error_line(since), bad
    assert cli("advise-indexes", "--top", "0").exit_code == 2
    helped = cli("advise-indexes", "--help")
    assert helped.exit_code == 0 and "Example: `perfkit advise-indexes" in helped.stdout


def test_unreachable_database_exits_3_without_the_password(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "s3cret-Pa55word"
    result = cli("advise-indexes", "--dsn", f"postgresql://u:{secret}@127.0.0.1:{port}/db")
    assert result.exit_code == 3 and "cannot connect" in one_error_line(result)
    assert secret not in result.output


def test_without_pg_stat_statements_one_line_says_how_to_enable_it(
        cli: Cli, advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    run_sql(dsn, "DROP EXTENSION pg_stat_statements")
    for args in ((), ("--since", "1s")):
        result = cli("advise-indexes", "--dsn", dsn, *args)
        assert result.exit_code == 2, result.output
        line = one_error_line(result)
        assert "pg_stat_statements is not installed" in line
        assert "shared_preload_libraries" in line and "schema extensions" in line


def test_without_hypopg_candidates_are_unproven_and_no_migration_is_written(
        cli: Cli, advice_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = advice_db()
    run_sql(dsn, "DROP EXTENSION hypopg")
    runbook_traffic(dsn, 10)
    out = tmp_path / "advised.sql"
    result = cli("advise-indexes", "--dsn", dsn, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "candidate indexes (unproven: no HypoPG)" in result.stdout
    assert "CREATE EXTENSION hypopg" in result.stdout and "postgresql-NN-hypopg" in result.stdout
    assert not out.exists() and "not written" in result.stderr


def test_from_a_run_record_skipped_statements_say_why_in_one_line(
        cli: Cli, advice_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 10)
    traffic = cli("advise-indexes", "--dsn", dsn, "--format", "json")
    statements = [{k: s[k] for k in ("queryid", "query", "calls", "total_ms")}
                  for s in json.loads(traffic.stdout)["statements"]]
    bad = [{"queryid": 1, "query": "SELEC id FROM messages", "calls": 1, "total_ms": 2.0},
           {"queryid": 2, "query": "SELECT id FROM gone WHERE k = $1", "calls": 1,
            "total_ms": 1.0}]
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"schema": "perfkit.run/1", "db": {"statements": [
        *bad, *statements]}}))
    result = cli("advise-indexes", "--from", str(run), "--dsn", dsn)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert '#1: does not parse: syntax error at or near "SELEC"' in result.stdout
    assert "#2: names table gone, which does not exist (dropped or renamed?)" in result.stdout
    assert f"source: statements of the run {run}" in result.stdout
    for name in ADVISED:
        assert name in result.stdout


def test_a_role_that_may_not_use_hypopg_gets_one_line(cli: Cli, advice_db: Callable[[], str]
                                                       ) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 5)
    role, password = f"pk_nohypo_{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    database = urlsplit(dsn).path.lstrip("/")
    run_sql(dsn, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
            f"GRANT CONNECT ON DATABASE {database} TO {role}",
            f"GRANT pg_read_all_stats, pg_read_all_data TO {role}",
            "REVOKE EXECUTE ON FUNCTION hypopg_create_index(text) FROM PUBLIC")
    user = dsn.replace(urlsplit(dsn).netloc.split("@")[0], f"{role}:{password}")
    try:
        result = cli("advise-indexes", "--dsn", user)
        assert result.exit_code == 2, result.output
        line = one_error_line(result)
        assert "HypoPG could not create a hypothetical index" in line
        assert "permission denied" in line and password not in result.output
    finally:
        run_sql(dsn, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_explain_choice_says_why_each_candidate_was_kept_or_dropped(
        cli: Cli, advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    runbook_traffic(dsn, 30)
    result = cli("advise-indexes", "--dsn", dsn, "--explain-choice", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "the choice: every candidate, kept or dropped" in result.stdout
    assert ("a prefix of messages (conversation_id, timestamp DESC), which serves its "
            "statements too") in result.stdout
    assert "the existing index users_token_key already leads with these columns" in (
        result.stdout)
    data = json.loads(cli("advise-indexes", "--dsn", dsn, "--format", "json").stdout)
    kept = {c["candidate"]: c["saved_ms"] for c in data["choices"] if c["kept"]}
    assert set(kept) == {"conversations (account_id, updated_at DESC)",
                         "messages (conversation_id, timestamp DESC)",
                         "whatsapp_accounts (phone_number_id)"}
    assert all(ms > 0 for ms in kept.values())
    # each served statement is credited to the one index that causes its cut
    served = [s for s in data["statements"] if s["status"] == "served"]
    assert sorted(name for s in served for name in s["indexes"]) == list(ADVISED)
