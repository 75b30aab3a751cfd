"""Thresholds: perfkit.yaml's `thresholds:` (k6-like `p99 < 200ms`), read and checked for
shape, for the gate and the doctor. One file serves bench runs (phases) and reports (windows).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from perfkit.errors import UsageError

_CONDITION = re.compile(r"^\s*(<=|<|>=|>|==)\s*(-?[0-9]*\.?[0-9]+)\s*(ms|s|us|µs|%)?\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
LATENCY_METRICS = ("mean", "p50", "p90", "p99", "p999", "max")
#: A route's SQL per request (a run with --dsn): statements, database ms, share of its time.
DB_METRICS = ("db.calls", "db.ms", "db.share")
RUN_METRICS = (*LATENCY_METRICS, "error_ratio", "count", *DB_METRICS)
REPORT_METRICS = {"mean": "mean_ms", "p99": "p99_ms", "error_ratio": "ratio_5xx",
                  "ratio_5xx": "ratio_5xx", "rps": "rps", "count": "count"}
#: a run's phases by the names its record writes (bench/phase.py's Phase values; thresholds
#: serve reports too, and sit below bench: tests/test_thresholds.py keeps the two equal)
RUN_PHASES = ("all", "cold", "warm")
REPORT_WINDOWS = ("after", "before")


class RecordKind(StrEnum):
    RUN = "run"
    REPORT = "report"


@dataclass(frozen=True)
class Condition:
    op: str
    limit: float
    unit: str  # "ms", "ratio" or "" (a plain number)
    text: str

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)


@dataclass(frozen=True)
class Threshold:
    route: str    # "GET /auth/me", "/auth/me" (any method) or "*"
    phase: str | None  # a run phase, a report window, or None: `all` / `after`
    metric: str
    condition: Condition

    def applies_to(self, kind: RecordKind) -> bool:
        phases, metrics = ((RUN_PHASES, RUN_METRICS) if kind is RecordKind.RUN
                           else (REPORT_WINDOWS, tuple(REPORT_METRICS)))
        return (self.phase is None or self.phase in phases) and self.metric in metrics

    def phase_for(self, kind: RecordKind) -> str:
        return self.phase or (RUN_PHASES[0] if kind is RecordKind.RUN else "after")

    def name_for(self, kind: RecordKind) -> str:
        if self.metric in DB_METRICS:  # the whole route's, no phase
            return f"{self.metric} {self.condition.text}"
        return f"{self.phase_for(kind)}.{self.metric} {self.condition.text}"


def parse_condition(text: str, metric: str, where: str) -> Condition:
    """`< 200ms`, `<= 1.5s`, `< 1%`, `> 100`: latencies in ms, ratios as fractions."""
    match = _CONDITION.match(str(text))
    if match is None:
        raise UsageError(f"{where}: cannot read condition {text!r}",
                         hint='write it like "< 200ms", "<= 1s", "< 1%" or "> 100"')
    op, number, unit = match.group(1), float(match.group(2)), match.group(3) or ""
    if metric in (*LATENCY_METRICS, "db.ms"):
        if unit == "%":
            raise UsageError(f"{where}: {metric} is a latency; give ms or s, not %")
        factor = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}[unit]
        return Condition(op, number * factor, "ms", str(text).strip())
    if metric in ("error_ratio", "ratio_5xx", "db.share"):
        if unit not in ("", "%"):
            raise UsageError(f"{where}: {metric} is a ratio; give a % or a fraction")
        return Condition(op, number / 100.0 if unit == "%" else number, "ratio",
                         str(text).strip())
    if unit:
        raise UsageError(f"{where}: {metric} is a plain number; drop the unit {unit!r}")
    return Condition(op, number, "", str(text).strip())


def _threshold(route: str, key: str, condition: Any, where: str) -> Threshold:
    phase, _, metric = ("", "", str(key)) if key in DB_METRICS else str(key).rpartition(".")
    known_phases = (*RUN_PHASES, *REPORT_WINDOWS)
    if (phase and phase not in known_phases) or metric not in (*RUN_METRICS, *REPORT_METRICS):
        raise UsageError(f"{where}: unknown check {key!r}",
                         hint=f"use [{'|'.join(known_phases)}.]METRIC with METRIC one of "
                              f"{', '.join(dict.fromkeys((*RUN_METRICS, *REPORT_METRICS)))}")
    threshold = Threshold(route, phase or None, metric, parse_condition(str(condition), metric,
                                                                          where))
    if not any(threshold.applies_to(kind) for kind in RecordKind):
        raise UsageError(f"{where}: {metric} cannot be checked in the {phase} "
                         f"{'window' if phase in REPORT_WINDOWS else 'phase'}")
    return threshold


def load_thresholds(config: Mapping[str, Any], source: str) -> list[Threshold]:
    """Thresholds from perfkit.yaml's `thresholds:` mapping (route -> {check: condition}).

    One file serves bench runs (phases cold/warm/all) and reports (windows after/before); a
    check written for one kind of record is skipped, with a note, on the other."""
    raw = config.get("thresholds") or {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"{source}: `thresholds` must map routes to checks",
                         hint='e.g. thresholds: {"GET /auth/me": {warm.p99: "< 200ms"}}')
    out: list[Threshold] = []
    for route, checks in raw.items():
        if not isinstance(checks, Mapping):
            raise UsageError(f"{source}: thresholds[{route!r}] must map metrics to conditions")
        out += [_threshold(str(route), key, condition,
                           f"{source}: thresholds[{route!r}][{key!r}]")
                for key, condition in checks.items()]
    return out


def matches(pattern: str, route: str) -> bool:
    if pattern in ("*", route):
        return True
    return " " not in pattern and route.split(" ", 1)[-1] == pattern
