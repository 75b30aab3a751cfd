"""The runner against the reference server (tests/bench/refserver.py, its own process).

Bounds are generous: other test suites share this 2-core machine.
"""

from __future__ import annotations

import asyncio

import pytest

from perfkit import stats
from perfkit.bench import pacer
from perfkit.bench.cache import CacheEffect
from perfkit.bench.engine import BenchOptions, ProgressInfo, run_bench
from perfkit.bench.options import Engine
from perfkit.bench.provenance import LoopMode
from perfkit.bench.record import Phase, Run
from perfkit.bench.scenario import Scenario, parse_scenario
from perfkit.bench.scheduler import run_bench_sync
from perfkit.errors import Unreachable, UsageError
from tests.bench.support import RefServer

pytestmark = pytest.mark.usefixtures("engine")  # on h1 and aiohttp: tests/bench/conftest.py


def _all(run: Run, route: str) -> dict[str, float | None]:
    rec = run.get(route, "all")
    assert rec is not None, f"no record for {route}: {list(run.records)}"
    return stats.summary_ms(rec.corrected)


def test_p50_of_a_20ms_endpoint_is_20ms(ref: RefServer, engine: Engine) -> None:
    run = run_bench_sync(Scenario.for_path("/sleep/20"),
                         BenchOptions(base_url=ref.url, requests=60, concurrency=1))
    p50 = _all(run, "GET /sleep/20")["p50"]
    assert p50 is not None and abs(p50 - 20.0) <= 3.0, p50  # loaded machines add ~1 ms
    assert run.total_count == 60 and run.total_errors == 0
    assert run.generator.mode is LoopMode.CLOSED
    assert run.generator.engine == engine  # what --engine auto took


def test_an_early_send_counts_from_the_send_never_below_the_service_time(
        ref: RefServer) -> None:
    # The sender wakes up to 1 ms before each intended start (timers are ms-grained) and a
    # fast answer can come back before it: from the intended start, latency fell to ~0.
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, rate_per_s=400, duration_s=1))
    record = run.get("GET /fast", Phase.ALL)
    assert record is not None and record.count > 300
    corrected, raw = stats.summary_ms(record.corrected), stats.summary_ms(record.raw)
    for metric in ("p50", "p90", "mean"):
        assert corrected[metric] >= raw[metric] * 0.98, (metric, corrected, raw)


@pytest.mark.integration  # seconds of real load or real processes
def test_open_loop_latency_counts_a_stall_from_the_intended_time(ref: RefServer) -> None:
    # 5 s at 100 req/s; request 150 freezes the server for 1 s: 100 requests are intended
    # during the freeze, each waits for its end. Analytic p99 = 1000 - 0.01 * 5000 = 950 ms.
    expected = pacer.stall_corrected_p99_ms(duration_s=5, stall_s=1)
    opened = run_bench_sync(Scenario.for_path("/stall?after=150&ms=1000"),
                            BenchOptions(base_url=ref.url, rate_per_s=100, duration_s=5))
    p99 = _all(opened, "GET /stall")["p99"]
    assert p99 is not None and abs(p99 - expected) <= 0.10 * expected, (p99, expected)
    assert opened.generator.mode is LoopMode.OPEN
    assert 450 <= opened.total_count <= 500

    ref.reset()
    closed = run_bench_sync(Scenario.for_path("/stall?after=150&ms=1000"),
                            BenchOptions(base_url=ref.url, duration_s=3, concurrency=1))
    summary = _all(closed, "GET /stall")
    assert summary["max"] is not None and summary["max"] >= 900  # the one stalled request
    assert summary["p99"] is not None and summary["p99"] < 100  # ... hides in a closed loop


def test_non_2xx_are_counted_by_status(ref: RefServer) -> None:
    run = run_bench_sync(Scenario.for_path("/status/503"),
                         BenchOptions(base_url=ref.url, requests=12, concurrency=3))
    rec = run.get("GET /status/503", "all")
    assert rec is not None and rec.errors == {"503": 12} and rec.count == 0
    assert run.error_ratio == 1.0


def test_cold_and_warm_per_token(ref: RefServer) -> None:
    tokens = tuple(f"tok-{i}" for i in range(4))
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, requests=12, tokens=tokens))
    assert run.records[("GET /fast", "cold")].count == 4
    assert run.records[("GET /fast", "warm")].count == 8
    assert run.records[("GET /fast", "all")].count == 12


def test_cache_header_classifies(ref: RefServer) -> None:
    tokens = tuple(f"hdr-{i}" for i in range(5))
    run = run_bench_sync(Scenario.for_path("/cached"),
                         BenchOptions(base_url=ref.url, requests=20, tokens=tokens,
                                      cache_header="X-Cache"))
    cold, warm = run.records[("GET /cached", "cold")], run.records[("GET /cached", "warm")]
    assert (cold.count, warm.count) == (5, 15)
    (sp,) = run.speedups()
    assert sp.ci is not None and sp.ci[0] > 1  # 30 ms misses vs sub-ms hits


def test_flush_cmd_makes_cold_rounds(ref: RefServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "flushes"
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, requests=9, tokens=("one",),
                                      flush_cmd=f"echo x >> {marker}", flush_every=3))
    assert run.records[("GET /fast", "cold")].count == 3
    assert marker.read_text().count("x") == 3
    with pytest.raises(UsageError):
        BenchOptions(base_url=ref.url, flush_cmd="true", concurrency=2).validate()


def test_extraction_feeds_later_steps_and_bodies(ref: RefServer) -> None:
    sc = parse_scenario("""
steps:
  - path: /items
    extract: {item_id: "$[1].id"}
  - path: /items/{item_id}
  - method: POST
    path: /echo
    json: {id: "{item_id}"}
""", file="t.yaml", environ={})
    run = run_bench_sync(sc, BenchOptions(base_url=ref.url, requests=9, tokens=("t",)))
    assert [r for r in run.routes()] == ["GET /items", "GET /items/{item_id}", "POST /echo"]
    assert all(run.records[(r, "all")].count == 3 for r in run.routes())
    assert run.total_errors == 0


def test_failed_extraction_is_an_error_not_a_crash(ref: RefServer) -> None:
    sc = parse_scenario("steps:\n  - path: /fast\n    extract: {x: \"$.id\"}\n"
                        "  - path: /items/{x}\n", file="t.yaml", environ={})
    run = run_bench_sync(sc, BenchOptions(base_url=ref.url, requests=4))
    assert run.records[("GET /fast", "all")].errors == {"extract": 4}


@pytest.mark.integration  # seconds of real load or real processes
def test_cancel_keeps_what_was_measured(ref: RefServer) -> None:
    seen: list[ProgressInfo] = []

    async def main() -> Run:
        task = asyncio.create_task(run_bench(
            Scenario.for_path("/sleep/20"),
            BenchOptions(base_url=ref.url, duration_s=30, concurrency=2), seen.append))
        await asyncio.sleep(1.5)
        task.cancel()
        return await asyncio.wait_for(task, timeout=10)

    run = asyncio.run(main())
    assert run.interrupted
    assert run.total_count >= 10
    assert run.ended_at is not None
    assert seen and seen[-1].done == run.total_count


def test_unreachable_backend() -> None:
    with pytest.raises(Unreachable, match="unreachable"):
        run_bench_sync(Scenario.for_path("/fast"),
                       BenchOptions(base_url="http://127.0.0.1:9", requests=3))


def test_every_run_is_bounded_in_time(ref: RefServer) -> None:
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, duration_s=0.5, concurrency=2))
    assert run.generator.elapsed_s < 3
    assert run.total_count > 0


@pytest.mark.integration  # seconds of real load or real processes
def test_open_loop_that_cannot_keep_its_rate_says_so(ref: RefServer) -> None:
    # 2 requests in flight at most, 50 ms each: capacity 40/s for a schedule of 100/s. Every
    # due request is still sent and counted; the queueing shows in the corrected latency.
    run = run_bench_sync(Scenario.for_path("/sleep/50"),
                         BenchOptions(base_url=ref.url, rate_per_s=100, duration_s=1,
                                      concurrency=2))
    rec = run.get("GET /sleep/50", "all")
    assert rec is not None
    assert rec.count + rec.errors.get("unsent", 0) == 100
    assert run.generator.fell_behind is True
    corrected, raw = stats.summary_ms(rec.corrected), stats.summary_ms(rec.raw)
    assert raw["p99"] is not None and raw["p99"] < 200
    assert corrected["p99"] is not None and corrected["p99"] > 1000


def test_warmup_is_not_recorded_and_spares_the_users_cache_keys(ref: RefServer) -> None:
    run = run_bench_sync(Scenario.for_path("/cached"),
                         BenchOptions(base_url=ref.url, requests=5, warmup=3, tokens=("w",),
                                      spare_tokens=("spare",), cache_header="X-Cache"))
    assert run.records[("GET /cached", Phase.ALL)].count == 5
    # the warm-up used the spare token: the user's first request is still a server miss
    assert run.records[("GET /cached", Phase.COLD)].count == 1
    assert run.settings.warmup == 3


def test_timeouts_are_errors_of_their_own_kind(ref: RefServer) -> None:
    run = run_bench_sync(Scenario.for_path("/sleep/400"),
                         BenchOptions(base_url=ref.url, requests=3, concurrency=3,
                                      timeout_s=0.1))
    assert run.records[("GET /sleep/400", "all")].errors == {"timeout": 3}


THREE_STEPS = """
steps:
  - path: /items
    extract: {item_id: "$[1].id"}
  - path: /items/{item_id}
  - path: /fast
"""


def test_rate_paces_iterations_and_the_plan_counts_their_steps(ref: RefServer) -> None:
    # --rate 20 on a 3-step scenario: 20 iterations/s, so 60 requests/s; the progress total
    # is iterations x steps, and only the first step has an intended start.
    sc = parse_scenario(THREE_STEPS, file="t.yaml", environ={})
    seen: list[ProgressInfo] = []
    run = run_bench_sync(sc, BenchOptions(base_url=ref.url, rate_per_s=20, duration_s=1),
                         seen.append)
    assert run.settings.iterations_per_s == 20
    assert run.settings.steps_per_iteration == 3
    gen = run.generator
    assert gen.iterations == 20 and gen.requests == 60 == run.total_count
    assert gen.target_iterations_per_s == 20
    assert gen.achieved_rate_per_s > 2 * gen.achieved_iterations_per_s
    assert "first step of each iteration" in gen.latency_from
    assert seen[-1].planned == 60 and seen[-1].done == 60


def test_single_path_rate_is_still_requests(ref: RefServer) -> None:
    seen: list[ProgressInfo] = []
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, rate_per_s=20, duration_s=1),
                         seen.append)
    assert run.generator.latency_from == "intended start (wrk2)"
    assert run.generator.iterations == run.generator.requests == 20
    assert seen[-1].planned == 20


def test_open_loop_request_count_ends_the_schedule(ref: RefServer) -> None:
    # -n counts requests: 6 requests of a 3-step scenario are 2 iterations (0.5 s apart at
    # 2/s), not 6 iterations scheduled over 2.5 s of which 4 send nothing.
    sc = parse_scenario(THREE_STEPS, file="t.yaml", environ={})
    run = run_bench_sync(sc, BenchOptions(base_url=ref.url, rate_per_s=2, requests=6))
    assert run.total_count == 6 and run.generator.iterations == 2
    assert run.generator.elapsed_s < 1.8


@pytest.mark.parametrize("field", ["rate_per_s", "duration_s", "timeout_s"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), float("-inf")])
def test_non_finite_numbers_are_usage_errors(field: str, value: float) -> None:
    options = BenchOptions(base_url="http://127.0.0.1:9", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="finite"):
        options.validate()
    with pytest.raises(UsageError):  # before any connection (port 9 would be Unreachable)
        run_bench_sync(Scenario.for_path("/fast"), options)


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:8000", "ftp://127.0.0.1", "http://",
                                 "http://127.0.0.1:notaport", "http://[::1", "http://:8000"])
def test_bad_base_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError, match="base URL") as info:
        BenchOptions(base_url=url, requests=1).validate()
    assert "http://127.0.0.1:8000" in (info.value.hint or "")


def test_good_base_urls_pass() -> None:
    for url in ("http://127.0.0.1:8000", "https://api.example.com/v1/", "HTTP://[::1]:80"):
        BenchOptions(base_url=url, requests=1).validate()


@pytest.mark.integration  # seconds of real load or real processes
def test_cold_samples_that_were_cache_hits_are_no_cache_effect(ref: RefServer) -> None:
    # First run: each token's first request misses the server's cache (50 ms vs 20 ms): a
    # cache detected. Second run, same tokens: the server has them all, so the client's
    # "cold" samples (first request per token) are hits: no cache effect, said as such.
    # 20 cold samples: one request held up ~25 ms (a pause of the test process) still leaves
    # the interval inside ±20%
    tokens = tuple(f"prefilled-{i}" for i in range(20))
    options = BenchOptions(base_url=ref.url, requests=100, tokens=tokens)
    scenario = Scenario.for_path("/cached?hit_ms=20&miss_ms=50")
    (first,) = run_bench_sync(scenario, options).speedups()
    assert first.cache_effect is CacheEffect.DETECTED
    (second,) = run_bench_sync(scenario, options).speedups()
    assert second.cache_effect is CacheEffect.NONE
    assert second.ci is not None and 0.8 <= second.ci[0] <= second.ci[1] <= 1.2


@pytest.mark.integration  # seconds of real load or real processes
def test_cold_samples_are_spread_over_the_run_not_bunched_at_its_start(ref: RefServer) -> None:
    # 20 users, 4 s: each user's first request (its cold sample) falls in its own twentieth
    # of the run, so every second holds about a quarter of them, like the warm samples.
    tokens = tuple(f"spread-{i}" for i in range(20))
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, rate_per_s=50, duration_s=4,
                                      tokens=tokens))
    assert run.series is not None and run.series.width_s == 1
    cold = run.series.line("GET /fast", "cold")
    assert cold is not None and sum(cold.counts()) == 20
    by_second = cold.counts()
    assert max(by_second) <= 7, by_second  # bunched at the start would be 20 in one second
    assert sum(1 for n in by_second if n) >= 4


@pytest.mark.integration  # seconds of real load or real processes
def test_workers_keep_the_rate_and_give_one_record(ref: RefServer, engine: Engine) -> None:
    # the engine named: the worker processes do not see the fixture's default
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=ref.url, rate_per_s=200, duration_s=2,
                                      workers=2, engine=engine))
    assert run.generator.engine == engine.value
    assert run.total_count == 400 and run.total_errors == 0  # every intended start, once
    assert run.generator.sources == 2 and run.generator.target_iterations_per_s == 200
    assert run.generator.achieved_rate_per_s is not None
    assert 180 <= run.generator.achieved_rate_per_s <= 220
    segments = sorted(s.segment.label for s in run.provenance.merged_from if s.segment)
    assert segments == ["1/2", "2/2"] and not run.failures
    assert run.settings.workers == 2


@pytest.mark.integration  # seconds of real load or real processes
def test_merged_segments_count_what_one_process_sends(ref: RefServer) -> None:
    options = BenchOptions(base_url=ref.url, rate_per_s=100, duration_s=1)
    whole = run_bench_sync(Scenario.for_path("/fast"), options)
    parts = [run_bench_sync(Scenario.for_path("/fast"),
                            BenchOptions(base_url=ref.url, rate_per_s=100, duration_s=1,
                                         segment=pacer.Segment(k, 2))) for k in range(2)]
    merged = parts[0].merge(parts[1])
    assert [p.total_count for p in parts] == [50, 50]
    assert merged.total_count == whole.total_count == 100
    assert merged.series is not None and sum(merged.series.sent) == 100


def test_repeats_keep_each_run_and_take_fresh_users(ref: RefServer) -> None:
    users = tuple(f"rep-{i}" for i in range(3))
    spare = tuple(f"rep-{i}" for i in range(3, 9))
    run = run_bench_sync(Scenario.for_path("/cached?hit_ms=1&miss_ms=20"),
                         BenchOptions(base_url=ref.url, requests=30, tokens=users,
                                      spare_tokens=spare, repeat=3, cache_header="X-Cache"))
    assert len(run.repeats) == 3 and run.total_count == 90
    # fresh tokens each repeat: each repeat's first visits are real server misses
    assert [r.records[("GET /cached", Phase.COLD)].count for r in run.repeats] == [3, 3, 3]
    assert not run.warnings()
    stale = run_bench_sync(Scenario.for_path("/fast"),
                           BenchOptions(base_url=ref.url, requests=10, tokens=users, repeat=2))
    assert any("repeats 2 reused the first repeat's users" in w for w in stale.warnings())
