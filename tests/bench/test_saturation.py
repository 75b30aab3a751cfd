"""Why sends were late (bench/saturation.py): the verdict's rules on hand-made evidence, and
the engine's own measurement against the reference server: a fixed pool above its capacity
(the target), too few senders, and a client whose event loop is kept busy (the client).

The false-call rate over repeated runs: benchmarks/saturation.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from perfkit.bench.engine import BenchOptions, run_bench
from perfkit.bench.hdr import new_histogram, record_us
from perfkit.bench.record import Run
from perfkit.bench.saturation import Cause, Saturation, fastest_ms, judge, merge
from perfkit.bench.scenario import Scenario
from perfkit.bench.scheduler import run_bench_sync
from perfkit.render.run import run_warnings
from tests.bench.support import RefServer

QUIET = Saturation(senders=16, all_busy_share=0.0, loop_lag_p50_ms=0.2, loop_lag_p99_ms=2.0,
                   cpu_cores=0.05, service_route="GET /x", service_fastest_ms=20.0,
                   service_p50_ms=21.0)


def test_a_run_that_held_its_rate_has_no_cause() -> None:
    busy = replace(QUIET, all_busy_share=1.0, cpu_cores=1.0)
    assert judge(busy, late=5, fell_behind=False) is None


def test_every_sender_busy_is_the_target_when_its_service_time_grew() -> None:
    busy = replace(QUIET, all_busy_share=0.97, late_all_busy=90, service_p50_ms=80.0)
    assert judge(busy, late=100, fell_behind=True) is Cause.TARGET
    # the same, at a steady service time: the senders are too few, not the target slow
    assert judge(replace(busy, service_p50_ms=21.0), late=100, fell_behind=True) is (
        Cause.SENDERS)
    # the late sends alone say it when the busy spell was short
    spell = replace(busy, all_busy_share=0.2, late_all_busy=60)
    assert judge(spell, late=100, fell_behind=True) is Cause.TARGET


def test_the_clients_loop_or_cpu_at_its_limit_is_the_client_even_with_senders_busy() -> None:
    busy = replace(QUIET, all_busy_share=0.97, late_all_busy=90, service_p50_ms=80.0)
    for client in (replace(busy, cpu_cores=0.95), replace(busy, loop_lag_p50_ms=30.0),
                   replace(busy, late_all_busy=10, late_sender_idle=90)):
        assert judge(client, late=100, fell_behind=True) is Cause.CLIENT
    assert judge(replace(busy, cpu_cores=0.85, loop_lag_p50_ms=4.0), late=100,
                 fell_behind=True) is Cause.TARGET


def test_neither_sign_is_unclear() -> None:
    assert judge(replace(QUIET, late_all_busy=20, late_sender_idle=20), late=100,
                 fell_behind=True) is Cause.UNCLEAR


def test_the_evidence_round_trips_and_merges_to_the_worst_cause() -> None:
    target = replace(QUIET, cause=Cause.TARGET, all_busy_share=0.9, late_all_busy=40,
                     service_p50_ms=90.0)
    client = replace(QUIET, cause=Cause.CLIENT, late_sender_idle=30, cpu_cores=0.97,
                     loop_lag_p50_ms=12.0)
    assert Saturation.from_json(target.to_json()) == target
    assert Saturation.from_json(None) is None
    merged = merge([target, client, None])
    assert merged is not None and merged.cause is Cause.CLIENT
    assert (merged.late_all_busy, merged.late_sender_idle) == (40, 30)
    assert merged.cpu_cores == 0.97 and merged.all_busy_share == 0.9
    assert merged.service_p50_ms == 90.0  # the source whose service time grew most
    assert merged.senders == 32  # workers together: their senders add
    again = merge([replace(QUIET, cause=None), target], together=False)  # repeats
    assert again is not None and again.cause is Cause.TARGET and again.senders == 16


def test_the_fastest_answer_survives_an_empty_phase_added_to_the_route() -> None:
    # a route's `all` adds its errors-only phase (unsent, timeouts): hdrh's min reads 0 then
    answers, empty = new_histogram(), new_histogram()
    record_us(answers, 20_400)
    record_us(answers, 80_000)
    total = new_histogram()
    total.add(answers)
    total.add(empty)
    assert total.get_min_value() == 0  # the library's quirk this works around
    assert fastest_ms(total) == pytest.approx(20.4, rel=0.01)
    assert fastest_ms(new_histogram()) is None


def _cause(run: Run) -> Cause | None:
    sat = run.generator.saturation
    assert sat is not None
    return sat.cause


@pytest.mark.integration  # seconds of real load
def test_a_fixed_pool_above_its_capacity_is_named_saturated(ref: RefServer) -> None:
    # 4 workers x 20 ms: capacity 200/s, offered 400/s by 16 senders: they all queue at the
    # pool (service time 16/200 s = 80 ms), and the sends are late for want of a free sender.
    run = run_bench_sync(Scenario.for_path("/pool/20?workers=4"),
                         BenchOptions(base_url=ref.url, rate_per_s=400, duration_s=1.5,
                                      concurrency=16))
    assert run.generator.fell_behind and _cause(run) is Cause.TARGET, run.generator
    sat = run.generator.saturation
    assert sat is not None and sat.all_busy_share is not None and sat.all_busy_share > 0.8
    assert sat.service_fastest_ms is not None and sat.service_p50_ms is not None
    assert sat.service_p50_ms > 2 * sat.service_fastest_ms, sat
    achieved = run.generator.achieved_rate_per_s
    assert achieved is not None and 120 <= achieved <= 210, achieved
    (line,) = [w for w in run_warnings(run) if "late" in w]
    assert line.startswith("the target is saturated, not the generator: "), line
    assert "all 16 senders were waiting on answers" in line and "--find-max" in line
    assert "generator fell behind" not in line


@pytest.mark.integration  # seconds of real load
def test_too_few_senders_are_named_not_the_target(ref: RefServer) -> None:
    # 2 senders on a 20 ms route that serves 4 at a time: 150/s asked, at most 2 x 50/s sent
    run = run_bench_sync(Scenario.for_path("/pool/20?workers=4"),
                         BenchOptions(base_url=ref.url, rate_per_s=150, duration_s=1,
                                      concurrency=2))
    assert run.generator.fell_behind and _cause(run) is Cause.SENDERS, run.generator
    (line,) = [w for w in run_warnings(run) if "late" in w]
    assert line.startswith("the senders were the limit, not the target") and (
        "raise --concurrency" in line), line


async def _with_busy_loop(coroutine):  # type: ignore[no-untyped-def]
    """Run `coroutine` while another task holds the event loop 30 ms at a time: the client's
    own loop, not the target, is what cannot keep the schedule."""
    async def hog() -> None:
        while True:
            start = time.perf_counter()
            while time.perf_counter() - start < 0.030:
                pass
            await asyncio.sleep(0)

    task = asyncio.create_task(hog())
    try:
        return await asyncio.wait_for(coroutine, timeout=20)
    finally:
        task.cancel()


@pytest.mark.integration  # seconds of real load
def test_a_client_whose_loop_is_busy_is_named_the_client(ref: RefServer) -> None:
    # /fast answers at once and 200/s is nothing for it; the loop is busy 30 ms in every
    # turn, so the senders, free, wake late (the run ends within its timeout, 2 s, of the
    # schedule's end: the rest is unsent).
    run = asyncio.run(_with_busy_loop(run_bench(
        Scenario.for_path("/fast"),
        BenchOptions(base_url=ref.url, rate_per_s=200, duration_s=1, timeout_s=2))))
    assert run.generator.fell_behind and _cause(run) is Cause.CLIENT, run.generator
    sat = run.generator.saturation
    assert sat is not None and sat.loop_lag_p50_ms is not None and sat.loop_lag_p50_ms > 10
    (line,) = [w for w in run_warnings(run) if "late" in w]
    assert line.startswith("the client was the limit, not the target"), line
    assert "--workers" in line and "saturated" not in line


def test_a_run_that_keeps_its_rate_records_the_evidence_and_no_cause(ref: RefServer) -> None:
    run = run_bench_sync(Scenario.for_path("/sleep/20"),
                         BenchOptions(base_url=ref.url, rate_per_s=50, duration_s=1))
    sat = run.generator.saturation
    assert sat is not None and sat.cause is None and not run.generator.fell_behind
    assert sat.senders == 100 and sat.loop_lag_p50_ms is not None and sat.cpu_cores is not None
    assert sat.service_route == "GET /sleep/20"
    assert run.generator.to_json()["saturation"]["cause"] is None
    assert not [w for w in run_warnings(run) if "late" in w]
