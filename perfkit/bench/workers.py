"""--workers N: the run's schedule dealt to N processes on this machine, merged exactly.

Each worker (`python -m perfkit.bench.workers JOB OUT`) runs one segment (intended starts
round-robin, users partitioned), starting at one shared wall-clock time, writes its Run
record to a file of its own and reports progress as JSON lines on stdout. Ctrl-C reaches
every worker, and each keeps what it measured. A worker that dies is named in the record's
failures (the command exits 1); the others' results stay. A worker whose connections the
backend refused or closed is named in the record's outages.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

from perfkit.bench.engine import run_segment_sync
from perfkit.bench.options import BenchOptions, ProgressInfo
from perfkit.bench.pacer import Segment
from perfkit.bench.record import Run
from perfkit.bench.scenario import Scenario
from perfkit.errors import PerfkitError, Unreachable, UsageError

Progress = Callable[[ProgressInfo], None]
START_MARGIN_S = 1.5  # time for the workers to start and connect before the shared start
POLL_S = 0.5
ERROR_PREFIX = "perfkit-worker-error "
READY_PREFIX = "perfkit-worker-ready"  # logged in and warmed up: its measurement is next
# The database's window restarts once every worker is ready, if this long before the shared
# start remains (the snapshot is one query): later, a worker may already be measuring.
RESTART_LEAD_S = 0.25
NOT_READY = ("the SQL figures include the logins and the warm-up: the workers were not all "
             "ready before the shared start, so the database's window spans the whole run")


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpus(path: Path = CGROUP_CPU_MAX) -> int | None:
    """The CPUs a container's quota allows (cgroup v2 `cpu.max`: "quota period"), if any."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def auto_workers() -> int:
    """`--workers auto`: one per CPU this process may use (its affinity, and in a container
    its CPU quota)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS has no sched_getaffinity
        cpus = os.cpu_count() or 1
    quota = cgroup_cpus()
    return max(1, min(cpus, quota) if quota else cpus)


@dataclass
class _Worker:
    number: int
    segment: Segment
    process: subprocess.Popen[str]
    out: Path
    latest: ProgressInfo | None = None
    error: str | None = None
    ready: bool = False

    @property
    def name(self) -> str:
        return f"worker {self.number} (segment {self.segment.label}, pid {self.process.pid})"

    def read_line(self, stream: IO[str]) -> None:
        line = stream.readline()
        if line.startswith(ERROR_PREFIX):
            self.error = line[len(ERROR_PREFIX):].strip()
        elif line.startswith(READY_PREFIX):
            self.ready = True
        elif line.strip():
            self.latest = ProgressInfo(**json.loads(line))


@dataclass
class _Measure:
    """The parent's `on_measure`: called once every worker is ready, before the shared start
    (`called`), or never (the run's window then spans the logins and warm-ups)."""

    start_at: float
    callback: Callable[[], None] | None
    called: bool = False

    def check(self, workers: list[_Worker]) -> None:
        if self.callback is None or self.called or not all(w.ready for w in workers):
            return
        if time.time() < self.start_at - RESTART_LEAD_S:
            self.callback()
            self.called = True
        else:
            self.callback = None  # too late: a worker may be measuring already


def _start(scenario: Scenario, options: BenchOptions, folder: Path,
           start_at: float) -> list[_Worker]:
    shared = replace(options, workers=1, start_at_epoch_s=start_at)
    workers = []
    for number, segment in enumerate(options.segment.split(options.workers), start=1):
        job, out = folder / f"job-{number}.pickle", folder / f"worker-{number}.json"
        job.write_bytes(pickle.dumps((scenario, replace(shared, segment=segment))))
        process = subprocess.Popen([sys.executable, "-m", "perfkit.bench.workers", str(job),
                                    str(out)], stdout=subprocess.PIPE, text=True)
        workers.append(_Worker(number, segment, process, out))
    return workers


def _combined(workers: list[_Worker]) -> ProgressInfo | None:
    infos = [w.latest for w in workers if w.latest is not None]
    if not infos:
        return None
    planned = [i.planned for i in infos]
    p99s = [i.p99_ms for i in infos if i.p99_ms is not None]
    return ProgressInfo(done=sum(i.done for i in infos), errors=sum(i.errors for i in infos),
                        elapsed_s=max(i.elapsed_s for i in infos),
                        rate_per_s=sum(i.rate_per_s for i in infos),
                        p99_ms=max(p99s) if p99s else None,
                        planned=None if None in planned else sum(p for p in planned if p))


def _follow(workers: list[_Worker], on_progress: Progress | None, measure: _Measure) -> None:
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            assert worker.process.stdout is not None
            selector.register(worker.process.stdout, selectors.EVENT_READ, worker)
        while any(w.process.poll() is None for w in workers):
            for key, _ in selector.select(timeout=POLL_S):
                key.data.read_line(key.fileobj)
            measure.check(workers)
            combined = _combined(workers)
            if on_progress is not None and combined is not None:
                on_progress(combined)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a pod stopped) is Ctrl-C: the workers keep results


def _watch(workers: list[_Worker], on_progress: Progress | None, measure: _Measure) -> bool:
    """Wait for every worker; True when interrupted (Ctrl-C or SIGTERM forwarded to the
    workers)."""
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        interrupted = _follow_all(workers, on_progress, measure)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for worker in workers:
        assert worker.process.stdout is not None
        for line in worker.process.stdout:  # the last words of a finished worker
            if line.startswith(ERROR_PREFIX):
                worker.error = line[len(ERROR_PREFIX):].strip()
        worker.process.stdout.close()
        worker.process.wait()
    return interrupted


def _follow_all(workers: list[_Worker], on_progress: Progress | None,
                measure: _Measure) -> bool:
    interrupted = False
    while True:
        try:
            _follow(workers, on_progress, measure)
            break
        except KeyboardInterrupt:
            interrupted = True
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGINT)
    return interrupted


def _error_of(line: str) -> PerfkitError:
    """The error a worker reported (`<exit code> <message>`), as the class of its code."""
    code, _, message = line.partition(" ")
    kinds: dict[str, type[PerfkitError]] = {"2": UsageError, "3": Unreachable}
    return kinds.get(code, PerfkitError)(message)


def _death(worker: _Worker) -> str:
    code = worker.process.returncode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
    return f"{worker.name} died ({how}): its share of the schedule was not measured"


def _load(worker: _Worker) -> Run:
    """A worker's record, its outages named for the worker that saw them."""
    run = Run.load(worker.out)
    run.outages = [o.within(worker.name) for o in run.outages]
    return run


def run_workers(scenario: Scenario, options: BenchOptions,
                on_progress: Progress | None = None,
                on_measure: Callable[[], None] | None = None) -> Run:
    """Run `options.workers` segments in parallel processes and merge their records;
    `on_measure` is called once every worker has logged in and warmed up, before the shared
    start, or the record's notes say it was not."""
    start_at = options.start_at_epoch_s or time.time() + START_MARGIN_S
    measure = _Measure(start_at, on_measure)
    with tempfile.TemporaryDirectory(prefix="perfkit-workers-") as folder:
        workers = _start(scenario, options, Path(folder), start_at)
        interrupted = _watch(workers, on_progress, measure)
        errors = [w.error for w in workers if w.error]
        if errors:  # every worker checks the same input: one message says it
            raise _error_of(errors[0])
        runs = [_load(w) for w in workers if w.out.exists()]
        failures = [_death(w) for w in workers if not w.out.exists()]
    if not runs:
        raise PerfkitError("every worker died: " + "; ".join(failures))
    merged = runs[0].merge(*runs[1:])
    merged.failures += failures
    merged.interrupted = merged.interrupted or interrupted
    if on_measure is not None and not measure.called:
        merged.notes.append(NOT_READY)
    merged.segment = options.segment if options.segment.count > 1 else None
    merged.settings = replace(merged.settings, workers=options.workers,
                              concurrency=sum(r.settings.concurrency for r in runs))
    return merged


def main(argv: list[str]) -> int:
    """A worker: `python -m perfkit.bench.workers JOB.pickle OUT.json`."""
    scenario, options = pickle.loads(Path(argv[0]).read_bytes())

    def report(info: ProgressInfo) -> None:
        sys.stdout.write(json.dumps(asdict(info)) + "\n")
        sys.stdout.flush()

    def ready() -> None:
        sys.stdout.write(READY_PREFIX + "\n")
        sys.stdout.flush()

    try:
        run = run_segment_sync(scenario, options, options.segment, report, on_measure=ready)
    except PerfkitError as exc:
        sys.stdout.write(f"{ERROR_PREFIX}{exc.exit_code} {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:  # interrupted before anything was measured
        return 130
    run.save(Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
