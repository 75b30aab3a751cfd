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
from enum import StrEnum
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from perfkit import stats
from perfkit.bench.hdr import decode, encode, new_histogram, record_us
from perfkit.bench.meta import (
    Generator,
    MergedSource,
    Provenance,
    RunSettings,
    merge_generators,
)
from perfkit.errors import UsageError

SCHEMA = "perfkit.run/2"
READABLE_SCHEMAS = ("perfkit.run/1", SCHEMA)


class Phase(StrEnum):
    """Which requests a row holds: cache misses, cache hits, or all of them."""

    COLD = "cold"
    WARM = "warm"
    ALL = "all"

    @property
    def order(self) -> int:
        return _PHASE_ORDER[self]


_PHASE_ORDER = {Phase.COLD: 0, Phase.WARM: 1, Phase.ALL: 2}
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

    @property
    def total_errors(self) -> int:
        return sum(r.error_count for r in self.records.values() if r.phase is Phase.ALL)

    @property
    def error_ratio(self) -> float:
        total = self.total_count + self.total_errors
        return self.total_errors / total if total else 0.0

    def speedups(self) -> list[stats.Speedup]:
        """cold/warm speedup per route that has both phases."""
        out = []
        for route in self.routes():
            cold, warm = self.get(route, Phase.COLD), self.get(route, Phase.WARM)
            if cold is not None and warm is not None:
                out.append(stats.speedup(route, stats.buckets(cold.corrected),
                                         stats.buckets(warm.corrected)))
        return out

    def warnings(self) -> list[str]:
        """What makes this run's cold/warm figures doubtful, one sentence each.

        Without --cache-header a sample is "cold" when it is the client's first request for
        its cache key; if the server had the key already (an earlier run, another client),
        that "cold" sample was a hit. A cold mean not significantly above the warm one is the
        sign.
        """
        if self.settings.cache_header:
            return []
        return [f"{sp.route}: cold samples look warm: the server's cache was probably already "
                "filled (use fresh tokens, --flush-cmd or --cache-header)"
                for sp in self.speedups() if sp.ci is not None and sp.ci[0] <= 1.0]

    def finish(self) -> None:
        self.ended_at = now_iso()

    def merge(self, *others: Run) -> Run:
        """A new Run whose histograms and errors are the exact sums of this and `others`."""
        runs = (self, *others)
        merged = Run(base_url=self.base_url, settings=self.settings,
                     started_at=min(r.started_at for r in runs),
                     ended_at=max((r.ended_at for r in runs if r.ended_at), default=None),
                     provenance=self.provenance, generator=self.generator,
                     interrupted=any(r.interrupted for r in runs))
        if others:
            merged.provenance = self.provenance.merged(tuple(
                MergedSource(r.provenance.host, r.started_at, r.base_url, r.settings,
                             r.generator) for r in runs))
            merged.generator = merge_generators([r.generator for r in runs])
        for run in runs:
            for (route, phase), rec in run.records.items():
                merged.record(route, phase).add(rec)
        return merged

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "started_at": self.started_at, "ended_at": self.ended_at,
                "base_url": self.base_url, "settings": self.settings.to_json(),
                "provenance": self.provenance.to_json(),
                "generator": self.generator.to_json(), "interrupted": self.interrupted,
                "routes": [rec.to_json() for rec in self.records.values()],
                "speedups": [s.to_json() for s in self.speedups()],
                "warnings": self.warnings()}

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
            for item in data.get("routes") or []:
                rec = RouteRecord.from_json(item)
                run.records[(rec.route, rec.phase)] = rec
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{source}: malformed run record ({exc})") from None
        return run

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.dumps())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Run:
        from perfkit.jsonfile import read_json_object

        return cls.from_json(read_json_object(path), source=str(path))
