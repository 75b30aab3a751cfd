"""The request engine: h1 or aiohttp on uvloop where available, keep-alive, bounded in count
and time.

One engine runs one segment of a run in one process (`run_segment`); bench/scheduler.py runs
the repeats and the worker processes. Closed loop (`concurrency` workers, each sending its
next iteration when the previous one answered) measures service time. Open loop
(`rate_per_s`) is wrk2's: a fixed pool of senders takes the intended starts in order, sleeps
until each, and every latency is measured from the intended start (corrected) as well as
from the actual send (raw); a sender busy past an intended start sends late, and the lateness
is in the latency, never omitted.

Which user runs an iteration is the UserPlan's (pacer.py): each user's first visit, its cold
sample, falls at a seeded random point of the run. The hot path does a few dict increments
per request (tally.py); histograms are built at the end. Timestamps are `perf_counter()`
right around the transport's request (send -> body read; bench/transport.py). What one
request is (a user, its prepared request, the budget) lives in bench/users.py; logging
users in (before t0, and again on a 401 once a token expires), in bench/login.py.

A backend that goes away mid-run (killed, restarting, hung) does not end it: each request
it refuses, closes or leaves unanswered is an error of its route and kind, the outage's
window is kept (bench/evidence.py Outages), a closed-loop connection waits RECONNECT_PAUSE_S
before its next try (it does not spin on refused connections), and the transport connects
anew once the backend listens again.

Cancelling (Ctrl-C) ends the measurement: in-flight requests are abandoned and the partial
Run is returned, marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol

from perfkit.bench import pacer
from perfkit.bench.engine_choice import fallback_note, open_transport
from perfkit.bench.evidence import Outages, Seen, body_sample, error_bodies, tcp_connect
from perfkit.bench.login import Logins, check_login
from perfkit.bench.options import (
    DEFAULT_REQUESTS,
    BenchOptions,
    ProgressInfo,
    generator_record,
    public_url,
    settings_record,
)
from perfkit.bench.pacer import Segment, UserPlan
from perfkit.bench.provenance import Provenance
from perfkit.bench.record import Phase, Run, now_iso
from perfkit.bench.saturation import LoopWatch, Saturation, SenderClock, fastest_ms, judge
from perfkit.bench.scenario import Scenario, Step, placeholders
from perfkit.bench.series import choose_width_s
from perfkit.bench.tally import Tally
from perfkit.bench.transport import Transport, TransportError
from perfkit.bench.users import (
    Budget,
    Prepared,
    VirtualUser,
    error_kind,
    extract,
    header_phase,
    prepare,
    segment_limit,
    segment_users,
)
from perfkit.errors import Unreachable, UsageError

__all__ = ["BenchOptions", "ProgressInfo", "public_url", "run_bench", "run_segment"]

TICK_S = 0.5
RECONNECT_PAUSE_S = 0.1  # a closed-loop connection's pause after the backend failed it
DEFAULT_OPEN_LOOP_SENDERS = (16, 1024)  # bounds of 2 x rate when --concurrency is not given
Progress = Callable[[ProgressInfo], None]


class StepWatch(Protocol):
    """Told around each request of a sequential run (the attribution pass reads the
    database's counters there: bench/attribution.py)."""

    def before(self, route: str) -> None: ...

    def after(self, route: str) -> None: ...


class _Engine:
    """One segment of a run, in one process."""

    def __init__(self, scenario: Scenario, options: BenchOptions, segment: Segment,
                 on_progress: Progress | None, watch: StepWatch | None = None,
                 on_measure: Callable[[], None] | None = None) -> None:
        self.scenario, self.opt, self.segment = scenario, options, segment
        self.on_progress, self.watch, self.on_measure = on_progress, watch, on_measure
        self.base = options.base_url.rstrip("/")
        self.users = segment_users(options, segment)
        self.logins = (Logins(scenario.login, self.base) if scenario.login is not None
                       and options.credentials else None)
        self.plan = UserPlan(list(range(len(self.users))), seed=options.seed)
        self.run = Run(base_url=public_url(options.base_url))
        # Steps whose request depends on the token only: prepared once per user.
        self.static = {i for i, s in enumerate(scenario.steps)
                       if placeholders([s.path, s.headers, s.json_body, s.cache.key])
                       <= {"token"}}
        self.filled_at: dict[tuple[str, str], float] = {}
        self.limit = options.requests
        if self.limit is None and options.duration_s is None:
            self.limit = DEFAULT_REQUESTS
        self.budget = Budget(segment_limit(self.limit, segment), math.inf)
        self.recorder: Tally | None = None  # None while warming up
        self.t0 = 0.0
        self.iterations = 0
        self.late = self.sent_first = 0
        self.max_lag_s = 0.0
        self.sender_count = 0
        self.clock: SenderClock | None = None  # open loop: how busy the senders were
        self.loop_watch = LoopWatch()
        self.ended = 0.0  # when the measurement ended (the senders' last schedule)
        self.finishing = False
        self.seen = Seen()
        self.outages = Outages()
        self.engine = ""  # the transport's name (bench/transport.py), once chosen
        self.secrets = [*options.tokens, *options.spare_tokens,
                        *(c.password for c in (*options.credentials,
                                               *options.spare_credentials)),
                        *(v for step in scenario.steps for v in step.headers.values()
                          if "{" not in v)]

    # -- one request -----------------------------------------------------------------------
    def _prepare(self, index: int, step: Step, user: VirtualUser) -> Prepared:
        prepared = prepare(self.base, step, user)
        if index in self.static:
            user.prepared[index] = prepared
        return prepared

    def _phase(self, step: Step, key: str | None, now: float) -> Phase | None:
        if self.opt.cache_header or key is None:
            return None
        filled = self.filled_at.get((step.route, key))
        return Phase.WARM if filled is not None and now - filled < step.cache.ttl_s else (
            Phase.COLD)

    def _error(self, step: Step, phase: Phase | None, at: float, kind: str) -> None:
        if self.recorder is not None:
            self.recorder.error(step.route, phase or Phase.ALL, at, kind)

    def _note_lag(self, lag_s: float) -> None:
        self.sent_first += 1
        self.max_lag_s = max(self.max_lag_s, lag_s)
        if lag_s > pacer.late_threshold_s(self.opt.rate_per_s or 1.0):
            self.late += 1

    async def _send(self, session: Transport, index: int, step: Step, user: VirtualUser,
                    intended: float | None, *, resent: bool = False) -> bool:
        """One request; True when it succeeded (and its extraction too). A 401 to an expired
        token is sent again, once, after a new login (bench/login.py)."""
        try:
            prepared = user.prepared.get(index) or self._prepare(index, step, user)
        except KeyError as exc:
            self._error(step, None, intended or time.perf_counter(), f"missing {{{exc.args[0]}}}")
            return False
        t_send, generation = time.perf_counter(), user.generation
        phase = self._phase(step, prepared.key, t_send)
        at = t_send if intended is None else intended
        if intended is not None and self.recorder is not None:
            self._note_lag(t_send - intended)
        try:
            answer = await session.request(step.method, prepared.url, prepared.headers,
                                           prepared.body)
            data, status = answer.body, answer.status
            hit = answer.header(self.opt.cache_header) if self.opt.cache_header else None
            encoding = answer.header("Content-Encoding")
        except (TimeoutError, TransportError) as exc:
            kind = error_kind(exc)
            self._error(step, phase, at, kind)
            if self.recorder is not None:
                self.outages.failed(time.perf_counter() - self.t0, kind, t_send - self.t0)
            return False
        t_end = time.perf_counter()
        if self.recorder is not None:
            self.outages.answered(t_end - self.t0)
        if status == 401 and self.logins is not None and not step.ok(status) and (
                await self.logins.after_401(session, user, generation, index, resent=resent)):
            return await self._send(session, index, step, user, None, resent=True)
        if self.opt.cache_header:
            phase = header_phase(hit)
        if not step.ok(status) or (step.extract and not extract(step, user, data, encoding)):
            kind = str(status) if not step.ok(status) else "extract"
            self._error(step, phase, at, kind)
            if self.recorder is not None and self.seen.wants_body(step.route, kind):
                self.seen.body(step.route, kind, body_sample(
                    data, encoding, [*self.secrets, user.token]))
            return False
        if prepared.key is not None and phase is Phase.COLD:
            self.filled_at[(step.route, prepared.key)] = t_end
        if self.recorder is not None:
            raw_us = (t_end - t_send) * 1e6
            self.recorder.ok(step.route, phase or Phase.ALL, at,
                             raw_us if intended is None  # from its intended start, or
                             else (t_end - min(intended, t_send)) * 1e6,  # its early send
                             raw_us)
        return True

    def _cut(self, user: VirtualUser, index: int) -> None:
        """The end of the run stopped an iteration before its step `index`."""
        if self.recorder is not None:
            self.seen.cut([s.route for i, s in enumerate(self.scenario.steps)
                           if i >= index and not (s.once and i in user.did_once)])

    async def _iteration(self, session: Transport, user: VirtualUser,
                         intended: float | None) -> bool:
        """Run the scenario's steps once for a user; False when the budget ran out (an
        iteration it stopped half-way is counted as cut)."""
        sending = [-1]  # the step on the wire: a cancel (the run's end) abandons it
        try:
            return await self._steps(session, user, intended, sending)
        except asyncio.CancelledError:
            if sending[0] >= 0:
                self._cut(user, sending[0])
            raise

    async def _steps(self, session: Transport, user: VirtualUser,
                     intended: float | None, sending: list[int]) -> bool:
        first = True
        for index, step in enumerate(self.scenario.steps):
            if step.once and index in user.did_once:
                continue
            if not self.budget.take(scheduled=intended is not None):
                if not first:
                    self._cut(user, index)
                return False
            sending[0] = index
            if first and self.recorder is not None:
                self.iterations += 1
                self.recorder.started(time.perf_counter(), intended)
            first = False
            if self.watch is not None:
                self.watch.before(step.route)
            ok = await self._send(session, index, step, user, intended)
            if self.watch is not None:
                self.watch.after(step.route)
            sending[0] = -1
            intended = None  # later steps depend on earlier ones: no schedule to keep
            if step.once and ok:
                user.did_once.add(index)
            if not ok:
                return True
            if step.think_s:
                sending[0] = index + 1 if index + 1 < len(self.scenario.steps) else -1
                await asyncio.sleep(step.think_s)
                sending[0] = -1
        return True

    # -- loops -----------------------------------------------------------------------------
    def progress_fraction(self, at: float, index: int) -> float:
        """How far into the run `at` (or iteration `index`) is, 0..1: where users start."""
        parts = []
        if self.opt.duration_s:
            parts.append((at - self.t0) / self.opt.duration_s)
        if self.limit:
            parts.append(index / max(1, self.limit - 1))
        return min(1.0, max(parts, default=0.0))

    def _next_user(self, at: float, index: int) -> VirtualUser:
        user, _ = self.plan.pick(self.progress_fraction(at, index), index)
        return self.users[user]

    async def _flush(self) -> None:
        assert self.opt.flush_cmd
        proc = await asyncio.create_subprocess_shell(
            self.opt.flush_cmd, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.kill()
            raise UsageError("--flush-cmd did not finish within 60 s") from None
        if code != 0:
            raise UsageError(f"--flush-cmd failed (exit {code})")
        self.filled_at.clear()

    async def _closed_worker(self, session: Transport, users: Callable[[], VirtualUser]
                             ) -> None:
        while self.budget.left():
            if self.opt.flush_cmd and self.budget.started % max(1, self.opt.flush_every) == 0:
                await self._flush()
            lost = self.outages.lost
            if not await self._iteration(session, users(), None):
                return
            if self.outages.lost > lost:  # the backend is down: try again soon, not in a spin
                await asyncio.sleep(max(0.0, min(RECONNECT_PAUSE_S,
                                                 self.budget.deadline - time.perf_counter())))

    async def _closed_loop(self, session: Transport, workers: int,
                           users: Callable[[], VirtualUser]) -> None:
        tasks = [asyncio.create_task(self._closed_worker(session, users))
                 for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _schedule(self) -> Iterator[tuple[float, VirtualUser]]:
        """This segment's intended starts, each with its user, in order."""
        rate = float(self.opt.rate_per_s or 1.0)
        for index, at in pacer.segment_schedule(rate, self.segment, start_s=self.t0,
                                                limit=self.limit,
                                                duration_s=self.opt.duration_s):
            yield at, self._next_user(at, index)

    async def _open_sender(self, session: Transport,
                           schedule: Iterator[tuple[float, VirtualUser]],
                           turn: asyncio.Lock) -> None:
        """Senders take the intended starts in turn: the one holding `turn` waits for the
        next start, then sends; when all are busy, the next free one sends late (and the
        lateness is in its latency). The clock notes whether a late send had a sender free
        at its intended start (bench/saturation.py)."""
        clock = self.clock
        assert clock is not None
        while True:
            async with turn:
                item = next(schedule, None)
                if item is None or not self.budget.left(scheduled=True):
                    return
                intended, user = item
                # Wake up to 1 ms early (timers are ms-grained); latency is never counted
                # from before the actual send, see _send.
                delay = intended - 0.001 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if time.perf_counter() >= self.t0 + self.opt.max_time_s:
                return
            clock.dispatch(intended)
            try:
                await self._iteration(session, user, intended)
            finally:
                clock.done()

    async def _open_loop(self, session: Transport, senders: int) -> None:
        schedule, turn = self._schedule(), asyncio.Lock()
        tasks = [asyncio.create_task(self._open_sender(session, schedule, turn))
                 for _ in range(senders)]
        end = self.t0 + min(self.opt.duration_s or self.opt.max_time_s, self.opt.max_time_s)
        try:
            await asyncio.wait(tasks, timeout=max(0.0, end - time.perf_counter())
                               + self.opt.timeout_s + 1.0)
            self.ended = time.perf_counter()
            self.finishing = True
            for intended, _ in schedule:  # due, never sent: the run ended first
                if intended > time.perf_counter():
                    break
                self._error(self.scenario.steps[0], None, intended, "unsent")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the run ---------------------------------------------------------------------------
    def senders(self) -> int:
        """Connections (closed loop) or concurrent senders (open loop) of this segment."""
        o = self.opt
        if o.open_loop:
            low, high = DEFAULT_OPEN_LOOP_SENDERS
            total = o.concurrency or min(high, max(low, int(float(o.rate_per_s or 1) * 2)))
        else:
            total = o.concurrency or 1
        return max(1, pacer.split_closed_loop(total, self.segment.count)[self.segment.index])

    def planned_requests(self) -> int | None:
        planned = self.budget.limit
        if self.opt.open_loop and self.opt.duration_s is not None:
            iterations = pacer.planned_requests(float(self.opt.rate_per_s or 1),
                                                self.opt.duration_s)
            share = pacer.split_closed_loop(iterations, self.segment.count)[self.segment.index]
            by_time = self.requests_for(share)
            planned = by_time if planned is None else min(planned, by_time)
        return planned

    def requests_for(self, iterations: int) -> int:
        """Requests that `iterations` iterations send when every step succeeds (`once`
        steps: once per user)."""
        once = sum(1 for s in self.scenario.steps if s.once)
        every = len(self.scenario.steps) - once
        return iterations * every + min(iterations, len(self.users)) * once

    def progress(self) -> ProgressInfo:
        elapsed = max(1e-9, time.perf_counter() - self.t0)
        rec = self.recorder
        done, errors = (rec.done, rec.failed) if rec is not None else (0, 0)
        return ProgressInfo(done=done, errors=errors, elapsed_s=elapsed,
                            rate_per_s=(done + errors) / elapsed,
                            p99_ms=rec.recent_p99_ms() if rec is not None else None,
                            planned=self.planned_requests())

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if self.recorder is not None:
                self.recorder.keep_within_budget()
            if self.on_progress is not None:
                self.on_progress(self.progress())

    async def _preflight(self) -> None:
        """A TCP connect, not a request: nothing of perfkit's own in the target's logs."""
        try:
            await tcp_connect(self.base, min(self.opt.timeout_s, 5.0))
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or "timed out"
            raise Unreachable(f"backend {self.run.base_url} is unreachable: {reason}",
                              hint="start it (perfkit demo up) or check --base-url") from None

    async def _warm_up(self, session: Transport, senders: int) -> None:
        """Unrecorded iterations by a user of their own (a spare token, else none): they
        warm connections and the server, not the users' cache keys."""
        token = self.opt.spare_tokens[0] if self.opt.spare_tokens else ""
        warm_user = VirtualUser(token, random.Random(self.opt.seed))
        measured, self.budget = self.budget, Budget(
            segment_limit(self.opt.warmup, self.segment),
            time.perf_counter() + self.opt.max_time_s)
        try:
            await self._closed_loop(session, max(1, min(senders, self.opt.warmup)),
                                    lambda: warm_user)
        finally:
            self.budget = measured

    async def _measure(self, session: Transport, senders: int) -> None:
        if self.opt.start_at_epoch_s is not None:
            await asyncio.sleep(max(0.0, self.opt.start_at_epoch_s - time.time()))
        self.t0 = time.perf_counter()
        self.run.started_at = now_iso()
        rate = self.opt.rate_per_s
        planned_s = self.opt.duration_s or ((self.limit or 0) / rate if rate else None)
        self.recorder = Tally(t0=self.t0, t0_wall=time.time(), open_loop=self.opt.open_loop,
                                 width_s=choose_width_s(planned_s,
                                                        2 * len(self.scenario.steps)))
        bound_s = min(self.opt.duration_s or self.opt.max_time_s, self.opt.max_time_s)
        self.budget.deadline = self.t0 + bound_s
        self.loop_watch.start()
        if self.opt.open_loop:
            self.clock = SenderClock(senders, pacer.late_threshold_s(float(rate or 1.0)))
            await self._open_loop(session, senders)
        else:
            await self._closed_loop(session, senders, lambda: self._next_user(
                time.perf_counter(), self.budget.started))

    async def execute(self) -> Run:
        self.opt.validate()
        check_login(self.scenario, self.opt.credentials)
        senders = self.sender_count = self.senders()
        self.run.settings = settings_record(self.opt, self.scenario, senders, self.limit)
        self.run.provenance = Provenance.here()
        session = open_transport(self.opt, senders)
        self.engine = session.name
        if (note := fallback_note(self.opt)) is not None:
            self.run.notes.append(note)
        try:
            await self._preflight()
            if self.logins is not None:
                await self.logins.first(session, self.users, senders, self.opt.max_time_s)
            ticker = asyncio.create_task(self._ticker())
            try:
                if self.opt.warmup:
                    await self._warm_up(session, senders)
                if self.on_measure is not None:  # after the logins and the warm-up
                    self.on_measure()
                await self._measure(session, senders)
            except asyncio.CancelledError:
                self.run.interrupted = True
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
            finally:
                await self.loop_watch.stop()
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
        finally:
            await session.close()
        return self._close()

    def _saturation(self, lag: pacer.Lag) -> Saturation:
        """The evidence of why sends were late, and its verdict (open loop only)."""
        evidence, clock = Saturation(senders=self.sender_count), self.clock
        if clock is not None:
            evidence = replace(
                evidence, late_all_busy=clock.late_all_busy,
                late_sender_idle=clock.late_sender_idle,
                all_busy_share=clock.all_busy_share(self.t0, self.ended or time.perf_counter()))
        busiest = max((r for r in self.run.records.values() if r.phase is Phase.ALL and r.count),
                      key=lambda r: r.count, default=None)
        if busiest is not None:
            evidence = replace(evidence, service_route=busiest.route,
                               service_fastest_ms=fastest_ms(busiest.raw),
                               service_p50_ms=busiest.raw.get_value_at_percentile(50) / 1000)
        evidence = self.loop_watch.evidence(evidence)
        if clock is None:
            return evidence
        return replace(evidence, cause=judge(evidence, late=lag.late,
                                             fell_behind=lag.fell_behind))

    def _close(self) -> Run:
        elapsed = max(1e-9, time.perf_counter() - self.t0) if self.t0 else 0.0
        lag = pacer.Lag(sent=self.sent_first, late=self.late, max_lag_ms=self.max_lag_s * 1e3)
        rec = self.recorder
        if rec is not None:
            self.run.records = rec.records()
            self.run.series = rec.series()
        self.run.generator = generator_record(
            self.opt, steps=len(self.scenario.steps), elapsed_s=elapsed,
            requests=(rec.done + rec.failed) if rec else 0, errors=rec.failed if rec else 0,
            iterations=self.iterations, lag=lag, share=self.segment.count,
            cut_iterations=self.seen.cut_iterations,
            saturation=self._saturation(lag) if self.t0 else None, engine=self.engine)
        self.run.error_bodies = error_bodies(self.seen)
        self.run.cut_routes = dict(self.seen.missing)
        self.run.outages = self.outages.close()
        self.run.segment = self.segment if self.segment.count > 1 else None
        if self.logins is not None:
            self.logins.close(self.run)
        self.run.finish()
        if self.on_progress is not None and self.t0:
            self.on_progress(self.progress())
        return self.run


async def run_segment(scenario: Scenario, options: BenchOptions, segment: Segment,
                      on_progress: Progress | None = None, watch: StepWatch | None = None,
                      on_measure: Callable[[], None] | None = None) -> Run:
    """Measure one segment of `scenario` in this process; cancellation (Ctrl-C, or SIGTERM:
    how Kubernetes stops a pod) returns the partial Run."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)  # not in every thread/OS
    try:
        return await _Engine(scenario, options, segment, on_progress, watch,
                             on_measure).execute()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
            # removing resets SIGTERM to its default (death): give back the caller's, so a
            # SIGTERM while the record is read from the database or saved is still Ctrl-C
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


async def run_bench(scenario: Scenario, options: BenchOptions,
                    on_progress: Progress | None = None) -> Run:
    """Measure `scenario` in this process (its --segment if any; no repeats, no workers)."""
    return await run_segment(scenario, options, options.segment, on_progress)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where available (the faster loop), else asyncio's."""
    try:
        import uvloop  # local: not on Windows (pyproject's marker)
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_segment_sync(scenario: Scenario, options: BenchOptions, segment: Segment,
                     on_progress: Progress | None = None, watch: StepWatch | None = None,
                     on_measure: Callable[[], None] | None = None) -> Run:
    """`run_segment` on a fresh uvloop; Ctrl-C keeps results."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_segment(scenario, options, segment, on_progress, watch,
                                      on_measure))
