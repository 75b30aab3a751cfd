"""How often the gate's N+1 check is wrong: 20 runs with the demo's N+1 fault, 20 without.

    .venv/bin/python benchmarks/n_plus_one.py             # 20 runs each way, ~4 min
    .venv/bin/python benchmarks/n_plus_one.py --runs 50

A demo stack of its own (scale 0.02, caches on). Two targets, each with one baseline run
(no fault) and then, per round, a run without the fault and a run with `demo fault
--n-plus-one /conversations`, each gated against the baseline (`gate --baseline`):
- one route: GET /conversations?account_id=1 (50 rows; attribution: the run's one route);
- two routes: a scenario of /auth/me then /conversations (attribution: the pass).
A wrong verdict is `db.calls vs baseline` failing without the fault or passing with it. The
gate's exit code is counted too (its latency checks judge the same runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit.demo import stack  # noqa: E402

PERFKIT = str(ROOT / ".venv" / "bin" / "perfkit")
LIST = "/conversations?account_id=1"
TWO = ("name: two\nsteps:\n  - path: /auth/me\n"
       f"  - path: {LIST}\n")


def perfkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PERFKIT, *args], capture_output=True, text=True, timeout=300,
                          check=False)


def bench(target: str, state: dict[str, Any], out: Path) -> float:
    done = perfkit("bench", target, "--base-url", state["backend"]["url"], "--tokens-file",
                   state["tokens_file"], "--users", "4", "-n", "40", "--dsn",
                   state["postgres"]["dsn"], "--out", str(out))
    if done.returncode != 0:
        raise SystemExit(f"bench failed: {done.stderr.strip()}")
    routes = {r["route"]: r for r in json.loads(out.read_text())["db"]["routes"]}
    return float(routes["GET /conversations"]["calls_per_request"])


def gate(run: Path, base: Path) -> tuple[str, int]:
    done = perfkit("gate", str(run), "--baseline", str(base), "--format", "json")
    checks = json.loads(done.stdout)["checks"]
    (calls,) = [c for c in checks if c["check"] == "db.calls vs baseline"
                and c["route"] == "GET /conversations"]
    return str(calls["status"]), done.returncode


def fault(on: bool) -> None:
    args = ("--n-plus-one", "/conversations") if on else ("--clear",)
    if perfkit("demo", "fault", *args).returncode != 0:
        raise SystemExit("demo fault failed")


def rounds(target: str, state: dict[str, Any], work: Path, runs: int) -> dict[str, list[Any]]:
    base = work / "base.json"
    seen: dict[str, list[Any]] = {"base": [bench(target, state, base)], "off": [], "on": []}
    for i in range(runs):
        for on in (False, True):
            fault(on)
            run = work / f"run-{i}-{on}.json"
            calls = bench(target, state, run)
            status, code = gate(run, base)
            seen["on" if on else "off"].append((calls, status, code))
        fault(False)
    return seen


def line(name: str, seen: dict[str, list[Any]]) -> str:
    off, on = seen["off"], seen["on"]
    false_alarms = sum(1 for _, status, _ in off if status != "pass")
    misses = sum(1 for _, status, _ in on if status != "fail")
    off_calls = sorted(c for c, _, _ in off)
    on_calls = sorted(c for c, _, _ in on)
    return (f"{name:<10} baseline {seen['base'][0]:g} statements/request; without the fault "
            f"{off_calls[0]:g}..{off_calls[-1]:g}: db.calls failed {false_alarms}/{len(off)} "
            f"(gate exit 1: {sum(1 for *_, c in off if c)}/{len(off)}); with it "
            f"{on_calls[0]:g}..{on_calls[-1]:g}: db.calls passed {misses}/{len(on)} (gate exit "
            f"0: {sum(1 for *_, c in on if c == 0)}/{len(on)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as state_dir:
        os.environ["PERFKIT_STATE_DIR"] = state_dir
        work = Path(state_dir) / "runs"
        work.mkdir()
        try:
            state = stack.up(stack.UpOptions(scale=0.02))
            plan = work / "two.yaml"
            plan.write_text(TWO)
            one = rounds(LIST, state, work, args.runs)
            two = rounds(str(plan), state, work, args.runs)
        finally:
            stack.down(purge=True)
    print(f"N+1 gate, {args.runs} runs each way per target, demo scale 0.02, "
          f"{time.monotonic() - started:.0f} s (rerun: .venv/bin/python "
          "benchmarks/n_plus_one.py)")
    print(line("one route", one))
    print(line("two routes", two))


if __name__ == "__main__":
    main()
