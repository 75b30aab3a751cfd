"""Statistics over latency distributions: pure functions, shared by `compare` and the CI gate.

Inputs are HDR histograms (or their bucket counts), never lists of raw samples: a run of a
million requests compares as fast as one of a hundred. Conventions:

* a *bucket list* is `[(value_us, count), ...]` sorted by value, one entry per recorded HDR
  bucket; values equal within the histogram's precision share a bucket and count as ties;
* changes are `after / before - 1` in percent: negative is faster;
* confidence intervals use the delta method on the log of a ratio of means with Student's t
  (Welch's degrees of freedom); below 2 samples on a side there is no interval (None);
* significance is Mann-Whitney U (two-sided, tie-corrected, continuity-corrected), the rank
  test benchstat uses; many routes at once are corrected with Holm's step-down method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import Any

Buckets = Sequence[tuple[float, int]]

ALPHA = 0.05  # significance level of every verdict, after Holm's correction
CONFIDENCE = 0.95  # of every interval perfkit prints
MIN_SAMPLES = 20  # below this many samples a side, a comparison or threshold is inconclusive
MIN_CHANGE_PCT = 5.0  # a change smaller than this is no change (measured: benchmarks/gate_power)


@dataclass(frozen=True)
class Rule:
    """What a change must clear to be called one, wherever perfkit judges (compare, gate,
    report, doctor): significant after Holm at `alpha`, the whole interval beyond
    `min_change_pct`, at least `min_samples` a side."""

    alpha: float = ALPHA
    confidence: float = CONFIDENCE
    min_change_pct: float = MIN_CHANGE_PCT
    min_samples: int = MIN_SAMPLES

    def to_json(self) -> dict[str, Any]:
        return {"test": "mann-whitney-u", "correction": "holm", "alpha": self.alpha,
                "confidence": self.confidence, "min_change_pct": self.min_change_pct,
                "min_samples": self.min_samples}


class Verdict(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    NO_CHANGE = "no-change"

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def _scan(hist: Any) -> list[tuple[int, int, int]]:
    """(lowest, highest equivalent value in µs, count) of each recorded bucket, in order.

    Reads the counts array directly: hdrh's own iterators cost ~40 ms per call on a 1 µs..1 h
    histogram, this ~3 ms; only the span between the first and the last recorded bucket is
    visited (found in C by stripping the zero bytes around it).
    """
    raw = bytes(hist.counts)
    size = len(raw) // max(1, len(hist.counts))
    first = (len(raw) - len(raw.lstrip(b"\0"))) // size
    last = (len(raw.rstrip(b"\0")) + size - 1) // size
    out: list[tuple[int, int, int]] = []
    for offset, count in enumerate(hist.counts[first:last]):
        if count:
            value = hist.get_value_from_index(first + offset)
            low = int(hist.get_lowest_equivalent_value(value))
            out.append((low, int(hist.get_highest_equivalent_value(value)), int(count)))
    return out


def buckets(hist: Any) -> list[tuple[int, int]]:
    """The recorded buckets of an HdrHistogram: (median equivalent value in µs, count)."""
    return [(low + (high - low + 1) // 2, count) for low, high, count in _scan(hist)]


def percentile_ms(hist: Any, q: float) -> float | None:
    """One percentile (0-100) in milliseconds, HdrHistogram's definition; None when empty."""
    scanned = _scan(hist)
    total = sum(c for _, _, c in scanned)
    target = max(1, int(q * total / 100 + 0.5))
    running = 0
    for _, high, count in scanned:
        running += count
        if running >= target:
            return round(high / 1000.0, 3)
    return None


def summary_ms(hist: Any) -> dict[str, float | None]:
    """mean, p50, p90, p99, p99.9 and max in milliseconds (None when the histogram is empty).

    Same definitions as HdrHistogram: a percentile is the highest value equivalent to the
    bucket holding the target count; the mean uses each bucket's median equivalent value.
    """
    keys = ("mean", *PERCENTILES, "max")
    scanned = _scan(hist)
    total = sum(c for _, _, c in scanned)
    if total == 0:
        return dict.fromkeys(keys)
    mean_us = sum((low + (high - low + 1) // 2) * c for low, high, c in scanned) / total
    out: dict[str, float | None] = {"mean": round(mean_us / 1000.0, 3)}
    for name, q in PERCENTILES.items():
        target = max(1, int(q * total / 100 + 0.5))
        running = 0
        for _, high, count in scanned:
            running += count
            if running >= target:
                out[name] = round(high / 1000.0, 3)
                break
    out["max"] = round(scanned[-1][1] / 1000.0, 3)
    return out


@dataclass(frozen=True)
class Moments:
    """Count, mean and sample variance of a distribution (µs, µs²)."""

    count: int
    mean: float
    variance: float

    @classmethod
    def of(cls, data: Buckets) -> Moments:
        n = sum(c for _, c in data)
        if n == 0:
            return cls(0, math.nan, math.nan)
        mean = sum(v * c for v, c in data) / n
        if n < 2:
            return cls(n, mean, math.nan)
        ss = sum(c * (v - mean) ** 2 for v, c in data)
        return cls(n, mean, ss / (n - 1))


def combine(parts: Sequence[Moments]) -> Moments:
    """The moments of the union of samples, from each part's (Chan et al.'s pooling)."""
    parts = [p for p in parts if p.count > 0]
    n = sum(p.count for p in parts)
    if n == 0:
        return Moments(0, math.nan, math.nan)
    mean = sum(p.count * p.mean for p in parts) / n
    if n < 2:
        return Moments(n, mean, math.nan)
    within = sum((p.count - 1) * p.variance for p in parts if p.count > 1)
    between = sum(p.count * (p.mean - mean) ** 2 for p in parts)
    return Moments(n, mean, (within + between) / (n - 1))


@dataclass(frozen=True)
class MeanEstimate:
    """A mean, the variance of that mean, and the degrees of freedom behind that variance."""

    mean: float
    var_mean: float
    df: float

    @classmethod
    def of(cls, m: Moments) -> MeanEstimate | None:
        """Requests as independent samples (None below 2 of them)."""
        if m.count < 2 or not m.mean > 0 or math.isnan(m.variance):
            return None
        return cls(m.mean, m.variance / m.count, m.count - 1)


MAX_BATCHES = 20


def batches_of(buckets: Sequence[Moments], most: int = MAX_BATCHES) -> list[Moments]:
    """Consecutive time buckets grouped into at most `most` batches of about equal counts."""
    filled = [b for b in buckets if b.count > 0]
    if len(filled) <= most:
        return filled
    total = sum(b.count for b in filled)
    out: list[list[Moments]] = [[]]
    for b in filled:
        if sum(x.count for x in out[-1]) >= total / most and len(out) < most:
            out.append([])
        out[-1].append(b)
    return [combine(group) for group in out]


def batch_means(buckets: Sequence[Moments]) -> MeanEstimate | None:
    """A run's mean from its time buckets (batch means): the variance of the mean is how the
    batch means vary when that is more than the requests' own spread implies (drift within
    the run: a server warming up, a neighbour's load), else the requests' one."""
    batches = batches_of(buckets)
    whole = combine(batches)
    iid = MeanEstimate.of(whole)
    k = len(batches)
    if iid is None or k < 2:
        return iid
    spread = sum((b.count / whole.count) ** 2 * (b.mean - whole.mean) ** 2 for b in batches)
    var_batches = spread * k / (k - 1)
    if var_batches <= iid.var_mean:
        return iid
    return MeanEstimate(whole.mean, var_batches, k - 1)


def ratio_ci(num: MeanEstimate, den: MeanEstimate, confidence: float = CONFIDENCE
             ) -> tuple[float, float, float]:
    """(ratio, low, high) of num.mean / den.mean: delta method on log(ratio), Student's t
    with Welch-Satterthwaite degrees of freedom over both estimates'."""
    ratio = num.mean / den.mean
    a = num.var_mean / num.mean ** 2
    b = den.var_mean / den.mean ** 2
    var_log = a + b
    denom = a ** 2 / max(num.df, 1e-9) + b ** 2 / max(den.df, 1e-9)
    df = var_log ** 2 / denom if denom > 0 else math.inf
    quantile = _z(confidence) if df > 1e4 else t_quantile(0.5 + confidence / 2.0, df)
    half = quantile * math.sqrt(max(var_log, 0.0))
    return ratio, ratio * math.exp(-half), ratio * math.exp(half)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _t_exact(p: float, df: int) -> float:
    """Closed forms of Student's t quantile for df 1, 2 and 4."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    alpha = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha)
    return math.copysign(2 * math.sqrt(max(q - 1, 0.0)), p - 0.5)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile, never smaller than the true one by more than ~1%.

    Exact for df 1, 2 and 4; between them, linear in 1/df (the quantile is convex in 1/df,
    so the interpolation errs on the wide side: at df 1.2 it gives 9.9 for a true 8.6);
    Cornish-Fisher above df 4 (within 1.3% at p 0.995, 0.3% at 0.975). Welch's df is
    fractional, and a too-small quantile would make small-sample intervals overconfident.
    """
    if df <= 1.0:
        return _t_exact(p, 1)
    if df <= 4.0:
        lo_df, hi_df = (1, 2) if df < 2.0 else (2, 4)
        share = (1 / df - 1 / hi_df) / (1 / lo_df - 1 / hi_df)
        return share * _t_exact(p, lo_df) + (1 - share) * _t_exact(p, hi_df)
    z = NormalDist().inv_cdf(p)
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def ratio_of_means_ci(num: Moments, den: Moments, confidence: float = CONFIDENCE
                      ) -> tuple[float, float, float] | None:
    """(ratio, low, high) of num.mean / den.mean; None when either side has < 2 samples.

    Delta method on log(ratio): var = v1/(n1 m1²) + v2/(n2 m2²), which keeps the interval
    positive and asymmetric as a ratio's should be; Student's t with Welch's df.
    """
    a, b = MeanEstimate.of(num), MeanEstimate.of(den)
    return None if a is None or b is None else ratio_ci(a, b, confidence)


def change_pct_ci(before: Moments | MeanEstimate, after: Moments | MeanEstimate,
                  confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """(change, low, high) in percent of the mean, after vs before; None without 2+2
    samples. Moments are requests as independent samples; a MeanEstimate says otherwise
    (batch means, runs as samples)."""
    a = MeanEstimate.of(after) if isinstance(after, Moments) else after
    b = MeanEstimate.of(before) if isinstance(before, Moments) else before
    if a is None or b is None:
        return None
    ci = ratio_ci(a, b, confidence)
    return tuple(round((r - 1.0) * 100.0, 3) for r in ci)  # type: ignore[return-value]


def change_pct(before: float | None, after: float | None) -> float | None:
    """after / before - 1 in percent, None when undefined."""
    if before is None or after is None or before <= 0:
        return None
    return round((after / before - 1.0) * 100.0, 3)


#: Runs or windows whose request rates differ by more than this factor ran under other
#: loads (an idle server answers differently from a busy one): said next to their verdicts.
LOAD_RATIO = 1.5

# One run a side cannot measure how much runs differ: a floor stands in for it, measured over
# A/A pairs on loopback (benchmarks/verdicts.py): ~1% of the mean (the server) plus ~60 µs
# (the client's and the loop's own jitter, which dominates routes of a millisecond or two).
RUN_NOISE_PCT = 1.0
RUN_NOISE_MS = 0.06


def run_noise_floor_pct(mean_ms: float | None) -> float:
    """The run-to-run noise (sd of a run's mean, % of it) assumed where it is not measured:
    between two single runs, or between the before and the after blocks of repeats."""
    if mean_ms is None or not mean_ms > 0:
        return RUN_NOISE_PCT
    return math.hypot(RUN_NOISE_PCT, 100 * RUN_NOISE_MS / mean_ms)


def widen_for_run_noise(ci: tuple[float, float, float], run_noise_pct: float,
                        confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Add run-to-run noise (sd of a run's mean, in %) to a change interval, in quadrature
    on the log scale: requests within one run are not independent of the run they are in."""
    if run_noise_pct <= 0:
        return ci
    change, low, high = ci
    center = math.log1p(change / 100)
    half = (math.log1p(high / 100) - math.log1p(low / 100)) / 2
    noise = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(2) * math.log1p(
        run_noise_pct / 100)  # two runs, each with its own noise
    wide = math.sqrt(half ** 2 + noise ** 2)
    return (change, round(math.expm1(center - wide) * 100, 3),
            round(math.expm1(center + wide) * 100, 3))


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U of sample a against sample b."""

    u: float
    z: float
    p_value: float


def mann_whitney_u(a: Buckets, b: Buckets) -> RankTest | None:
    """Two-sided Mann-Whitney U over bucket counts, tie-corrected (normal approximation).

    Every value of a bucket ties with the others in it, so the ranks are exact for the
    histogram's precision. None when a side is empty or everything ties.
    """
    na, nb = sum(c for _, c in a), sum(c for _, c in b)
    if na == 0 or nb == 0:
        return None
    merged: dict[float, list[int]] = {}
    for value, count in a:
        merged.setdefault(value, [0, 0])[0] += count
    for value, count in b:
        merged.setdefault(value, [0, 0])[1] += count
    rank_sum_a = 0.0
    tie_term = 0.0
    next_rank = 1.0
    for value in sorted(merged):
        ca, cb = merged[value]
        t = ca + cb
        rank_sum_a += ca * (next_rank + (t - 1) / 2.0)
        tie_term += float(t) ** 3 - t
        next_rank += t
    n = na + nb
    u_a = rank_sum_a - na * (na + 1) / 2.0
    mean_u = na * nb / 2.0
    var_u = na * nb / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if var_u <= 0:
        return None
    diff = u_a - mean_u
    correction = 0.5 if diff > 0 else -0.5 if diff < 0 else 0.0
    z = (diff - correction) / math.sqrt(var_u)
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return RankTest(u=u_a, z=z, p_value=min(1.0, p))


def mann_whitney_exact(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided exact p of Mann-Whitney U for small samples without ties (runs as
    samples: a handful of values a side), else the normal approximation. None when a side
    is empty."""
    if not a or not b:
        return None
    if len(set(a) | set(b)) < len(a) + len(b) or len(a) * len(b) > 2500:
        test = mann_whitney_u([(round(v * 1e6), 1) for v in a], [(round(v * 1e6), 1) for v in b])
        return None if test is None else test.p_value
    u = sum(1.0 for x in a for y in b if x > y)
    counts = _u_distribution(len(a), len(b))
    total = sum(counts)
    low = min(u, len(a) * len(b) - u)
    tail = sum(counts[: int(low) + 1]) / total
    return min(1.0, 2 * tail)


def _u_distribution(n: int, m: int) -> list[int]:
    """Number of arrangements giving each U, 0..n*m (the recurrence of Mann and Whitney)."""
    table: dict[tuple[int, int], list[int]] = {}

    def counts(i: int, j: int) -> list[int]:
        if i == 0 or j == 0:
            return [1]
        if (i, j) not in table:
            with_x, with_y = counts(i - 1, j), counts(i, j - 1)
            out = [0] * (i * j + 1)
            for k, c in enumerate(with_x):
                out[k + j] += c  # the largest value is an x: it beats all j ys
            for k, c in enumerate(with_y):
                out[k] += c
            table[(i, j)] = out
        return table[(i, j)]

    return counts(n, m)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in input order (None stays None)."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def verdict(ci_pct: tuple[float, float] | None, p_value: float | None, *,
            alpha: float = ALPHA, min_effect_pct: float = 0.0) -> Verdict:
    """faster/slower only when the rank test is significant AND the whole interval of the
    mean's change lies beyond `min_effect_pct` on one side; anything else is no-change."""
    if ci_pct is None or p_value is None or p_value >= alpha:
        return Verdict.NO_CHANGE
    low, high = ci_pct
    if high < -min_effect_pct:
        return Verdict.FASTER
    if low > min_effect_pct:
        return Verdict.SLOWER
    return Verdict.NO_CHANGE
