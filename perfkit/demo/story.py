"""`perfkit demo story`: the runbook on the embedded stack, measured.

before (caches off, the runbook's indexes absent) -> bench the API mix (with its SQL) ->
advise-indexes on that traffic (it finds the runbook's three) -> restart with caches (an
event) -> apply-indexes (CONCURRENTLY) -> bench again -> Prometheus report over the two bench
windows -> cache-stats -> doctor: the runbook's before/after table, from real figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql

from perfkit.bench.capacity import Slo
from perfkit.bench.compare import compare_runs
from perfkit.bench.engine import BenchOptions
from perfkit.bench.findmax import find_max
from perfkit.bench.scenario import load_scenario
from perfkit.bench.scheduler import run_bench_sync
from perfkit.cachestats.logs import count_cache_lines
from perfkit.config import demo_dir
from perfkit.db.advisor.orchestrate import advise
from perfkit.db.advisor.record import Source, SourceKind, match_declared
from perfkit.db.apply import ApplyOptions, apply_indexes
from perfkit.db.connect import connect
from perfkit.db.migration_reader import (
    SHIPPED_INDEXES,
    StatementKind,
    expected_indexes,
    load_statements,
)
from perfkit.demo import stack
from perfkit.doctor import DEMO_RULES, DoctorTarget, run_doctor
from perfkit.errors import PerfkitError, StackError
from perfkit.prom import PromClient, ReportOptions, collect_report
from perfkit.prom.record import ReportRecord
from perfkit.resources import shipped_path

if TYPE_CHECKING:
    from perfkit.bench.capacity import Capacity
    from perfkit.bench.compare import Comparison
    from perfkit.bench.record import Run
    from perfkit.cachestats.logs import CacheStats
    from perfkit.db.advisor.record import Advice, AdviceMatch
    from perfkit.db.apply import ApplyResult
    from perfkit.doctor import DoctorResult
    from perfkit.prom.record import ReportRecord
    from perfkit.prom.report import Report

SCHEMA = "perfkit.story/1"
SHIPPED_RUNBOOK = shipped_path("scenarios", "runbook.yaml")
PROMETHEUS_SETTLE_S = 2.5  # two scrapes of 1 s, so the window's end is in the TSDB
#: The runbook's promise for the mean over all requests.
PROMISED_CHANGE_PCT = -70.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StoryOptions:
    scale: float | None = None
    duration_s: float = 20.0
    concurrency: int = 4
    users: int = 20  # few enough that users come back within the caches' TTLs
    index_paths: tuple[Path, ...] = (SHIPPED_INDEXES,)  # the runbook's, whatever the cwd
    scenario: Path = SHIPPED_RUNBOOK
    out_dir: Path | None = None
    capacity_slo: str | None = None  # --capacity: a --find-max of the mix before and after
    capacity_step_s: float = 3.0
    capacity_rates: tuple[float, float] = (4.0, 1000.0)  # the first, the highest (iterations/s)


@dataclass(frozen=True)
class StoryResult:
    before_run: Path
    after_run: Path
    report: Report  # what Prometheus said: written as perfkit.report/1 into the story's JSON
    comparison: Comparison
    applied: ApplyResult
    cache: CacheStats
    doctor: DoctorResult
    runs: tuple[Run, Run]
    advice: Advice | None = None
    advice_match: AdviceMatch | None = None
    notes: tuple[str, ...] = ()
    timings_s: dict[str, float] = field(default_factory=dict)
    capacity: tuple[Capacity, Capacity] | None = None  # before, after (with --capacity)

    @cached_property
    def record(self) -> ReportRecord:
        """The report as its readers (the story's tables, the page) read it: typed, once."""
        return ReportRecord.from_json(self.report.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "before_run": str(self.before_run),
                "after_run": str(self.after_run), "report": self.report.to_json(),
                "compare": self.comparison.to_json(), "apply": self.applied.to_json(),
                "cache_stats": self.cache.to_json(), "doctor": self.doctor.to_json(),
                "cache_effects": [[sp.to_json() for sp in run.speedups()] for run in self.runs],
                "advice": None if self.advice is None else self.advice.to_json(),
                "advice_match": None if self.advice_match is None else (
                    self.advice_match.to_json()),
                "notes": list(self.notes), "timings_s": self.timings_s,
                "capacity": None if self.capacity is None else {
                    "before": self.capacity[0].to_json(), "after": self.capacity[1].to_json()},
                "overall": overall_change(self.record)}


def overall_change(report: ReportRecord) -> dict[str, float | None]:
    """The headline: mean latency over all requests, before vs after (server-side)."""
    glob = report.overall
    before = glob.before.mean_ms if glob.before else None
    after = glob.after.mean_ms if glob.after else None
    change = None if not before or after is None else round((after / before - 1) * 100, 1)
    return {"before_mean_ms": before, "after_mean_ms": after, "change_pct": change}


@dataclass(frozen=True)
class StoryStack:
    """The demo stack the story runs on, as `up` left it."""

    dsn: str
    base_url: str
    prometheus_url: str
    log_file: Path
    tokens: tuple[str, ...]


@dataclass
class Timings:
    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - t, 1)

    def total(self) -> dict[str, float]:
        return {**self.seconds, "total_s": round(time.perf_counter() - self.started, 1)}


def _reset_indexes(dsn: str, index_paths: tuple[Path, ...]) -> list[str]:
    """Drop the files' indexes on the DEMO database, so 'before' really is before."""
    names = [s.index_name for s in expected_indexes(load_statements(list(index_paths)))
             if s.index_name]
    with connect(dsn) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                sql.Identifier(name)))
    return names


def reset_to_before(index_paths: tuple[Path, ...] = (SHIPPED_INDEXES,),
                    progress: Progress = lambda _: None) -> list[str]:
    """The running demo back to the runbook's 'before' (caches off, its indexes dropped
    CONCURRENTLY), so the runbook, advise-indexes or a story can be tried again."""
    state = stack.read_state(stack.StackPaths.default())
    if state.postgres is None or not state.postgres.dsn or state.backend is None:
        raise StackError("the demo stack is not up", hint="run `perfkit demo up` first")
    if state.backend.cache is not False:
        stack.restart_backend(cache=False, progress=progress)
    return _reset_indexes(state.postgres.dsn, index_paths)


def _before_state(options: StoryOptions, progress: Progress) -> StoryStack:
    progress("step 0: the 'before': caches off, the runbook's indexes absent")
    state = stack.up(stack.UpOptions(scale=options.scale, cache=False), progress=progress)
    pg, be, pr = state.postgres, state.backend, state.prometheus
    assert pg and pg.dsn and be and be.url and pr and pr.url, "up records every part"
    assert state.tokens_file and state.log_file, "up records the tokens and the log"
    dropped = _reset_indexes(pg.dsn, options.index_paths)
    progress(f"  indexes reset for the 'before' state: {', '.join(dropped)}")
    tokens = Path(state.tokens_file).read_text().split()[: options.users]
    return StoryStack(dsn=pg.dsn, base_url=be.url, prometheus_url=pr.url,
                      log_file=Path(state.log_file), tokens=tuple(tokens))


def _bench(label: str, target: StoryStack, options: StoryOptions, out: Path,
           progress: Progress) -> tuple[Run, datetime]:
    scenario = load_scenario(options.scenario)
    progress(f"bench {label}: the runbook's API mix for {options.duration_s:g} s, "
             f"{options.concurrency} users in a closed loop")
    run = run_bench_sync(scenario, BenchOptions(
        base_url=target.base_url, duration_s=options.duration_s,
        concurrency=options.concurrency, tokens=target.tokens,
        max_time_s=options.duration_s + 30), dsn=target.dsn)
    run.save(out)
    return run, datetime.now(UTC)


def _capacity(label: str, target: StoryStack, options: StoryOptions,
              progress: Progress) -> Capacity:
    """--find-max of the runbook's mix (iterations/s) against the stack as it is now."""
    assert options.capacity_slo is not None
    slo = Slo.parse(options.capacity_slo)
    progress(f"capacity {label}: --find-max of the mix within {slo.text}")
    start, highest = options.capacity_rates
    run = find_max(load_scenario(options.scenario), BenchOptions(
        base_url=target.base_url, tokens=target.tokens, rate_per_s=start), slo,
        start=start, max_rate=highest, step_s=options.capacity_step_s)
    assert run.capacity is not None
    return run.capacity


def _advise(target: StoryStack, options: StoryOptions, before: Run, path: Path,
            progress: Progress) -> tuple[Advice | None, AdviceMatch | None, str | None]:
    """advise-indexes on the 'before' run's statements, against the runbook's indexes."""
    if before.db is None:
        return None, None, f"advice skipped: the 'before' run has no SQL ({before.notes})"
    progress("step 1: advise-indexes on the 'before' traffic (HypoPG, nothing built)")
    try:
        advice = advise(target.dsn, before.db, Source(SourceKind.RUN, str(path)))
    except PerfkitError as exc:
        return None, None, f"advice skipped: {exc}"
    declared = [s for s in load_statements(list(options.index_paths))
                if s.kind is StatementKind.CREATE_INDEX]
    return advice, match_declared(advice, declared), None


def _apply_indexes(target: StoryStack, options: StoryOptions, progress: Progress) -> ApplyResult:
    progress("step 3: apply the runbook's three indexes, CONCURRENTLY")
    return apply_indexes(target.dsn, load_statements(list(options.index_paths)),
                         ApplyOptions(explain=True))


def _report(target: StoryStack, options: StoryOptions, before_end: datetime,
            after_end: datetime, progress: Progress) -> Report:
    progress("step 4: Prometheus report over the two bench windows")
    time.sleep(PROMETHEUS_SETTLE_S)
    return collect_report(PromClient(target.prometheus_url), ReportOptions(
        since_s=options.duration_s, split=before_end.isoformat(), now=after_end))


def _cache_since(log_file: Path, offset: int) -> CacheStats:
    with log_file.open(encoding="utf-8", errors="replace") as stream:
        stream.seek(offset)
        return count_cache_lines(stream)


def _doctor(target: StoryStack, options: StoryOptions, report: Report,
            progress: Progress) -> DoctorResult:
    progress("step 5: doctor, the runbook's checklist")
    return run_doctor(DoctorTarget(
        base_url=target.base_url, token=target.tokens[0], dsn=target.dsn,
        prometheus_url=target.prometheus_url, backend_log=target.log_file,
        index_paths=list(options.index_paths), report=report, rules=list(DEMO_RULES)))


def run_story(options: StoryOptions, progress: Progress) -> StoryResult:
    timings = Timings()
    out_dir = options.out_dir or demo_dir() / "story"
    out_dir.mkdir(parents=True, exist_ok=True)
    before_path, after_path = out_dir / "before.json", out_dir / "after.json"
    with timings.step("up_s"):
        target = _before_state(options, progress)
    with timings.step("bench_before_s"):
        before_run, before_end = _bench("before", target, options, before_path, progress)
    with timings.step("capacity_before_s"):
        before_capacity = (_capacity("before", target, options, progress)
                           if options.capacity_slo else None)
    with timings.step("advise_s"):
        advice, match, skipped = _advise(target, options, before_run, before_path, progress)
    progress("step 2: restart the backend with the auth and conversation caches")
    log_offset = target.log_file.stat().st_size if target.log_file.exists() else 0
    stack.restart_backend(cache=True, progress=progress)
    with timings.step("apply_indexes_s"):
        applied = _apply_indexes(target, options, progress)
    with timings.step("bench_after_s"):
        after_run, after_end = _bench("after", target, options, after_path, progress)
    with timings.step("capacity_after_s"):
        after_capacity = (_capacity("after", target, options, progress)
                          if options.capacity_slo else None)
    report = _report(target, options, before_end, after_end, progress)
    cache = _cache_since(target.log_file, log_offset)
    doctor = _doctor(target, options, report, progress)
    return StoryResult(before_run=before_path, after_run=after_path, report=report,
                       comparison=compare_runs(before_run, after_run), applied=applied,
                       cache=cache, doctor=doctor, runs=(before_run, after_run),
                       advice=advice, advice_match=match,
                       notes=(skipped,) if skipped else (), timings_s=timings.total(),
                       capacity=(before_capacity, after_capacity)
                       if before_capacity and after_capacity else None)
