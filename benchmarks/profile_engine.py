"""Where perfkit's request loop spends its time: cProfile of the engine against nginx.

    .venv/bin/python benchmarks/profile_engine.py [--requests 20000] [--open-loop]

Starts nginx (Debian nginx-light) on a free loopback port pinned to CPU 1, runs one segment
of perfkit's engine in this process pinned to CPU 0, and prints the functions with the most
time of their own, then the share of the time spent in perfkit's code (its engine, its h1
transport, whose share includes httptools' parsing: cProfile does not see that compiled call
apart) vs aiohttp's and the event loop's. cProfile inflates small functions: read shares,
not absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from client_overhead import nginx_static  # noqa: E402

from perfkit.bench.engine import BenchOptions, run_segment_sync  # noqa: E402
from perfkit.bench.pacer import Segment  # noqa: E402
from perfkit.bench.scenario import Scenario  # noqa: E402


def shares(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = {"perfkit (engine, recorder)": 0.0,
                                "perfkit h1 transport": 0.0,  # llhttp's time in it
                                "aiohttp/yarl/multidict": 0.0, "other": 0.0}
    for (filename, _, name), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.endswith(("/perfkit/bench/h1.py", "/perfkit/bench/transport.py")):
            totals["perfkit h1 transport"] += tottime
        elif "/perfkit/" in filename:
            totals["perfkit (engine, recorder)"] += tottime
        elif any(lib in filename or lib in name for lib in ("aiohttp", "yarl", "multidict")):
            totals["aiohttp/yarl/multidict"] += tottime
        else:
            totals["other"] += tottime
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--open-loop", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp, nginx_static(Path(tmp)) as url:
        if url is None:
            raise SystemExit("nginx is not installed (apt-get install nginx-light)")
        options = BenchOptions(base_url=url, requests=args.requests, concurrency=16)
        if args.open_loop:
            options = BenchOptions(base_url=url, requests=args.requests, rate_per_s=4000,
                                   concurrency=64)
        profile = cProfile.Profile()
        profile.runcall(run_segment_sync, Scenario.for_path("/"), options, Segment())
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("tottime")
    stats.print_stats(20)
    print(out.getvalue())
    for name, share in shares(stats).items():
        print(f"{name:26} {share:6.1%} of the profiled time")
    print("\nrerun: .venv/bin/python benchmarks/profile_engine.py [--open-loop]")


if __name__ == "__main__":
    main()
