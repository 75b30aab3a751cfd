"""Statistics over HDR bucket counts: rank test, Holm, intervals, verdicts, speedups."""

from __future__ import annotations

import random

import pytest

from perfkit import stats
from perfkit.bench.record import new_histogram, record_us


def _buckets(values: list[int]) -> list[tuple[int, int]]:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items())


def _hist(values: list[float]):  # type: ignore[no-untyped-def]
    hist = new_histogram()
    for v in values:
        record_us(hist, v)
    return hist


def test_mann_whitney_matches_the_textbook_value() -> None:
    # scipy.stats.mannwhitneyu([1..5], [6..10], method="asymptotic") -> U=0, p=0.01219
    test = stats.mann_whitney_u(_buckets([1, 2, 3, 4, 5]), _buckets([6, 7, 8, 9, 10]))
    assert test is not None
    assert test.u == 0
    assert test.p_value == pytest.approx(0.01219, abs=1e-4)


def test_mann_whitney_tie_correction() -> None:
    # By hand: ranks 1 | 2.5 2.5 | 6 x5 | 9.5 9.5 | 11 -> R_a = 24, U = 24 - 21 = 3;
    # ties (2, 5, 2): var = 30/12 * (12 - 132/110) = 27; z = (3 - 15 + 0.5)/sqrt(27) = -2.213
    test = stats.mann_whitney_u(_buckets([1, 2, 2, 3, 3, 3]), _buckets([3, 3, 4, 4, 5]))
    assert test is not None
    assert test.u == pytest.approx(3.0)
    assert test.z == pytest.approx(-2.2132, abs=1e-3)
    assert test.p_value == pytest.approx(0.02688, abs=1e-4)


def test_mann_whitney_same_distribution_is_not_significant() -> None:
    rng = random.Random(3)
    a = [int(rng.gauss(20000, 2000)) for _ in range(3000)]
    b = [int(rng.gauss(20000, 2000)) for _ in range(3000)]
    test = stats.mann_whitney_u(stats.buckets(_hist(a)), stats.buckets(_hist(b)))
    assert test is not None and test.p_value > 0.01
    assert stats.mann_whitney_u([(5, 10)], [(5, 10)]) is None  # everything ties
    assert stats.mann_whitney_u([], [(5, 10)]) is None


def test_holm_adjusts_in_input_order() -> None:
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, None]) == [0.5, None]
    assert stats.holm([0.4, 0.3]) == pytest.approx([0.6, 0.6])


def test_ratio_interval_covers_the_truth_and_widens_with_few_samples() -> None:
    rng = random.Random(7)
    slow = stats.Moments.of(_buckets([int(rng.gauss(150_000, 10_000)) for _ in range(400)]))
    fast = stats.Moments.of(_buckets([int(rng.gauss(1_000, 100)) for _ in range(400)]))
    ratio, lo, hi = stats.ratio_of_means_ci(slow, fast) or (0, 0, 0)
    assert lo < 150 < hi and lo < ratio < hi
    few = stats.Moments.of(_buckets([140_000, 160_000, 150_000]))
    _, few_lo, few_hi = stats.ratio_of_means_ci(few, fast) or (0, 0, 0)
    assert few_hi - few_lo > hi - lo
    assert stats.ratio_of_means_ci(stats.Moments.of([(5, 1)]), fast) is None


def test_t_quantiles() -> None:
    assert stats.t_quantile(0.975, 1) == pytest.approx(12.706, abs=1e-3)
    assert stats.t_quantile(0.975, 2) == pytest.approx(4.303, abs=1e-3)
    assert stats.t_quantile(0.975, 4) == pytest.approx(2.776, abs=1e-3)
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.228, abs=0.01)
    assert stats.t_quantile(0.975, 1000) == pytest.approx(1.962, abs=0.01)


# scipy.stats.t.ppf(p, df) (scipy 1.17.1), fractional df as Welch's formula gives them.
T_PPF = {(0.975, 1.05): 11.3619, (0.975, 1.2): 8.6488, (0.975, 1.5): 6.0167,
         (0.975, 1.8): 4.7949, (0.975, 2.5): 3.5747, (0.975, 3): 3.1824, (0.975, 3.5): 2.9401,
         (0.975, 6): 2.4469, (0.975, 10): 2.2281, (0.975, 30): 2.0423,
         (0.995, 1.2): 33.239, (0.995, 1.5): 17.8203, (0.995, 2.5): 7.1637,
         (0.995, 3): 5.8409, (0.995, 4): 4.6041, (0.995, 6): 3.7074}


@pytest.mark.parametrize(("p", "df"), sorted(T_PPF))
def test_t_quantile_is_never_anti_conservative(p: float, df: float) -> None:
    """Between the exact points (df 1, 2, 4) the quantile may be wider than the truth, never
    narrower by more than rounding: at df 1.2 the old df-2 value (4.30) was half the true 8.65."""
    true = T_PPF[(p, df)]
    got = stats.t_quantile(p, df)
    assert got >= true * 0.987, (got, true)
    assert got <= true * 1.6, (got, true)  # conservative, not absurd
    assert stats.t_quantile(1 - p, df) == pytest.approx(-got)


def test_change_and_verdict() -> None:
    before = stats.Moments.of(_buckets([100, 110, 90, 105, 95] * 40))
    after = stats.Moments.of(_buckets([50, 55, 45, 52, 48] * 40))
    change = stats.change_pct_ci(before, after)
    assert change is not None and change[0] == pytest.approx(-50, abs=1)
    assert stats.verdict((change[1], change[2]), 0.001) == "faster"
    assert stats.verdict((5.0, 9.0), 0.001) == "slower"
    assert stats.verdict((5.0, 9.0), 0.001, min_effect_pct=10) == "no-change"
    assert stats.verdict((-3.0, 2.0), 0.001) == "no-change"
    assert stats.verdict((-9.0, -5.0), 0.2) == "no-change"
    assert stats.verdict(None, None) == "no-change"
    assert stats.change_pct(100.0, 125.0) == 25.0
    assert stats.change_pct(None, 1.0) is None


def test_summary_from_histograms() -> None:
    warm = _hist([1_000 + i for i in range(200)])
    summary = stats.summary_ms(warm)
    assert summary["p50"] == pytest.approx(1.1, abs=0.01)
    assert summary["max"] == pytest.approx(1.2, abs=0.01)
    assert stats.summary_ms(new_histogram())["p99"] is None


def test_exact_rank_test_of_a_few_runs() -> None:
    # 5 runs against 5, completely separated: the smallest two-sided p, 2/252
    assert stats.mann_whitney_exact([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(
        2 / 252)
    # 3 against 3 can never be significant at 0.05: the reason runs need 4 a side
    assert stats.mann_whitney_exact([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert stats.mann_whitney_exact([1, 3, 5, 7], [2, 4, 6, 8]) > 0.5
    assert stats.mann_whitney_exact([], [1.0]) is None


def test_batch_means_hold_a_drift_that_per_request_variance_misses() -> None:
    import random as _random

    rng = _random.Random(4)

    def bucket(mean_us: float, n: int = 200) -> stats.Moments:
        return stats.Moments.of([(round(rng.gauss(mean_us, 50)), 1) for _ in range(n)])

    steady = [bucket(1000) for _ in range(10)]
    drifting = [bucket(1000 + 30 * k) for k in range(10)]  # a server slowly warming
    still = stats.batch_means(steady)
    moved = stats.batch_means(drifting)
    assert still is not None and moved is not None
    iid = stats.MeanEstimate.of(stats.combine(drifting))
    assert iid is not None and moved.var_mean > 10 * iid.var_mean and moved.df == 9
    assert still.df > 100  # no drift: requests as samples, as before
    assert stats.combine(steady).count == 2000


def test_batches_group_many_buckets_into_at_most_twenty() -> None:
    buckets = [stats.Moments(10, 1000.0 + k, 25.0) for k in range(100)]
    grouped = stats.batches_of(buckets)
    assert len(grouped) <= stats.MAX_BATCHES and sum(b.count for b in grouped) == 1000


def test_the_one_run_noise_floor_grows_for_fast_routes() -> None:
    assert stats.run_noise_floor_pct(100.0) == pytest.approx(1.0, abs=0.02)
    assert stats.run_noise_floor_pct(2.0) == pytest.approx(3.16, abs=0.05)  # 60 µs of 2 ms
    assert stats.run_noise_floor_pct(None) == stats.RUN_NOISE_PCT


@pytest.mark.parametrize("values_us", [
    [1], [3_599_000_000], [7, 7, 900, 1_000_000, 3_000_000_000],
    [random.Random(4).randint(1, 10**7) for _ in range(3000)]])
def test_buckets_and_percentiles_are_hdrs_own(values_us: list[int]) -> None:
    hist = new_histogram()
    for value in values_us:
        record_us(hist, value)
    ours = stats.buckets(hist)
    theirs = [(hist.get_highest_equivalent_value(v.value_iterated_to),  # one object, reused
               int(v.count_added_in_this_iter_step)) for v in hist.get_recorded_iterator()]
    assert [(hist.get_highest_equivalent_value(m), c) for m, c in ours] == theirs
    for q in (50.0, 99.0, 100.0):
        assert stats.percentile_ms(hist, q) == round(hist.get_value_at_percentile(q) / 1000, 3)
    assert stats.buckets(new_histogram()) == [] and stats.percentile_ms(new_histogram(), 50) is None
