"""Why an open loop sent late: the target saturated, too few senders, or the client's own CPU.

A late send means either no sender was free at the intended start (they were all waiting on
answers) or the client itself could not act in time (its event loop busy, its core taken).
The engine measures both per run (bench/engine.py): a SenderClock counts how long every
sender was busy at once and, for each late send, whether a sender was free at its intended
start; a LoopWatch times a 10 ms ticker (how late the loop wakes it) and the process's CPU
time over the wall time (one event loop uses at most one core). `judge` names the cause:

- `client`: the loop ran late (ticker's median delay >= CLIENT_LAG_MS), or the process used
  nearly a core (>= CLIENT_CPU_CORES), or most late sends left while a sender was free: more
  processes (`--workers`) or a lower rate;
- `target`: most of the run every sender waited on an answer, and the service time (from
  the send) grew from the fastest answer (>= GROWTH): the target queues, the achieved rate
  is its capacity at that concurrency;
- `senders`: every sender busy, the service time steady: the client's concurrency
  (`--concurrency`) is the limit, not the target;
- `unclear`: none of these (the evidence is in the record).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from hdrh.histogram import HdrHistogram

from perfkit.bench.hdr import new_histogram, record_us

TICK_S = 0.010  # the loop-lag ticker's sleep
CLIENT_LAG_MS = 5.0  # the ticker's median delay from which the client's loop is the limit
CLIENT_CPU_CORES = 0.9  # one event loop's process uses at most one core
BUSY_SHARE = 0.5  # every sender busy this share of the run (or of the late sends): no sender
GROWTH = 1.2  # the service time's median over its fastest answer: the target queued


class Cause(StrEnum):
    TARGET = "target"  # the target is saturated
    SENDERS = "senders"  # every sender busy at a steady service time: too few senders
    CLIENT = "client"  # the client's own CPU / event loop at its limit
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Saturation:
    """The run record's `generator.saturation`: the evidence, and the cause of late sends
    (None when the run held its rate, or in a closed loop)."""

    cause: Cause | None = None
    senders: int = 0
    all_busy_share: float | None = None  # of the run: every sender waiting on an answer
    late_all_busy: int = 0  # late sends that found no sender free at their intended start
    late_sender_idle: int = 0  # late sends although a sender was free at the intended start
    loop_lag_p50_ms: float | None = None  # how late the loop woke a 10 ms ticker
    loop_lag_p99_ms: float | None = None
    loop_lag_max_ms: float | None = None
    cpu_cores: float | None = None  # the process's CPU seconds per wall second
    service_route: str | None = None  # the route with the most answers, whose service time:
    service_fastest_ms: float | None = None
    service_p50_ms: float | None = None

    @property
    def service_growth(self) -> float | None:
        """The service time's median over the fastest answer (1 when it did not grow)."""
        if not self.service_fastest_ms or self.service_p50_ms is None:
            return None
        return self.service_p50_ms / self.service_fastest_ms

    def to_json(self) -> dict[str, Any]:
        return {"cause": None if self.cause is None else self.cause.value,
                "senders": self.senders, "all_busy_share": _round(self.all_busy_share, 4),
                "late_all_busy": self.late_all_busy, "late_sender_idle": self.late_sender_idle,
                "loop_lag_ms": {"p50": _round(self.loop_lag_p50_ms, 3),
                                "p99": _round(self.loop_lag_p99_ms, 3),
                                "max": _round(self.loop_lag_max_ms, 3)},
                "cpu_cores": _round(self.cpu_cores, 3),
                "service_ms": {"route": self.service_route,
                               "fastest": _round(self.service_fastest_ms, 3),
                               "p50": _round(self.service_p50_ms, 3)}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Saturation | None:
        if not data:
            return None
        lag, service = data.get("loop_lag_ms") or {}, data.get("service_ms") or {}
        cause = data.get("cause")
        return cls(cause=None if cause is None else Cause(cause),
                   senders=int(data.get("senders") or 0),
                   all_busy_share=_float(data.get("all_busy_share")),
                   late_all_busy=int(data.get("late_all_busy") or 0),
                   late_sender_idle=int(data.get("late_sender_idle") or 0),
                   loop_lag_p50_ms=_float(lag.get("p50")), loop_lag_p99_ms=_float(lag.get("p99")),
                   loop_lag_max_ms=_float(lag.get("max")),
                   cpu_cores=_float(data.get("cpu_cores")),
                   service_route=service.get("route"),
                   service_fastest_ms=_float(service.get("fastest")),
                   service_p50_ms=_float(service.get("p50")))


def fastest_ms(hist: HdrHistogram) -> float | None:
    """The fastest answer of a histogram: its first recorded bucket (not hdrh's min, which
    adding an empty histogram, a route's errors-only phase, sets to 0)."""
    if not hist.get_total_count():
        return None
    return float(hist.get_value_at_percentile(0)) / 1000


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def judge(evidence: Saturation, *, late: int, fell_behind: bool) -> Cause | None:
    """The cause of a run's late sends (None when it held its rate)."""
    if not fell_behind:
        return None
    e = evidence
    if ((e.cpu_cores or 0.0) >= CLIENT_CPU_CORES
            or (e.loop_lag_p50_ms or 0.0) >= CLIENT_LAG_MS
            or e.late_sender_idle > BUSY_SHARE * late):
        return Cause.CLIENT
    if (e.all_busy_share or 0.0) >= BUSY_SHARE or e.late_all_busy > BUSY_SHARE * late:
        growth = e.service_growth
        return Cause.TARGET if growth is None or growth >= GROWTH else Cause.SENDERS
    return Cause.UNCLEAR


_WORST = (Cause.CLIENT, Cause.TARGET, Cause.SENDERS, Cause.UNCLEAR)


def merge(items: list[Saturation | None], *, together: bool = True) -> Saturation | None:
    """Sources run `together` (workers, segments: their senders add) or one after the other
    (repeats): late sends add, each other figure is its worst source's, and the cause is
    the worst one seen (a client limited in one process is limited)."""
    found = [s for s in items if s is not None]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    causes = {s.cause for s in found}
    cause = next((c for c in _WORST if c in causes), None)
    fastest = [s for s in found if s.service_fastest_ms is not None]
    slowest = max(fastest, key=lambda s: s.service_growth or 0.0, default=None)
    return Saturation(
        cause=cause,
        senders=sum(s.senders for s in found) if together else max(s.senders for s in found),
        all_busy_share=_most(s.all_busy_share for s in found),
        late_all_busy=sum(s.late_all_busy for s in found),
        late_sender_idle=sum(s.late_sender_idle for s in found),
        loop_lag_p50_ms=_most(s.loop_lag_p50_ms for s in found),
        loop_lag_p99_ms=_most(s.loop_lag_p99_ms for s in found),
        loop_lag_max_ms=_most(s.loop_lag_max_ms for s in found),
        cpu_cores=_most(s.cpu_cores for s in found),
        service_route=None if slowest is None else slowest.service_route,
        service_fastest_ms=None if slowest is None else slowest.service_fastest_ms,
        service_p50_ms=None if slowest is None else slowest.service_p50_ms)


def _most(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


class SenderClock:
    """When every open-loop sender was busy at once (its spells), and for each late send
    whether every sender was busy at its intended start.

    A sender free then would have taken it on time, unless the client itself was too slow to
    hand it over: so a late send outside every all-busy spell is the client's. Intended starts
    are dispatched in order, so spells that ended before the current one are forgotten."""

    def __init__(self, senders: int, late_s: float) -> None:
        self.senders, self.late_s = senders, late_s
        self.busy = 0
        self.spell: float | None = None  # when the current all-busy spell began
        self.spells: deque[tuple[float, float]] = deque()  # ended spells not yet passed
        self.all_busy_s = 0.0
        self.late_all_busy = self.late_sender_idle = 0

    def _move(self, now: float, step: int) -> None:
        self.busy += step
        if self.busy >= self.senders and self.spell is None:
            self.spell = now
        elif self.busy < self.senders and self.spell is not None:
            self.all_busy_s += now - self.spell
            self.spells.append((self.spell, now))
            self.spell = None

    def _all_busy_at(self, at: float) -> bool:
        while self.spells and self.spells[0][1] < at:
            self.spells.popleft()
        if self.spells and self.spells[0][0] <= at:
            return True
        return self.spell is not None and self.spell <= at

    def dispatch(self, intended: float) -> None:
        """A sender sends the request intended at `intended`, now."""
        now = time.perf_counter()
        if now - intended > self.late_s:
            if self._all_busy_at(intended):
                self.late_all_busy += 1
            else:
                self.late_sender_idle += 1
        self._move(now, +1)

    def done(self) -> None:
        """A sender got its answer (or gave up): free again."""
        self._move(time.perf_counter(), -1)

    def all_busy_share(self, t0: float, end: float) -> float | None:
        if end <= t0:
            return None
        current = end - self.spell if self.spell is not None else 0.0
        return min(1.0, (self.all_busy_s + max(0.0, current)) / (end - t0))


class LoopWatch:
    """The event loop's own delay (a ticker's lateness) and the process's CPU time."""

    def __init__(self) -> None:
        self.lag: HdrHistogram = new_histogram()
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = self._wall0 = 0.0
        self.cpu_cores: float | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            record_us(self.lag, max(0.0, time.perf_counter() - before - TICK_S) * 1e6)

    def start(self) -> None:
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is None:
            return
        wall = time.perf_counter() - self._wall0
        self.cpu_cores = (time.process_time() - self._cpu0) / wall if wall > 0 else None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def evidence(self, base: Saturation) -> Saturation:
        if not self.lag.get_total_count():
            return replace(base, cpu_cores=self.cpu_cores)
        return replace(base, cpu_cores=self.cpu_cores,
                       loop_lag_p50_ms=self.lag.get_value_at_percentile(50) / 1000,
                       loop_lag_p99_ms=self.lag.get_value_at_percentile(99) / 1000,
                       loop_lag_max_ms=self.lag.get_max_value() / 1000)
