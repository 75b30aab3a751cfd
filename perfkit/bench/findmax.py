"""`bench --find-max`: the capacity search's steps, each an open-loop run of its own.

bench/capacity.py judges and searches; this runs the steps (through bench/scheduler.py, so
--workers applies) and keeps the run of the highest rate that held as the record's body,
with every step in its `capacity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from perfkit.bench.capacity import EXTENSIONS, Slo, Step, Stopped, judge, search
from perfkit.bench.options import BenchOptions
from perfkit.bench.record import Phase, Run
from perfkit.bench.scenario import Scenario
from perfkit.bench.scheduler import RunKept, run_session
from perfkit.errors import Unreachable

MAX_STEP_S = 60.0  # a step at a low rate stops here even short of the samples it wants
#: the open loop's senders at most (bench/engine.py): above half this rate they may all be busy
SENDERS_CAP = 1024


def step_seconds(slo: Slo, rate: float, step_s: float) -> float:
    """Long enough for the samples the SLO's highest percentile needs, within bounds."""
    return max(step_s, min(MAX_STEP_S, slo.samples_needed / rate))


def _step_run(scenario: Scenario, options: BenchOptions, rate: float, seconds: float) -> Run:
    step = replace(options, rate_per_s=rate, duration_s=seconds, requests=None, repeat=1)
    try:
        run = run_session(scenario, step)
    except KeyboardInterrupt:  # between steps, or before a step's first answer
        raise Stopped from None
    if run.interrupted:
        raise Stopped
    if run.outages:  # refused or hung: a backend going away says nothing of its capacity
        raise StepOutage(run, f"the backend at {run.base_url} went away during the step at "
                          f"{rate:.4g}/s (an outage, not a load limit)")
    return run


class StepOutage(Stopped):
    """A step saw the backend refuse, close or hang: the search stops, the step is kept."""

    def __init__(self, run: Run, reason: str) -> None:
        super().__init__(reason)
        self.run = run


def _judged(run: Run, rate: float, seconds: float, slo: Slo, *, on_estimate: bool = False
            ) -> Step:
    records = [r for r in run.records.values() if r.phase is Phase.ALL]
    return judge(rate, records, seconds, slo, run.settings.steps_per_iteration or 1,
                 on_estimate=on_estimate)


def find_max(scenario: Scenario, options: BenchOptions, slo: Slo, *, start: float,
             max_rate: float, step_s: float,
             on_step: Callable[[Step], None] | None = None) -> Run:
    """The search; the record is the highest held step's run (else the last step's), with
    `capacity`."""
    kept: dict[float, Run] = {}
    last: list[Run] = []

    def measure(rate: float) -> Step:
        seconds = step_seconds(slo, rate, step_s)
        runs = [_step_run(scenario, options, rate, seconds)]
        elapsed = [runs[0].generator.elapsed_s or seconds]
        step = _judged(runs[0], rate, elapsed[0], slo)
        while step.held is None and len(runs) <= EXTENSIONS:
            runs.append(_step_run(scenario, options, rate, seconds))
            elapsed.append(runs[-1].generator.elapsed_s or seconds)
            step = _judged(Run.of_repeats(runs), rate, sum(elapsed), slo)
        if step.held is None:
            step = _judged(Run.of_repeats(runs), rate, sum(elapsed), slo, on_estimate=True)
        run = Run.of_repeats(runs)
        last[:] = [run]
        if step.held:
            kept[rate] = run
        if on_step is not None:
            on_step(step)
        return step

    outage: list[StepOutage] = []

    def measured(rate: float) -> Step:
        try:
            return measure(rate)
        except StepOutage as exc:
            outage.append(exc)
            raise

    capacity = search(measured, slo, start=start, max_rate=max_rate)
    body = kept.get(capacity.max_rate_per_s or -1.0) or (last[0] if last else Run(
        base_url=options.base_url))
    if any(s.rate * 2 > SENDERS_CAP for s in capacity.steps) and not options.concurrency:
        capacity = replace(capacity, notes=(*capacity.notes, (
            f"above {SENDERS_CAP // 2}/s the open loop has {SENDERS_CAP} senders at most: a "
            "step that broke there may have run out of senders (--concurrency raises it)")))
    body.capacity = capacity
    body.interrupted = capacity.interrupted
    if outage:
        body.outages = list(outage[0].run.outages)
        raise RunKept(Unreachable(outage[0].reason + ": the capacity search stopped",
                                  hint="restart it and search again; the record holds the "
                                       "steps so far and the outage"), body,
                      missing="with the steps before the outage")
    return body
