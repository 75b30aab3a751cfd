"""The hot path's accounting: one call per request, a few dict increments, nothing more.

A latency is counted, not recorded, while the run goes: values quantized to the precision
of the histogram they will land in (11 significant bits for the run's 3-digit HDR, 8 for the
series' 2-digit ones) are equal exactly when HDR would put them in the same bucket, so the
histograms built from the counts at the end are the ones per-request recording would give,
at a fraction of the cost on the client's core.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from perfkit.bench.hdr import HIGHEST_US, LOWEST_US, new_histogram
from perfkit.bench.record import Phase, RouteRecord
from perfkit.bench.series import (
    BUCKET_BUDGET,
    NICE_WIDTHS_S,
    SERIES_BITS,
    Series,
    SeriesLine,
    histogram_of,
    quantize,
)

RUN_BITS = 11  # HDR with 3 significant digits keeps 11 significant bits
Key = tuple[str, Phase]  # Phase.ALL here means "no cache phase applies"


@dataclass
class _Slot:
    """One (route, phase) in one time bucket."""

    corrected: Counter[int] = field(default_factory=Counter)
    raw: Counter[int] | None = None
    errors: int = 0


class Tally:
    """Counts of latencies and errors per (route, phase), overall and per time bucket."""

    def __init__(self, *, t0: float, t0_wall: float, width_s: int, open_loop: bool) -> None:
        self.width_s = width_s
        self.open_loop = open_loop
        self.base_epoch_s = math.floor(t0_wall / width_s) * width_s
        self._shift = t0_wall - t0 - self.base_epoch_s  # perf_counter -> seconds since base
        self.main: dict[Key, tuple[Counter[int], Counter[int] | None]] = {}
        self.errors: dict[Key, Counter[str]] = {}
        self.slots: dict[tuple[Key, int], _Slot] = {}
        self.sent: Counter[int] = Counter()
        self.intended: Counter[int] | None = Counter() if open_loop else None
        self.recent: list[int] = []
        self.done = 0
        self.failed = 0

    def bucket(self, at: float) -> int:
        return int((at + self._shift) // self.width_s)

    def _slot(self, key: Key, at: float) -> _Slot:
        index = (key, self.bucket(at))
        slot = self.slots.get(index)
        if slot is None:
            slot = self.slots[index] = _Slot(raw=Counter() if self.open_loop else None)
        return slot

    def started(self, at: float, intended: float | None) -> None:
        """An iteration was sent at `at` (intended for `intended` in an open loop)."""
        self.sent[self.bucket(at)] += 1
        if intended is not None and self.intended is not None:
            self.intended[self.bucket(intended)] += 1

    def ok(self, route: str, phase: Phase, at: float, corrected_us: float,
           raw_us: float) -> None:
        """One successful request (the hot path: kept to a few dict increments)."""
        key = (route, phase)
        corrected = min(HIGHEST_US, max(LOWEST_US, round(corrected_us)))
        main = self.main.get(key)
        if main is None:
            main = self.main[key] = (Counter(), Counter() if self.open_loop else None)
        main[0][quantize(corrected, RUN_BITS)] += 1
        index = (key, int((at + self._shift) // self.width_s))
        slot = self.slots.get(index) or self._slot(key, at)
        slot.corrected[quantize(corrected, SERIES_BITS)] += 1
        if main[1] is not None and slot.raw is not None:
            raw = min(HIGHEST_US, max(LOWEST_US, round(raw_us)))
            main[1][quantize(raw, RUN_BITS)] += 1
            slot.raw[quantize(raw, SERIES_BITS)] += 1
        self.recent.append(corrected)
        self.done += 1

    def error(self, route: str, phase: Phase, at: float, kind: str) -> None:
        key = (route, phase)
        counts = self.errors.get(key)
        if counts is None:
            counts = self.errors[key] = Counter()
        counts[kind] += 1
        self._slot(key, at).errors += 1
        self.failed += 1

    def recent_p99_ms(self) -> float | None:
        """p99 of the requests since the last call (the live progress figure)."""
        values, self.recent = self.recent, []
        if not values:
            return None
        values.sort()
        return round(values[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)] / 1000, 3)

    def keep_within_budget(self) -> None:
        """Wider buckets when a run outgrows the budget (a long run bounded by -n only)."""
        lines = max(1, len({key for key, _ in self.slots}))
        buckets = max((b for _, b in self.slots), default=0) + 1
        while buckets * lines > BUCKET_BUDGET and self.width_s < NICE_WIDTHS_S[-1]:
            wider = next(w for w in NICE_WIDTHS_S if w > self.width_s)
            self._regroup(wider)
            buckets = max((b for _, b in self.slots), default=0) + 1

    def _regroup(self, width_s: int) -> None:
        base = math.floor(self.base_epoch_s / width_s) * width_s

        def new_index(b: int) -> int:
            return int((self.base_epoch_s + b * self.width_s - base) // width_s)

        slots: dict[tuple[Key, int], _Slot] = {}
        for (key, b), slot in self.slots.items():
            target = slots.setdefault((key, new_index(b)),
                                      _Slot(raw=Counter() if self.open_loop else None))
            target.corrected.update(slot.corrected)
            if target.raw is not None and slot.raw is not None:
                target.raw.update(slot.raw)
            target.errors += slot.errors
        self.sent = Counter({new_index(b): n for b, n in self.sent.items()})
        if self.intended is not None:
            regrouped: Counter[int] = Counter()
            for b, n in self.intended.items():
                regrouped[new_index(b)] += n
            self.intended = regrouped
        self._shift += self.base_epoch_s - base
        self.slots, self.width_s, self.base_epoch_s = slots, width_s, base

    # -- at the end ------------------------------------------------------------------------
    def records(self) -> dict[tuple[str, Phase], RouteRecord]:
        """RouteRecords per route and phase; each route's `all` is the sum of its phases."""
        keys = list(dict.fromkeys([*self.main, *self.errors]))
        routes = list(dict.fromkeys(route for route, _ in keys))
        out: dict[tuple[str, Phase], RouteRecord] = {}
        for route in routes:
            total = RouteRecord(route, Phase.ALL)
            for phase in (Phase.COLD, Phase.WARM, Phase.ALL):
                if (route, phase) not in keys:
                    continue
                rec = self._record((route, phase))
                total.add(rec)
                if phase is not Phase.ALL:
                    out[(route, phase)] = rec
            out[(route, Phase.ALL)] = total
        return out

    def _record(self, key: Key) -> RouteRecord:
        corrected, raw = self.main.get(key, (Counter(), None))
        rec = RouteRecord(key[0], key[1], _run_histogram(corrected),
                          _run_histogram(raw if raw is not None else corrected),
                          dict(self.errors.get(key, {})))
        return rec

    def series(self) -> Series:
        n = max([b for _, b in self.slots] + list(self.sent) + [-1]) + 1
        sent = [self.sent.get(b, 0) for b in range(n)]
        intended = None if self.intended is None else [self.intended.get(b, 0)
                                                          for b in range(n)]
        keys = list(dict.fromkeys(key for key, _ in self.slots))
        lines = [self._line(key, n) for key in keys]
        return Series(self.width_s, self.base_epoch_s, n, intended, sent, lines)

    def _line(self, key: Key, n: int) -> SeriesLine:
        slots = [self.slots.get((key, b)) for b in range(n)]
        corrected = [histogram_of(s.corrected) if s and s.corrected else None for s in slots]
        raw = None
        if self.open_loop:
            raw = [histogram_of(s.raw) if s and s.raw else None for s in slots]
        return SeriesLine(key[0], key[1].value, corrected, raw,
                          [s.errors if s else 0 for s in slots])


def _run_histogram(counts: Counter[int]):  # type: ignore[no-untyped-def]
    hist = new_histogram()
    for value, n in counts.items():
        hist.record_value(value, n)
    return hist
