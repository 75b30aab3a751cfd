"""The request engine: aiohttp (on uvloop where available), keep-alive, bounded in count and time.

Closed loop (`concurrency` workers, each sending its next request when the previous one
answered) measures service time. Open loop (`rate_per_s`) starts iterations at fixed intended
times (see pacer.py) and records, per request, the latency from the intended time (corrected)
and from the actual send (raw); it notes when the generator could not keep its rate.

Timestamps are `perf_counter()` right around aiohttp's request (send -> body read): the
closest the library allows without the cost of a TraceConfig on every request.

Cancelling `run_bench` (Ctrl-C) ends the measurement: in-flight requests are abandoned and the
partial Run is returned, marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from perfkit.bench import pacer
from perfkit.bench.hdr import copy as copy_histogram
from perfkit.bench.hdr import record_us
from perfkit.bench.meta import Provenance
from perfkit.bench.options import (
    DEFAULT_REQUESTS,
    MAX_REQUESTS,
    BenchOptions,
    ProgressInfo,
    generator_record,
    public_url,
    settings_record,
)
from perfkit.bench.record import Phase, Run, now_iso
from perfkit.bench.scenario import Scenario, Step, placeholders, render, render_body
from perfkit.errors import Unreachable, UsageError
from perfkit.stats import percentile_ms

__all__ = ["BenchOptions", "ProgressInfo", "public_url", "run_bench", "run_bench_sync"]


@dataclass
class _User:
    """A virtual user: its token and the values its steps extracted."""

    token: str
    variables: dict[str, Any] = field(default_factory=dict)
    did_once: set[int] = field(default_factory=set)
    prepared: dict[int, tuple[str, dict[str, str], Any, str | None]] = field(
        default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)


class _Bench:
    def __init__(self, scenario: Scenario, options: BenchOptions,
                 on_progress: Callable[[ProgressInfo], None] | None) -> None:
        self.scenario = scenario
        self.opt = options
        self.on_progress = on_progress
        self.base = options.base_url.rstrip("/")
        tokens = options.tokens or ("",)
        self.users = [_User(t, rng=random.Random(options.seed * 7919 + i))
                      for i, t in enumerate(tokens)]
        self.run = Run(base_url=public_url(options.base_url))
        # Steps whose request depends on the token only: prepared once per user.
        self.static_steps = {id(s) for s in scenario.steps
                             if placeholders([s.path, s.headers, s.json_body, s.cache.key])
                             <= {"token"}}
        # Coarse (2 digits, up to 60 s): its p99 is read on the event loop every tick.
        self.live = HdrHistogram(1, 60_000_000, 2)
        self.filled_at: dict[tuple[str, str], float] = {}
        self.started = self.done = self.errors = self.iterations = 0
        self.recorded_iterations = 0  # iterations started while recording (not the warm-up)
        self.sent_first = self.late = 0
        self.max_lag_s = 0.0
        self.limit = options.requests
        if self.limit is None and options.duration_s is None:
            self.limit = DEFAULT_REQUESTS
        self.deadline = 0.0
        self.t0 = 0.0
        self.recording = True
        self.finishing = False

    # -- budget -------------------------------------------------------------------------
    def budget_left(self, *, scheduled: bool = False) -> bool:
        if self.limit is not None and self.started >= self.limit:
            return False
        if self.started >= MAX_REQUESTS:
            return False
        # A scheduled (open-loop) request was due before the end: it is sent however late,
        # or its latency would be omitted exactly when the system is slowest.
        return scheduled or time.perf_counter() < self.deadline

    def take(self, *, scheduled: bool = False) -> bool:
        """Reserve one request of the budget; False once the count or the time is used up."""
        if not self.budget_left(scheduled=scheduled):
            return False
        self.started += 1
        return True

    # -- one request --------------------------------------------------------------------
    def _phase(self, step: Step, key: str | None, now: float) -> Phase | None:
        if self.opt.cache_header or key is None:
            return None
        filled = self.filled_at.get((step.route, key))
        return Phase.WARM if filled is not None and now - filled < step.cache.ttl_s else Phase.COLD

    def _count_error(self, route: str, phase: Phase | None, kind: str) -> None:
        if not self.recording:
            return
        self.errors += 1
        self.run.record(route, Phase.ALL).add_error(kind)
        if phase:
            self.run.record(route, phase).add_error(kind)

    def _prepare(self, step: Step, user: _User) -> tuple[str, dict[str, str], Any, str | None]:
        """URL, headers, body and cache key of a step for a user (KeyError: a missing value)."""
        variables = {**user.variables, "token": user.token}
        url = self.base + render(step.path, variables, url=True)
        headers = {k: render(v, variables) for k, v in step.headers.items()}
        if not user.token:
            headers = {k: v for k, v in headers.items() if v.strip() != "Bearer"}
        body = None if step.json_body is None else render_body(step.json_body, variables)
        key = render(step.cache.key, variables) if step.cache.key is not None else None
        return url, headers, body, key

    async def _request(self, session: aiohttp.ClientSession, step: Step, user: _User,
                       intended: float | None) -> bool:
        prepared = user.prepared.get(id(step))
        if prepared is None:
            try:
                prepared = self._prepare(step, user)
            except KeyError as exc:
                self._count_error(step.route, None, f"missing {{{exc.args[0]}}}")
                return False
            if id(step) in self.static_steps:
                user.prepared[id(step)] = prepared
        url, headers, body, key = prepared
        t_send = time.perf_counter()
        phase = self._phase(step, key, t_send)
        if intended is not None and self.recording:
            self.sent_first += 1
            lag = t_send - intended
            self.max_lag_s = max(self.max_lag_s, lag)
            if lag > pacer.late_threshold_s(self.opt.rate_per_s or 1.0):
                self.late += 1
        try:
            async with session.request(step.method, url, headers=headers, json=body) as resp:
                data = await resp.read()
                status = resp.status
                hit = resp.headers.get(self.opt.cache_header) if self.opt.cache_header else None
            t_end = time.perf_counter()
        except TimeoutError:
            self._count_error(step.route, phase, "timeout")
            return False
        except aiohttp.ClientConnectorError:
            self._count_error(step.route, phase, "connect")
            return False
        except aiohttp.ServerDisconnectedError:
            self._count_error(step.route, phase, "disconnected")
            return False
        except aiohttp.ClientError as exc:
            self._count_error(step.route, phase, type(exc).__name__)
            return False
        if hit is not None:
            upper = hit.upper()
            phase = Phase.WARM if "HIT" in upper else Phase.COLD if "MISS" in upper else None
        if not step.ok(status):
            self._count_error(step.route, phase, str(status))
            return False
        if step.extract:
            try:
                document = json.loads(data)
                for name, extractor in step.extract.items():
                    user.variables[name] = extractor.apply(document, user.rng)
            except (ValueError, KeyError, IndexError, TypeError):
                self._count_error(step.route, phase, "extract")
                return False
        if key is not None and phase is Phase.COLD:
            self.filled_at[(step.route, key)] = t_end
        if self.recording:
            raw_us = (t_end - t_send) * 1e6
            corrected_us = raw_us if intended is None else max(raw_us, (t_end - intended) * 1e6)
            self.done += 1
            record_us(self.live, corrected_us)
            if intended is None and not self.opt.open_loop:
                # closed loop: raw == corrected; raw is copied once at the end (_close)
                record_us(self.run.record(step.route, Phase.ALL).corrected, raw_us)
                if phase:
                    record_us(self.run.record(step.route, phase).corrected, raw_us)
            else:
                self.run.record(step.route, Phase.ALL).add_latency(corrected_us, raw_us)
                if phase:
                    self.run.record(step.route, phase).add_latency(corrected_us, raw_us)
        return True

    async def _iteration(self, session: aiohttp.ClientSession, user: _User,
                         intended: float | None, gate: asyncio.Semaphore | None) -> bool:
        """Run the scenario's steps once for a user; False when the budget ran out."""
        if gate is not None:
            try:
                await gate.acquire()
            except asyncio.CancelledError:
                if self.finishing:  # due, never sent: the run ended first
                    self._count_error(self.scenario.steps[0].route, None, "unsent")
                raise
        try:
            first = True
            for index, step in enumerate(self.scenario.steps):
                if step.once and index in user.did_once:
                    continue
                if not self.take(scheduled=intended is not None):
                    return False
                if first and self.recording:
                    self.recorded_iterations += 1
                first = False
                ok = await self._request(session, step, user, intended)
                intended = None  # later steps depend on earlier ones: no schedule to keep
                if step.once and ok:
                    user.did_once.add(index)
                if not ok:
                    return True
                if step.think_s:
                    await asyncio.sleep(step.think_s)
            return True
        finally:
            if gate is not None:
                gate.release()

    def _next_user(self) -> _User:
        user = self.users[self.iterations % len(self.users)]
        self.iterations += 1
        return user

    def requests_for(self, iterations: int) -> int:
        """Requests that `iterations` iterations send when every step succeeds (`once`
        steps: once per user)."""
        once = sum(1 for s in self.scenario.steps if s.once)
        every = len(self.scenario.steps) - once
        return iterations * every + min(iterations, len(self.users)) * once

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

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while True:
            if not self.budget_left():
                return
            if self.opt.flush_cmd and self.iterations % max(1, self.opt.flush_every) == 0:
                await self._flush()
            if not await self._iteration(session, self._next_user(), None, None):
                return

    async def _closed_loop(self, session: aiohttp.ClientSession, workers: int) -> None:
        tasks = [asyncio.create_task(self._worker(session)) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _open_loop(self, session: aiohttp.ClientSession, max_in_flight: int) -> None:
        rate = float(self.opt.rate_per_s or 1.0)
        gate = asyncio.Semaphore(max_in_flight)
        tasks: set[asyncio.Task[bool]] = set()
        schedule = pacer.open_loop_schedule(rate, start_s=self.t0, limit=self.limit,
                                            duration_s=self.opt.duration_s)
        try:
            for intended in schedule:
                # Wake up to 1 ms early (timers are ms-grained); latency is never counted
                # from before the actual send, see _request.
                delay = intended - 0.001 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if time.perf_counter() >= self.t0 + self.opt.max_time_s:
                    break
                if self.limit is not None and self.started >= self.limit:
                    break  # -n counts requests: no iteration left to send any
                task = asyncio.create_task(self._iteration(session, self._next_user(),
                                                           intended, gate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(set(tasks), timeout=self.opt.timeout_s + 1.0)
            self.finishing = True
        finally:
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _ticker(self) -> None:
        assert self.on_progress is not None
        while True:
            await asyncio.sleep(0.5)
            self.on_progress(self.progress())

    def progress(self) -> ProgressInfo:
        elapsed = max(1e-9, time.perf_counter() - self.t0)
        p99 = percentile_ms(self.live, 99.0)
        planned = self.limit
        if self.opt.open_loop and self.opt.duration_s is not None:
            # --rate paces iterations; the progress counts requests (steps).
            by_time = self.requests_for(pacer.planned_requests(float(self.opt.rate_per_s or 1),
                                                               self.opt.duration_s))
            planned = by_time if planned is None else min(planned, by_time)
        return ProgressInfo(done=self.done, errors=self.errors, elapsed_s=elapsed,
                            rate_per_s=self.done / elapsed, p99_ms=p99, planned=planned)

    async def _preflight(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.base + "/", timeout=aiohttp.ClientTimeout(
                    total=min(self.opt.timeout_s, 5.0))) as resp:
                await resp.read()
        except (aiohttp.ClientConnectorError, TimeoutError) as exc:
            reason = getattr(exc, "os_error", None) or exc or "timed out"
            raise Unreachable(f"backend {self.run.base_url} is unreachable: {reason}",
                              hint="start it (perfkit demo up) or check --base-url") from None
        except aiohttp.ClientError:
            return

    async def execute(self) -> Run:
        o = self.opt
        o.validate()
        if o.open_loop:
            rate = float(o.rate_per_s or 1.0)
            workers = o.concurrency or min(1024, max(16, int(rate * 2)))
        else:
            workers = o.concurrency or 1
        self.run.settings = settings_record(o, self.scenario, workers, self.limit)
        self.run.provenance = Provenance.here()
        connector = aiohttp.TCPConnector(limit=workers, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=o.timeout_s)
        ticker: asyncio.Task[None] | None = None
        # No cookie jar: virtual users must not share cookies through the one session.
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         cookie_jar=aiohttp.DummyCookieJar(),
                                         skip_auto_headers=("User-Agent",)) as session:
            await self._preflight(session)
            try:
                if o.warmup:
                    self.recording = False
                    warm_limit, self.limit = self.limit, o.warmup
                    self.started, self.deadline = 0, time.perf_counter() + o.max_time_s
                    await self._closed_loop(session, min(workers, o.warmup))
                    self.recording, self.limit, self.started = True, warm_limit, 0
                self.t0 = time.perf_counter()
                self.run.started_at = now_iso()
                bound_s = o.duration_s if o.duration_s is not None else o.max_time_s
                self.deadline = self.t0 + min(bound_s, o.max_time_s)
                if self.on_progress is not None:
                    ticker = asyncio.create_task(self._ticker())
                if o.open_loop:
                    await self._open_loop(session, workers)
                else:
                    await self._closed_loop(session, workers)
            except asyncio.CancelledError:
                self.run.interrupted = True
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
            finally:
                if ticker is not None:
                    ticker.cancel()
                    await asyncio.gather(ticker, return_exceptions=True)
        self._close()
        return self.run

    def _close(self) -> None:
        if not self.opt.open_loop:
            for rec in self.run.records.values():
                rec.raw = copy_histogram(rec.corrected)
        elapsed = max(1e-9, time.perf_counter() - self.t0) if self.t0 else 0.0
        lag = pacer.Lag(sent=self.sent_first, late=self.late, max_lag_ms=self.max_lag_s * 1e3)
        self.run.generator = generator_record(
            self.opt, steps=len(self.scenario.steps), elapsed_s=elapsed,
            requests=self.done + self.errors, errors=self.errors,
            iterations=self.recorded_iterations, lag=lag)
        self.run.finish()
        if self.on_progress is not None and self.t0:
            self.on_progress(self.progress())


async def run_bench(scenario: Scenario, options: BenchOptions,
                    on_progress: Callable[[ProgressInfo], None] | None = None) -> Run:
    """Measure `scenario` against `options.base_url`; cancellation returns the partial Run."""
    return await _Bench(scenario, options, on_progress).execute()


def run_bench_sync(scenario: Scenario, options: BenchOptions,
                   on_progress: Callable[[ProgressInfo], None] | None = None) -> Run:
    """`run_bench` on a fresh uvloop (asyncio when uvloop is missing); Ctrl-C keeps results."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run_bench(scenario, options, on_progress))
