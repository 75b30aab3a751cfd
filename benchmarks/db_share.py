"""How close `bench --dsn`'s share of latency spent in the database is to EXPLAIN ANALYZE.

    .venv/bin/python benchmarks/db_share.py                 # 10 runs at scale 0.05, ~3 min

A demo stack of its own (the runbook's 'before': no index for the messages query, so each
request runs a real scan of the heaviest conversation), then, 10 times: `perfkit bench
/messages/{heaviest} --dsn ... -n 200 --warmup 30` and right after it 30 EXPLAIN (ANALYZE,
TIMING OFF) of the same prepared statement, as the backend's driver executes it. The
expected share is (EXPLAIN time x calls per request) / the run's mean latency; the table
gives perfkit's share over it. Two timings of one query a few seconds apart: run on a quiet
machine (another CPU-heavy process moves them both, not always alike).

The same EXPLAIN is also sampled *during* each run (every 0.25 s from a session of its own,
its statements kept out of pg_stat_statements): the query then shares the 2 cores with the
backend and the client as the run's own calls do, which separates how right the share is
from how much slower a query runs under load than on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from perfkit.demo import stack  # noqa: E402
from tests.demo.support import explain_ms, messages_explainer  # noqa: E402


def heaviest_conversation(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT conversation_id FROM messages GROUP BY 1 "
                           "ORDER BY count(*) DESC LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def explain_during(dsn: str, conversation: str, proc: subprocess.Popen[bytes],
                   every_s: float = 0.25) -> list[float]:
    """EXPLAIN ANALYZE (TIMING OFF) times of the messages query while `proc` (the bench)
    runs, from a session whose statements pg_stat_statements does not count."""
    times: list[float] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET pg_stat_statements.track_utility = off")
        once = messages_explainer(conn, conversation)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(every_s)
            times.append(once())
    return times[10:]  # the first ones settle the plan, and fall in the bench's warm-up


def one_run(state: dict[str, object], conversation: str,
            out: Path) -> tuple[float, float, float, float, float]:
    """(perfkit's share, the share EXPLAIN ANALYZE gives after the run, the messages
    statement's mean ms in the run, EXPLAIN's mean ms after it, EXPLAIN's during it)."""
    dsn = str(state["postgres"]["dsn"])  # type: ignore[index]
    with subprocess.Popen([sys.executable, "-m", "perfkit", "bench", f"/messages/{conversation}",
                           "--dsn", dsn, "-n", "200", "--warmup", "30", "--out", str(out)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        during = explain_during(dsn, conversation, proc)
        if proc.wait(timeout=300) != 0:
            raise SystemExit(f"bench failed: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
    run = json.loads(out.read_text())
    mean = next(r for r in run["routes"] if r["phase"] == "all")["latency_ms"]["mean"]
    messages = next(s for s in run["db"]["statements"] if "FROM messages" in s["query"])
    plans = statistics.fmean(explain_ms(dsn, conversation))
    return (run["db"]["share_of_latency"], plans * messages["calls_per_request"] / mean,
            messages["mean_ms"], plans, statistics.fmean(during))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        os.environ["PERFKIT_STATE_DIR"] = state_dir
        try:
            state = stack.up(stack.UpOptions(scale=args.scale, cache=False))
            conversation = heaviest_conversation(str(state["postgres"]["dsn"]))
            ratios, per_call, during = [], [], []
            for i in range(args.runs):
                share, expected, run_ms, plan_ms, live_ms = one_run(
                    state, conversation, Path(state_dir) / "run.json")
                ratios.append(share / expected)
                per_call.append(run_ms / plan_ms)
                during.append(share / (expected * live_ms / plan_ms))
                print(f"run {i + 1}/{args.runs}: share perfkit {share:.3f}, EXPLAIN after "
                      f"{expected:.3f}, ratio {share / expected:.3f}, EXPLAIN during "
                      f"{expected * live_ms / plan_ms:.3f}, ratio {during[-1]:.3f}; one call of "
                      f"the messages query: {run_ms:.3f} ms in the run, {plan_ms:.3f} ms in "
                      f"EXPLAIN after it, {live_ms:.3f} ms during it", file=sys.stderr)
        finally:
            stack.down(purge=True)
    within = sum(abs(r - 1) <= 0.10 for r in ratios)
    print(f"\nbench --dsn share of latency vs EXPLAIN ANALYZE (TIMING OFF), {args.runs} runs at "
          f"scale {args.scale:g} (rerun: .venv/bin/python benchmarks/db_share.py)")
    print(f"ratio median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max "
          f"{max(ratios):.3f}; within 10%: {within}/{args.runs}")
    within_during = sum(abs(r - 1) <= 0.10 for r in during)
    print(f"against EXPLAIN sampled during the run: ratio median {statistics.median(during):.3f},"
          f" min {min(during):.3f}, max {max(during):.3f}; within 10%: "
          f"{within_during}/{args.runs}")
    print(f"one call of the messages query, its time in the run over EXPLAIN's after it: median "
          f"{statistics.median(per_call):.3f}, min {min(per_call):.3f}, max {max(per_call):.3f}"
          " (the rest of the share is the route's other statement, by primary key)")


if __name__ == "__main__":
    main()
