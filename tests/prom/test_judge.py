"""Verdicts from Prometheus's bucket counts: the rule of compare and the gate, route by route."""

from __future__ import annotations

import math
import random

import pytest

from perfkit import stats
from perfkit.prom.figures import BucketCount, per_bucket
from perfkit.prom.judge import Rule, judge
from tests.prom.support import COARSE_BUCKETS_S, figures, pair

RNG_SEED = 12


def _latencies(n: int, median_ms: float, seed: int, spread: float = 0.3) -> list[float]:
    rng = random.Random(seed)
    return [median_ms * math.exp(rng.gauss(0.0, spread)) for _ in range(n)]


def test_a_bucket_counts_at_its_midpoint_and_inf_at_its_lower_bound() -> None:
    assert BucketCount(0.0, 0.005, 3).value_us == 2500
    assert BucketCount(0.1, 0.25, 3).value_us == 175_000
    assert BucketCount(1.0, None, 3).value_us == 1_000_000
    assert BucketCount(1.0, None, 3).width_us == 0.0


def test_cumulative_counts_become_per_bucket_counts() -> None:
    # increase() may dip by rounding: made monotonic as histogram_quantile does
    buckets = per_bucket({0.005: 10.0, 0.01: 9.5, 0.025: 30.0, math.inf: 31.0})
    assert [(b.lo_s, b.hi_s, b.count) for b in buckets] == [
        (0.0, 0.005, 10.0), (0.01, 0.025, 20.0), (0.025, None, 1.0)]


def test_a_clear_speedup_is_faster_with_the_interval_beyond_the_threshold() -> None:
    before = figures(_latencies(400, 120, RNG_SEED))
    after = figures(_latencies(400, 40, RNG_SEED + 1))
    (j,) = judge([(pair(before, after), False)], Rule())
    assert j.verdict is stats.Verdict.FASTER
    assert j.ci_pct is not None and j.ci_pct[1] < -5
    change = (after.mean_ms or 0) / (before.mean_ms or 1) * 100 - 100
    assert j.ci_pct[0] <= change <= j.ci_pct[1]  # centred on the exact means
    assert j.p_value is not None and j.p_value < 0.001


def test_a_significant_change_inside_the_threshold_is_no_change() -> None:
    before = figures(_latencies(3000, 40, RNG_SEED, spread=0.1))
    after = figures(_latencies(3000, 41.2, RNG_SEED + 1, spread=0.1))  # +3%
    (default,) = judge([(pair(before, after), False)], Rule())
    assert default.verdict is stats.Verdict.NO_CHANGE
    assert default.p_value is not None and default.p_value < 0.05  # significant, but small
    (strict,) = judge([(pair(before, after), False)], Rule(min_change_pct=0.0))
    assert strict.verdict is stats.Verdict.SLOWER


def test_fewer_than_min_samples_in_either_window_is_not_judged() -> None:
    many = figures(_latencies(200, 40, RNG_SEED))
    few = figures(_latencies(stats.MIN_SAMPLES - 1, 400, RNG_SEED))
    both = figures(_latencies(stats.MIN_SAMPLES, 400, RNG_SEED))
    j_few, j_both, j_one = judge([(pair(many, few), False), (pair(many, both), False),
                                  (pair(None, many), False)], Rule())
    assert j_few.verdict is None and j_few.reason is not None
    assert f"fewer than {stats.MIN_SAMPLES}" in j_few.reason
    assert j_both.verdict is stats.Verdict.SLOWER
    assert j_one.verdict is None and j_one.reason == "no requests in the before window"


def test_unmatched_requests_are_never_judged() -> None:
    before = figures(_latencies(500, 10, RNG_SEED))
    after = figures(_latencies(500, 50, RNG_SEED + 1))
    (j,) = judge([(pair(before, after), True)], Rule())
    assert j.verdict is None and j.label == "not judged"
    assert j.reason is not None and "no route matched" in j.reason
    assert j.to_json(Rule())["verdict"] == "not-judged"


def test_holm_runs_over_the_judged_routes_only() -> None:
    a = figures(_latencies(300, 40, RNG_SEED))
    b = figures(_latencies(300, 44, RNG_SEED + 1))
    c = figures(_latencies(300, 40, RNG_SEED + 2))
    routes = [(pair(a, b), False), (pair(a, c), False), (pair(a, b), True),
              (pair(None, a), False)]
    judged = judge(routes, Rule())
    raws = [j.p_value_raw for j in judged[:2]]
    assert all(p is not None for p in raws)
    expected = stats.holm(raws)  # a family of two: the unmatched and one-window are out
    assert [j.p_value for j in judged[:2]] == [round(p or 0, 6) for p in expected]
    assert judged[2].p_value is None and judged[3].p_value is None


def test_every_request_in_one_bucket_on_both_sides_is_not_judged() -> None:
    before = figures([150.0] * 100, buckets_s=COARSE_BUCKETS_S)
    after = figures([160.0] * 100, buckets_s=COARSE_BUCKETS_S)
    (j,) = judge([(pair(before, after), False)], Rule())
    assert j.verdict is None and j.p_value is None and j.label == "not judged"
    assert j.reason is not None and "every request in one bucket" in j.reason
    # the spread within the bucket (uniform, as histogram_quantile assumes) keeps the
    # interval honest: +6.7% exact, but the bucket is 400 ms wide
    assert j.ci_pct is not None and j.ci_pct[0] < 0 < j.ci_pct[1]


@pytest.mark.parametrize("seed", range(3))
def test_the_same_traffic_twice_is_no_change(seed: int) -> None:
    before = figures(_latencies(500, 30, seed * 2))
    after = figures(_latencies(500, 30, seed * 2 + 1))
    (j,) = judge([(pair(before, after), False)], Rule())
    assert j.verdict is stats.Verdict.NO_CHANGE


def test_the_shown_change_lies_inside_its_shown_interval_even_near_minus_100() -> None:
    # a +100 ms fault removed, many fast requests after: the mean falls ~99.76% with a tight
    # interval; the change rounded to fewer digits than its interval once fell outside it
    before = figures(_latencies(300, 100.0, RNG_SEED, spread=0.05))
    after = figures(_latencies(20_000, 0.24, RNG_SEED + 1, spread=0.05))
    p = pair(before, after)
    (j,) = judge([(p, False)], Rule())
    mean = p.change_pct()["mean"]
    assert j.ci_pct is not None and mean is not None
    assert j.ci_pct[0] <= mean <= j.ci_pct[1] < -99.0
