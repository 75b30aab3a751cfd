"""How often `bench --find-max` brackets a known capacity within 10%.

    .venv/bin/python benchmarks/find_max.py              # 10 searches a server, ~12 min
    .venv/bin/python benchmarks/find_max.py --runs 3

Two servers of known capacity (tests/bench/capacityserver.py, on loopback): `/limit`
answers at most 200 requests a second by design; `/pool` serves each request in 20 ms
behind 4 slots (at most 200/s; a little less, as each request also costs the server's own
time). Each search: `--rate 25 --step 3s --slo "p99<100ms,errors<1%"`. A search succeeds
when its bracket lies within 10% of the capacity: 0.9 C <= held < broke <= 1.1 C.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bench.support import served_url  # noqa: E402

PERFKIT = str(ROOT / ".venv" / "bin" / "perfkit")
SERVER = ROOT / "tests" / "bench" / "capacityserver.py"
CAPACITY = 200.0
SLO = "p99<100ms,errors<1%"


def search(url: str, out: Path) -> dict[str, object]:
    done = subprocess.run([PERFKIT, "bench", url, "--find-max", "--slo", SLO, "--rate", "25",
                           "--step", "3s", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench --find-max failed: {done.stderr.strip()[-300:]}")
    capacity: dict[str, object] = json.loads(out.read_text())["capacity"]
    return capacity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    started = time.monotonic()
    argv = [sys.executable, str(SERVER), "--limit", str(CAPACITY), "--workers", "4",
            "--service-ms", "20"]
    lines = []
    with tempfile.TemporaryDirectory() as work, served_url(argv) as base:
        for route in ("/limit", "/pool"):
            found = [search(base + route, Path(work) / f"{route[1:]}-{i}.json")
                     for i in range(args.runs)]
            inside = [c for c in found if 0.9 * CAPACITY <= float(c["max_rate_per_s"])  # type: ignore[arg-type]
                      < float(c["broke_at_per_s"]) <= 1.1 * CAPACITY]  # type: ignore[arg-type]
            brackets = ", ".join(f"{float(c['max_rate_per_s']):.0f}-"  # type: ignore[arg-type]
                                 f"{float(c['broke_at_per_s']):.0f}" for c in found)  # type: ignore[arg-type]
            steps = sum(len(c["steps"]) for c in found) / len(found)  # type: ignore[arg-type]
            lines.append(f"{route:<7} capacity {CAPACITY:g}/s: within 10% in {len(inside)}/"
                         f"{len(found)}; brackets {brackets}; {steps:.1f} steps a search")
    print(f"bench --find-max, SLO {SLO}, {args.runs} searches a server, "
          f"{time.monotonic() - started:.0f} s (rerun: .venv/bin/python benchmarks/find_max.py)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
