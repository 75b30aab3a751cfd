"""The cache verdict: detected, none or inconclusive, against a stated threshold."""

from __future__ import annotations

import random

from perfkit import stats
from perfkit.bench.cache import CacheEffect, judge, speedup
from perfkit.bench.hdr import new_histogram, record_us


def _buckets(values_us: list[float]) -> list[tuple[int, int]]:
    hist = new_histogram()
    for v in values_us:
        record_us(hist, v)
    return stats.buckets(hist)


def _verdict(cold_ms: float, warm_ms: float, n_cold: int = 20, n_warm: int = 400,
             spread: float = 0.1, seed: int = 1) -> CacheEffect:
    rng = random.Random(seed)
    cold = [cold_ms * 1000 * rng.lognormvariate(0, spread) for _ in range(n_cold)]
    warm = [warm_ms * 1000 * rng.lognormvariate(0, spread) for _ in range(n_warm)]
    (judged,) = judge([speedup("GET /x", _buckets(cold), _buckets(warm))])
    return judged.cache_effect


def test_a_real_cache_is_detected() -> None:
    assert _verdict(100.0, 1.0) is CacheEffect.DETECTED


def test_no_cache_is_none_not_a_difference() -> None:
    assert _verdict(20.0, 20.0) is CacheEffect.NONE


def test_too_few_cold_samples_or_a_straddling_interval_is_inconclusive() -> None:
    assert _verdict(100.0, 1.0, n_cold=3) is CacheEffect.INCONCLUSIVE
    # a short run of many users: all cold but one; one warm sample is no reference
    assert _verdict(20.0, 20.0, n_cold=6, n_warm=1) is CacheEffect.INCONCLUSIVE
    assert _verdict(20.0, 20.0, n_cold=6, n_warm=10) is CacheEffect.NONE
    # a 20% effect measured with a wide spread: the interval crosses the threshold
    assert _verdict(24.0, 20.0, spread=0.5, seed=3) is CacheEffect.INCONCLUSIVE


def test_the_threshold_is_stated_and_used() -> None:
    rng = random.Random(5)
    cold = _buckets([30_000 * rng.lognormvariate(0, 0.05) for _ in range(40)])
    warm = _buckets([20_000 * rng.lognormvariate(0, 0.05) for _ in range(400)])
    (at_20,) = judge([speedup("GET /x", cold, warm)], threshold_pct=20)
    (at_60,) = judge([speedup("GET /x", cold, warm)], threshold_pct=60)
    assert at_20.cache_effect is CacheEffect.DETECTED and at_20.threshold_pct == 20
    assert at_60.cache_effect is CacheEffect.NONE  # 1.5x lies within ±60%: below the bar
    assert at_20.to_json()["cache_effect"] == "detected"
