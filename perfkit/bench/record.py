"""The Run record (`perfkit.run/2`): per route and phase, HDR histograms of latency and errors.

This is the one record that flows through perfkit: bench -> Run -> compare / merge / gate /
render. Histograms (hdrhistogram, µs, 3 significant digits) are stored encoded, so runs from
many machines add exactly (`Run.merge`) and a comparison works on the full distributions.

Each (route, phase) keeps two histograms: `corrected` (latency from the intended start time,
what a user waited; equals `raw` in a closed loop) and `raw` (service time from the actual
send). The JSON's `latency_ms` and `hdr` are the corrected ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from perfkit import stats
from perfkit.atomic import write_atomic
from perfkit.bench.cache import CacheEffect, Speedup, judge, matched_ratio, speedup
from perfkit.bench.capacity import Capacity
from perfkit.bench.evidence import NO_ANSWER_KINDS, ErrorBody, Outage, merge_bodies
from perfkit.bench.hdr import decode, encode, new_histogram, record_us
from perfkit.bench.nplusone import NPlusOne
from perfkit.bench.pacer import Segment
from perfkit.bench.phase import Phase as Phase  # re-exported: rows are read by phase
from perfkit.bench.provenance import (
    Generator,
    MergedSource,
    Provenance,
    RunSettings,
    merge_generators,
    sequential_generators,
)
from perfkit.bench.routesql import RoutesSql
from perfkit.bench.series import Series
from perfkit.db.workload import DbStats
from perfkit.errors import UsageError
from perfkit.jsonfile import read_json_object

SCHEMA = "perfkit.run/2"
READABLE_SCHEMAS = ("perfkit.run/1", SCHEMA)


RecordKey = tuple[str, Phase]


def is_run(data: dict[str, Any]) -> bool:
    """True when a JSON object is a bench run record (any readable format)."""
    return data.get("schema") in READABLE_SCHEMAS


@dataclass
class RouteRecord:
    """One route in one phase: latencies of the successful requests and errors by kind.

    An accumulator while the run goes (add_latency, add_error), a record after."""

    route: str
    phase: Phase
    corrected: HdrHistogram = field(default_factory=new_histogram)
    raw: HdrHistogram = field(default_factory=new_histogram)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.corrected.get_total_count())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def add_latency(self, corrected_us: float, raw_us: float) -> None:
        record_us(self.corrected, corrected_us)
        record_us(self.raw, raw_us)

    def add_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def add(self, other: RouteRecord) -> None:
        self.corrected.add(other.corrected)
        self.raw.add(other.raw)
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "phase": self.phase.value, "count": self.count,
                "errors": dict(sorted(self.errors.items())),
                "latency_ms": stats.summary_ms(self.corrected), "hdr": encode(self.corrected),
                "latency_raw_ms": stats.summary_ms(self.raw), "hdr_raw": encode(self.raw)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteRecord:
        corrected = decode(str(data.get("hdr") or ""))
        raw = decode(str(data.get("hdr_raw") or data.get("hdr") or ""))
        errors = {str(k): int(v) for k, v in (data.get("errors") or {}).items()}
        return cls(route=str(data["route"]), phase=Phase(data["phase"]), corrected=corrected,
                   raw=raw, errors=errors)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Run:
    """A bench run: settings and provenance, and one RouteRecord per (route, phase)."""

    base_url: str
    settings: RunSettings = field(default_factory=RunSettings)
    started_at: str = field(default_factory=now_iso)
    ended_at: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    generator: Generator = field(default_factory=Generator)
    interrupted: bool = False
    records: dict[RecordKey, RouteRecord] = field(default_factory=dict)
    series: Series | None = None
    segment: Segment | None = None  # the share of the schedule this run measured
    repeats: list[Run] = field(default_factory=list)  # with --repeat: each run on its own
    failures: list[str] = field(default_factory=list)  # e.g. a worker that died
    notes: list[str] = field(default_factory=list)  # what weakens its figures, said once
    db: DbStats | None = None  # the database's statements during the run (with a DSN)
    logins: dict[str, RouteRecord] = field(default_factory=dict)  # by login route, apart
    error_bodies: list[ErrorBody] = field(default_factory=list)  # the app's reply per failure
    cut_routes: dict[str, int] = field(default_factory=dict)  # requests the run's end cut
    n_plus_one: list[NPlusOne] = field(default_factory=list)  # statements 5+ times a request
    route_sql: RoutesSql = field(default_factory=RoutesSql)  # statements per request per route
    capacity: Capacity | None = None  # bench --find-max: the steps and the bracket
    outages: list[Outage] = field(default_factory=list)  # the backend refused/closed connections

    def record(self, route: str, phase: Phase) -> RouteRecord:
        key = (route, phase)
        found = self.records.get(key)
        if found is None:
            found = self.records[key] = RouteRecord(route, phase)
        return found

    def routes(self) -> list[str]:
        """Route names in first-seen order."""
        return list(dict.fromkeys(route for route, _ in self.records))

    def phases(self, route: str) -> list[Phase]:
        """The route's phases, cold before warm before all."""
        return sorted((p for r, p in self.records if r == route), key=lambda p: p.order)

    def get(self, route: str, phase: Phase) -> RouteRecord | None:
        return self.records.get((route, phase))

    @property
    def total_count(self) -> int:
        """Successful requests."""
        return sum(r.count for r in self.records.values() if r.phase is Phase.ALL)

    def requests_by_route(self) -> dict[str, int]:
        """Requests sent per route (successes and failures), the logins apart."""
        return {r.route: r.count + r.error_count for r in self.records.values()
                if r.phase is Phase.ALL}

    @property
    def total_errors(self) -> int:
        return sum(r.error_count for r in self.records.values() if r.phase is Phase.ALL)

    @property
    def answered(self) -> int:
        """Requests the backend answered (any HTTP status): none while it was down."""
        return sum(r.count + sum(n for kind, n in r.errors.items()
                                 if kind not in NO_ANSWER_KINDS and not kind.startswith("missing"))
                   for r in self.records.values() if r.phase is Phase.ALL)

    @property
    def error_ratio(self) -> float:
        total = self.total_count + self.total_errors
        return self.total_errors / total if total else 0.0

    def speedups(self) -> list[Speedup]:
        """cold/warm per route that has both phases, with its cache verdict."""
        raw = []
        for route in self.routes():
            cold, warm = self.get(route, Phase.COLD), self.get(route, Phase.WARM)
            if cold is not None and warm is not None:
                raw.append(speedup(route, stats.buckets(cold.corrected),
                                   stats.buckets(warm.corrected),
                                   matched=self._matched_ratio(route)))
        return judge(raw, threshold_pct=self.settings.cache_threshold_pct)

    def _matched_ratio(self, route: str) -> tuple[float, tuple[float, float]] | None:
        """cold/warm from the time series: each cold sample against its own second."""
        if self.series is None:
            return None
        cold = self.series.line(route, Phase.COLD.value)
        warm = self.series.line(route, Phase.WARM.value)
        if cold is None or warm is None:
            return None
        return matched_ratio([stats.buckets(h) if h else [] for h in cold.corrected],
                             [stats.buckets(h) if h else [] for h in warm.corrected])

    def start_offsets(self) -> list[tuple[str, float]]:
        """(source, seconds after the shared --start-at or the earliest start) of each run
        merged into this one: how together the segments really started."""
        sources = self.provenance.merged_from
        starts = [datetime.fromisoformat(s.started_at) for s in sources if s.started_at]
        if len(starts) != len(sources) or not starts:
            return []
        shared = self.settings.start_at
        origin = datetime.fromisoformat(shared) if shared else min(starts)
        return [(s.segment.label if s.segment else (s.host or "?"),
                 round((start - origin).total_seconds(), 3))
                for s, start in zip(sources, starts, strict=True)]

    def service_ms_by_route(self) -> dict[str, float | None]:
        """Per route, the mean service time (from the actual send) of its successes."""
        return {r.route: stats.summary_ms(r.raw)["mean"] if r.count else None
                for r in self.records.values() if r.phase is Phase.ALL}

    def mean_latency_ms(self) -> float | None:
        """The mean latency (from the intended start in an open loop) of every successful
        request of the run, all routes together."""
        return self._mean_ms(raw=False)

    def mean_service_ms(self) -> float | None:
        """The mean service time (from the actual send) of every successful request of the
        run, all routes together: what the target spent, without the client's queueing."""
        return self._mean_ms(raw=True)

    def _mean_ms(self, *, raw: bool) -> float | None:
        total = [(r.count, stats.summary_ms(r.raw if raw else r.corrected)["mean"])
                 for r in self.records.values() if r.phase is Phase.ALL and r.count]
        count = sum(n for n, _ in total)
        return sum(n * (m or 0.0) for n, m in total) / count if count else None

    def cache_effect(self, route: str) -> CacheEffect | None:
        return next((sp.cache_effect for sp in self.speedups() if sp.route == route), None)

    def warnings(self) -> list[str]:
        """What makes this run's figures doubtful, one sentence each."""
        return list(self.notes)

    def finish(self) -> None:
        self.ended_at = now_iso()

    def merge(self, *others: Run) -> Run:
        """A new Run whose histograms, errors and series are the exact sums of this and
        `others`, run at the same time (segments on many machines, worker processes)."""
        runs = (self, *others)
        merged = self._sum(runs)
        if others:
            merged.provenance = self.provenance.merged(tuple(
                MergedSource(r.provenance.host, r.started_at, r.base_url, r.settings,
                             r.generator, r.segment) for r in runs))
            merged.generator = merge_generators([r.generator for r in runs])
            merged.segment = None
            merged.repeats = _merge_repeats(runs)
        return merged

    def _sum(self, runs: tuple[Run, ...]) -> Run:
        merged = Run(base_url=self.base_url, settings=self.settings,
                     started_at=min(r.started_at for r in runs),
                     ended_at=max((r.ended_at for r in runs if r.ended_at), default=None),
                     provenance=self.provenance, generator=self.generator,
                     interrupted=any(r.interrupted for r in runs), segment=self.segment,
                     repeats=list(self.repeats),
                     failures=[f for r in runs for f in r.failures], db=self.db,
                     notes=list(dict.fromkeys(n for r in runs for n in r.notes)),
                     error_bodies=merge_bodies([r.error_bodies for r in runs]),
                     n_plus_one=list(self.n_plus_one), route_sql=self.route_sql,
                     outages=[o for r in runs for o in r.outages])
        for run in runs:
            for route, n in run.cut_routes.items():
                merged.cut_routes[route] = merged.cut_routes.get(route, 0) + n
        for run in runs:
            for (route, phase), rec in run.records.items():
                merged.record(route, phase).add(rec)
            for route, rec in run.logins.items():
                merged.logins.setdefault(route, RouteRecord(route, Phase.LOGIN)).add(rec)
        series = [r.series for r in runs if r.series is not None]
        merged.series = series[0] if series else None
        for extra in series[1:]:
            merged.series = merged.series.merge(extra) if merged.series else extra
        return merged

    @classmethod
    def of_repeats(cls, runs: list[Run], planned: int = 1) -> Run:
        """One record of N runs of the same schedule one after the other: the histograms
        add, and each run stays in `repeats` (compare and gate use them as samples), even
        one of `planned` (a session stopped early: the record says how many were run)."""
        if len(runs) == 1 and planned == 1:
            return runs[0]
        merged = runs[0]._sum(tuple(runs))
        merged.outages = [o.within(f"repeat {i}") for i, r in enumerate(runs, 1)
                          for o in r.outages]  # each in seconds into its own repeat
        merged.generator = sequential_generators([r.generator for r in runs])
        merged.repeats = list(runs)
        return merged

    def to_json(self) -> dict[str, Any]:
        data = {"schema": SCHEMA, "started_at": self.started_at, "ended_at": self.ended_at,
                "base_url": self.base_url, "settings": self.settings.to_json(),
                "provenance": self.provenance.to_json(),
                "generator": self.generator.to_json(), "interrupted": self.interrupted,
                "routes": [rec.to_json() for rec in self.records.values()],
                "speedups": [s.to_json() for s in self.speedups()],
                "warnings": self.warnings(), "notes": self.notes, "failures": self.failures,
                "segment": None if self.segment is None else self.segment.to_json(),
                "repeats": [r.repeat_json() for r in self.repeats],
                "series": None if self.series is None else self.series.to_json()}
        if self.db is not None:
            data["db"] = {**self.db.to_json(), **self.route_sql.to_json(),
                          "n_plus_one": [n.to_json() for n in self.n_plus_one]}
        if self.logins:
            data["logins"] = [rec.to_json() for rec in self.logins.values()]
        data["error_bodies"] = [b.to_json() for b in self.error_bodies]
        data["cut_routes"] = dict(self.cut_routes)
        data["capacity"] = None if self.capacity is None else self.capacity.to_json()
        data["outages"] = [o.to_json() for o in self.outages]
        return data

    def repeat_json(self) -> dict[str, Any]:
        """One of the repeats: its times, generator and histograms (no series)."""
        return {"started_at": self.started_at, "ended_at": self.ended_at,
                "interrupted": self.interrupted, "generator": self.generator.to_json(),
                "routes": [rec.to_json() for rec in self.records.values()]}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "run") -> Run:
        if not isinstance(data, dict) or not is_run(data):
            raise UsageError(f"{source}: not a perfkit bench run (expected schema {SCHEMA})",
                             hint="use a file written by `perfkit bench --out`")
        try:
            run = cls(base_url=str(data.get("base_url") or ""),
                      settings=RunSettings.from_json(dict(data.get("settings") or {})),
                      started_at=str(data.get("started_at") or ""),
                      ended_at=data.get("ended_at"),
                      provenance=Provenance.from_json(dict(data.get("provenance") or {})),
                      generator=Generator.from_json(dict(data.get("generator") or {})),
                      interrupted=bool(data.get("interrupted", False)))
            run.read_parts(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{source}: malformed run record ({exc})") from None
        return run

    def read_parts(self, data: dict[str, Any]) -> None:
        for item in data.get("routes") or []:
            rec = RouteRecord.from_json(item)
            self.records[(rec.route, rec.phase)] = rec
        if data.get("series"):
            self.series = Series.from_json(data["series"])
        if data.get("segment"):
            self.segment = Segment.from_json(data["segment"])
        self.failures = [str(f) for f in data.get("failures") or []]
        self.notes = [str(n) for n in data.get("notes") or []]
        self.db = DbStats.from_json(data["db"]) if data.get("db") else None
        for item in data.get("logins") or []:
            login = RouteRecord.from_json(item)
            self.logins[login.route] = login
        self.error_bodies = [ErrorBody.from_json(b) for b in data.get("error_bodies") or []]
        self.cut_routes = {str(k): int(v) for k, v in (data.get("cut_routes") or {}).items()}
        self.outages = [Outage.from_json(o) for o in data.get("outages") or []]
        self.n_plus_one = [NPlusOne.from_json(n) for n in
                           (data.get("db") or {}).get("n_plus_one") or []]
        self.route_sql = RoutesSql.from_json(data.get("db"))
        if data.get("capacity"):
            self.capacity = Capacity.from_json(data["capacity"])
        for item in data.get("repeats") or []:
            repeat = Run(base_url=self.base_url, settings=self.settings,
                         started_at=str(item.get("started_at") or ""),
                         ended_at=item.get("ended_at"),
                         generator=Generator.from_json(dict(item.get("generator") or {})),
                         interrupted=bool(item.get("interrupted", False)))
            repeat.read_parts({"routes": item.get("routes") or []})
            self.repeats.append(repeat)

    def dumps(self) -> str:
        """Compact JSON: a record is data for tools (`jq .` shows it), and its series of a
        long run stay well under a megabyte this way."""
        return json.dumps(self.to_json(), separators=(",", ":")) + "\n"

    def save(self, path: Path) -> None:
        """Whole or not at all (perfkit.atomic): a kill leaves the previous record or this one."""
        write_atomic(path, self.dumps())

    @classmethod
    def load(cls, path: Path) -> Run:
        return cls.from_json(read_json_object(path), source=str(path))


def _merge_repeats(runs: tuple[Run, ...]) -> list[Run]:
    """Repeat k of a merge is the merge of every source's repeat k (segments of the same
    repeated run); sources without repeats have none to give."""
    counts = {len(r.repeats) for r in runs}
    if len(counts) != 1 or not counts.pop():
        return []
    return [runs[0].repeats[k].merge(*(r.repeats[k] for r in runs[1:]))
            for k in range(len(runs[0].repeats))]
