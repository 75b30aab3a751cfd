"""The time series in the run record: a stall shows in its second, segments merge exactly,
JSON round-trips."""

from __future__ import annotations

import json
import math
import time

import pytest

from perfkit import stats
from perfkit.bench.engine import BenchOptions
from perfkit.bench.record import Phase, Run
from perfkit.bench.scenario import Scenario
from perfkit.bench.scheduler import run_bench_sync
from perfkit.bench.series import Series, SeriesLine
from tests.bench.series_support import (
    START_EPOCH_S,
    Machine,
    record,
    run_of,
    samples,
    synthetic_run,
)
from tests.bench.support import RefServer

ROUTES = ("GET /auth/me", "GET /conversations")


def _line(run: Run, route: str, phase: str) -> SeriesLine:
    assert run.series is not None
    line = run.series.line(route, phase)
    assert line is not None, [(x.route, x.phase) for x in run.series.lines]
    return line


@pytest.mark.integration  # seconds of real load or real processes
def test_a_one_second_stall_at_second_3_shows_in_that_seconds_corrected_p99(
        ref: RefServer) -> None:
    # The run starts on a whole second, so its seconds are the series' 1 s buckets (the
    # sleep until --start-at may end a ms early: the bucket of second s is found by time).
    # 100 req/s; request 302 (intended at 3.01 s) freezes the server for 1 s: the requests
    # intended in second 3 wait for the end of the freeze. 10 senders: 10 are stuck in the
    # freeze, the others are sent late, when it ends.
    start = math.ceil(time.time()) + 1.0
    run = run_bench_sync(Scenario.for_path("/stall?after=302&ms=1000"),
                         BenchOptions(base_url=ref.url, rate_per_s=100, duration_s=6,
                                      concurrency=10, start_at_epoch_s=start))
    assert run.series is not None and run.series.width_s == 1
    offset = round(start - run.series.start_epoch_s)
    assert offset in (0, 1)
    # One user without a token: its first request is cold (at a random second), the rest warm.
    line, cold = _line(run, "GET /stall", "warm"), _line(run, "GET /stall", "cold")
    counts = [w + c for w, c in zip(line.counts(), cold.counts(), strict=True)]
    corrected, raw = line.summary(), line.summary(raw=True)
    p99 = corrected["p99"]
    stall = 3 + offset
    assert p99[stall] is not None and p99[stall] >= 900, p99  # the stall, in its own second
    for second in (0, 1, 2, 5):
        value = p99[second + offset]
        assert value is not None and value < 250, (second, p99)
    # Every request intended in second 3 is in second 3 (none omitted, none moved) ...
    assert 95 <= counts[stall] <= 101, counts
    # ... and most of them waited: the corrected median is half the stall, while the raw
    # series (from the late send) sees only the 10 stuck in flight.
    assert corrected["p50"][stall] is not None and corrected["p50"][stall] >= 300, corrected
    assert raw["p50"][stall] is not None and raw["p50"][stall] < 100, raw["p50"]
    # The rate: ~100 intended in second 3, ~10 sent in it; the others go out in second 4.
    intended, sent = run.series.intended, run.series.sent
    assert intended is not None and 99 <= intended[stall] <= 101, intended
    assert sent[stall] <= 20 and sent[stall + 1] >= intended[stall + 1] + 70, (sent, intended)


def _halves(width_s: int) -> tuple[Run, Run, Run]:
    """One run of known requests recorded by one machine, and the same requests dealt
    round-robin to two machines that started at other times (segments)."""
    items = list(samples(ROUTES, duration_s=30, rate_per_s=40, error_every=17,
                         start_s=START_EPOCH_S + 0.3))
    one = record(items, Machine(t0=0.0, t0_wall=START_EPOCH_S + 0.3), width_s)
    a = record(items[0::2], Machine(t0=100.0, t0_wall=START_EPOCH_S + 0.3), width_s)
    b = record(items[1::2], Machine(t0=7.5, t0_wall=START_EPOCH_S + 0.8), width_s)
    return tuple(run_of(r, rate_per_s=40, duration_s=30, routes=ROUTES)  # type: ignore[return-value]
                 for r in (one, a, b))


def _figures(series: Series) -> dict[str, object]:
    """Everything a picture reads from a series, keyed by (route, phase)."""
    lines = {(x.route, x.phase): {"count": x.counts(), "errors": x.errors,
                                  "p50": x.summary()["p50"], "p99": x.summary()["p99"],
                                  "raw_p99": x.summary(raw=True)["p99"],
                                  "max": x.summary()["max"]}
             for x in series.lines}
    return {"width_s": series.width_s, "start": series.start_epoch_s,
            "buckets": series.buckets, "sent": series.sent, "intended": series.intended,
            "lines": lines}


def test_merging_two_segments_gives_the_series_of_one_run() -> None:
    one, a, b = _halves(width_s=1)
    assert a.series is not None and b.series is not None and one.series is not None
    merged = a.series.merge(b.series)
    assert _figures(merged) == _figures(one.series)
    # Run.merge merges the series the same way, and the histograms with them.
    run = a.merge(b)
    assert run.series is not None and _figures(run.series) == _figures(one.series)
    for key, rec in one.records.items():
        assert run.records[key].count == rec.count and run.records[key].errors == rec.errors


def test_merged_buckets_hold_every_request_and_error_of_the_run() -> None:
    one, _, _ = _halves(width_s=1)
    assert one.series is not None
    for line in one.series.lines:
        rec = one.records[(line.route, Phase(line.phase))]
        assert sum(line.counts()) == rec.count
        assert sum(line.errors) == rec.error_count
    assert one.series.intended is not None
    assert sum(one.series.intended) == sum(one.series.sent) == 30 * 40


def test_segments_with_other_widths_merge_on_the_coarser_buckets() -> None:
    one, a, b = _halves(width_s=1)
    assert one.series is not None and a.series is not None and b.series is not None
    merged = a.series.coarsen(5).merge(b.series)
    assert merged.width_s == 5
    assert _figures(merged) == _figures(one.series.coarsen(5))


def test_series_json_round_trip() -> None:
    run = synthetic_run(ROUTES, duration_s=12, rate_per_s=30, error_every=9)
    data = json.loads(run.dumps())
    assert data["series"]["width_s"] == 1 and data["series"]["bucket_digits"] == 2
    again = Run.from_json(data)
    assert again.series is not None and run.series is not None
    assert again.series.to_json() == run.series.to_json()
    assert _figures(again.series) == _figures(run.series)
    line = data["series"]["lines"][0]
    assert len(line["count"]) == len(line["latency_ms"]["p99"]) == data["series"]["buckets"]
    assert set(line["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert "latency_raw_ms" in line  # an open-loop run keeps the raw series beside it


def test_bucket_p99_is_the_2_digit_hdr_of_its_requests() -> None:
    # One bucket of known latencies: its p99 is HdrHistogram's at 2 significant digits.
    run = synthetic_run(("GET /x",), duration_s=1, rate_per_s=200, seed=3)
    line = _line(run, "GET /x", "warm")
    values = sorted(s.corrected_us for s in samples(("GET /x",), duration_s=1,
                                                     rate_per_s=200, seed=3)
                    if s.phase is Phase.WARM)
    exact_ms = values[max(1, int(0.99 * len(values) + 0.5)) - 1] / 1000
    p99 = line.summary()["p99"][0]
    assert p99 is not None and abs(p99 - exact_ms) <= 0.01 * exact_ms + 0.001
    assert stats.summary_ms(run.records[("GET /x", Phase.WARM)].corrected)["p99"] is not None
