"""Synthetic runs: known requests fed to the engine's own Tally, no network.

The Tally is what the engine counts with, so a Run built here has the exact histograms and
time series a real run of these requests would have. Tests (series merge, the HTML page) and
benchmarks/record_size.py use it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from perfkit.bench.provenance import Generator, LoopMode, RunSettings
from perfkit.bench.record import Phase, Run
from perfkit.bench.series import choose_width_s
from perfkit.bench.tally import Tally

START_EPOCH_S = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC: a whole second


@dataclass(frozen=True)
class Sample:
    """One request: its intended and actual send times (epoch seconds), its latencies from
    each, and its error kind (None: it succeeded)."""

    route: str
    phase: Phase
    intended_s: float
    sent_s: float
    corrected_us: float
    raw_us: float
    error: str | None = None


@dataclass(frozen=True)
class Machine:
    """One load generator: its perf_counter reading when its wall clock read `t0_wall`."""

    t0: float
    t0_wall: float

    def clock(self, epoch_s: float) -> float:
        return self.t0 + (epoch_s - self.t0_wall)


def samples(routes: Sequence[str], *, duration_s: float, rate_per_s: float, seed: int = 1,
            start_s: float = START_EPOCH_S, users: int = 50, median_ms: float = 20.0,
            error_every: int = 0, slow_from_s: float | None = None) -> Iterator[Sample]:
    """Open-loop requests round-robin over `routes`: each user's first visit to a route is
    cold (3x slower), later ones warm; lognormal latencies; every `error_every`-th a 503;
    from `slow_from_s` on (seconds into the run), twice as slow."""
    rng = random.Random(seed)
    seen: set[tuple[str, int]] = set()
    for k in range(int(duration_s * rate_per_s)):
        intended = start_s + k / rate_per_s
        route, user = routes[k % len(routes)], rng.randrange(users)
        phase = Phase.WARM if (route, user) in seen else Phase.COLD
        seen.add((route, user))
        factor = (3.0 if phase is Phase.COLD else 1.0) * (
            2.0 if slow_from_s is not None and intended - start_s >= slow_from_s else 1.0)
        raw_us = median_ms * factor * 1000 * math.exp(rng.gauss(0, 0.4))
        lag_s = rng.expovariate(2000)  # the sender wakes a little late
        error = "503" if error_every and k % error_every == error_every - 1 else None
        yield Sample(route, phase, intended, intended + lag_s, raw_us + lag_s * 1e6, raw_us,
                     error)


def record(items: Iterable[Sample], machine: Machine, width_s: int) -> Tally:
    """Count `items` with a Tally as the engine would, on `machine`'s clock."""
    rec = Tally(t0=machine.t0, t0_wall=machine.t0_wall, width_s=width_s, open_loop=True)
    for s in items:
        rec.started(machine.clock(s.sent_s), machine.clock(s.intended_s))
        at = machine.clock(s.intended_s)
        if s.error is None:
            rec.ok(s.route, s.phase, at, s.corrected_us, s.raw_us)
        else:
            rec.error(s.route, s.phase, at, s.error)
    return rec


def run_of(rec: Tally, *, rate_per_s: float, duration_s: float, routes: Sequence[str],
           scenario: str = "synthetic", base_url: str = "http://127.0.0.1:8000") -> Run:
    """A Run record of what `rec` counted, with the settings of an open-loop run."""
    from datetime import UTC, datetime

    run = Run(base_url=base_url,
              settings=RunSettings(scenario=scenario, mode=LoopMode.OPEN,
                                   iterations_per_s=rate_per_s, duration_s=duration_s,
                                   routes=tuple(routes), tokens=50),
              started_at=datetime.fromtimestamp(rec.base_epoch_s, UTC).isoformat(),
              ended_at=datetime.fromtimestamp(rec.base_epoch_s + duration_s, UTC).isoformat(),
              generator=Generator(mode=LoopMode.OPEN, elapsed_s=duration_s,
                                  requests=rec.done + rec.failed, errors=rec.failed))
    run.records = rec.records()
    run.series = rec.series()
    return run


def synthetic_run(routes: Sequence[str], *, duration_s: float = 20.0, rate_per_s: float = 50.0,
                  seed: int = 1, start_s: float = START_EPOCH_S, median_ms: float = 20.0,
                  error_every: int = 0, slow_from_s: float | None = None,
                  scenario: str = "synthetic") -> Run:
    """A whole open-loop run of known requests, bucketed as the engine would bucket it."""
    width = choose_width_s(duration_s, 2 * len(routes))
    items = samples(routes, duration_s=duration_s, rate_per_s=rate_per_s, seed=seed,
                    start_s=start_s, median_ms=median_ms, error_every=error_every,
                    slow_from_s=slow_from_s)
    rec = record(items, Machine(t0=0.0, t0_wall=start_s), width)
    return run_of(rec, rate_per_s=rate_per_s, duration_s=duration_s, routes=routes,
                  scenario=scenario)
