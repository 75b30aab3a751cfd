"""How often `bench` names the wrong cause of late sends: saturated target, busy client, healthy.

    .venv/bin/python benchmarks/saturation.py               # 10 runs of each case, ~6 min
    .venv/bin/python benchmarks/saturation.py --runs 3      # a quick look

The reference server (tests/bench/refserver.py) on one core, `perfkit bench` on the other
(`taskset`), the three cases interleaved so that the machine's noise falls on all of them:

- saturated: `/pool/20?workers=4` (4 workers x 20 ms: capacity 200/s) at 400/s, in turn
  with 16 senders for 3 s and with the default senders (2 x rate) for 6 s (they run out
  after ~4 s): the warning must name the target (`generator.saturation.cause` = target);
- client: `/fast` at 3000/s for 3 s, the client at `nice 10` on a core a busy process holds
  (it gets ~10% of it): the warning must name the client (cause = client);
- healthy: `/sleep/20` at 200/s and `/pool/20?workers=4` at 150/s (75% of its capacity),
  3 s each: no late-send warning at all (the run held its rate).

A false call is any other outcome. Each run's evidence (senders busy, the loop's delay, the
client's CPU, the service time) goes to stderr; the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bench.support import REFSERVER, RefServer, served_url  # noqa: E402

LATE_WORDS = {"target": "the target is saturated", "client": "the client was the limit",
              "senders": "the senders were the limit", "unclear": "cause unclear",
              "none": "the generator fell behind"}


@dataclass(frozen=True)
class Case:
    kind: str  # saturated | client | healthy
    path: str
    args: tuple[str, ...]
    expected: str | None  # the cause the record must name (None: no late sends)
    busy_core: bool = False


def cases(i: int) -> list[Case]:
    """The three cases of round `i` (variants alternate between rounds)."""
    saturated = (("--rate", "400", "-c", "16", "--duration", "3s") if i % 2 == 0 else
                 ("--rate", "400", "--duration", "6s"))
    healthy = (("/sleep/20", ("--rate", "200", "--duration", "3s")) if i % 2 == 0 else
               ("/pool/20?workers=4", ("--rate", "150", "--duration", "3s")))
    return [Case("saturated", "/pool/20?workers=4", saturated, "target"),
            Case("client", "/fast", ("--rate", "3000", "--duration", "3s"), "client",
                 busy_core=True),
            Case("healthy", healthy[0], healthy[1], None)]


@contextmanager
def busy(core: int) -> Iterator[None]:
    """A process spinning on `core` for as long as the block lasts (stopped by its pid)."""
    hog = subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c",
                            "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def run_case(case: Case, ref: RefServer, core: int, out: Path) -> dict[str, Any]:
    ref.reset()
    prefix = ["nice", "-n", "10"] if case.busy_core else []
    argv = [*prefix, "taskset", "-c", str(core), sys.executable, "-m", "perfkit", "bench",
            case.path, "--base-url", ref.url, *case.args, "--out", str(out)]
    if case.busy_core:
        with busy(core):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    else:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench failed ({done.returncode}): {done.stderr[-400:]}")
    gen = json.loads(out.read_text())["generator"]
    sat = gen.get("saturation") or {}
    cause = sat.get("cause") if gen["fell_behind"] else None
    said = [w for w in done.stderr.splitlines() if "late, up to" in w]
    words = LATE_WORDS[str(cause or "none")]
    warned_right = (not said) if case.expected is None else bool(said) and words in said[0]
    return {"case": case, "cause": cause, "right": cause == case.expected and warned_right,
            "late": gen["late_sends"], "requests": gen["requests"],
            "achieved": gen["achieved_rate_per_s"], "busy": sat.get("all_busy_share"),
            "lag_p50": (sat.get("loop_lag_ms") or {}).get("p50"), "cpu": sat.get("cpu_cores"),
            "service": sat.get("service_ms") or {}}


def describe(i: int, r: dict[str, Any]) -> str:
    case, service = r["case"], r["service"]
    return (f"round {i + 1} {case.kind} ({case.path} {' '.join(case.args)}): cause "
            f"{r['cause']} ({'right' if r['right'] else 'FALSE CALL'}); {r['late']} of "
            f"{r['requests']} late, {r['achieved']} req/s; senders all busy {r['busy']}, loop "
            f"delay p50 {r['lag_p50']} ms, CPU {r['cpu']} core, service {service.get('fastest')}"
            f" -> {service.get('p50')} ms")


def table(results: list[dict[str, Any]]) -> None:
    print("\n| case | runs | right | false calls (cause named) | achieved req/s (median) | "
          "senders all busy | loop delay p50 ms | client CPU cores |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for kind in ("saturated", "client", "healthy"):
        mine = [r for r in results if r["case"].kind == kind]
        if not mine:
            continue
        wrong = Counter(str(r["cause"]) for r in mine if not r["right"])

        def median(key: str, rows: list[dict[str, Any]] = mine) -> str:
            values = [r[key] for r in rows if r[key] is not None]
            return f"{statistics.median(values):.3g}" if values else "-"

        print(f"| {kind} | {len(mine)} | {sum(r['right'] for r in mine)} | "
              f"{dict(wrong) or '-'} | {median('achieved')} | {median('busy')} | "
              f"{median('lag_p50')} | {median('cpu')} |")
    false = sum(not r["right"] for r in results)
    print(f"\nfalse calls: {false}/{len(results)} (rerun: .venv/bin/python "
          "benchmarks/saturation.py)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each case")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("needs two cores: the server on one, the client on the other")
    server_core, client_core = cores[0], cores[1]
    results = []
    with tempfile.TemporaryDirectory() as folder, served_url(
            ["taskset", "-c", str(server_core), sys.executable, str(REFSERVER)]) as url:
        ref = RefServer(url)
        for i in range(args.runs):
            for case in cases(i):
                found = run_case(case, ref, client_core, Path(folder) / "run.json")
                results.append(found)
                print(describe(i, found), file=sys.stderr)
    table(results)


if __name__ == "__main__":
    main()
