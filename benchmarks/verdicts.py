"""How often perfkit's verdicts are wrong, measured over real runs against loopback servers of
known behaviour: `compare`'s faster/slower and the cache verdict of `bench`.

    .venv/bin/python benchmarks/verdicts.py                  # 100 pairs each, ~1 h
    .venv/bin/python benchmarks/verdicts.py --pairs 20       # a quick look (~12 min)
    .venv/bin/python benchmarks/verdicts.py --only cache     # one part: compare | cache

compare (A/A and +15%): a reference server (its own process) answers GET /api after a
lognormal sleep (median 20 ms, sigma 0.3; no cache) and GET /cache after 100 ms the first time
a token is seen, 1 ms after (a cache). One scenario runs both for 20 users (fresh tokens every
run, so every cold sample is a real miss). For each pair: run A and run A' (same server), and
run B with the server 15% slower (every latency x 1.15). `perfkit compare` with its defaults
(5% threshold, Holm) judges A' vs A (a faster/slower verdict is a false alarm) and B vs A (a
slower verdict is a detection), once with one run a side and once with `--repeat 5` (runs as
samples). Rows: GET /api (no cache effect: one row), GET /cache cold, GET /cache warm; each
also judged without the run-noise floor (`(no floor)`, --run-noise 0%) to show what it does.

cache verdict: a fresh server process for every run, slower (x3) for its first second after
start-up as real servers are (cold caches, JIT, pools); `bench --tokens-file` with 20 users,
open loop, 5 s: GET /nocache must read `none` (>= 98 of 100 runs), GET /cache `detected`
(100 of 100). /nocache's own spread decides how tight 20 cold samples can be: lognormal
sigma 0.1 (a typical indexed query) is the acceptance case; sigma 0.3 (a spread-out route)
shows the cost of a wide spread: more `inconclusive`, and still never `detected`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit.bench.compare import Method, compare_runs  # noqa: E402
from perfkit.bench.engine import BenchOptions  # noqa: E402
from perfkit.bench.record import Run  # noqa: E402
from perfkit.bench.scenario import Scenario, parse_scenario  # noqa: E402
from perfkit.bench.scheduler import run_bench_sync  # noqa: E402
from perfkit.stats import Verdict  # noqa: E402
from tests.bench.support import served_url  # noqa: E402

USERS = 20
SLOWER = 1.15


# -- the server (a separate process: `verdicts.py --serve`) ---------------------------------
def serve(seed: int, factor: float) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from aiohttp import web

    rng, seen, started = random.Random(seed), set(), time.monotonic()
    sleepers = ThreadPoolExecutor(max_workers=64)  # thread sleeps are exact to ~0.1 ms

    async def pause(ms: float) -> None:
        await asyncio.get_running_loop().run_in_executor(sleepers, time.sleep, ms / 1000)

    def warming() -> float:  # x3 for the first second of the process: a cold start
        return 3.0 if time.monotonic() - started < 1.0 else 1.0

    async def api(request: web.Request) -> web.Response:
        await pause(factor * rng.lognormvariate(math.log(20.0), 0.3))
        return web.Response(text="ok")

    async def nocache(request: web.Request) -> web.Response:
        sigma = float(request.query.get("sigma", "0.1"))
        await pause(factor * warming() * rng.lognormvariate(math.log(20.0), sigma))
        return web.Response(text="ok")

    async def cache(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")
        hit = token in seen
        seen.add(token)
        await pause(factor * (1.0 if hit else 100.0) * rng.lognormvariate(0, 0.1))
        return web.Response(text="ok")

    async def listen() -> None:
        app = web.Application()
        app.add_routes([web.get("/", lambda _: _ok()), web.get("/api", api),
                        web.get("/nocache", nocache), web.get("/cache", cache)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        sys.stdout.write(f"http://127.0.0.1:{runner.addresses[0][1]}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    import uvloop

    uvloop.run(listen())


async def _ok() -> Any:
    from aiohttp import web

    return web.Response(text="ok")


@contextmanager
def server(seed: int, factor: float = 1.0) -> Iterator[str]:
    with served_url([sys.executable, __file__, "--serve", "--seed", str(seed), "--factor",
                     str(factor)]) as url:
        yield url


# -- compare: false alarms and detection ---------------------------------------------------
SCENARIO = """
name: verdicts
steps:
  - path: /api
    cache: none
  - path: /cache
"""


def _tokens(label: str, count: int) -> tuple[str, ...]:
    return tuple(f"{label}-{i}" for i in range(count))


def bench(url: str, label: str, repeat: int, iterations: int) -> Run:
    """20 users (fresh tokens, enough for every repeat), closed loop, 8 connections."""
    tokens = _tokens(label, USERS * repeat)
    options = BenchOptions(base_url=url, requests=2 * iterations // repeat, concurrency=8,
                           tokens=tokens[:USERS], spare_tokens=tokens[USERS:], repeat=repeat)
    return run_bench_sync(parse_scenario(SCENARIO, file="verdicts.yaml", environ={}), options)


METHODS = {"": Method(), " (no floor)": Method(run_noise_pct=0)}


def judged(before: Run, after: Run) -> dict[str, Verdict]:
    """Each row's verdict with compare's defaults, and without the run-noise floor (to show
    what the floor changes)."""
    return {f"{r.route} {r.phase.value}{label}": r.verdict for label, method in METHODS.items()
            for r in compare_runs(before, after, method).rows if not r.mixed_phases}


def compare_pairs(pairs: int, repeat: int, iterations: int) -> dict[str, Any]:
    alarms: dict[str, int] = {}
    detections: dict[str, int] = {}
    for i in range(pairs):
        with server(seed=i) as same:
            a = bench(same, f"a{i}r{repeat}", repeat, iterations)
            a2 = bench(same, f"b{i}r{repeat}", repeat, iterations)
        with server(seed=1000 + i, factor=SLOWER) as slow:
            b = bench(slow, f"c{i}r{repeat}", repeat, iterations)
        for row, verdict in judged(a, a2).items():
            alarms[row] = alarms.get(row, 0) + (verdict is not Verdict.NO_CHANGE)
        for row, verdict in judged(a, b).items():
            detections[row] = detections.get(row, 0) + (verdict is Verdict.SLOWER)
        print(f"  repeat {repeat}: pair {i + 1}/{pairs}: A/A " + ", ".join(
            f"{row}={v.value}" for row, v in judged(a, a2).items()), flush=True)
    return {"pairs": pairs, "repeat": repeat, "false_alarms": alarms, "detections": detections}


# -- the cache verdict ---------------------------------------------------------------------
CACHE_PATHS = ("/nocache?sigma=0.1", "/nocache?sigma=0.3", "/cache")


def cache_runs(runs: int) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {path: {} for path in CACHE_PATHS}
    for i in range(runs):
        for path in counts:
            with server(seed=2000 + i) as url:  # a fresh process: its first second is slow
                run = run_bench_sync(Scenario.for_path(path), BenchOptions(
                    base_url=url, rate_per_s=40, duration_s=5, tokens=_tokens(f"k{i}", USERS)))
            (speedup,) = run.speedups()
            effect = speedup.cache_effect.value
            counts[path][effect] = counts[path].get(effect, 0) + 1
        print(f"  run {i + 1}/{runs}: {counts}", flush=True)
    return {"runs": runs, "verdicts": counts}


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.1%} (95% {low:.1%}-{high:.1%})"


def report(results: dict[str, Any]) -> None:
    for part in results.get("compare", []):
        n = part["pairs"]
        print(f"\ncompare, {'one run a side' if part['repeat'] == 1 else '--repeat 5'}:")
        for row, k in sorted(part["false_alarms"].items()):
            print(f"  {row:29} A/A false faster/slower {share(k, n)}   +15% detected "
                  f"{share(part['detections'].get(row, 0), n)}")
    if "cache" in results:
        runs = results["cache"]["runs"]
        for path, counts in results["cache"]["verdicts"].items():
            print(f"cache verdict {path:19}: " + ", ".join(
                f"{effect} {share(k, runs)}" for effect, k in sorted(counts.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--factor", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=800, help="iterations a side")
    parser.add_argument("--only", choices=["compare", "cache"])
    parser.add_argument("--repeats", default="1,5", help="run counts a side to measure")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.serve:
        serve(args.seed, args.factor)
        return
    results: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("compare", lambda: [compare_pairs(args.pairs, int(r), args.iterations)
                             for r in args.repeats.split(",")]),
        ("cache", lambda: cache_runs(args.pairs))]
    for name, step in steps:
        if args.only in (None, name):
            results[name] = step()
    report(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print("\nrerun: .venv/bin/python benchmarks/verdicts.py [--pairs N] [--only compare|cache]")


if __name__ == "__main__":
    main()
