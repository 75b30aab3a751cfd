"""False alarms and power of `perfkit report`'s per-route verdict, on simulated windows.

    .venv/bin/python benchmarks/report_verdicts.py            # ~20 s on one core

Each cell draws lognormal latencies (sigma 0.5) for a before and an after window, buckets
them as Prometheus would (the fastapi-observability default buckets, or the
instrumentator's 0.1/0.5/1 s), and judges the pair with the report's rule (rank test over
bucket counts, Holm, whole interval beyond 5%). A/A pairs measure false faster/slower;
+15% pairs measure detection. Real windows add scrape timing and restarts; this isolates
the statistics.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit import stats  # noqa: E402
from perfkit.prom.judge import Rule, judge  # noqa: E402
from tests.prom.support import COARSE_BUCKETS_S, DEFAULT_BUCKETS_S, figures, pair  # noqa: E402

A_A_PAIRS, SHIFTED_PAIRS = 400, 200


def latencies(rng: random.Random, n: int, median_ms: float) -> list[float]:
    return [median_ms * math.exp(rng.gauss(0, 0.5)) for _ in range(n)]


def share_judged(pairs: int, n: int, median_ms: float, factor: float,
                 buckets: tuple[float, ...]) -> float:
    rng, found = random.Random(7), 0
    for _ in range(pairs):
        before = figures(latencies(rng, n, median_ms), buckets_s=buckets)
        after = figures(latencies(rng, n, median_ms * factor), buckets_s=buckets)
        (judged,) = judge([(pair(before, after), False)], Rule())
        found += judged.verdict is not stats.Verdict.NO_CHANGE
    return found / pairs


def main() -> None:
    print("| buckets, median | requests a window | false faster/slower (A/A) | +15% detected |")
    print("|---|---:|---:|---:|")
    for label, buckets, median_ms in (("default, 40 ms", DEFAULT_BUCKETS_S, 40.0),
                                     ("default, 3 ms", DEFAULT_BUCKETS_S, 3.0),
                                     ("instrumentator, 300 ms", COARSE_BUCKETS_S, 300.0)):
        for n in (30, 300, 3000):
            aa = share_judged(A_A_PAIRS, n, median_ms, 1.0, buckets)
            ab = share_judged(SHIFTED_PAIRS, n, median_ms, 1.15, buckets)
            print(f"| {label} | {n} | {aa:.1%} | {ab:.1%} |")
    print("\nrerun: .venv/bin/python benchmarks/report_verdicts.py")


if __name__ == "__main__":
    main()
