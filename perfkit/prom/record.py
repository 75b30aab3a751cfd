"""The report record (`perfkit.report/1`) read back typed: what the gate, the page and the
story read of a report, never its raw JSON. prom/report.py writes it (one SCHEMA, here).

The report's figures are Prometheus's estimates as the report printed them; readers use them
as they are, verdicts included (no figure is recomputed here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perfkit import stats
from perfkit.errors import UsageError
from perfkit.prom.series import RouteSeries

SCHEMA = "perfkit.report/1"
NOT_JUDGED = "not-judged"


def is_report(data: Mapping[str, Any]) -> bool:
    return data.get("schema") == SCHEMA


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Span:
        return cls(datetime.fromisoformat(str(data["start"])),
                   datetime.fromisoformat(str(data["end"])))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Figures:
    """One route (or all routes) in one window."""

    mean_ms: float | None
    p99_ms: float | None
    rps: float | None
    ratio_5xx: float | None
    count: int
    p99_clamped: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Figures | None:
        if data is None:
            return None
        return cls(_number(data.get("mean_ms")), _number(data.get("p99_ms")),
                   _number(data.get("rps")), _number(data.get("ratio_5xx")),
                   int(data.get("count") or 0), bool(data.get("p99_clamped", False)))


@dataclass(frozen=True)
class RouteFigures:
    route: str
    before: Figures | None
    after: Figures | None
    change_pct: Mapping[str, float | None]
    verdict: stats.Verdict | None  # None: not judged (`reason` says why)
    reason: str | None = None
    unmatched: bool = False
    series: RouteSeries | None = None  # None: a report written before series existed

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteFigures:
        verdict = str(data.get("verdict") or NOT_JUDGED)
        return cls(str(data["route"]), Figures.from_json(data.get("before")),
                   Figures.from_json(data.get("after")),
                   {str(k): _number(v) for k, v in (data.get("change_pct") or {}).items()},
                   None if verdict == NOT_JUDGED else stats.Verdict(verdict),
                   data.get("verdict_reason"), bool(data.get("unmatched", False)),
                   RouteSeries.from_json(data.get("series")))


@dataclass(frozen=True)
class ChangeMark:
    """Where the report split before from after, and why there."""

    at: datetime
    source: str  # "event" | "time" | "none"
    event_id: str | None = None
    event_kind: str | None = None
    event_text: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChangeMark:
        event = data.get("event") or {}
        return cls(datetime.fromisoformat(str(data["at"])), str(data.get("source") or "none"),
                   event.get("id"), event.get("kind"), event.get("text"))

    @property
    def label(self) -> str:
        if self.event_text:
            return f"{self.event_kind}: {self.event_text}" if self.event_kind else self.event_text
        return "split (--split)" if self.source == "time" else "split"


@dataclass(frozen=True)
class ReportRecord:
    before: Span
    after: Span
    split: ChangeMark
    routes: tuple[RouteFigures, ...]
    overall: RouteFigures
    profile: str | None
    prometheus_url: str
    warnings: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "report") -> ReportRecord:
        if not is_report(data):
            raise UsageError(f"{source}: not a perfkit report (expected schema {SCHEMA})",
                             hint="use a file written by `perfkit report --format json`")
        try:
            overall = RouteFigures.from_json({"route": "all routes", **(data.get("global")
                                                                        or {})})
            return cls(Span.from_json(data["before"]), Span.from_json(data["after"]),
                       ChangeMark.from_json(data["split"]),
                       tuple(RouteFigures.from_json(r) for r in data.get("routes") or []),
                       overall, data.get("profile"), str(data.get("prometheus_url") or ""),
                       tuple(_warning(w) for w in data.get("warnings") or []))
        except KeyError as exc:
            raise UsageError(f"{source}: malformed report record: no {exc}",
                             hint="use a file written by `perfkit report --format json`"
                             ) from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{source}: malformed report record ({exc})") from None


def _warning(data: Mapping[str, Any]) -> str:
    route = data.get("route")
    message = str(data.get("message") or "")
    return f"{route}: {message}" if route else message
