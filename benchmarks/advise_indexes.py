"""advise-indexes at the demo's default scale: how long advice takes, and how the plan cost
cut HypoPG predicts compares with the EXPLAIN ANALYZE time cut of the real index.

The database is the runbook's 'before' state (demo data, a real app's indexes: unique
users(token), whatsapp_accounts(user_id), unique conversations(account_id, contact_wa_id);
none of the three of indexes/), with pg_stat_statements preloaded and HypoPG. The traffic is
the SQL the demo backend runs for the runbook scenario (tests/db/support.runbook_traffic).
Then: advise (cumulative statistics) --repeat times, timed; write the migration; EXPLAIN
ANALYZE each index's declared query with its heaviest values (median of 5) before; apply the
migration (CONCURRENTLY, ANALYZE); the same EXPLAIN ANALYZE after.

Rerun:
    .venv/bin/python benchmarks/advise_indexes.py                  # own PostgreSQL, scale 1.0
    .venv/bin/python benchmarks/advise_indexes.py --app third --iterations 400  # tests/thirdapp
    .venv/bin/python benchmarks/advise_indexes.py --scale 0.1 --iterations 100
Without --dsn it starts a private PostgreSQL with pg_stat_statements preloaded (initdb in a
temp dir, loopback), loads the demo data (scale 1.0 = 4M messages) and removes everything
afterwards. With --dsn (a server with pg_stat_statements preloaded and HypoPG installed,
CREATEDB) it creates and drops a private database there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit.db.advisor.migration_writer import migration_text  # noqa: E402
from perfkit.db.advisor.orchestrate import advise  # noqa: E402
from perfkit.db.advisor.record import Advice, Source, SourceKind  # noqa: E402
from perfkit.db.apply import ApplyOptions, apply_indexes  # noqa: E402
from perfkit.db.explain import explain_query  # noqa: E402
from perfkit.db.migration_reader import StatementKind, load_statements  # noqa: E402
from perfkit.db.statements import cumulative  # noqa: E402
from tests.db.support import (  # noqa: E402
    faithful_schema,
    runbook_traffic,
    statements_server,
)

RERUN = "    .venv/bin/python benchmarks/advise_indexes.py"


@contextlib.contextmanager
def private_database(admin_dsn: str) -> Iterator[str]:
    name = f"bench_advise_{secrets.token_hex(3)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    try:
        yield admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def timed_advice(dsn: str, repeat: int) -> tuple[Advice, list[float]]:
    """Advice from the cumulative statistics, `repeat` times: the last one and every wall time
    (reading pg_stat_statements included)."""
    times, advice = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        stats, since = cumulative(dsn)
        advice = advise(dsn, stats, Source(SourceKind.CUMULATIVE, "pg_stat_statements", since))
        times.append(time.perf_counter() - started)
    assert advice is not None
    return advice, times


def explain_ms(dsn: str, migration: Path, runs: int = 5) -> dict[str, float]:
    """Median EXPLAIN ANALYZE time of each index's declared query (heaviest values)."""
    from perfkit.db.connect import connect

    result = {}
    with connect(dsn) as conn:
        for stmt in load_statements([migration]):
            if stmt.kind is StatementKind.CREATE_INDEX and stmt.query is not None:
                times = [explain_query(conn, stmt.query).actual_ms or 0.0 for _ in range(runs)]
                result[str(stmt.index_name)] = statistics.median(times)
    return result


def load_and_replay(dsn: str, app: str, scale: float, iterations: int) -> float:
    """Load the app's data and send its SQL: the demo's runbook, or the third test app's
    requests (tests/thirdapp: an N+1, query-builder statements, a small users table)."""
    started = time.perf_counter()
    if app == "third":
        from tests.thirdapp import schema

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        schema.load(dsn)
        load_s = time.perf_counter() - started
        schema.replay(dsn, iterations)
        return load_s
    from perfkit.demo.data import load_demo_data

    load_demo_data(dsn, scale)
    faithful_schema(dsn)
    load_s = time.perf_counter() - started
    runbook_traffic(dsn, iterations)
    return load_s


def measure(dsn: str, app: str, scale: float, iterations: int, repeat: int) -> dict[str, Any]:
    load_s = load_and_replay(dsn, app, scale, iterations)
    advice, times = timed_advice(dsn, repeat)
    text = migration_text(advice, written_at="benchmark")
    figures: dict[str, Any] = {"app": app, "scale": scale, "load_s": load_s,
                               "iterations": iterations, "advise_s": times, "indexes": []}
    if text is None:
        return figures
    migration = Path(tempfile.mkdtemp(prefix="perfkit-advised-")) / "020_advised.sql"
    migration.write_text(text)
    before = explain_ms(dsn, migration)
    apply_indexes(dsn, load_statements([migration]), ApplyOptions())
    after = explain_ms(dsn, migration)
    with psycopg.connect(dsn, autocommit=True) as conn:
        built = dict(conn.execute("SELECT relname::text, pg_relation_size(oid) FROM pg_class "
                                  "WHERE relkind = 'i'").fetchall())
    for index in advice.indexes:
        stmt = index.statements[0]
        assert stmt.before is not None and stmt.after is not None
        figures["indexes"].append({
            "index": index.name, "columns": str(index.candidate),
            "generic_cost": [stmt.before.generic, stmt.after.generic],
            "heaviest_cost": [stmt.before.heaviest, stmt.after.heaviest],
            "explain_analyze_ms": [before.get(index.name), after.get(index.name)],
            "size_bytes": [index.size_bytes, built.get(index.name)]})
    return figures


def _cut(pair: list[float | None]) -> str:
    before, after = pair
    if not before or after is None:
        return "-"
    return f"{(after - before) / before * 100:+.2f}%"


def _ratio(pair: list[int | None]) -> str:
    estimated, built = pair
    return f" (x{estimated / built:.2f})" if estimated and built else ""


def render(figures: dict[str, Any]) -> str:
    times = figures["advise_s"]
    data = ("the third test app's data" if figures["app"] == "third" else
            f"demo data at scale {figures['scale']:g}")
    traffic = "requests" if figures["app"] == "third" else "iterations of the runbook's SQL"
    lines = [f"{data} loaded in {figures['load_s']:.1f} s; {figures['iterations']} {traffic}",
             f"time to advise (read pg_stat_statements, parse, prove with HypoPG): median "
             f"{statistics.median(times):.2f} s, max {max(times):.2f} s over {len(times)} "
             f"runs (goal <= 10 s)", "",
             f"{'index':<42} {'generic cost':>22} {'heaviest cost':>22} {'EXPLAIN ANALYZE':>26}"]
    for row in figures["indexes"]:
        g, h, ms = row["generic_cost"], row["heaviest_cost"], row["explain_analyze_ms"]
        lines.append(
            f"{row['index']:<42} {g[0]:>8.0f} -> {g[1]:>6.1f} {_cut(g):>6} "
            f"{(h[0] or 0):>8.0f} -> {(h[1] or 0):>6.1f} {_cut(h):>6} "
            f"{(ms[0] or 0):>8.2f} -> {(ms[1] or 0):>6.3f} ms {_cut(ms):>6}")
    sizes = [f"{row['index']} {row['size_bytes'][0] / 2**20:.2f} MB estimated, "
             f"{(row['size_bytes'][1] or 0) / 2**20:.2f} MB built"
             f"{_ratio(row['size_bytes'])}" for row in figures["indexes"]]
    if sizes:
        lines += ["", "sizes (perfkit's B-tree model, deduplication counted, vs "
                      "pg_relation_size; goal within 25%):", *sizes]
    if not figures["indexes"]:
        lines.append("(no index advised)")
    lines += ["", "rerun:", RERUN + f" --app {figures['app']} --scale {figures['scale']:g} "
              f"--iterations {figures['iterations']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="admin DSN of a server with pg_stat_statements preloaded "
                                      "and HypoPG (default: a private one)")
    parser.add_argument("--app", choices=("demo", "third"), default="demo",
                        help="the demo's data and runbook, or the third test app's")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=200,
                        help="runbook iterations of traffic before advising")
    parser.add_argument("--repeat", type=int, default=3, help="advice runs to time")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        admin = args.dsn or stack.enter_context(statements_server()).dsn
        dsn = stack.enter_context(private_database(admin))
        figures = measure(dsn, args.app, args.scale, args.iterations, args.repeat)
    print(json.dumps(figures, indent=2) if args.json else render(figures))


if __name__ == "__main__":
    main()
