"""What a bench run was asked to do (RunSettings), what its generator achieved (Generator) and
where it ran (Provenance): the typed parts of the Run record, JSON only at the edges.

Format 2 of the record dropped two duplicates of format 1: `rate_per_s` (= iterations_per_s)
and `target_rate_per_s` (= target_iterations_per_s); `completed` (successes only) became
`requests` (every finished request, failed ones included, as `errors` counts them). Readers
accept format 1's names.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from perfkit import __version__
from perfkit.bench.pacer import Segment
from perfkit.bench.saturation import Saturation, merge


class LoopMode(StrEnum):
    OPEN = "open-loop"
    CLOSED = "closed-loop"
    MIXED = "mixed"  # a merge of runs in both modes


@dataclass(frozen=True)
class RunSettings:
    """What the run was asked to do. `iterations_per_s` paces iterations (one iteration runs
    every step of the scenario once); None in a closed loop."""

    scenario: str = ""
    mode: LoopMode = LoopMode.CLOSED
    iterations_per_s: float | None = None
    steps_per_iteration: int = 1
    concurrency: int = 1
    requests: int | None = None
    duration_s: float | None = None
    timeout_s: float = 10.0
    warmup: int = 0
    tokens: int = 0
    cache_header: str | None = None
    flush_cmd: bool = False
    routes: tuple[str, ...] = ()
    repeat: int = 1
    workers: int = 1
    seed: int = 1
    cache_threshold_pct: float = 20.0
    start_at: str | None = None  # the wall-clock start shared by every segment (--start-at)
    login_route: str | None = None  # the users log in there first (--users-file)
    login_users: int = 0  # users who log in (their logins: the record's `logins`)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        data["routes"] = list(self.routes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "iterations_per_s" not in data and "rate_per_s" in data:  # format 1
            values["iterations_per_s"] = data["rate_per_s"]
        values["mode"] = LoopMode(data.get("mode") or LoopMode.CLOSED)
        values["routes"] = tuple(str(r) for r in data.get("routes") or ())
        steps = data.get("steps_per_iteration") or len(values["routes"]) or 1
        values["steps_per_iteration"] = int(steps)
        return cls(**values)


@dataclass(frozen=True)
class Generator:
    """What the load generator achieved. `requests` counts every request that finished
    (`errors` of them failed); rates are per second of `elapsed_s`."""

    mode: LoopMode = LoopMode.CLOSED
    elapsed_s: float = 0.0
    requests: int | None = None
    errors: int | None = None
    iterations: int | None = None
    cut_iterations: int | None = None  # stopped before their last step by the run's end
    target_iterations_per_s: float | None = None
    late_sends: int | None = None
    max_send_lag_ms: float = 0.0
    fell_behind: bool = False
    latency_from: str = ""
    sources: int = 1
    saturation: Saturation | None = None  # why sends were late, with its evidence
    engine: str = ""  # the transport that sent the requests (h1, aiohttp; "" before it was said)

    @property
    def achieved_rate_per_s(self) -> float | None:
        if not self.elapsed_s or self.requests is None:
            return None
        return round(self.requests / self.elapsed_s, 2)

    @property
    def achieved_iterations_per_s(self) -> float | None:
        if not self.elapsed_s or self.iterations is None:
            return None
        return round(self.iterations / self.elapsed_s, 2)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        data["saturation"] = None if self.saturation is None else self.saturation.to_json()
        data["achieved_rate_per_s"] = self.achieved_rate_per_s
        data["achieved_iterations_per_s"] = self.achieved_iterations_per_s
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generator:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "requests" not in data and data.get("completed") is not None:  # format 1
            values["requests"] = int(data["completed"]) + int(data.get("errors") or 0)
        if "target_iterations_per_s" not in data and "target_rate_per_s" in data:
            values["target_iterations_per_s"] = data["target_rate_per_s"]
        values["mode"] = LoopMode(data.get("mode") or LoopMode.CLOSED)
        values["saturation"] = Saturation.from_json(data.get("saturation"))
        return cls(**values)


def merge_generators(gens: list[Generator]) -> Generator:
    """The generator figures of runs made at the same time (many machines, workers): counts
    add, elapsed is the longest run, rates follow from those. A count one source lacks makes
    the sum unknown (None), never a silent undercount."""
    def total(name: str) -> Any:
        values = [getattr(g, name) for g in gens]
        return None if any(v is None for v in values) else sum(values)

    modes = {g.mode for g in gens}
    targets = [g.target_iterations_per_s for g in gens]
    froms = {g.latency_from for g in gens}
    engines = {g.engine for g in gens}
    return Generator(
        mode=modes.pop() if len(modes) == 1 else LoopMode.MIXED,
        elapsed_s=round(max((g.elapsed_s for g in gens), default=0.0), 3),
        requests=total("requests"), errors=total("errors"), iterations=total("iterations"),
        cut_iterations=total("cut_iterations"),
        target_iterations_per_s=None if None in targets else round(sum(
            t for t in targets if t is not None), 3),
        late_sends=total("late_sends"),
        max_send_lag_ms=max((g.max_send_lag_ms for g in gens), default=0.0),
        fell_behind=any(g.fell_behind for g in gens),
        latency_from=froms.pop() if len(froms) == 1 else "mixed",
        sources=sum(g.sources for g in gens), saturation=merge([g.saturation for g in gens]),
        engine=engines.pop() if len(engines) == 1 else "mixed" if engines else "")


def sequential_generators(gens: list[Generator]) -> Generator:
    """The generator figures of runs made one after the other (--repeat): counts and times
    add; rates follow from those."""
    total = merge_generators(gens)
    return replace(total, elapsed_s=round(sum(g.elapsed_s for g in gens), 3),
                   target_iterations_per_s=gens[0].target_iterations_per_s if gens else None,
                   sources=1, saturation=merge([g.saturation for g in gens], together=False))


@dataclass(frozen=True)
class MergedSource:
    """One run that went into a merge, as it was."""

    host: str | None
    started_at: str
    base_url: str
    settings: RunSettings
    generator: Generator
    segment: Segment | None = None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "started_at": self.started_at, "base_url": self.base_url,
                "settings": self.settings.to_json(), "generator": self.generator.to_json(),
                "segment": None if self.segment is None else self.segment.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MergedSource:
        segment = data.get("segment")
        return cls(host=data.get("host"), started_at=str(data.get("started_at") or ""),
                   base_url=str(data.get("base_url") or ""),
                   settings=RunSettings.from_json(data.get("settings") or {}),
                   generator=Generator.from_json(data.get("generator") or {}),
                   segment=Segment.from_json(segment) if segment else None)


@dataclass(frozen=True)
class Provenance:
    """What is needed to compare a run later: the tool, the code, the machine."""

    perfkit_version: str = ""
    git_commit: str | None = None
    host: str | None = None
    python: str | None = None
    cpus: int | None = None
    merged_from: tuple[MergedSource, ...] = field(default_factory=tuple)

    @classmethod
    def here(cls) -> Provenance:
        return cls(perfkit_version=__version__, git_commit=git_commit(), host=platform.node(),
                   python=platform.python_version(), cpus=os.cpu_count())

    def merged(self, sources: tuple[MergedSource, ...]) -> Provenance:
        return replace(self, merged_from=sources)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"perfkit_version": self.perfkit_version,
                                "git_commit": self.git_commit, "host": self.host,
                                "python": self.python, "cpus": self.cpus}
        if self.merged_from:
            data["merged_from"] = [s.to_json() for s in self.merged_from]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Provenance:
        return cls(perfkit_version=str(data.get("perfkit_version") or ""),
                   git_commit=data.get("git_commit"), host=data.get("host"),
                   python=data.get("python"), cpus=data.get("cpus"),
                   merged_from=tuple(MergedSource.from_json(s)
                                     for s in data.get("merged_from") or ()))


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's git checkout, if any (provenance)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path.cwd(), timeout=5,
                             capture_output=True, text=True, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
