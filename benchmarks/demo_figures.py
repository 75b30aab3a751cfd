"""Figures of the demo stack at a given scale: load time, cache speedup, unindexed query cost.

Rerun: .venv/bin/python benchmarks/demo_figures.py [--scale 1.0]
Brings up its own demo stack in a temp state dir (loopback only) and tears it down.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path


def _get_s(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as resp:
        resp.read()
    return time.perf_counter() - started


def _db_ms(dsn: str, sql: str, runs: int = 5) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        times = []
        for _ in range(runs):
            rows = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchone()
            assert rows is not None
            times.append(float(rows[0][0]["Execution Time"]))
    return statistics.median(times)


QUERIES = {
    "GET /messages/{id}": 'SELECT id, body FROM messages WHERE conversation_id = '
                          'md5(\'conv-1\')::uuid ORDER BY "timestamp" DESC LIMIT 50',
    "GET /conversations": "SELECT id FROM conversations WHERE account_id = 1 "
                          "ORDER BY updated_at DESC LIMIT 50",
    "POST /webhooks (account lookup)": "SELECT id FROM whatsapp_accounts "
                                       "WHERE phone_number_id = '100000000000001'",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    os.environ["PERFKIT_STATE_DIR"] = tempfile.mkdtemp(prefix="perfkit-bench-")
    from perfkit.demo import stack

    started = time.perf_counter()
    state = stack.up(stack.UpOptions(scale=args.scale))
    up_s = time.perf_counter() - started
    try:
        url = state["backend"]["url"] + "/auth/me"
        tokens = Path(state["tokens_file"]).read_text().split()[: args.tokens]
        cold = [_get_s(url, t) for t in tokens]
        warm = [_get_s(url, t) for t in tokens for _ in range(5)]
        dsn = state["postgres"]["dsn"]
        print(f"scale {args.scale:g}: demo up {up_s:.1f} s (data load {state['load_seconds']} s)")
        cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
        print(f"/auth/me cold (cache miss) median {cold_ms:.1f} ms over {len(cold)} tokens; "
              f"warm (cache hit) median {warm_ms:.2f} ms over {len(warm)}; "
              f"speedup x{cold_ms / warm_ms:.0f}")
        for route, sql in QUERIES.items():
            print(f"unindexed {route}: {_db_ms(dsn, sql):.1f} ms in the database (median of 5)")
        print("rerun: .venv/bin/python benchmarks/demo_figures.py --scale", args.scale)
    finally:
        stack.down(purge=True)


if __name__ == "__main__":
    main()
