"""`perfkit demo story`: the seed's whole runbook on the embedded stack, measured.

before (caches off, no indexes) -> bench the seed's API mix -> restart with caches (event) ->
apply-indexes (CONCURRENTLY) -> bench again -> Prometheus report over the two bench windows
-> cache-stats -> doctor -> the seed's "Avant / Après" table, from real figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perfkit.config import state_dir
from perfkit.db.parse import SHIPPED_INDEXES
from perfkit.demo import stack

SHIPPED_RUNBOOK = Path(__file__).resolve().parents[2] / "scenarios" / "runbook.yaml"
PROMETHEUS_SETTLE_S = 2.5  # two scrapes of 1 s, so the window's end is in the TSDB

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StoryOptions:
    scale: float | None = None
    duration_s: float = 20.0
    concurrency: int = 4
    users: int = 20  # few enough that users come back within the caches' TTLs
    index_paths: tuple[Path, ...] = (SHIPPED_INDEXES,)  # the seed's, whatever the cwd
    scenario: Path = SHIPPED_RUNBOOK
    out_dir: Path | None = None


@dataclass
class StoryResult:
    before_run: Path
    after_run: Path
    report: dict[str, Any]
    compare: dict[str, Any]
    apply: dict[str, Any]
    cache: dict[str, Any]
    doctor: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "perfkit.story/1", "before_run": str(self.before_run),
                "after_run": str(self.after_run), "report": self.report,
                "compare": self.compare, "apply": self.apply, "cache_stats": self.cache,
                "doctor": self.doctor, "timings_s": self.timings_s,
                "overall": overall_change(self.report)}


def overall_change(report: dict[str, Any]) -> dict[str, float | None]:
    """The seed's headline: mean latency over all requests, before vs after (server-side)."""
    glob = report.get("global") or {}
    before = (glob.get("before") or {}).get("mean_ms")
    after = (glob.get("after") or {}).get("mean_ms")
    change = None if not before or after is None else round((after / before - 1) * 100, 1)
    return {"before_mean_ms": before, "after_mean_ms": after, "change_pct": change}


def _reset_indexes(dsn: str, index_paths: tuple[Path, ...]) -> list[str]:
    """Drop the files' indexes on the DEMO database, so 'before' really is before."""
    from psycopg import sql

    from perfkit.db.connect import connect
    from perfkit.db.parse import expected_indexes, load_statements

    names = [s.index_name for s in expected_indexes(load_statements(list(index_paths)))
             if s.index_name]
    with connect(dsn) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                sql.Identifier(name)))
    return names


def _bench(label: str, scenario_path: Path, base_url: str, tokens: list[str],
           options: StoryOptions, out: Path, progress: Progress) -> tuple[Any, datetime]:
    from perfkit.bench.runner import BenchOptions, run_bench_sync
    from perfkit.bench.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    progress(f"bench {label}: the seed's API mix for {options.duration_s:g} s, "
             f"{options.concurrency} users in a closed loop")
    run = run_bench_sync(scenario, BenchOptions(
        base_url=base_url, duration_s=options.duration_s, concurrency=options.concurrency,
        tokens=tuple(tokens), max_time_s=options.duration_s + 30))
    run.save(out)
    return run, datetime.now(UTC)


def run_story(options: StoryOptions, progress: Progress) -> StoryResult:
    from perfkit.bench.compare import compare_runs
    from perfkit.db.apply import ApplyOptions, apply_indexes
    from perfkit.db.parse import load_statements
    from perfkit.doctor import DEMO_RULES, DoctorTarget, run_doctor
    from perfkit.logs import count_cache_lines
    from perfkit.prom import PromClient, ReportOptions, collect_report

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    out_dir = options.out_dir or state_dir() / "demo" / "story"
    out_dir.mkdir(parents=True, exist_ok=True)

    progress("step 0: the seed's 'before': caches off, no secondary indexes")
    state = stack.up(stack.UpOptions(scale=options.scale, cache=False), progress=progress)
    dsn, base_url = state["postgres"]["dsn"], state["backend"]["url"]
    dropped = _reset_indexes(dsn, options.index_paths)
    progress(f"  indexes reset for the 'before' state: {', '.join(dropped)}")
    tokens = Path(state["tokens_file"]).read_text().split()[: options.users]
    timings["up_s"] = round(time.perf_counter() - t0, 1)

    before_path, after_path = out_dir / "before.json", out_dir / "after.json"
    t = time.perf_counter()
    before_run, before_end = _bench("before", options.scenario, base_url, tokens, options,
                                    before_path, progress)
    timings["bench_before_s"] = round(time.perf_counter() - t, 1)

    progress("step 1: restart the backend with the auth and conversation caches")
    log_file = Path(state["log_file"])
    log_offset = log_file.stat().st_size if log_file.exists() else 0
    stack.restart_backend(cache=True, progress=progress)

    progress("step 2: apply the seed's three indexes, CONCURRENTLY")
    t = time.perf_counter()
    applied = apply_indexes(dsn, load_statements(list(options.index_paths)),
                            ApplyOptions(explain=True))
    timings["apply_indexes_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    after_run, after_end = _bench("after", options.scenario, base_url, tokens, options,
                                  after_path, progress)
    timings["bench_after_s"] = round(time.perf_counter() - t, 1)

    progress("step 3: Prometheus report over the two bench windows")
    time.sleep(PROMETHEUS_SETTLE_S)
    client = PromClient(state["prometheus"]["url"])
    report = collect_report(client, ReportOptions(
        since_s=options.duration_s, split=before_end.isoformat(), now=after_end))

    with log_file.open(encoding="utf-8", errors="replace") as stream:
        stream.seek(log_offset)
        cache = count_cache_lines(stream).to_json()

    progress("step 4: doctor, the seed's checklist")
    doctor = run_doctor(DoctorTarget(
        base_url=base_url, token=tokens[0], dsn=dsn, prometheus_url=state["prometheus"]["url"],
        backend_log=log_file, index_paths=list(options.index_paths), report=report,
        rules=list(DEMO_RULES)))
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    return StoryResult(before_run=before_path, after_run=after_path, report=report.to_json(),
                       compare=compare_runs(before_run, after_run).to_json(),
                       apply=applied.to_json(), cache=cache, doctor=doctor.to_json(),
                       timings_s=timings)
