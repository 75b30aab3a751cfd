"""The database server restarted (fast shutdown: every session terminated, as a failover
does) or down in the middle of the work, on a cluster of this module's own (the shared test
clusters serve other tests and are never stopped): apply-indexes during the build, bench
--dsn when the statements snapshot is taken at the end of the run. One line, exit 3, what
was left and how to repair it; a rerun leaves things as a fault-free run would."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from perfkit.demo import postgres
from tests.db.fault_support import backend_doing, no_demo, one_error, perfkit, terminate
from tests.db.support import Server, run_sql, statements_server

pytestmark = pytest.mark.integration
INDEX = "idx_messages_by_conversation"
WINDOW_OPEN = ("application_name = 'perfkit-statements' AND state = 'idle' AND "
               "query LIKE '%%clock_timestamp%%'")


@pytest.fixture(scope="module")
def own_server() -> Iterator[Server]:
    """A small cluster with pg_stat_statements preloaded, ours to restart."""
    with statements_server() as server:
        yield server


@pytest.fixture
def own_db(own_server: Server) -> Iterator[str]:
    from perfkit.demo.data import load_demo_data

    dsn = own_server.create()
    load_demo_data(dsn, 0.01)
    run_sql(dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    yield dsn
    if not postgres.answers(own_server.dsn):  # a failed test left it down
        postgres.start(own_server.process)
    own_server.drop(dsn)


def test_a_build_cut_by_a_server_restart_names_its_invalid_index_and_a_rerun_repairs(
        own_server: Server, own_db: str, index_states: Callable[[str], dict[str, bool]],
        tmp_path: Path) -> None:
    dsn = own_db
    migration = tmp_path / "one.sql"
    migration.write_text(f"CREATE INDEX {INDEX} ON messages (conversation_id);\n")
    holder = psycopg.connect(dsn)  # an old snapshot: the build waits at its end
    try:
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT count(*) FROM users").fetchone()
        proc = perfkit("apply-indexes", str(migration), "--dsn", dsn, "--lock-timeout", "60s")
        backend_doing(dsn, "query LIKE 'CREATE INDEX%%' AND wait_event_type = 'Lock'",
                      "the build's wait")
        own_server.restart()
    finally:
        holder.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    line = one_error(err, out)
    assert f"was lost while building {INDEX}" in line, line
    assert f"public.{INDEX}" in line and "INVALID" in line, line
    assert "the next `perfkit apply-indexes` drops and rebuilds it" in line, line
    assert f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{INDEX}"' in line, line
    assert index_states(dsn) == {INDEX: False}

    again = perfkit("apply-indexes", str(migration), "--dsn", dsn)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert index_states(dsn) == {INDEX: True}


def _record(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_bench_whose_database_is_down_at_the_end_keeps_its_run_and_a_lost_session_is_retried(
        own_server: Server, own_db: str, ref: Any, tmp_path: Path) -> None:
    dsn, record = own_db, tmp_path / "run.json"
    bench = ("bench", f"{ref.url}/fast", "--duration", "1.5s", "-c", "1", "--dsn", dsn,
             "--out", str(record))
    proc = perfkit(*bench, env=no_demo(tmp_path))
    backend_doing(dsn, WINDOW_OPEN, "the window's first snapshot")
    postgres.stop(own_server.process)  # down until the run has ended
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        postgres.start(own_server.process)
    assert proc.returncode == 3, err
    line = one_error(err, out)
    assert "was lost while reading pg_stat_statements at the window's end" in line, line
    assert "the one retry could not connect" in line, line
    assert f"the run's results are above, saved to {record}, without SQL figures" in line
    assert "GET /fast" in out  # the HTTP run's results, printed
    saved = _record(record)  # and saved, saying why it has no SQL figures
    assert "db" not in saved and saved["routes"][0]["count"] > 0
    assert any(n.startswith("no SQL figures: the statements snapshot at the run's end "
                            "failed") for n in saved["notes"]), saved["notes"]
    assert "warning: no SQL figures" in err

    proc = perfkit(*bench, env=no_demo(tmp_path))  # the rerun; its idle session terminated
    terminate(dsn, backend_doing(dsn, WINDOW_OPEN, "the window's first snapshot"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    saved = _record(record)
    assert "statements" in saved["db"] and "error:" not in err
    assert any("retried once on a new connection" in n for n in saved["notes"]), saved["notes"]
