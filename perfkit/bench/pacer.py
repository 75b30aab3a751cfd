"""Pure schedules: when each request should start (open loop) and how work splits (closed loop).

Open loop (`--rate`) is wrk2's method: request i is *intended* to start at
`start + i / rate` whatever happened to the requests before it, and its latency is measured
from that intended time, so a stalled server shows up in the latency of every request that
should have been sent during the stall (no coordinated omission). Closed loop
(`--concurrency`) sends the next request when the previous one answered: it measures service
time, and a stall shows up as one slow sample only.

A Segment is the share of one schedule that one process runs (`--workers`, `--segment i/n`):
intended starts are dealt round-robin, users are partitioned. A UserPlan says which user runs
each iteration so that each user's first visit (its cold sample) falls at a seeded random
point of the run, spread over it like the warm samples, never bunched at its start.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from perfkit.errors import UsageError

COVERAGE = 0.95  # every user's first visit within the first 95% of the run, so none is missed
_SEGMENT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Segment:
    """Share `index` (0-based) of `count`: global iteration i belongs to it when
    i % count == index; users likewise."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str, *, flag: str = "--segment") -> Segment:
        """`i/n` with 1 <= i <= n, as a user writes it (1-based)."""
        match = _SEGMENT.match(str(text))
        hint = "e.g. --segment 1/4 (the first of four segments)"
        if match is None:
            raise UsageError(f"{flag} {text!r} is not i/n", hint=hint)
        i, n = int(match.group(1)), int(match.group(2))
        if n < 1 or not 1 <= i <= n:
            raise UsageError(f"{flag} {text!r} is not a share i/n: i must be 1 to n", hint=hint)
        return cls(i - 1, n)

    def split(self, parts: int) -> list[Segment]:
        """This segment dealt round-robin to `parts` workers: still disjoint and complete."""
        return [Segment(self.index + self.count * k, self.count * parts) for k in range(parts)]

    def owns(self, i: int) -> bool:
        return i % self.count == self.index

    def users(self, n_users: int) -> list[int]:
        """The users (indexes of the tokens) this segment runs. With fewer users than
        segments they are shared (their cold samples then repeat in each segment)."""
        if n_users <= 0:
            return []
        own = [u for u in range(n_users) if u % self.count == self.index]
        return own or [self.index % n_users]

    @property
    def label(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def to_json(self) -> dict[str, int | str]:
        return {"index": self.index, "count": self.count, "label": self.label}

    @classmethod
    def from_json(cls, data: dict[str, int | str]) -> Segment:
        return cls(int(data["index"]), int(data["count"]))


@dataclass
class UserPlan:
    """Which user runs each iteration: user k of the (seeded) order makes its first visit
    once the run's progress reaches its activation point, a stratified random point of the
    run; until then the iterations go round-robin to the users already active."""

    users: list[int]
    seed: int = 1
    order: list[int] = field(init=False)
    activation: list[float] = field(init=False)
    started: int = 0  # users whose first visit has been handed out

    def __post_init__(self) -> None:
        rng = random.Random(self.seed * 104729 + len(self.users))
        self.order = list(self.users)
        rng.shuffle(self.order)
        n = max(1, len(self.order))
        self.activation = [0.0] + [COVERAGE * (k + rng.random()) / n for k in range(1, n)]

    def pick(self, progress: float, counter: int) -> tuple[int, bool]:
        """(user, first visit) for the iteration at `progress` (0..1 of the run)."""
        if not self.order:
            return 0, counter == 0
        if self.started < len(self.order) and (
                self.started == 0 or self.activation[self.started] <= progress):
            self.started += 1
            return self.order[self.started - 1], True
        return self.order[counter % self.started], False


def open_loop_schedule(rate_per_s: float, *, start_s: float = 0.0, limit: int | None = None,
                       duration_s: float | None = None) -> Iterator[float]:
    """Intended start times at a fixed rate, bounded by a count and/or a duration."""
    for _, at in segment_schedule(rate_per_s, Segment(), start_s=start_s, limit=limit,
                                  duration_s=duration_s):
        yield at


def segment_schedule(rate_per_s: float, segment: Segment, *, start_s: float = 0.0,
                     limit: int | None = None, duration_s: float | None = None
                     ) -> Iterator[tuple[int, float]]:
    """(global index, intended start) of the iterations a segment owns: the whole schedule's
    starts dealt round-robin, so that n segments together send each start exactly once."""
    if rate_per_s <= 0:
        raise UsageError("--rate must be > 0")
    if limit is None and duration_s is None:
        raise UsageError("an open-loop schedule needs a request count or a duration")
    index = segment.index
    while limit is None or index < limit:
        offset_s = index / rate_per_s
        if duration_s is not None and offset_s >= duration_s:
            return
        yield index, start_s + offset_s
        index += segment.count


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
