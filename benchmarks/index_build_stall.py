"""Writer stalls during an index build: perfkit's CONCURRENTLY vs the seed's plain CREATE INDEX.

A writer inserts into `messages` (one row per transaction, as fast as it can, like the
WhatsApp webhooks) while (a) `perfkit.db.apply.apply_indexes` builds
idx_messages_conversation_timestamp and (b) the seed's own statement
(`CREATE INDEX IF NOT EXISTS ... ON messages(conversation_id, timestamp DESC)`, a SHARE lock)
builds it again after a drop. Reported side by side: the writer's insert latency during
each build (p50, p99, max) and its longest gap between commits. Then the seed's effect:
database time (EXPLAIN ANALYZE execution time, median of 5) of the three seed queries
before and after all three indexes.

Rerun:
    .venv/bin/python benchmarks/index_build_stall.py                 # own PostgreSQL, scale 1.0
    .venv/bin/python benchmarks/index_build_stall.py --dsn DSN       # a server you have (CREATEDB)
Without --dsn it starts a private PostgreSQL (initdb in a temp dir, loopback), loads the
demo data at --scale (1.0 = 4M messages, ~30-60 s), and removes everything afterwards.
With --dsn it creates and drops a private database on that server. Bounded: each build
is cut off after --max-build-s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

SEED_SQL = ("CREATE INDEX IF NOT EXISTS idx_messages_conversation_timestamp\n"
            "ON messages(conversation_id, timestamp DESC)")
INDEXES_DIR = Path(__file__).resolve().parents[1] / "indexes"
INSERT_SQL = ('INSERT INTO messages (conversation_id, "timestamp", direction, body) '
              "VALUES (md5('conv-' || (1 + floor(random() * 1000))::int::text)::uuid, now(), "
              "'inbound', 'benchmark writer')")


@dataclass
class Writer:
    """One connection inserting single-row transactions until stopped; keeps every latency."""

    dsn: str
    samples: list[tuple[float, float]] = field(default_factory=list)  # (end_s, latency_ms)
    stop: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("SET statement_timeout = 0")
                while not self.stop.is_set():
                    started = time.perf_counter()
                    conn.execute(INSERT_SQL)
                    ended = time.perf_counter()
                    self.samples.append((ended, (ended - started) * 1000))
        except psycopg.Error as exc:  # pragma: no cover - reported, not hidden
            self.error = str(exc)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def stall_stats(writer: Writer, start_s: float, end_s: float) -> dict[str, Any]:
    """Insert latency and commit gaps of the writer inside [start_s, end_s] (the build)."""
    inside = [(t, ms) for t, ms in writer.samples if start_s <= t <= end_s + 60]
    # the insert that finished first after the build started may have waited all along
    latencies = sorted(ms for t, ms in inside if t - ms / 1000 <= end_s)
    ends = [start_s] + [t for t, _ in inside if t <= end_s] + [end_s]
    gaps_ms = [(b - a) * 1000 for a, b in itertools.pairwise(ends)]
    return {"build_s": round(end_s - start_s, 2), "inserts": len(latencies),
            "p50_ms": round(percentile(latencies, 0.50), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "max_ms": round(latencies[-1], 2) if latencies else None,
            "max_gap_ms": round(max(gaps_ms), 2) if gaps_ms else None,
            "inserts_per_s": round(len(latencies) / max(1e-9, end_s - start_s), 1)}


def with_writer(dsn: str, build: Any) -> dict[str, Any]:
    writer = Writer(dsn)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    time.sleep(1.0)  # the writer's own steady state first
    baseline = sorted(ms for _, ms in writer.samples)
    start_s = time.perf_counter()
    build()
    end_s = time.perf_counter()
    time.sleep(0.5)
    writer.stop.set()
    thread.join(30)
    if writer.error:
        raise RuntimeError(f"writer failed: {writer.error}")
    stats = stall_stats(writer, start_s, end_s)
    stats["writer_alone_p99_ms"] = round(percentile(baseline, 0.99), 2)
    return stats


def query_times_ms(dsn: str) -> dict[str, float]:
    from perfkit.db.explain import explain_query
    from perfkit.db.migration_reader import load_statements

    times: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in load_statements([INDEXES_DIR]):
            if stmt.query is None or stmt.index_name is None:
                continue
            runs = [explain_query(conn, stmt.query).actual_ms or 0.0 for _ in range(5)]
            times[stmt.index_name] = round(statistics.median(runs), 3)
    return times


def run(dsn: str, max_build_s: float) -> dict[str, Any]:
    from perfkit.db.apply import ApplyOptions, apply_indexes
    from perfkit.db.migration_reader import load_statements

    statements = load_statements([INDEXES_DIR])
    messages_only = [s for s in statements if s.index_name == "idx_messages_conversation_timestamp"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT count(*) FROM messages").fetchone()
    before = query_times_ms(dsn)

    def perfkit_build() -> None:
        apply_indexes(dsn, messages_only, ApplyOptions(analyze=False))

    def plain_build() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = {int(max_build_s * 1000)}")
            conn.execute("DROP INDEX IF EXISTS idx_messages_conversation_timestamp")
            conn.execute(SEED_SQL)

    print("building with perfkit (CONCURRENTLY) while the writer inserts...", flush=True)
    perfkit = with_writer(dsn, perfkit_build)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_messages_conversation_timestamp")
    print("building with the seed's plain CREATE INDEX while the writer inserts...", flush=True)
    plain = with_writer(dsn, plain_build)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_messages_conversation_timestamp")
    print("applying all three seed indexes with perfkit...", flush=True)
    result = apply_indexes(dsn, statements)
    after = query_times_ms(dsn)
    return {"schema": "perfkit.bench.index-build-stall/1", "messages_rows": rows[0] if rows else 0,
            "writer": "1 connection, single-row autocommit INSERTs, back to back",
            "perfkit_concurrently": perfkit, "seed_plain_create_index": plain,
            "verify_ok": bool(result.verify and result.verify.ok),
            "query_db_ms_before": before, "query_db_ms_after": after}


def render(figures: dict[str, Any]) -> str:
    p, s = figures["perfkit_concurrently"], figures["seed_plain_create_index"]
    head = f"{'writer during the build':<28}{'perfkit (CONCURRENTLY)':>24}{'seed plain CREATE':>22}"
    lines = [f"messages: {figures['messages_rows']:,} rows; writer: {figures['writer']}", "", head]
    for key, label in (("build_s", "build time (s)"), ("inserts", "inserts during build"),
                       ("inserts_per_s", "inserts/s"), ("p50_ms", "insert p50 (ms)"),
                       ("p99_ms", "insert p99 (ms)"), ("max_ms", "insert max = stall (ms)"),
                       ("max_gap_ms", "longest commit gap (ms)"),
                       ("writer_alone_p99_ms", "writer alone p99 (ms)")):
        lines.append(f"{label:<28}{p[key]!s:>24}{s[key]!s:>22}")
    lines += ["", f"{'seed query (database time)':<40}{'before ms':>12}{'after ms':>12}{'x':>8}"]
    for name, before_ms in figures["query_db_ms_before"].items():
        after_ms = figures["query_db_ms_after"][name]
        speedup = before_ms / after_ms if after_ms else float("inf")
        lines.append(f"{name:<40}{before_ms:>12.3f}{after_ms:>12.3f}{speedup:>8.0f}")
    goal = p["max_ms"] is not None and p["max_ms"] <= 100
    lines += ["", f"goal (max writer stall with perfkit <= 100 ms): {'met' if goal else 'NOT met'}"]
    return "\n".join(lines)


def own_server(scale: float) -> tuple[str, Any]:
    """A private PostgreSQL in a temp dir; returns (dsn, cleanup)."""
    os.environ["PERFKIT_STATE_DIR"] = tempfile.mkdtemp(prefix="perfkit-bench-stall-")
    from perfkit.config import state_dir
    from perfkit.demo import postgres, procs

    data_dir = postgres.data_dir_for(state_dir())
    log = data_dir.parent / f"{data_dir.name}.log"  # where an unprivileged server can write
    server = postgres.PostgresServer(data_dir, procs.choose_port(None, "--pg-port"), log)

    def cleanup() -> None:
        postgres.stop(server)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(state_dir(), ignore_errors=True)
        log.unlink(missing_ok=True)

    try:
        postgres.init_cluster(data_dir)
        postgres.start(server)
        postgres.ensure_database(server)
    except BaseException:
        cleanup()
        raise

    return server.dsn, cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", help="a PostgreSQL server to use (a private database is "
                                      "created and dropped); default: start one")
    parser.add_argument("--scale", type=float, default=1.0, help="demo data scale (1.0 = 4M)")
    parser.add_argument("--max-build-s", type=float, default=600.0)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args()
    from perfkit.demo.data import load_demo_data

    cleanup = None
    if args.dsn:
        server_dsn = args.dsn
    else:
        server_dsn, cleanup = own_server(args.scale)
    name = f"perfkit_stall_{secrets.token_hex(3)}"
    admin = server_dsn.rsplit("/", 1)[0] + "/postgres"
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        print(f"loading demo data at scale {args.scale:g}...", flush=True)
        load_s = load_demo_data(dsn, args.scale)
        print(f"loaded in {load_s:.1f} s", flush=True)
        figures = run(dsn, args.max_build_s)
        figures["scale"], figures["load_s"] = args.scale, round(load_s, 1)
        print()
        print(render(figures))
        if args.out:
            args.out.write_text(json.dumps(figures, indent=2) + "\n")
        print("\nrerun: .venv/bin/python benchmarks/index_build_stall.py"
              + (f" --scale {args.scale:g}" if args.scale != 1.0 else ""))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if cleanup:
            cleanup()


if __name__ == "__main__":
    main()
