"""Plain helpers shared by tests (fixtures live in conftest.py; tests import from here).

The package's modules hold the larger helpers: events.py, k8s.py (Kubernetes without a
cluster), openapi_docs.py (documents for `perfkit init`), packaging.py (a wheel in a fresh
venv), redis.py (a real redis-server)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfkit.bench.record import Phase, Run

if TYPE_CHECKING:
    from perfkit.demo.stack import StackStatus


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class DemoStack:
    """The session's demo stack as tests reach it (the `demo_stack` fixture): typed from
    perfkit.demo.stack.check(), every address present."""

    url: str
    dsn: str
    prometheus_url: str
    tokens_file: str
    log_file: str

    @classmethod
    def of(cls, status: StackStatus) -> DemoStack:
        fields = (status.backend.address, status.postgres.address, status.prometheus.address,
                  status.tokens_file, status.log_file)
        if not all(fields):
            raise AssertionError(f"the demo stack is not whole: {status}")
        return cls(*fields)  # each present: checked above

    def tokens(self) -> list[str]:
        return Path(self.tokens_file).read_text().split()


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
