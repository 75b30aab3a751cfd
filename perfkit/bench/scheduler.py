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
from typing import TypeVar

import psycopg

from perfkit.bench.attribution import attribution_pass
from perfkit.bench.engine import run_segment_sync
from perfkit.bench.login import check_login
from perfkit.bench.nplusone import find_n_plus_one, routes_n_plus_one
from perfkit.bench.options import BenchOptions, ProgressInfo
from perfkit.bench.record import Run
from perfkit.bench.routesql import Attribution, attribute_run
from perfkit.bench.scenario import Scenario
from perfkit.bench.workers import run_workers
from perfkit.db.statements import StatementWindow
from perfkit.errors import PerfkitError, UsageError

Progress = Callable[[ProgressInfo], None]
FLUSH_TIMEOUT_S = 60
#: the note of a run interrupted while its statements were read (the run itself is whole)
SNAPSHOT_INTERRUPTED = ("no SQL figures: interrupted while reading pg_stat_statements after "
                        "the run")
T = TypeVar("T")


def repeat_options(options: BenchOptions, index: int) -> tuple[BenchOptions, bool]:
    """The options of repeat `index` and whether its users are fresh to the cache."""
    if index == 0:
        return options, True
    if options.credentials:  # users who log in: the next ones of the users file
        logins = _fresh(options.credentials, options.spare_credentials, index)
        if logins is None:
            return options, False
        return replace(options, credentials=logins[0], spare_credentials=logins[1]), True
    tokens = _fresh(options.tokens, options.spare_tokens, index)
    if tokens is None:
        return options, False
    return replace(options, tokens=tokens[0], spare_tokens=tokens[1]), True


def _fresh(users: tuple[T, ...], spare: tuple[T, ...], index: int
           ) -> tuple[tuple[T, ...], tuple[T, ...]] | None:
    """Repeat `index`'s users and the spares after them, None when too few are left."""
    count, pool = len(users), (*users, *spare)
    fresh = pool[index * count:(index + 1) * count]
    if not count or len(fresh) != count:
        return None
    return fresh, pool[(index + 1) * count:]


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


def _one(scenario: Scenario, options: BenchOptions, on_progress: Progress | None,
         on_measure: Callable[[], None] | None = None) -> Run:
    if options.workers > 1:
        return run_workers(scenario, options, on_progress, on_measure)
    return run_segment_sync(scenario, options, options.segment, on_progress,
                            on_measure=on_measure)


def run_session(scenario: Scenario, options: BenchOptions,
                on_progress: Progress | None = None, dsn: str | None = None) -> Run:
    """Every repeat of the run, merged; an interrupted repeat ends the session. With a DSN,
    the database's statements during the run go in the record's `db` (pg_stat_statements,
    never reset)."""
    options.validate()
    check_login(scenario, options.credentials)
    if dsn is None:
        return _repeats(scenario, options, on_progress)
    retried: list[str] = []
    try:
        window = StatementWindow(dsn, say=retried.append).open()
    except PerfkitError as exc:  # no extension, no rights, no database: run without SQL
        run = _repeats(scenario, options, on_progress)
        run.notes.append(f"no SQL figures: {exc}")
        return run
    try:
        run = _repeats(scenario, options, on_progress, _window_start(window, options, retried))
        try:
            run.db = window.result(requests=run.total_count + run.total_errors,
                                   mean_latency_ms=run.mean_latency_ms(),
                                   mean_service_ms=run.mean_service_ms())
        except PerfkitError as exc:  # the database failed at the end: the run is still whole
            run.notes.append(f"no SQL figures: the statements snapshot at the run's end "
                             f"failed: {exc.message}")
            raise RunKept(exc, run) from None
        except KeyboardInterrupt:  # the measurement is whole: keep it, say what is missing
            run.interrupted = True
            run.notes.append(SNAPSHOT_INTERRUPTED)
            return run
        run.notes.extend(retried)  # the database had an event during the run: worth a word
        run.n_plus_one = find_n_plus_one(run.db, run.requests_by_route())
        run.route_sql = attribute_run(run.db, run.requests_by_route(),
                                      run.service_ms_by_route())
    finally:
        window.close()
    routes = sum(1 for n in run.requests_by_route().values() if n)
    if run.route_sql.method is Attribution.NONE and routes > 1 and not (
            run.interrupted or options.segment.count > 1):  # other pods' traffic would count
        _attribute(scenario, options, dsn, run)
    return run


def _attribute(scenario: Scenario, options: BenchOptions, dsn: str, run: Run) -> None:
    """Several routes ran together: the attribution pass gives each its statements (a few
    sequential requests after the run); its failure costs the run nothing but those."""
    try:
        run.route_sql = attribution_pass(scenario, options, dsn, run.service_ms_by_route())
    except (PerfkitError, psycopg.Error) as exc:
        text = exc.message if isinstance(exc, PerfkitError) else str(exc).strip()
        run.notes.append(f"no SQL figures per route: the attribution pass failed: {text}")
        return
    except KeyboardInterrupt:  # the run is whole; only the per-route figures are missing
        run.interrupted = True
        run.notes.append("no SQL figures per route: interrupted during the attribution pass")
        return
    run.n_plus_one = routes_n_plus_one(run.route_sql) or run.n_plus_one


def run_bench_sync(scenario: Scenario, options: BenchOptions,
                   on_progress: Progress | None = None, *, dsn: str | None = None) -> Run:
    """The whole run: repeats, worker processes, a DSN's statements (the public name)."""
    return run_session(scenario, options, on_progress, dsn=dsn)


class RunKept(PerfkitError):
    """A system failed after the run (the statements snapshot at its end) or in its middle
    (a capacity search's step): what was measured goes to the caller, who prints and saves
    it, then ends with `error`; `missing` says what the record lacks."""

    def __init__(self, error: PerfkitError, run: Run,
                 missing: str = "without SQL figures") -> None:
        super().__init__(error.message, hint=error.hint)
        self.error, self.run, self.exit_code = error, run, error.exit_code
        self.missing = missing


def _window_start(window: StatementWindow, options: BenchOptions,
                  said: list[str]) -> Callable[[], None] | None:
    """What starts the database's window at the measurement, after the logins and the
    warm-up, whose statements are not the routes' (one repeat: with --repeat the window
    holds the later repeats' logins and warm-ups, and the record says so; with --workers it
    starts once every worker is ready)."""
    if options.repeat > 1:
        if options.warmup:
            said.append("the SQL figures include the --warmup requests (with --repeat the "
                        "database's window spans the whole run)")
        return None

    def restart() -> None:
        try:
            window.restart()
        except (PerfkitError, psycopg.Error) as exc:
            text = exc.message if isinstance(exc, PerfkitError) else str(exc).strip()
            said.append(f"the SQL figures include the logins and the warm-up: the snapshot "
                        f"at the measurement's start failed: {text}")
    return restart


def _repeats(scenario: Scenario, options: BenchOptions, on_progress: Progress | None,
             on_measure: Callable[[], None] | None = None) -> Run:
    runs: list[Run] = []
    stale: list[int] = []
    stopped = False
    for index in range(options.repeat):
        current, fresh = repeat_options(options, index)
        try:
            if not fresh and options.flush_cmd:
                flush(options.flush_cmd)
                fresh = True
            runs.append(_one(scenario, current, on_progress, on_measure))
        except KeyboardInterrupt:  # between repeats: the finished ones are kept
            if not runs:
                raise
            stopped = True
            break
        if not fresh:
            stale.append(index + 1)
        if runs[-1].interrupted:
            break
    run = Run.of_repeats(runs, planned=options.repeat)
    run.interrupted = run.interrupted or stopped
    if stale:
        run.notes.append(f"repeats {', '.join(map(str, stale))} reused the first repeat's "
                         "users: their cold samples may be cache hits (give more tokens than "
                         "--users x --repeat, or --flush-cmd)")
    return run
