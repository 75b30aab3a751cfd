"""The size of a run record with its time series: a 1 h run of 20 routes, cold and warm.

    .venv/bin/python benchmarks/record_size.py                 # ~30 s on one core
    .venv/bin/python benchmarks/record_size.py --rate 400 --duration 600

The requests are synthetic (lognormal latencies, 1000 users whose first visit to a route is
cold, 0.5% errors), counted by the engine's own Tally, so the record is the one `perfkit
bench --out` would write for them: same bucket width rule, same histograms, same JSON. The
goal is < 1 MB for 1 h of 20 routes; the size grows with the number of distinct latencies
in a bucket, so it is printed for a few rates.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit.bench.series import choose_width_s  # noqa: E402
from tests.bench.series_support import (  # noqa: E402
    START_EPOCH_S,
    Machine,
    record,
    run_of,
    samples,
)

GOAL_BYTES = 1_000_000


def measure(routes: int, duration_s: float, rate_per_s: float) -> dict[str, float]:
    names = [f"GET /api/route{i:02d}" for i in range(routes)]
    width = choose_width_s(duration_s, 2 * routes)
    t0 = time.perf_counter()
    items = samples(names, duration_s=duration_s, rate_per_s=rate_per_s, users=1000,
                    error_every=200)
    rec = record(items, Machine(t0=0.0, t0_wall=START_EPOCH_S), width)
    run = run_of(rec, rate_per_s=rate_per_s, duration_s=duration_s, routes=names)
    text = run.dumps()
    series_bytes = len(json.dumps(run.to_json()["series"], indent=2))
    return {"requests": rec.done + rec.failed, "width_s": width,
            "buckets": run.series.buckets if run.series else 0,
            "bytes": len(text.encode()), "series_bytes": series_bytes,
            "gzip_bytes": len(gzip.compress(text.encode())),
            "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=20)
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds")
    parser.add_argument("--rate", type=float, action="append",
                        help="requests/s over all routes (repeatable; default 20 and 100)")
    args = parser.parse_args()
    rates = args.rate or [20.0, 100.0]
    print(f"run record of {args.routes} routes x cold/warm, {args.duration:g} s "
          f"(goal < {GOAL_BYTES / 1e6:g} MB)")
    print(f"{'req/s':>6} {'requests':>9} {'bucket':>7} {'buckets':>8} {'record':>10} "
          f"{'series':>10} {'gzip':>9} {'time':>6}")
    worst = 0
    for rate in rates:
        m = measure(args.routes, args.duration, rate)
        worst = max(worst, int(m["bytes"]))
        print(f"{rate:>6g} {m['requests']:>9.0f} {m['width_s']:>5.0f} s {m['buckets']:>8.0f} "
              f"{m['bytes'] / 1e6:>7.3f} MB {m['series_bytes'] / 1e6:>7.3f} MB "
              f"{m['gzip_bytes'] / 1e6:>6.3f} MB {m['seconds']:>5.1f}s")
    verdict = "within" if worst < GOAL_BYTES else "OVER"
    print(f"largest record {worst / 1e6:.3f} MB: {verdict} the {GOAL_BYTES / 1e6:g} MB goal")
    print("rerun: .venv/bin/python benchmarks/record_size.py "
          + " ".join(f"--rate {r:g}" for r in rates)
          + f" --routes {args.routes} --duration {args.duration:g}")


if __name__ == "__main__":
    main()
