"""Plain helpers shared by tests (fixtures live in conftest.py; tests import from here).

The package's modules hold the larger helpers: events.py, k8s.py (Kubernetes without a
cluster), openapi_docs.py (documents for `perfkit init`), packaging.py (a wheel in a fresh
venv), redis.py (a real redis-server)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from perfkit.bench.record import Phase, Run


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def make_run(samples_ms: dict[tuple[str, str], list[float]], errors: int = 0) -> Run:
    """A run from hand-given latencies per (route, phase); cold/warm samples also go to all."""
    run = Run(base_url="http://127.0.0.1:1")
    for (route, phase_name), values in samples_ms.items():
        phase = Phase(phase_name)
        for value in values:
            run.record(route, phase).add_latency(value * 1000, value * 1000)
            if phase is not Phase.ALL:
                run.record(route, Phase.ALL).add_latency(value * 1000, value * 1000)
        for _ in range(errors):
            run.record(route, phase).add_error("500")
    return run


def lognormal_ms(median_ms: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [median_ms * rng.lognormvariate(0, 0.25) for _ in range(n)]
