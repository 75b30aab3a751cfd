"""Capacity search (`bench --find-max`): the highest open-loop rate a target holds within an
SLO, stated with its bracket (`held 180/s, broke at 220/s`).

k6's breakpoint tests, Locust's load shapes and Gatling's capacity tests ramp the load and
leave the knee to the eye; here each step is judged. A step holds when every route's
percentiles are under the SLO with 95% confidence (distribution-free bounds of a quantile
from its order statistics), its error ratio is not surely above its limit, and the target
answered at least 90% of the offered rate (an open loop over capacity queues: completions
fall behind the sends). A step
whose bounds straddle a limit is extended with more samples, then judged on its estimate, and
says so. A broken step is measured once more: a rate breaks when it fails twice. The rate
doubles until one breaks, then a geometric bisection narrows the bracket to 10%.

Pure but for `search`, which calls the measuring function it is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from perfkit import stats
from perfkit.errors import UsageError
from perfkit.thresholds import parse_condition


class RouteRecord(Protocol):
    """What a step's judge reads of a route's record (bench/record.py's RouteRecord; the
    record holds a Capacity, so this module does not import it)."""

    route: str
    corrected: Any  # its HDR histogram, latency from the intended start

    @property
    def count(self) -> int: ...

    @property
    def error_count(self) -> int: ...

QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}
ESTIMATED = ("mean", "max")  # judged on the value itself: no distribution-free bound
MIN_ACHIEVED = 0.9  # a step must complete this share of the offered rate
RESOLUTION = 1.1  # the bracket's width: broke_at / max_rate
GROWTH = 2.0
MAX_STEPS = 24
EXTENSIONS = 2  # more samples for a step whose bounds straddle a limit
_Z = 1.959963984540054  # two-sided 95%
_PART = re.compile(r"^\s*(p50|p90|p99|p999|mean|max|errors)\s*(<=|<)\s*(.+?)\s*$")
SLO_HINT = 'e.g. --slo "p99<200ms,errors<1%" (p50, p90, p99, p999, mean, max; errors in %)'


@dataclass(frozen=True)
class Limit:
    """One part of the SLO: a latency metric (ms) or `errors` (a ratio), and its bound."""

    metric: str
    op: str  # "<" or "<="
    value: float

    def holds(self, x: float) -> bool:
        return x < self.value if self.op == "<" else x <= self.value

    @property
    def text(self) -> str:
        value = f"{self.value * 100:g}%" if self.metric == "errors" else f"{self.value:g}ms"
        return f"{self.metric}{self.op}{value}"


@dataclass(frozen=True)
class Slo:
    limits: tuple[Limit, ...]

    @property
    def text(self) -> str:
        return ",".join(limit.text for limit in self.limits)

    @property
    def samples_needed(self) -> int:
        """Samples a step needs so the upper bound of its highest quantile exists."""
        top = max((QUANTILES[lim.metric] for lim in self.limits if lim.metric in QUANTILES),
                  default=0.5)
        return max(50, math.ceil(1.3 * _Z ** 2 * top / (1 - top)))

    @classmethod
    def parse(cls, text: str) -> Slo:
        limits = []
        for part in (p for p in text.split(",") if p.strip()):
            match = _PART.match(part)
            if match is None:
                raise UsageError(f"--slo: cannot read {part.strip()!r}", hint=SLO_HINT)
            metric, op, value = match.groups()
            condition = parse_condition(f"{op} {value}",
                                        "error_ratio" if metric == "errors" else metric,
                                        "--slo")
            limits.append(Limit(metric, op, condition.limit))
        if not limits:
            raise UsageError("--slo is empty", hint=SLO_HINT)
        return cls(tuple(limits))


def quantile_bounds(hist: Any, q: float, count: int) -> tuple[float | None, float | None]:
    """A 95% distribution-free interval of the q-quantile, from the order statistics at the
    binomial ranks around n*q (normal approximation). None where a rank falls outside the
    samples: too few to bound it on that side."""
    spread = _Z * math.sqrt(count * q * (1 - q))
    low_rank, high_rank = math.floor(count * q - spread), math.ceil(count * q + spread)
    low = stats.percentile_ms(hist, 100.0 * low_rank / count) if low_rank >= 1 else None
    high = (stats.percentile_ms(hist, 100.0 * high_rank / count) if high_rank <= count
            else None)
    return low, high


def ratio_bounds(errors: int, total: int) -> tuple[float, float]:
    """Wilson's 95% interval of an error ratio."""
    if total == 0:
        return 0.0, 1.0
    p, z2 = errors / total, _Z ** 2
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = _Z * math.sqrt(p * (1 - p) / total + z2 / (4 * total ** 2)) / (1 + z2 / total)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Step:
    """One rate, measured and judged: `held` True, False, or None (bounds straddle a limit)."""

    rate: float
    achieved: float
    requests: int
    errors: int
    latency_ms: Mapping[str, float | None]
    held: bool | None
    why: str  # what broke, or what held it in doubt; "" when clearly held
    seconds: float
    on_estimate: bool = False  # judged on the estimate after the extensions

    def to_json(self) -> dict[str, Any]:
        return {"rate": round(self.rate, 3), "achieved": round(self.achieved, 3),
                "requests": self.requests, "errors": self.errors,
                "latency_ms": dict(self.latency_ms), "held": self.held, "why": self.why,
                "seconds": round(self.seconds, 3), "on_estimate": self.on_estimate}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        held = data.get("held")
        return cls(float(data["rate"]), float(data["achieved"]), int(data["requests"]),
                   int(data["errors"]), dict(data.get("latency_ms") or {}),
                   None if held is None else bool(held), str(data.get("why") or ""),
                   float(data.get("seconds") or 0.0), bool(data.get("on_estimate")))


def _latency_verdict(limit: Limit, record: RouteRecord, on_estimate: bool
                     ) -> tuple[bool | None, str]:
    summary = stats.summary_ms(record.corrected)
    value = summary[limit.metric]
    if value is None:
        return False, f"{record.route}: no successful request"
    said = f"{record.route} {limit.metric} {value:.4g} ms"
    if limit.metric in ESTIMATED or on_estimate:
        return limit.holds(value), f"{said} {'meets' if limit.holds(value) else 'breaks'} " \
                                   f"{limit.text}"
    low, high = quantile_bounds(record.corrected, QUANTILES[limit.metric], record.count)
    if low is not None and not limit.holds(low):
        return False, f"{said} (95% at least {low:.4g}) breaks {limit.text}"
    if high is not None and limit.holds(high):
        return True, ""
    bound = "too few samples to bound it" if high is None else f"95% up to {high:.4g}"
    return None, f"{said} ({bound}) against {limit.text}"


def _errors_verdict(limit: Limit, route: str, errors: int, total: int, on_estimate: bool
                    ) -> tuple[bool | None, str]:
    ratio = errors / total if total else 0.0
    said = f"{route} errors {ratio:.2%}"
    if on_estimate:
        return limit.holds(ratio), f"{said} {'meets' if limit.holds(ratio) else 'breaks'} " \
                                   f"{limit.text}"
    low, _ = ratio_bounds(errors, total)
    if not limit.holds(low):
        return False, f"{said} (95% at least {low:.2%}) breaks {limit.text}"
    return True, ""  # proving 0 errors under 1% takes ~400 requests: only a sure excess breaks


def judge(rate: float, records: Sequence[RouteRecord], seconds: float, slo: Slo,
          steps_per_iteration: int = 1, *, on_estimate: bool = False) -> Step:
    """A step's verdict from its routes' records (the `all` phase) and its wall time."""
    requests = sum(r.count + r.error_count for r in records)
    errors = sum(r.error_count for r in records)
    achieved = requests / max(1, steps_per_iteration) / seconds if seconds > 0 else 0.0
    verdicts: list[tuple[bool | None, str]] = []
    if achieved < MIN_ACHIEVED * rate:
        verdicts.append((False, f"achieved {achieved:.4g}/s of {rate:.4g}/s offered: the "
                                "target fell behind"))
    for record in records:
        for limit in slo.limits:
            verdicts.append(_errors_verdict(limit, record.route, record.error_count,
                                            record.count + record.error_count, on_estimate)
                            if limit.metric == "errors" else
                            _latency_verdict(limit, record, on_estimate))
    broken = [why for held, why in verdicts if held is False]
    unclear = [why for held, why in verdicts if held is None]
    held = False if broken else (None if unclear else True)
    worst = _worst(records)
    return Step(rate, achieved, requests, errors, worst, held,
                "; ".join(broken or unclear), seconds, on_estimate)


def _worst(records: Sequence[RouteRecord]) -> dict[str, float | None]:
    """p50, p99 and max of the slowest route (by p99)."""
    summaries = [stats.summary_ms(r.corrected) for r in records if r.count]
    if not summaries:
        return {"p50": None, "p99": None, "max": None}
    top = max(summaries, key=lambda s: s["p99"] or 0.0)
    return {"p50": top["p50"], "p99": top["p99"], "max": top["max"]}


@dataclass(frozen=True)
class Capacity:
    """The search's result: the record's `capacity`."""

    slo: str
    max_rate_per_s: float | None  # the highest rate that held (None: none did)
    broke_at_per_s: float | None  # the lowest rate that broke twice (None: none did)
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = field(default=())
    interrupted: bool = False  # stopped by the user (the run record says it: not in this JSON)

    @property
    def bracket(self) -> str:
        held = "nothing held" if self.max_rate_per_s is None else \
            f"held {self.max_rate_per_s:.4g}/s"
        broke = (f"broke at {self.broke_at_per_s:.4g}/s" if self.broke_at_per_s is not None
                 else "never broke")
        return f"{held}, {broke}"

    def to_json(self) -> dict[str, Any]:
        return {"slo": self.slo, "max_rate_per_s": self.max_rate_per_s,
                "broke_at_per_s": self.broke_at_per_s,
                "steps": [s.to_json() for s in self.steps], "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Capacity:
        top, broke = data.get("max_rate_per_s"), data.get("broke_at_per_s")
        return cls(str(data.get("slo") or ""), None if top is None else float(top),
                   None if broke is None else float(broke),
                   tuple(Step.from_json(s) for s in data.get("steps") or []),
                   tuple(str(n) for n in data.get("notes") or []))


Measure = Callable[[float], Step]  # one judged step at a rate (extensions included)


def _probe(measure: Measure, rate: float, steps: list[Step]) -> bool:
    """Whether `rate` holds: a broken step is measured again, and breaks only twice."""
    first = measure(rate)
    steps.append(first)
    if first.held is not False:
        return True
    second = measure(rate)
    steps.append(second)
    return second.held is not False


class Stopped(Exception):
    """Raised by a measuring function when the search cannot go on: the user stopped it
    (Ctrl-C, no reason) or the target failed in a way that is no load limit (`reason`)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Bracket:
    held: float | None = None
    broke: float | None = None

    def open(self, resolution: float) -> bool:
        return (self.held is not None and self.broke is not None
                and self.broke / self.held > resolution)


def _ramp_and_bisect(measure: Measure, steps: list[Step], found: _Bracket, *, start: float,
                     max_rate: float, resolution: float, max_steps: int) -> None:
    rate = start
    while found.broke is None and len(steps) < max_steps:
        if _probe(measure, rate, steps):
            found.held = rate
            if rate >= max_rate:
                break
            rate = min(max_rate, rate * GROWTH)
        else:
            found.broke = rate
    while found.open(resolution) and len(steps) < max_steps:
        assert found.held is not None and found.broke is not None
        middle = math.sqrt(found.held * found.broke)
        if _probe(measure, middle, steps):
            found.held = middle
        else:
            found.broke = middle


def search(measure: Measure, slo: Slo, *, start: float, max_rate: float,
           resolution: float = RESOLUTION, max_steps: int = MAX_STEPS) -> Capacity:
    """Double from `start` until a rate breaks (or `max_rate`), then bisect geometrically
    until broke_at / held <= `resolution`. Stopped, the bracket so far, said so."""
    steps: list[Step] = []
    found = _Bracket()
    notes = []
    interrupted = False
    try:
        _ramp_and_bisect(measure, steps, found, start=start, max_rate=max_rate,
                         resolution=resolution, max_steps=max_steps)
    except Stopped as stop:
        interrupted = not stop.reason
        notes.append(f"stopped after {len(steps)} step(s): {stop.reason}: the bracket so far"
                     if stop.reason else
                     f"interrupted after {len(steps)} step(s): the bracket so far")
    held, broke = found.held, found.broke
    if broke is None and held is not None and held >= max_rate:
        notes.append(f"held up to --max-rate {max_rate:g}/s: raise it to find the limit")
    if held is None and broke is not None:
        notes.append(f"the first rate, {start:g}/s, broke: start lower with --rate")
    if len(steps) >= max_steps:
        notes.append(f"stopped after {max_steps} steps")
    return Capacity(slo.text, held, broke, tuple(steps), tuple(notes), interrupted)


class Change(StrEnum):
    MORE = "more"
    LESS = "less"
    SAME = "no measurable change"  # the brackets overlap: within the search's resolution
    UNKNOWN = "not comparable"  # a side without a bracket, or different SLOs


def capacity_change(before: Capacity, after: Capacity) -> tuple[Change, str]:
    """More or less capacity only when the brackets do not overlap; the sentence says both."""
    text = f"capacity {before.bracket} -> {after.bracket}"
    if before.slo != after.slo:
        return Change.UNKNOWN, f"{text}: different SLOs ({before.slo} vs {after.slo})"
    b_held, a_held = before.max_rate_per_s, after.max_rate_per_s
    if b_held is None or a_held is None:  # its bracket is [0, broke at]
        return _from_nothing(before, after, text)
    ratio = f" (x{a_held / b_held:.2g})"
    if before.broke_at_per_s is not None and a_held >= before.broke_at_per_s:
        return Change.MORE, text + ratio
    if after.broke_at_per_s is not None and after.broke_at_per_s <= b_held:
        return Change.LESS, text + ratio
    return Change.SAME, f"{text}: the brackets overlap"


def _from_nothing(before: Capacity, after: Capacity, text: str) -> tuple[Change, str]:
    """A side where nothing held has the bracket [0, broke at]: the other side is more (or
    less) when it held at (or broke below) that rate."""
    b_held, a_held = before.max_rate_per_s, after.max_rate_per_s
    b_broke, a_broke = before.broke_at_per_s, after.broke_at_per_s
    if b_held is None and b_broke is not None and a_held is not None and a_held >= b_broke:
        return Change.MORE, f"{text} (x{a_held / b_broke:.2g} at least)"
    if a_held is None and a_broke is not None and b_held is not None and a_broke <= b_held:
        return Change.LESS, f"{text} (x{a_broke / b_held:.2g} at most)"
    return Change.UNKNOWN, f"{text}: no rate held on either side"
