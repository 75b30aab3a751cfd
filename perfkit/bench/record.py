"""The Run record (`perfkit.run/1`): per route and phase, HDR histograms of latency and errors.

This is the one record that flows through perfkit: bench -> Run -> compare / merge / gate /
render. Histograms (hdrhistogram, µs, 3 significant digits) are stored encoded, so runs from
many machines add exactly (`Run.merge`) and a comparison works on the full distributions.

Each (route, phase) keeps two histograms: `corrected` (latency from the intended start time,
what a user waited; equals `raw` in a closed loop) and `raw` (service time from the actual
send). The JSON's `latency_ms` and `hdr` are the corrected ones.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from perfkit import stats
from perfkit.errors import UsageError

SCHEMA = "perfkit.run/1"
LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
PHASES = ("cold", "warm", "all")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_us(hist: HdrHistogram, value_us: float) -> None:
    """Record one latency, clamped into the histogram's range (never silently dropped)."""
    hist.record_value(min(HIGHEST_US, max(LOWEST_US, round(value_us))))


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")  # type: ignore[no-any-return]


def decode(text: str) -> HdrHistogram:
    """Decode into a histogram of perfkit's standard range (so any two can be added)."""
    hist = new_histogram()
    if text:
        hist.add(HdrHistogram.decode(text.encode("ascii")))
    return hist


def same_histogram(a: HdrHistogram, b: HdrHistogram) -> bool:
    """Equal counts in every bucket."""
    return stats.buckets(a) == stats.buckets(b)


@dataclass
class RouteRecord:
    """One route in one phase: latencies of the successful requests and errors by kind."""

    route: str
    phase: str
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
        return {"route": self.route, "phase": self.phase, "count": self.count,
                "errors": dict(sorted(self.errors.items())),
                "latency_ms": stats.summary_ms(self.corrected), "hdr": encode(self.corrected),
                "latency_raw_ms": stats.summary_ms(self.raw), "hdr_raw": encode(self.raw)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteRecord:
        corrected = decode(str(data.get("hdr") or ""))
        raw = decode(str(data["hdr_raw"])) if data.get("hdr_raw") else decode(
            str(data.get("hdr") or ""))
        errors = {str(k): int(v) for k, v in (data.get("errors") or {}).items()}
        return cls(route=str(data["route"]), phase=str(data["phase"]), corrected=corrected,
                   raw=raw, errors=errors)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's git checkout, if any (provenance)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path.cwd(), timeout=5,
                             capture_output=True, text=True, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    from perfkit import __version__

    return {"perfkit_version": __version__, "git_commit": git_commit(),
            "host": platform.node(), "python": platform.python_version(),
            "cpus": os.cpu_count()}


def merge_generators(gens: list[dict[str, Any]]) -> dict[str, Any]:
    """The generator figures of runs made at the same time on many machines: counts add,
    elapsed is the longest run, rates are recomputed from those (each source's own figures
    stay in provenance.merged_from)."""
    def total(key: str) -> int | None:
        values = [g.get(key) for g in gens]
        return None if any(v is None for v in values) else sum(int(v or 0) for v in values)

    def same(key: str) -> Any:
        values = {str(g.get(key)) for g in gens}
        return gens[0].get(key) if len(values) == 1 else "mixed"

    elapsed = max((float(g.get("elapsed_s") or 0.0) for g in gens), default=0.0)
    completed, iterations = total("completed"), total("iterations")
    targets = [g.get("target_rate_per_s") for g in gens]
    target = None if any(t is None for t in targets) else round(
        sum(float(t or 0) for t in targets), 3)
    lags = [float(g.get("max_send_lag_ms") or 0.0) for g in gens]
    return {
        "mode": same("mode"), "sources": len(gens), "elapsed_s": round(elapsed, 3),
        "completed": completed, "errors": total("errors"), "iterations": iterations,
        "achieved_rate_per_s": round(completed / elapsed, 2) if elapsed and completed
        is not None else None,
        "achieved_iterations_per_s": round(iterations / elapsed, 2) if elapsed and iterations
        is not None else None,
        "target_rate_per_s": target, "target_iterations_per_s": target,
        "late_sends": total("late_sends"), "max_send_lag_ms": max(lags, default=0.0),
        "fell_behind": any(g.get("fell_behind") for g in gens),
        "latency_from": same("latency_from"),
        "combined": "sums over the sources; elapsed_s is the longest source (runs assumed "
                    "concurrent); per-source figures in provenance.merged_from"}


@dataclass
class Run:
    """A bench run: settings and provenance, and one RouteRecord per (route, phase)."""

    base_url: str
    settings: dict[str, Any] = field(default_factory=dict)
    started_at: str = field(default_factory=_now_iso)
    ended_at: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    records: dict[tuple[str, str], RouteRecord] = field(default_factory=dict)

    def record(self, route: str, phase: str) -> RouteRecord:
        key = (route, phase)
        found = self.records.get(key)
        if found is None:
            found = self.records[key] = RouteRecord(route, phase)
        return found

    def routes(self) -> list[str]:
        """Route names in first-seen order."""
        return list(dict.fromkeys(route for route, _ in self.records))

    def get(self, route: str, phase: str) -> RouteRecord | None:
        return self.records.get((route, phase))

    @property
    def total_count(self) -> int:
        return sum(r.count for r in self.records.values() if r.phase == "all")

    @property
    def total_errors(self) -> int:
        return sum(r.error_count for r in self.records.values() if r.phase == "all")

    @property
    def error_ratio(self) -> float:
        total = self.total_count + self.total_errors
        return self.total_errors / total if total else 0.0

    def speedups(self) -> list[stats.Speedup]:
        """cold/warm speedup per route that has both phases."""
        out = []
        for route in self.routes():
            cold, warm = self.get(route, "cold"), self.get(route, "warm")
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
        if self.settings.get("cache_header"):
            return []
        return [f"{sp.route}: cold samples look warm: the server's cache was probably already "
                "filled (use fresh tokens, --flush-cmd or --cache-header)"
                for sp in self.speedups() if sp.ci is not None and sp.ci[0] <= 1.0]

    def finish(self) -> None:
        self.ended_at = _now_iso()

    def merge(self, *others: Run) -> Run:
        """A new Run whose histograms and errors are the exact sums of this and `others`."""
        runs = (self, *others)
        merged = Run(base_url=self.base_url, settings=dict(self.settings),
                     started_at=min(r.started_at for r in runs),
                     ended_at=max((r.ended_at for r in runs if r.ended_at), default=None),
                     provenance=dict(self.provenance), generator=dict(self.generator),
                     interrupted=any(r.interrupted for r in runs))
        if others:
            merged.provenance["merged_from"] = [
                {"host": r.provenance.get("host"), "started_at": r.started_at,
                 "base_url": r.base_url, "settings": r.settings, "generator": r.generator}
                for r in runs]
            merged.generator = merge_generators([r.generator for r in runs])
        for run in runs:
            for (route, phase), rec in run.records.items():
                merged.record(route, phase).add(rec)
        return merged

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "started_at": self.started_at, "ended_at": self.ended_at,
                "base_url": self.base_url, "settings": self.settings,
                "provenance": self.provenance, "generator": self.generator,
                "interrupted": self.interrupted,
                "routes": [rec.to_json() for rec in self.records.values()],
                "speedups": [s.to_json() for s in self.speedups()],
                "warnings": self.warnings()}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "run") -> Run:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise UsageError(f"{source}: not a perfkit bench run (expected schema {SCHEMA})",
                             hint="use a file written by `perfkit bench --out`")
        try:
            run = cls(base_url=str(data.get("base_url") or ""),
                      settings=dict(data.get("settings") or {}),
                      started_at=str(data.get("started_at") or ""),
                      ended_at=data.get("ended_at"),
                      provenance=dict(data.get("provenance") or {}),
                      generator=dict(data.get("generator") or {}),
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
