"""perfkit.bench.workers: the parent hears when every worker has logged in and warmed up, and
calls `on_measure` (the database window's restart) before the shared start, or says it could
not."""

from __future__ import annotations

import time

from perfkit.bench.options import BenchOptions
from perfkit.bench.scenario import Scenario
from perfkit.bench.workers import NOT_READY, run_workers
from tests.bench.support import RefServer


def test_on_measure_runs_once_after_every_warm_up_and_before_the_start(ref: RefServer) -> None:
    calls: list[tuple[float, int]] = []

    def on_measure() -> None:
        calls.append((time.time(), ref.counts().get("fast", 0)))

    start_at = time.time() + 3.0  # two Python processes start well within it
    run = run_workers(Scenario.for_path("/fast"), BenchOptions(
        base_url=ref.url, requests=20, concurrency=2, warmup=10, workers=2,
        start_at_epoch_s=start_at), on_measure=on_measure)
    assert len(calls) == 1, calls
    called_at, hits_then = calls[0]
    assert called_at < start_at
    assert hits_then == 10  # the whole warm-up (split over the workers), no measured request
    assert run.total_count == 20 and NOT_READY not in run.notes


def test_workers_not_ready_by_the_start_are_said_and_on_measure_is_not_called(
        ref: RefServer) -> None:
    calls: list[float] = []
    run = run_workers(Scenario.for_path("/fast"), BenchOptions(
        base_url=ref.url, requests=10, concurrency=1, workers=2,
        start_at_epoch_s=time.time() + 0.1),  # before a Python process can even import
        on_measure=lambda: calls.append(time.time()))
    assert calls == [] and NOT_READY in run.notes
    assert run.total_count == 10  # the run itself is whole
