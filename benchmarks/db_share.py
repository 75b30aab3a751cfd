"""How close `bench --dsn`'s share of the service time spent in the database is to EXPLAIN ANALYZE.

    .venv/bin/python benchmarks/db_share.py                 # 10 + 10 runs at scale 0.05, ~7 min
    .venv/bin/python benchmarks/db_share.py --runs 0        # the saturated case alone, ~3 min

A demo stack of its own (the runbook's 'before': no index for the messages query, so each
request runs a real scan of the heaviest conversation), then, 10 times: `perfkit bench
/messages/{heaviest} --dsn ... -n 200 --warmup 30` and right after it 30 EXPLAIN (ANALYZE,
TIMING OFF) of the same prepared statement, as the backend's driver executes it. The
expected share is (EXPLAIN time x calls per request) / the run's mean service time (latency
from the send); the table gives perfkit's share over it. Two timings of one query a few
seconds apart: run on a quiet machine (another CPU-heavy process moves them both, not always
alike).

The same EXPLAIN is also sampled *during* each run (every 0.25 s from a session of its own,
its statements kept out of pg_stat_statements): the query then shares the 2 cores with the
backend and the client as the run's own calls do, which separates how right the share is
from how much slower a query runs under load than on an idle machine.

The saturated case (--saturated-runs, 10 by default): an open loop at twice the route's
capacity (measured first: a closed loop of 8 connections), 8 requests in flight at most
(`--rate 2C -c 8 --duration 8s --timeout 30s`: the whole backlog is sent), so the client
queues and the latency from the intended start grows far beyond the service time:
perfkit's share of the service time against
EXPLAIN (during the run) x calls / mean service time; the share of the latency from the
intended start and the saturation verdict (generator.saturation.cause) are printed beside it.
A sampled EXPLAIN cannot share the contention the run's own calls meet, so the saturated
case also turns auto_explain on (EXPLAIN ANALYZE, TIMING OFF, of every statement, logged as
it runs; the backend's sessions are ended so that its pool opens new ones, which load it)
and reads the run's own calls of the messages query from the server log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from perfkit.demo import stack  # noqa: E402
from tests.demo.support import (  # noqa: E402
    explain_ms,
    heaviest_conversation,
    messages_explainer,
)


def quiet_auto_explain(conn: psycopg.Connection[Any]) -> None:
    """This session's own EXPLAINs stay out of the log auto_explain writes (when loaded)."""
    loaded = conn.execute("SELECT count(*) FROM pg_settings WHERE name = "
                          "'auto_explain.log_min_duration'").fetchone()
    if loaded and loaded[0]:
        conn.execute("SET auto_explain.log_min_duration = -1")


def explain_during(dsn: str, conversation: str, proc: subprocess.Popen[bytes],
                   every_s: float = 0.25) -> list[float]:
    """EXPLAIN ANALYZE (TIMING OFF) times of the messages query while `proc` (the bench)
    runs, from a session whose statements pg_stat_statements does not count."""
    times: list[float] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET pg_stat_statements.track_utility = off")
        quiet_auto_explain(conn)
        once = messages_explainer(conn, conversation)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(every_s)
            times.append(once())
    return times[10:]  # the first ones settle the plan, and fall in the bench's warm-up


#: Each statement of the backend's sessions explained in the server log as it ran (EXPLAIN
#: ANALYZE, TIMING OFF): the run's own calls, timed by EXPLAIN, under the run's own load.
AUTO_EXPLAIN = {"session_preload_libraries": "auto_explain",
                "auto_explain.log_min_duration": "0", "auto_explain.log_analyze": "on",
                "auto_explain.log_timing": "off", "log_line_prefix": "%m [%p] ",
                "log_timezone": "UTC"}
EXPLAINED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[\d+\] LOG:  duration: "
                       r"([\d.]+) ms\s+plan:\s*\n\s*Query Text: SELECT id, conversation_id, "
                       r"\"timestamp\"", re.MULTILINE)


def explain_each_call(state: dict[str, object], conversation: str) -> None:
    """auto_explain on for new sessions; the backend's sessions ended so that its pool opens
    new ones (a throwaway run meets the ended ones: its errors are expected)."""
    dsn = str(state["postgres"]["dsn"])  # type: ignore[index]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("LOAD 'auto_explain'")  # its settings exist once it is loaded
        for name, value in AUTO_EXPLAIN.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND pid <> pg_backend_pid() AND backend_type = "
                     "'client backend'")
    subprocess.run([sys.executable, "-m", "perfkit", "bench", f"/messages/{conversation}",
                    "-c", "10", "-n", "60"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False, timeout=300)


def explained_ms(log: Path, offset: int, run: dict[str, Any]) -> tuple[list[float], int]:
    """The calls of the messages query auto_explain logged after `offset`: the times of those
    made during the measured run (from its start to its end), and how many came before (the
    warm-up's, in the same statements window)."""
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    start, end = (datetime.fromisoformat(run[k]) for k in ("started_at", "ended_at"))
    during, before = [], 0
    for stamp, ms in EXPLAINED.findall(text):
        at = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
        if at < start:
            before += 1
        elif at <= end:
            during.append(float(ms))
    return during, before


def one_run(state: dict[str, object], conversation: str, out: Path,
            args: list[str]) -> dict[str, Any]:
    """One `perfkit bench ... --dsn` with `args`, EXPLAIN sampled during it and taken after it:
    perfkit's shares, the expected ones, the messages statement's mean ms in the run,
    EXPLAIN's mean ms after and during it, the saturation verdict."""
    dsn = str(state["postgres"]["dsn"])  # type: ignore[index]
    log = Path(str(state["postgres"]["log_file"]))  # type: ignore[index]
    offset = log.stat().st_size
    with subprocess.Popen([sys.executable, "-m", "perfkit", "bench", f"/messages/{conversation}",
                           "--dsn", dsn, "--warmup", "30", *args, "--out", str(out)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        during = explain_during(dsn, conversation, proc)
        if proc.wait(timeout=300) != 0:
            raise SystemExit(f"bench failed: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
    run = json.loads(out.read_text())
    route = next(r for r in run["routes"] if r["phase"] == "all")
    service, latency = route["latency_raw_ms"]["mean"], route["latency_ms"]["mean"]
    messages = next(s for s in run["db"]["statements"] if "FROM messages" in s["query"])
    plans, live = statistics.fmean(explain_ms(dsn, conversation)), statistics.fmean(during)
    calls = messages["calls_per_request"]
    generator = run["generator"]
    own, warmup_calls = explained_ms(log, offset, run)
    requests = sum(r["count"] + sum(r["errors"].values()) for r in run["routes"]
                   if r["phase"] == "all")
    return {"share": run["db"]["share_of_service_time"],
            "share_of_latency": run["db"]["share_of_latency"],
            "after": plans * calls / service, "during": live * calls / service,
            "own": statistics.fmean(own) * calls / service if own else None,
            "own_calls": len(own), "warmup_calls": warmup_calls, "requests": requests,
            "run_ms": messages["mean_ms"], "plan_ms": plans, "live_ms": live,
            "service_ms": service, "latency_ms": latency,
            "achieved": generator["achieved_rate_per_s"],
            "cause": (generator.get("saturation") or {}).get("cause")
            if generator.get("fell_behind") else None,
            "service": (generator.get("saturation") or {}).get("service_ms") or {}}


def capacity(state: dict[str, object], conversation: str, out: Path, in_flight: int) -> float:
    """Requests a second the route holds at `in_flight` (a closed loop of as many
    connections)."""
    dsn = str(state["postgres"]["dsn"])  # type: ignore[index]
    subprocess.run([sys.executable, "-m", "perfkit", "bench", f"/messages/{conversation}",
                    "--dsn", dsn, "-c", str(in_flight), "-n", str(20 * in_flight),
                    "--warmup", "30", "--out", str(out)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=300)
    rate = json.loads(out.read_text())["generator"]["achieved_rate_per_s"]
    return float(rate)


def series(label: str, runs: int, make: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for i in range(runs):
        f = make()
        found.append(f)
        own = ("-" if f["own"] is None else
               f"{f['own']:.3f} (ratio {f['share'] / f['own']:.3f}; {f['own_calls']} calls "
               f"during the {f['requests']} requests, {f['warmup_calls']} before them: the "
               "warm-up's, in the window)")
        print(f"{label} run {i + 1}/{runs}: share of service time perfkit {f['share']:.3f}, "
              f"EXPLAIN of its own calls {own}, EXPLAIN during {f['during']:.3f} (ratio "
              f"{f['share'] / f['during']:.3f}), after "
              f"{f['after']:.3f} (ratio {f['share'] / f['after']:.3f}); share of the latency "
              f"{f['share_of_latency']:.3f}; service {f['service_ms']:.1f} ms, latency "
              f"{f['latency_ms']:.1f} ms (fastest service {f['service'].get('fastest')}, median "
              f"{f['service'].get('p50')}), {f['achieved']} req/s, late sends' cause "
              f"{f['cause']};"
              f" one call: {f['run_ms']:.2f} ms in the run, {f['live_ms']:.2f} during, "
              f"{f['plan_ms']:.2f} after", file=sys.stderr)
    return found


def summary(label: str, found: list[dict[str, Any]]) -> None:
    if not found:
        return
    print(f"\n{label}: {len(found)} runs")
    for against, what in (("own", "of the run's own calls (auto_explain)"),
                          ("during", "sampled during the run"), ("after", "after the run")):
        ratios = [f["share"] / f[against] for f in found if f[against]]
        if not ratios:
            continue
        within = sum(abs(r - 1) <= 0.10 for r in ratios)
        print(f"  share of service time / EXPLAIN {what} x calls / service time: "
              f"median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max "
              f"{max(ratios):.3f}; within 10%: {within}/{len(ratios)}")
    shares = [f["share"] for f in found]
    latency = [f["share_of_latency"] for f in found]
    print(f"  share of service time median {statistics.median(shares):.1%}; share of the "
          f"latency from the intended start median {statistics.median(latency):.1%}")
    causes = Counter(str(f["cause"]) for f in found)
    print(f"  late sends' cause: {dict(causes)}; achieved median "
          f"{statistics.median(f['achieved'] for f in found):.1f} req/s")
    explained = [f for f in found if f["own_calls"]]
    if explained:
        warm = [f["warmup_calls"] / f["own_calls"] for f in explained]
        print(f"  the warm-up's calls in the statements window (auto_explain's log before the "
              f"run's start): median {statistics.median(warm):.1%} of the run's calls; perfkit "
              "counts them in its calls per request, so its database time per request is that "
              "much high (the ratios above use the record's calls per request)")
    per_call = [f["run_ms"] / f["plan_ms"] for f in found]
    print(f"  one call of the messages query, in the run / EXPLAIN after it: median "
          f"{statistics.median(per_call):.3f} (the rest of the share is the route's other "
          "statement, by primary key)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="closed-loop runs (-n 200)")
    parser.add_argument("--saturated-runs", type=int, default=10,
                        help="open-loop runs at twice the capacity")
    parser.add_argument("--in-flight", type=int, default=8,
                        help="the saturated runs' senders (-c), and the capacity's")
    parser.add_argument("--scale", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        os.environ["PERFKIT_STATE_DIR"] = state_dir
        out = Path(state_dir) / "run.json"
        try:
            state = stack.up(stack.UpOptions(scale=args.scale, cache=False))
            conversation = heaviest_conversation(str(state["postgres"]["dsn"]))
            closed = series("closed loop", args.runs, lambda: one_run(
                state, conversation, out, ["-n", "200"]))
            saturated: list[dict[str, Any]] = []
            if args.saturated_runs:
                explain_each_call(state, conversation)
                held = capacity(state, conversation, out, args.in_flight)
                rate = f"{2 * held:.1f}"
                print(f"capacity at {args.in_flight} in flight: {held} req/s; saturated runs "
                      f"at {rate}/s", file=sys.stderr)
                saturated = series("saturated", args.saturated_runs, lambda: one_run(
                    state, conversation, out, ["--rate", rate, "-c", str(args.in_flight),
                                               "--duration", "8s", "--timeout", "30s",
                                               "--max-error-ratio", "100%"]))
        finally:
            stack.down(purge=True)
    print(f"\nbench --dsn share of the service time vs EXPLAIN ANALYZE (TIMING OFF) at scale "
          f"{args.scale:g} (rerun: .venv/bin/python benchmarks/db_share.py)")
    summary("closed loop, -n 200 (one connection)", closed)
    summary(f"saturated: open loop at twice the capacity, {args.in_flight} in flight", saturated)


if __name__ == "__main__":
    main()
