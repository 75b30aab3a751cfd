"""A whole bench run: its repeats one after the other, each in one process or in worker
processes, merged into one Run record.

Repeats keep their cold samples honest: a cache remembers the users of the previous repeat,
so each repeat takes the next --users tokens of the tokens file when it has enough, else runs
--flush-cmd between repeats, else says that the later repeats' cold samples may be hits.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace

from perfkit.bench.options import BenchOptions, ProgressInfo
from perfkit.bench.record import Run
from perfkit.bench.scenario import Scenario
from perfkit.errors import UsageError

Progress = Callable[[ProgressInfo], None]
FLUSH_TIMEOUT_S = 60


def repeat_options(options: BenchOptions, index: int) -> tuple[BenchOptions, bool]:
    """The options of repeat `index` and whether its users are fresh to the cache."""
    if index == 0:
        return options, True
    users = len(options.tokens)
    pool = (*options.tokens, *options.spare_tokens)
    fresh = pool[index * users:(index + 1) * users] if users else ()
    if users and len(fresh) == users:
        spare = pool[(index + 1) * users:]
        return replace(options, tokens=fresh, spare_tokens=spare, seed=options.seed), True
    return options, False


def flush(command: str) -> None:
    """Run --flush-cmd between repeats (it empties the backend's caches)."""
    try:
        done = subprocess.run(command, shell=True, timeout=FLUSH_TIMEOUT_S,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False)
    except subprocess.TimeoutExpired:
        raise UsageError(f"--flush-cmd did not finish within {FLUSH_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise UsageError(f"--flush-cmd failed (exit {done.returncode})")


def _one(scenario: Scenario, options: BenchOptions, on_progress: Progress | None) -> Run:
    if options.workers > 1:
        from perfkit.bench.workers import run_workers

        return run_workers(scenario, options, on_progress)
    from perfkit.bench.runner import run_segment_sync

    return run_segment_sync(scenario, options, options.segment, on_progress)


def run_session(scenario: Scenario, options: BenchOptions,
                on_progress: Progress | None = None, dsn: str | None = None) -> Run:
    """Every repeat of the run, merged; an interrupted repeat ends the session. With a DSN,
    the database's statements during the run go in the record's `db` (pg_stat_statements,
    never reset)."""
    options.validate()
    if dsn is None:
        return _repeats(scenario, options, on_progress)
    from perfkit.db.statements import StatementWindow
    from perfkit.errors import PerfkitError

    try:
        window = StatementWindow(dsn).open()
    except PerfkitError as exc:  # no extension, no rights, no database: run without SQL
        run = _repeats(scenario, options, on_progress)
        run.notes.append(f"no SQL figures: {exc}")
        return run
    try:
        run = _repeats(scenario, options, on_progress)
        run.db = window.result(requests=run.total_count + run.total_errors,
                               mean_latency_ms=run.mean_latency_ms())
    finally:
        window.close()
    return run


def _repeats(scenario: Scenario, options: BenchOptions, on_progress: Progress | None) -> Run:
    runs: list[Run] = []
    stale: list[int] = []
    for index in range(options.repeat):
        current, fresh = repeat_options(options, index)
        if not fresh and options.flush_cmd:
            flush(options.flush_cmd)
            fresh = True
        if not fresh:
            stale.append(index + 1)
        runs.append(_one(scenario, current, on_progress))
        if runs[-1].interrupted:
            break
    run = Run.of_repeats(runs)
    if stale:
        run.notes.append(f"repeats {', '.join(map(str, stale))} reused the first repeat's "
                         "users: their cold samples may be cache hits (give more tokens than "
                         "--users x --repeat, or --flush-cmd)")
    return run
