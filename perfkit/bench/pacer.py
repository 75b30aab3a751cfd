"""Pure schedules: when each request should start (open loop) and how work splits (closed loop).

Open loop (`--rate`) is wrk2's method: request i is *intended* to start at
`start + i / rate` whatever happened to the requests before it, and its latency is measured
from that intended time, so a stalled server shows up in the latency of every request that
should have been sent during the stall (no coordinated omission). Closed loop
(`--concurrency`) sends the next request when the previous one answered: it measures service
time, and a stall shows up as one slow sample only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from perfkit.errors import UsageError


def open_loop_schedule(rate_per_s: float, *, start_s: float = 0.0, limit: int | None = None,
                       duration_s: float | None = None) -> Iterator[float]:
    """Intended start times at a fixed rate, bounded by a count and/or a duration."""
    if rate_per_s <= 0:
        raise UsageError("--rate must be > 0")
    if limit is None and duration_s is None:
        raise UsageError("an open-loop schedule needs a request count or a duration")
    index = 0
    while limit is None or index < limit:
        offset_s = index / rate_per_s
        if duration_s is not None and offset_s >= duration_s:
            return
        yield start_s + offset_s
        index += 1


def planned_requests(rate_per_s: float, duration_s: float) -> int:
    """How many requests an open-loop run of `duration_s` at `rate_per_s` sends."""
    return max(0, math.ceil(rate_per_s * duration_s - 1e-9))


def split_closed_loop(total: int, concurrency: int) -> list[int]:
    """Requests per closed-loop worker: `total` spread as evenly as possible over the workers."""
    if concurrency <= 0:
        raise UsageError("--concurrency must be >= 1")
    base, extra = divmod(max(0, total), concurrency)
    return [base + (1 if i < extra else 0) for i in range(concurrency)]


@dataclass(frozen=True)
class Lag:
    """How late the generator sent requests relative to their intended start times."""

    sent: int
    late: int
    max_lag_ms: float

    @property
    def fell_behind(self) -> bool:
        """More than 1% of requests left late: the run did not hold its rate."""
        return self.sent > 0 and self.late / self.sent > 0.01


def late_threshold_s(rate_per_s: float) -> float:
    """A send counts as late beyond one interval or 10 ms, whichever is longer."""
    return max(0.010, 1.0 / rate_per_s)


def stall_corrected_p99_ms(*, duration_s: float, stall_s: float, base_ms: float = 0.0,
                           quantile: float = 0.99) -> float:
    """The analytic corrected quantile of an open-loop run in which the server froze once.

    Requests intended during the stall wait for its end: their latencies spread uniformly over
    (0, stall]. A share `stall_s / duration_s` of the requests is delayed, so the quantile q
    lies at `stall_s - (1 - q) * duration_s` above the base latency (0 when the stall is too
    short to reach it). Used by the tests and the benchmark to check the runner.
    """
    excess_s = stall_s - (1.0 - quantile) * duration_s
    return base_ms + max(0.0, excess_s) * 1000.0
