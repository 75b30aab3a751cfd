"""What a bench run is asked to do (BenchOptions) and what it reports while running."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from perfkit.bench.credentials import Credential
from perfkit.bench.pacer import Segment
from perfkit.bench.provenance import Generator, LoopMode, RunSettings
from perfkit.errors import UsageError
from perfkit.redact import redact_text, redact_url

if TYPE_CHECKING:
    from perfkit.bench.pacer import Lag
    from perfkit.bench.saturation import Saturation
    from perfkit.bench.scenario import Scenario

DEFAULT_REQUESTS = 200
MAX_REQUESTS = 10_000_000
MAX_REPEAT = 1000
MAX_WORKERS = 256
DEFAULT_CACHE_THRESHOLD_PCT = 20.0
START_AT_PAST_LIMIT_S = 60.0  # --start-at this far in the past is a mistake, not a clock skew


class Engine(StrEnum):
    """Which transport sends the requests (bench/transport.py): auto is h1 unless the run
    needs what only aiohttp does."""

    AUTO = "auto"
    H1 = "h1"
    AIOHTTP = "aiohttp"


def parse_engine(text: str) -> Engine:
    """--engine: auto, h1 or aiohttp."""
    try:
        return Engine(text.strip().lower())
    except ValueError:
        raise UsageError(f"--engine must be auto, h1 or aiohttp, not {text!r}") from None


@dataclass(frozen=True)
class BenchOptions:
    """What to send and for how long. At least one of requests/duration_s bounds the run."""

    base_url: str
    requests: int | None = None
    duration_s: float | None = None
    concurrency: int | None = None
    rate_per_s: float | None = None
    timeout_s: float = 10.0
    warmup: int = 0
    tokens: tuple[str, ...] = ()
    flush_cmd: str | None = None
    flush_every: int = 5
    cache_header: str | None = None
    max_time_s: float = 600.0
    seed: int = 1
    spare_tokens: tuple[str, ...] = ()  # the tokens file's others: warm-up, fresh repeats
    repeat: int = 1
    workers: int = 1
    segment: Segment = field(default_factory=Segment)
    start_at_epoch_s: float | None = None
    cache_threshold_pct: float = DEFAULT_CACHE_THRESHOLD_PCT
    credentials: tuple[Credential, ...] = ()  # --users-file: users who log in (no tokens)
    spare_credentials: tuple[Credential, ...] = ()  # the file's others: fresh repeats
    engine: Engine = Engine.AUTO

    @property
    def open_loop(self) -> bool:
        return self.rate_per_s is not None

    def validate(self) -> None:
        check_base_url(self.base_url)
        self._validate_numbers()
        self._validate_spread()

    def _validate_spread(self) -> None:
        """--repeat, --workers, --segment, --start-at, --cache-threshold."""
        if not 1 <= self.repeat <= MAX_REPEAT:
            raise UsageError(f"--repeat must be between 1 and {MAX_REPEAT}, not {self.repeat}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UsageError(f"--workers must be between 1 and {MAX_WORKERS} (or auto), "
                             f"not {self.workers}")
        if not math.isfinite(self.cache_threshold_pct) or self.cache_threshold_pct < 0:
            raise UsageError(f"--cache-threshold must be a finite percentage >= 0, not "
                             f"{self.cache_threshold_pct:g}", hint="e.g. --cache-threshold 20")
        if self.start_at_epoch_s is not None and (
                self.start_at_epoch_s < time.time() - START_AT_PAST_LIMIT_S):
            raise UsageError("--start-at is more than a minute in the past",
                             hint="give a time a little ahead of now, shared by every segment")
        if self.flush_cmd and (self.workers > 1 or self.segment.count > 1):
            raise UsageError("--flush-cmd needs one process: a flush would empty the caches "
                             "under the other workers' feet")

    def _validate_numbers(self) -> None:
        # NaN compares False with everything and inf overflows the worker count: both are
        # rejected by name rather than slipping past the `<= 0` checks.
        for flag, value in (("--duration", self.duration_s), ("--rate", self.rate_per_s),
                            ("--timeout", self.timeout_s)):
            if value is not None and not math.isfinite(value):
                raise UsageError(f"{flag} must be a finite number, not {value}")
        if self.requests is not None and self.requests <= 0:
            raise UsageError("-n/--requests must be >= 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be > 0")
        if self.rate_per_s is not None and self.rate_per_s <= 0:
            raise UsageError("--rate must be > 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError("--concurrency must be >= 1")
        if self.timeout_s <= 0:
            raise UsageError("--timeout must be > 0")
        if self.flush_cmd and (self.open_loop or (self.concurrency or 1) > 1):
            raise UsageError("--flush-cmd needs a closed loop with --concurrency 1",
                             hint="a flush between requests would stall the other workers")


def check_base_url(url: str) -> None:
    """An http(s) URL with a host, or a UsageError before any request is sent (a typo would
    otherwise fail every request and end as an error-budget failure)."""
    hint = "example: --base-url http://127.0.0.1:8000 (or PERFKIT_BASE_URL)"
    try:
        shown = redact_url(url)
    except ValueError:
        shown = redact_text(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        raise UsageError(f"base URL {shown!r} is not a valid URL", hint=hint) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError(f"base URL {shown!r} is not an http:// or https:// URL", hint=hint)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if not parts.hostname or not port_ok:
        raise UsageError(f"base URL {shown!r} has no valid host[:port]", hint=hint)


@dataclass(frozen=True)
class ProgressInfo:
    done: int
    errors: int
    elapsed_s: float
    rate_per_s: float
    p99_ms: float | None
    planned: int | None


def public_url(url: str) -> str:
    """The base URL without user info (no credentials in records)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def settings_record(o: BenchOptions, scenario: Scenario, workers: int,
                    limit: int | None) -> RunSettings:
    """The run record's `settings`: what the run was asked to do."""
    return RunSettings(
        scenario=scenario.name, mode=LoopMode.OPEN if o.open_loop else LoopMode.CLOSED,
        iterations_per_s=o.rate_per_s, steps_per_iteration=len(scenario.steps),
        concurrency=workers, requests=limit, duration_s=o.duration_s, timeout_s=o.timeout_s,
        warmup=o.warmup, tokens=len(o.tokens), cache_header=o.cache_header,
        flush_cmd=bool(o.flush_cmd), routes=tuple(s.route for s in scenario.steps),
        repeat=o.repeat, workers=o.workers, seed=o.seed,
        cache_threshold_pct=o.cache_threshold_pct,
        start_at=None if o.start_at_epoch_s is None else datetime.fromtimestamp(
            o.start_at_epoch_s, UTC).isoformat(timespec="milliseconds"),
        login_route=scenario.login.route if scenario.login and o.credentials else None,
        login_users=len(o.credentials))


def latency_origin(open_loop: bool, steps: int) -> str:
    """Where each latency is measured from, in words the run notes repeat."""
    if not open_loop:
        return "actual send (service time)"
    if steps == 1:
        return "intended start (wrk2)"
    return ("first step of each iteration from its intended start (wrk2); later steps from "
            "their actual send")


def generator_record(o: BenchOptions, *, steps: int, elapsed_s: float, requests: int,
                     errors: int, iterations: int, lag: Lag, share: int = 1,
                     cut_iterations: int = 0, saturation: Saturation | None = None,
                     engine: str = "") -> Generator:
    """The run record's `generator`: what the load generator achieved (requests and
    iterations apart: --rate paces iterations). A segment's target is its share of the
    rate, so that the targets of all segments add up to --rate."""
    target = None if o.rate_per_s is None else round(o.rate_per_s / share, 6)
    return Generator(
        mode=LoopMode.OPEN if o.open_loop else LoopMode.CLOSED, elapsed_s=round(elapsed_s, 3),
        requests=requests, errors=errors, iterations=iterations,
        cut_iterations=cut_iterations, target_iterations_per_s=target, late_sends=lag.late,
        max_send_lag_ms=round(lag.max_lag_ms, 3), fell_behind=lag.fell_behind,
        latency_from=latency_origin(o.open_loop, steps), saturation=saturation, engine=engine)
