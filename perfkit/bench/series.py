"""Latency over time: per route and phase, one small HDR histogram per time bucket.

Buckets are aligned on wall-clock time (multiples of the width since the epoch), so the
series of runs made at the same time on many machines add bucket by bucket, exactly. A
request falls in the bucket of its intended start (open loop: a stall shows in the p99 of the
second it happened) or of its send (closed loop). The width grows with the run so that the
record stays small: at most ~BUCKET_BUDGET buckets over all series.

Bucket histograms keep 2 significant digits (values within 1%): enough for a picture, and
~200 bytes a bucket once encoded. The run's own histograms keep 3.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hdrh.histogram import HdrHistogram

from perfkit import stats
from perfkit.bench.hdr import HIGHEST_US, LOWEST_US

SERIES_DIGITS = 2
SERIES_BITS = 8  # HDR with 2 significant digits keeps 8 significant bits
NICE_WIDTHS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
BUCKET_BUDGET = 1500  # buckets over all (route, phase) series: ~1 MB of JSON at most
SUMMARY = ("p50", "p90", "p99", "max")


def quantize(value_us: int, bits: int) -> int:
    """The lowest value an HDR histogram of `bits` significant bits would store `value_us`
    as: recording it instead changes nothing, and equal values can be counted together."""
    extra = value_us.bit_length() - bits
    return value_us if extra <= 0 else (value_us >> extra) << extra


def choose_width_s(planned_s: float | None, series: int) -> int:
    """The smallest nice width that keeps the run's buckets within the budget."""
    if not planned_s or planned_s <= 0:
        return NICE_WIDTHS_S[0]
    for width in NICE_WIDTHS_S:
        if math.ceil(planned_s / width) * max(1, series) <= BUCKET_BUDGET:
            return width
    return NICE_WIDTHS_S[-1]


def new_bucket_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SERIES_DIGITS)


def histogram_of(counts: Counter[int]) -> HdrHistogram:
    hist = new_bucket_histogram()
    for value, n in counts.items():
        hist.record_value(value, n)
    return hist


def _encode(hist: HdrHistogram | None) -> str:
    if hist is None or hist.get_total_count() == 0:
        return ""
    return hist.encode().decode("ascii")  # type: ignore[no-any-return]


def _decode(text: str) -> HdrHistogram:
    hist = new_bucket_histogram()
    if text:
        hist.add(HdrHistogram.decode(text.encode("ascii")))
    return hist


@dataclass
class SeriesLine:
    """One (route, phase): per bucket, successful requests' latency and the errors."""

    route: str
    phase: str  # "cold", "warm", or "all" for requests no cache phase applies to
    corrected: list[HdrHistogram | None]
    raw: list[HdrHistogram | None] | None  # open loop only: service time from the send
    errors: list[int]

    def summary(self, raw: bool = False) -> dict[str, list[float | None]]:
        hists = self.raw if raw and self.raw is not None else self.corrected
        out: dict[str, list[float | None]] = {k: [] for k in SUMMARY}
        for hist in hists:
            figures = stats.summary_ms(hist) if hist is not None else dict.fromkeys(SUMMARY)
            for k in SUMMARY:
                out[k].append(figures[k])
        return out

    def counts(self) -> list[int]:
        return [int(h.get_total_count()) if h is not None else 0 for h in self.corrected]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"route": self.route, "phase": self.phase,
                                "count": self.counts(), "errors": self.errors,
                                "latency_ms": self.summary(),
                                "hdr": [_encode(h) for h in self.corrected]}
        if self.raw is not None:
            data["latency_raw_ms"] = self.summary(raw=True)
            data["hdr_raw"] = [_encode(h) for h in self.raw]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesLine:
        corrected = [_decode(t) if t else None for t in data.get("hdr") or []]
        raw = None if data.get("hdr_raw") is None else [
            _decode(t) if t else None for t in data["hdr_raw"]]
        return cls(str(data["route"]), str(data["phase"]), corrected, raw,
                   [int(e) for e in data.get("errors") or [0] * len(corrected)])


@dataclass
class Series:
    """Every line of a run, on one time axis: bucket k starts at start_epoch_s + k * width_s."""

    width_s: int
    start_epoch_s: float
    buckets: int
    intended: list[int] | None  # iterations scheduled per bucket (open loop)
    sent: list[int]  # iterations actually started per bucket
    lines: list[SeriesLine] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"width_s": self.width_s, "start_epoch_s": self.start_epoch_s,
                "start": datetime.fromtimestamp(self.start_epoch_s, UTC).isoformat(),
                "buckets": self.buckets, "intended": self.intended, "sent": self.sent,
                "bucket_digits": SERIES_DIGITS,
                "lines": [line.to_json() for line in self.lines]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Series:
        return cls(int(data["width_s"]), float(data["start_epoch_s"]), int(data["buckets"]),
                   data.get("intended"), [int(s) for s in data.get("sent") or []],
                   [SeriesLine.from_json(line) for line in data.get("lines") or []])

    def merge(self, other: Series) -> Series:
        """The series of two runs made at the same time, bucket by bucket on the clock."""
        width = max(self.width_s, other.width_s)
        a, b = self.coarsen(width), other.coarsen(width)
        start = min(a.start_epoch_s, b.start_epoch_s)
        end = max(a.start_epoch_s + a.buckets * width, b.start_epoch_s + b.buckets * width)
        n = round((end - start) / width)
        merged = Series(width, start, n, _add_counts(a.shifted_intended(start, n),
                                                      b.shifted_intended(start, n)),
                        _add_ints(a.shift(a.sent, start, n), b.shift(b.sent, start, n)))
        keys = list(dict.fromkeys((line.route, line.phase) for line in (*a.lines, *b.lines)))
        merged.lines = [_merge_line(key, a, b, start, n) for key in keys]
        return merged

    def shift(self, values: list[int], start: float, n: int) -> list[int]:
        offset = round((self.start_epoch_s - start) / self.width_s)
        out = [0] * n
        for k, v in enumerate(values):
            out[offset + k] = v
        return out

    def shifted_intended(self, start: float, n: int) -> list[int] | None:
        return None if self.intended is None else self.shift(self.intended, start, n)

    def line(self, route: str, phase: str) -> SeriesLine | None:
        return next((x for x in self.lines if (x.route, x.phase) == (route, phase)), None)

    def coarsen(self, width: int) -> Series:
        """The same series with `width`-second buckets (a multiple of this width)."""
        if width == self.width_s:
            return self
        if width % self.width_s:
            raise ValueError(f"cannot regroup {self.width_s} s buckets into {width} s ones")
        start = math.floor(self.start_epoch_s / width) * width
        factor = width // self.width_s
        offset = round((self.start_epoch_s - start) / self.width_s)
        n = math.ceil((offset + self.buckets) / factor)

        def group(k: int) -> int:
            return (offset + k) // factor

        lines = [_regroup_line(line, group, n) for line in self.lines]
        intended = None if self.intended is None else _regroup_ints(self.intended, group, n)
        return Series(width, start, n, intended, _regroup_ints(self.sent, group, n), lines)


def _add_ints(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _add_counts(a: list[int] | None, b: list[int] | None) -> list[int] | None:
    if a is None or b is None:
        return a if b is None else b
    return _add_ints(a, b)


def _add_hists(a: HdrHistogram | None, b: HdrHistogram | None) -> HdrHistogram | None:
    if a is None or b is None:
        return a if b is None else b
    out = new_bucket_histogram()
    out.add(a)
    out.add(b)
    return out


def _placed(series: Series, line: SeriesLine | None, start: float, n: int
            ) -> tuple[list[HdrHistogram | None], list[HdrHistogram | None] | None, list[int]]:
    offset = round((series.start_epoch_s - start) / series.width_s)
    corrected: list[HdrHistogram | None] = [None] * n
    raw: list[HdrHistogram | None] | None = None
    errors = [0] * n
    if line is None:
        return corrected, raw, errors
    for k, hist in enumerate(line.corrected):
        corrected[offset + k] = hist
        errors[offset + k] = line.errors[k]
    if line.raw is not None:
        raw = [None] * n
        for k, hist in enumerate(line.raw):
            raw[offset + k] = hist
    return corrected, raw, errors


def _merge_line(key: tuple[str, str], a: Series, b: Series, start: float,
                n: int) -> SeriesLine:
    ca, ra, ea = _placed(a, a.line(*key), start, n)
    cb, rb, eb = _placed(b, b.line(*key), start, n)
    raw = None
    if ra is not None or rb is not None:
        ra, rb = ra or [None] * n, rb or [None] * n
        raw = [_add_hists(x, y) for x, y in zip(ra, rb, strict=True)]
    return SeriesLine(key[0], key[1], [_add_hists(x, y) for x, y in zip(ca, cb, strict=True)],
                      raw, _add_ints(ea, eb))


def _regroup_ints(values: list[int], group: Any, n: int) -> list[int]:
    out = [0] * n
    for k, v in enumerate(values):
        out[group(k)] += v
    return out


def _regroup_hists(hists: list[HdrHistogram | None], group: Any,
                   n: int) -> list[HdrHistogram | None]:
    out: list[HdrHistogram | None] = [None] * n
    for k, hist in enumerate(hists):
        out[group(k)] = _add_hists(out[group(k)], hist)
    return out


def _regroup_line(line: SeriesLine, group: Any, n: int) -> SeriesLine:
    raw = None if line.raw is None else _regroup_hists(line.raw, group, n)
    return SeriesLine(line.route, line.phase, _regroup_hists(line.corrected, group, n), raw,
                      _regroup_ints(line.errors, group, n))
